//! The compiled engine and its hot path.
//!
//! Per event: find the dataset's plan, extract the referenced fields once, compute (or find
//! in the per-thread cache) the *route* — which logsource groups the event belongs to and
//! which field renames apply — run each touched slot's automaton once to set atom bits, then
//! evaluate only the rules one of whose prefilter atoms fired (plus the few rules without a
//! prefilter in the route's groups).

use chrono::{DateTime, Utc};
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use canhgac_core::{Event, Id};

use crate::compile::atoms::{AtomInfo, SlotMatcher};
use crate::compile::{Ctx, Direct, DirectOp, Node, SlotTable};
use crate::extract::{keywords, Extractor, Fields};
use crate::flat::FlatRecord;
use crate::mapping::Layout;
use crate::modifiers::string::Pat;
use crate::modifiers::typed::{parse_ip, parse_number};
use crate::modifiers::RefKind;
use crate::rule::{Logsource, RuleMeta};

/// Index of a rule in an [`Engine`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleIdx(pub u32);

/// A compiled detection rule.
#[derive(Debug)]
pub struct CompiledRule {
    pub meta: RuleMeta,
    pub(crate) node: Node,
    pub(crate) group: u32,
    pub(crate) prefiltered: bool,
}

/// Rules sharing one logsource.
#[derive(Debug)]
pub(crate) struct Group {
    pub logsource: Logsource,
    pub always: Vec<u32>,
    pub keywords: bool,
    /// One automaton per slot over the prefilter atoms of this group's rules.
    pub scanners: Vec<(u32, SlotMatcher)>,
    /// Slots this group's rules read.
    pub slots: Vec<u32>,
    /// The keyword automaton (over every value of the event), if the group has keyword rules.
    pub keyword_scanner: Option<SlotMatcher>,
}

#[derive(Debug)]
pub(crate) enum PlanCond {
    Slot(u32, Vec<Vec<u8>>),
}

#[derive(Debug, Default)]
pub(crate) struct PlanWhen {
    pub conds: Vec<PlanCond>,
    pub renames: Vec<(u32, u32)>,
}

#[derive(Debug)]
pub(crate) struct PlanEntry {
    pub groups: Vec<u32>,
    /// Empty: every event of the dataset.
    pub whens: Vec<PlanWhen>,
}

/// How events of one dataset are read and routed.
#[derive(Debug)]
pub(crate) struct Plan {
    pub layout: Layout,
    pub route_slots: Vec<u32>,
    pub route_bits: Vec<u64>,
    pub base_renames: Vec<(u32, u32)>,
    pub entries: Vec<PlanEntry>,
}

#[derive(Debug)]
struct Route {
    groups: Vec<u64>,
    /// Slots the route's rules (and renames) read: only these are copied out of the event.
    wanted: Vec<u64>,
    group_list: Vec<u32>,
    always: Vec<u32>,
    renames: Vec<(u32, u32)>,
    keywords: bool,
    empty: bool,
}

/// The compiled rule set. Immutable and `Sync`: share it (`Arc<Engine>`) between threads,
/// each with its own [`Scratch`].
pub struct Engine {
    pub(crate) rules: Vec<CompiledRule>,
    pub(crate) directs: Vec<Direct>,
    pub(crate) slots: SlotTable,
    pub(crate) atom_info: Vec<AtomInfo>,
    pub(crate) triggers: Vec<Box<[u32]>>,
    pub(crate) groups: Vec<Group>,
    pub(crate) plans: Vec<Plan>,
    pub(crate) plan_by_dataset: FxHashMap<String, u32>,
}

/// Per-thread working memory, reused across events so evaluation does not allocate.
pub struct Scratch {
    fields: Fields,
    path: String,
    key: Vec<u8>,
    kwbuf: Vec<u8>,
    /// Atom truth values known for the current event, and the true ones.
    known: Vec<u64>,
    val: Vec<u64>,
    /// Atoms the automata found (candidates come from these) and atoms tested lazily.
    found: Vec<u32>,
    memo: Vec<u32>,
    seen: Vec<u32>,
    epoch: u32,
    routes: Vec<Route>,
    route_cache: FxHashMap<Vec<u8>, u32>,
    flat: FlatRecord,
}

const ROUTE_CACHE_MAX: usize = 4096;

static NULL: serde_json::Value = serde_json::Value::Null;

#[inline]
fn bit(bits: &[u64], i: u32) -> bool {
    bits[(i >> 6) as usize] & (1u64 << (i & 63)) != 0
}

/// Where the current event's text comes from.
#[derive(Clone, Copy)]
enum Source<'a> {
    Value(&'a serde_json::Value),
    Flat(&'a FlatRecord),
}

struct EvalCtx<'a> {
    engine: &'a Engine,
    known: &'a mut [u64],
    val: &'a mut [u64],
    memo: &'a mut Vec<u32>,
    fields: &'a mut Fields,
    src: Source<'a>,
    /// Whether every value of the event is in the keyword slot yet (done on first use).
    keywords_done: bool,
}

impl EvalCtx<'_> {
    #[inline]
    fn need(&mut self, slot: u32) {
        if slot == crate::compile::KEYWORD_SLOT && !self.keywords_done {
            match self.src {
                Source::Value(v) => keywords(self.fields, v),
                Source::Flat(rec) => {
                    for v in rec.scalars.iter().filter(|v| !v.null) {
                        let t = &rec.text[v.start as usize..v.end as usize];
                        self.fields
                            .push_text(crate::compile::KEYWORD_SLOT, t, false);
                    }
                }
            }
            self.keywords_done = true;
        }
    }
}

#[inline]
fn set_bit(bits: &mut [u64], i: u32) {
    bits[(i >> 6) as usize] |= 1u64 << (i & 63);
}

impl Ctx for EvalCtx<'_> {
    #[inline]
    fn atom(&mut self, a: u32) -> bool {
        if bit(self.val, a) {
            return true;
        }
        if bit(self.known, a) {
            return false;
        }
        let info = &self.engine.atom_info[a as usize];
        self.need(info.slot);
        let f = &*self.fields;
        let hit = f.values(info.slot).any(|v| !v.null && info.test(f.low(v)));
        set_bit(self.known, a);
        if hit {
            set_bit(self.val, a);
        }
        self.memo.push(a);
        hit
    }

    fn direct(&mut self, d: u32) -> bool {
        let engine = self.engine;
        let d = &engine.directs[d as usize];
        if let Some(g) = d.gate {
            if !self.atom(g) {
                return false;
            }
        }
        self.need(d.slot);
        let f = &*self.fields;
        let mut vals = f.values(d.slot);
        match &d.op {
            DirectOp::Folded(Pat::Exact(e)) if e.is_empty() => {
                vals.any(|v| v.null || v.low.0 == v.low.1)
            }
            DirectOp::Folded(Pat::Any) => vals.any(|v| !v.null),
            DirectOp::Folded(p) => vals.any(|v| !v.null && p.matches(f.low(v))),
            DirectOp::Cased(p) => vals.any(|v| !v.null && p.matches(f.orig(v))),
            DirectOp::Regex(r) => vals.any(|v| !v.null && r.is_match(f.orig(v))),
            DirectOp::Cidr(net) => {
                vals.any(|v| parse_ip(f.orig(v)).is_some_and(|ip| net.contains(&ip)))
            }
            DirectOp::Cmp { op, value, part } => vals.any(|v| {
                let x = match part {
                    Some(p) => p.extract(f.orig(v)),
                    None => parse_number(f.orig(v)),
                };
                x.is_some_and(|x| op.test(x, *value))
            }),
            DirectOp::Exists(b) => f.has(d.slot) == *b,
            DirectOp::Null => !f.has(d.slot) || vals.any(|v| v.null || v.low.0 == v.low.1),
            DirectOp::FieldRef { other, kind } => vals.any(|v| {
                let a = f.low(v);
                f.values(*other).any(|w| {
                    let b = f.low(w);
                    match kind {
                        RefKind::Equal => a == b,
                        RefKind::Prefix => a.starts_with(b),
                        RefKind::Suffix => a.ends_with(b),
                        RefKind::Contains => memchr::memmem::find(a, b).is_some(),
                    }
                })
            }),
        }
    }
}

/// One rule that fired on one event, with what a detection record needs.
#[derive(Debug, Clone)]
pub struct Match<'a> {
    pub rule: &'a RuleMeta,
    pub rule_idx: RuleIdx,
    pub event_id: Id,
    pub timestamp: DateTime<Utc>,
}

impl Match<'_> {
    /// The JSON line `hunt --format jsonl` prints.
    pub fn to_json(&self) -> serde_json::Value {
        let r = self.rule;
        serde_json::json!({
            "rule_id": r.id,
            "rule_title": r.title,
            "level": r.level,
            "author": r.author,
            "status": r.status,
            "tags": r.tags,
            "logsource": r.logsource,
            "falsepositives": r.falsepositives,
            "references": r.references,
            "event_id": self.event_id,
            "timestamp": self.timestamp,
        })
    }
}

impl Engine {
    /// Number of loaded rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn rule(&self, r: RuleIdx) -> &RuleMeta {
        &self.rules[r.0 as usize].meta
    }

    pub fn rules(&self) -> impl Iterator<Item = (RuleIdx, &RuleMeta)> {
        self.rules
            .iter()
            .enumerate()
            .map(|(i, r)| (RuleIdx(i as u32), &r.meta))
    }

    /// Finds a rule by id.
    pub fn rule_by_id(&self, id: &str) -> Option<RuleIdx> {
        self.rules
            .iter()
            .position(|r| r.meta.id == id)
            .map(|i| RuleIdx(i as u32))
    }

    /// Datasets that have a routing plan.
    pub fn datasets(&self) -> impl Iterator<Item = &str> {
        self.plan_by_dataset.keys().map(String::as_str)
    }

    /// Working memory for one thread.
    pub fn scratch(&self) -> Scratch {
        let n_atoms = self.atom_info.len();
        Scratch {
            fields: Fields::new(self.slots.len()),
            path: String::with_capacity(128),
            key: Vec::with_capacity(128),
            kwbuf: Vec::with_capacity(4096),
            known: vec![0; n_atoms.div_ceil(64).max(1)],
            val: vec![0; n_atoms.div_ceil(64).max(1)],
            found: Vec::with_capacity(256),
            memo: Vec::with_capacity(256),
            seen: vec![0; self.rules.len()],
            epoch: 0,
            routes: Vec::new(),
            route_cache: FxHashMap::default(),
            flat: FlatRecord::new(),
        }
    }

    fn make_route(&self, plan: &Plan, fields: &Fields) -> Route {
        let mut groups = vec![0u64; self.groups.len().div_ceil(64).max(1)];
        let mut renames = plan.base_renames.clone();
        let mut any = false;
        for e in &plan.entries {
            let mut hit = e.whens.is_empty();
            for w in &e.whens {
                let ok = w.conds.iter().all(|c| match c {
                    PlanCond::Slot(slot, accepted) => fields
                        .values(*slot)
                        .any(|v| accepted.iter().any(|a| a.as_slice() == fields.low(v))),
                });
                if ok {
                    hit = true;
                    renames.extend_from_slice(&w.renames);
                }
            }
            if hit {
                for &g in &e.groups {
                    groups[(g >> 6) as usize] |= 1 << (g & 63);
                    any = true;
                }
            }
        }
        renames.sort_unstable();
        renames.dedup();
        let mut always = Vec::new();
        let mut keywords = false;
        let mut group_list = Vec::new();
        let mut wanted = vec![0u64; self.slots.len().div_ceil(64).max(1)];
        for (gi, g) in self.groups.iter().enumerate() {
            if bit(&groups, gi as u32) {
                always.extend_from_slice(&g.always);
                keywords |= g.keywords;
                group_list.push(gi as u32);
                for &slot in &g.slots {
                    set_bit(&mut wanted, slot);
                }
            }
        }
        for &(from, _) in &renames {
            set_bit(&mut wanted, from);
        }
        Route {
            groups,
            wanted,
            group_list,
            always,
            renames,
            keywords,
            empty: !any,
        }
    }

    /// Evaluates one event; appends the indices of the rules that fired to `out` (in rule
    /// order). Does not allocate once `scratch` has warmed up.
    pub fn eval(&self, event: &Event, s: &mut Scratch, out: &mut Vec<RuleIdx>) {
        self.eval_value(event.dataset.as_str(), &event.original, s, out)
    }

    /// Evaluates a record of `dataset` given as JSON text (an event's `original`), without
    /// decoding it into a `Value` ([`crate::flat`]) where its shape allows; same result as
    /// [`Engine::eval`] on the decoded record. Errs only if the text is not one JSON value
    /// (checked for every dataset, also those no rule reads).
    pub fn eval_json(
        &self,
        dataset: &str,
        json: &str,
        s: &mut Scratch,
        out: &mut Vec<RuleIdx>,
    ) -> Result<(), serde_json::Error> {
        let Some(&pi) = self.plan_by_dataset.get(dataset) else {
            return serde_json::from_str::<serde::de::IgnoredAny>(json).map(|_| ());
        };
        let plan = &self.plans[pi as usize];
        let mut rec = std::mem::take(&mut s.flat);
        let read = rec.read(json, plan.layout, &self.slots);
        let result = match read {
            Ok(()) => {
                self.eval_flat(pi, &rec, s, out);
                Ok(())
            }
            Err(_) => serde_json::from_str::<serde_json::Value>(json)
                .map(|v| self.eval_value(dataset, &v, s, out)),
        };
        s.flat = rec;
        result
    }

    /// Reads a record of `dataset` from its JSON text into `rec`, for [`Engine::eval_record`]
    /// (what [`Engine::eval_json`] does in one call). `Ok(false)`: no mapping routes the
    /// dataset; `Err`: the text is not JSON or its shape needs a decoded `Value`.
    pub fn read_record(
        &self,
        dataset: &str,
        json: &str,
        rec: &mut FlatRecord,
    ) -> Result<bool, crate::flat::Declined> {
        let Some(&pi) = self.plan_by_dataset.get(dataset) else {
            return Ok(false);
        };
        rec.read(json, self.plans[pi as usize].layout, &self.slots)?;
        Ok(true)
    }

    /// Evaluates a record read by [`Engine::read_record`] (evaluation alone, the record's
    /// decoding done).
    pub fn eval_record(
        &self,
        dataset: &str,
        rec: &FlatRecord,
        s: &mut Scratch,
        out: &mut Vec<RuleIdx>,
    ) {
        if let Some(&pi) = self.plan_by_dataset.get(dataset) {
            self.eval_flat(pi, rec, s, out);
        }
    }

    fn eval_flat(&self, pi: u32, rec: &FlatRecord, s: &mut Scratch, out: &mut Vec<RuleIdx>) {
        let plan = &self.plans[pi as usize];
        s.fields.reset();
        // The record's texts, original and folded, go in whole; values are ranges of them.
        let t = s.fields.append(&rec.text);
        let k = s.fields.append(&rec.kw);
        let push = |f: &mut Fields, slot: u32, v: &crate::flat::Scalar| {
            f.push_ranges(
                slot,
                (t + v.start, t + v.end),
                (k + v.low.0, k + v.low.1),
                v.null,
            )
        };
        for (slot, v) in &rec.fields {
            if bit(&plan.route_bits, *slot) {
                push(&mut s.fields, *slot, v);
            }
        }
        let ri = self.route_of(pi, plan, s);
        let route = &s.routes[ri as usize];
        if route.empty {
            return;
        }
        for (slot, v) in &rec.fields {
            if !bit(&plan.route_bits, *slot) && bit(&route.wanted, *slot) {
                push(&mut s.fields, *slot, v);
            }
        }
        self.eval_routed(ri, s, out, Source::Flat(rec));
    }

    fn eval_value(
        &self,
        dataset: &str,
        original: &serde_json::Value,
        s: &mut Scratch,
        out: &mut Vec<RuleIdx>,
    ) {
        let Some(&pi) = self.plan_by_dataset.get(dataset) else {
            return;
        };
        let plan = &self.plans[pi as usize];
        s.fields.reset();
        // One walk over the record: referenced fields are noted, routing fields copied.
        const PEND: usize = 64;
        let mut pend: [(u32, &serde_json::Value); PEND] = [(0, &NULL); PEND];
        let mut n = 0usize;
        let mut overflow = false;
        Extractor {
            slots: &self.slots,
            path: &mut s.path,
            sink: |slot, v| {
                if n < PEND {
                    pend[n] = (slot, v);
                    n += 1;
                } else {
                    overflow = true;
                }
            },
        }
        .run(plan.layout, original);
        for &(slot, v) in &pend[..n] {
            if bit(&plan.route_bits, slot) {
                s.fields.push_json(slot, v);
            }
        }
        let ri = self.route_of(pi, plan, s);
        let route = &s.routes[ri as usize];
        if route.empty {
            return;
        }
        // Copy out only what the route's rules read.
        for &(slot, v) in &pend[..n] {
            if !bit(&plan.route_bits, slot) && bit(&route.wanted, slot) {
                s.fields.push_json(slot, v);
            }
        }
        if overflow {
            let mut k = 0usize;
            let fields = &mut s.fields;
            Extractor {
                slots: &self.slots,
                path: &mut s.path,
                sink: |slot, v| {
                    k += 1;
                    if k > PEND && !bit(&plan.route_bits, slot) && bit(&route.wanted, slot) {
                        fields.push_json(slot, v);
                    }
                },
            }
            .run(plan.layout, original);
        }
        self.eval_routed(ri, s, out, Source::Value(original));
    }

    /// The event's route (computed once per distinct combination of routing values, per
    /// thread), from the routing fields already in `s.fields`.
    fn route_of(&self, pi: u32, plan: &Plan, s: &mut Scratch) -> u32 {
        s.key.clear();
        s.key.extend_from_slice(&pi.to_le_bytes());
        for &slot in &plan.route_slots {
            if let Some(v) = s.fields.values(slot).next() {
                s.key.extend_from_slice(s.fields.low(v));
            }
            s.key.push(0xFF);
        }
        match s.route_cache.get(s.key.as_slice()) {
            Some(&r) => r,
            None => {
                if s.routes.len() >= ROUTE_CACHE_MAX {
                    s.routes.clear();
                    s.route_cache.clear();
                }
                let r = self.make_route(plan, &s.fields);
                s.routes.push(r);
                let idx = s.routes.len() as u32 - 1;
                s.route_cache.insert(s.key.clone(), idx);
                idx
            }
        }
    }

    /// Everything after extraction: renames, automata, candidate rules.
    fn eval_routed(&self, ri: u32, s: &mut Scratch, out: &mut Vec<RuleIdx>, src: Source<'_>) {
        let route = &s.routes[ri as usize];
        for &(from, to) in &route.renames {
            s.fields.alias(from, to);
        }

        // Needles: one automaton pass per value of each slot the route's groups scan.
        let (known, val, found) = (&mut s.known, &mut s.val, &mut s.found);
        for &g in &route.group_list {
            for (slot, m) in &self.groups[g as usize].scanners {
                for v in s.fields.values(*slot) {
                    m.scan(s.fields.low(v), |a| {
                        let w = (a >> 6) as usize;
                        let b = 1u64 << (a & 63);
                        if val[w] & b == 0 {
                            val[w] |= b;
                            known[w] |= b;
                            found.push(a);
                        }
                    });
                }
            }
        }

        // Keyword automata run over every scalar of the record, lowercased; the keyword slot
        // itself is only filled if a rule needs its values.
        if route.keywords {
            let kw: &[u8] = match src {
                Source::Value(v) => {
                    s.kwbuf.clear();
                    crate::extract::join_scalars(v, &mut s.kwbuf);
                    &s.kwbuf
                }
                Source::Flat(rec) => &rec.kw,
            };
            for &g in &route.group_list {
                if let Some(m) = &self.groups[g as usize].keyword_scanner {
                    m.scan(kw, |a| {
                        let w = (a >> 6) as usize;
                        let b = 1u64 << (a & 63);
                        if val[w] & b == 0 {
                            val[w] |= b;
                            known[w] |= b;
                            found.push(a);
                        }
                    });
                }
            }
        }

        s.epoch = s.epoch.wrapping_add(1);
        if s.epoch == 0 {
            s.seen.iter_mut().for_each(|x| *x = 0);
            s.epoch = 1;
        }
        let start = out.len();
        let mut ctx = EvalCtx {
            engine: self,
            known: &mut s.known,
            val: &mut s.val,
            memo: &mut s.memo,
            fields: &mut s.fields,
            src,
            keywords_done: false,
        };
        for &a in s.found.iter() {
            for &r in self.triggers[a as usize].iter() {
                let seen = &mut s.seen[r as usize];
                if *seen == s.epoch {
                    continue;
                }
                *seen = s.epoch;
                let rule = &self.rules[r as usize];
                if bit(&route.groups, rule.group) && rule.node.eval(&mut ctx) {
                    out.push(RuleIdx(r));
                }
            }
        }
        for &r in &route.always {
            if self.rules[r as usize].node.eval(&mut ctx) {
                out.push(RuleIdx(r));
            }
        }
        out[start..].sort_unstable();
        for a in s.found.drain(..).chain(s.memo.drain(..)) {
            let w = (a >> 6) as usize;
            s.known[w] = 0;
            s.val[w] = 0;
        }
    }

    /// The matches of one event, with rule metadata.
    pub fn matches<'a>(&'a self, event: &Event, s: &mut Scratch) -> Vec<Match<'a>> {
        let mut idx = Vec::new();
        self.eval(event, s, &mut idx);
        idx.into_iter()
            .map(|r| Match {
                rule: self.rule(r),
                rule_idx: r,
                event_id: event.id,
                timestamp: event.timestamp,
            })
            .collect()
    }

    /// Evaluates a batch on every core (rayon); results are in input order.
    pub fn eval_batch(&self, events: &[Event]) -> Vec<Vec<RuleIdx>> {
        events
            .par_chunks(64)
            .map_init(
                || self.scratch(),
                |s, chunk| {
                    chunk
                        .iter()
                        .map(|e| {
                            let mut v = Vec::new();
                            self.eval(e, s, &mut v);
                            v
                        })
                        .collect::<Vec<_>>()
                },
            )
            .flatten()
            .collect()
    }

    /// The values of a Sigma field in an event, read with the event's mapping (dataset
    /// renames and the renames of the logsource predicates the event meets), as text. For
    /// layers above rule matching (correlation `group-by`, alert context). Only fields some
    /// loaded rule or mapping references are known; others give nothing.
    pub fn field_values(&self, event: &Event, s: &mut Scratch, field: &str) -> Vec<String> {
        let Some(&pi) = self.plan_by_dataset.get(event.dataset.as_str()) else {
            return Vec::new();
        };
        let Some(target) = self.slots.get(field) else {
            return Vec::new();
        };
        let plan = &self.plans[pi as usize];
        s.fields.reset();
        let fields = &mut s.fields;
        Extractor {
            slots: &self.slots,
            path: &mut s.path,
            sink: |slot, v| fields.push_json(slot, v),
        }
        .run(plan.layout, &event.original);
        let route = self.make_route(plan, &s.fields);
        for &(from, to) in &route.renames {
            s.fields.alias(from, to);
        }
        let f = &s.fields;
        let out = f
            .values(target)
            .filter(|v| !v.null)
            .map(|v| String::from_utf8_lossy(f.orig(v)).into_owned())
            .collect();
        s.fields.reset();
        out
    }

    /// Rules with no prefilter (evaluated for every event of their logsource).
    pub fn unprefiltered(&self) -> impl Iterator<Item = &RuleMeta> {
        self.rules
            .iter()
            .filter(|r| !r.prefiltered)
            .map(|r| &r.meta)
    }

    /// The automata, largest first: (logsource, field, needles, heap bytes).
    pub fn scanner_sizes(&self) -> Vec<(String, String, usize, usize)> {
        let mut v: Vec<_> = self
            .groups
            .iter()
            .flat_map(|g| {
                let kw = g.keyword_scanner.iter().map(move |m| (g, 0u32, m));
                g.scanners.iter().map(move |(s, m)| (g, *s, m)).chain(kw)
            })
            .map(|(g, s, m)| {
                (
                    g.logsource.to_string(),
                    self.slots.name(s).to_string(),
                    m.atoms.len(),
                    m.auto.memory_usage(),
                )
            })
            .collect();
        v.sort_by_key(|s| std::cmp::Reverse(s.3));
        v
    }

    /// Summary figures for diagnostics and benchmarks.
    pub fn stats(&self) -> EngineStats {
        EngineStats {
            rules: self.rules.len(),
            prefiltered: self.rules.iter().filter(|r| r.prefiltered).count(),
            atoms: self.atom_info.len(),
            slots: self.slots.len(),
            automata: self.groups.iter().map(|g| g.scanners.len()).sum(),
            direct_matchers: self.directs.len(),
            logsource_groups: self.groups.len(),
        }
    }
}

/// Sizes of a compiled engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineStats {
    pub rules: usize,
    pub prefiltered: usize,
    pub atoms: usize,
    pub slots: usize,
    pub automata: usize,
    pub direct_matchers: usize,
    pub logsource_groups: usize,
}
