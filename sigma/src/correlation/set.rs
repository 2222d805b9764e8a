//! Resolving correlation documents against the loaded rules: references by id or name,
//! chains (a correlation referencing correlations) in dependency order, cycles, aliases.

use std::collections::HashMap;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::error::CorrelationReject as R;
use super::parse::{CmpOp, Condition, CorrelationDoc, CorrelationType};
use crate::engine::RuleIdx;
use crate::error::{Reject, Rejection};
use crate::rule::RuleMeta;

/// Index of a correlation rule in a [`CorrelationSet`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct CorrIdx(pub u32);

/// What a correlation reads: a detection rule's matches or another correlation's matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Input {
    Rule(RuleIdx),
    Correlation(CorrIdx),
}

/// One referenced rule of a correlation, with the field names read from its events.
#[derive(Debug, Clone)]
pub struct Source {
    pub input: Input,
    /// The reference as the correlation wrote it (id or name).
    pub reference: String,
    /// For each `group-by` name, the field read from this source's events (the name itself,
    /// or what `aliases` maps it to for this rule).
    pub group_fields: Vec<String>,
    /// `condition.field` for this source (aliases applied).
    pub value_fields: Vec<String>,
}

/// A loaded, resolved correlation rule.
#[derive(Debug, Clone)]
pub struct CorrelationRule {
    pub meta: Arc<RuleMeta>,
    pub kind: CorrelationType,
    pub timespan_ms: i64,
    /// As written (`5m`).
    pub timespan: String,
    /// The condition; for temporal types without one, `gte: <number of rules>`.
    pub condition: Condition,
    pub group_by: Vec<String>,
    /// Distinct referenced rules.
    pub sources: Vec<Source>,
    /// `rules` in written order, as indices into `sources` (the order `temporal_ordered`
    /// requires).
    pub order: Vec<u32>,
    pub generate: bool,
    /// Identifies the definition (type, references, fields, timespan, condition): saved
    /// state is only restored into a rule with the same fingerprint.
    pub fingerprint: String,
}

/// The loaded correlation rules, in dependency order (a correlation comes after every
/// correlation it references).
#[derive(Debug, Clone, Default)]
pub struct CorrelationSet {
    pub(crate) rules: Vec<CorrelationRule>,
    /// Detection rule → (correlation, source) pairs it feeds.
    pub(crate) by_rule: FxHashMap<RuleIdx, Vec<(CorrIdx, u32)>>,
    /// Correlation → (correlation, source) pairs its matches feed.
    pub(crate) by_corr: Vec<Vec<(CorrIdx, u32)>>,
    silent_rules: FxHashMap<RuleIdx, CorrIdx>,
    silent_corrs: Vec<bool>,
}

impl CorrelationSet {
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn rule(&self, c: CorrIdx) -> &CorrelationRule {
        &self.rules[c.0 as usize]
    }

    pub fn rules(&self) -> impl Iterator<Item = (CorrIdx, &CorrelationRule)> {
        self.rules
            .iter()
            .enumerate()
            .map(|(i, r)| (CorrIdx(i as u32), r))
    }

    /// Finds a correlation by id.
    pub fn rule_by_id(&self, id: &str) -> Option<CorrIdx> {
        self.rules
            .iter()
            .position(|r| r.meta.id == id)
            .map(|i| CorrIdx(i as u32))
    }

    /// Whether a detection rule's matches feed some correlation.
    pub fn feeds(&self, r: RuleIdx) -> bool {
        self.by_rule.contains_key(&r)
    }

    /// Whether a detection rule's own matches should be reported. `false` when a correlation
    /// referencing it has `generate: false` (the default): per the specification, the
    /// referenced rules are then only building blocks of the correlation (pySigma does the
    /// same: any referencing correlation without `generate` disables the rule's output).
    pub fn emits_rule(&self, r: RuleIdx) -> bool {
        !self.silent_rules.contains_key(&r)
    }

    /// Whether a correlation's own matches should be reported: `false` for a correlation that
    /// another correlation references without `generate: true` (an inner link of a chain).
    pub fn emits(&self, c: CorrIdx) -> bool {
        !self.silent_corrs[c.0 as usize]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Target {
    Rule(u32),
    Doc(usize),
}

/// Resolves parsed correlation documents against the loaded detection rules. Documents that
/// cannot be resolved become rejections.
pub(crate) fn resolve(
    docs: Vec<CorrelationDoc>,
    rules: &[&RuleMeta],
    rejections: &mut Vec<Rejection>,
) -> CorrelationSet {
    let rejected_ids: HashMap<String, &'static str> = rejections
        .iter()
        .filter_map(|r| r.rule_id.clone().map(|id| (id, r.reason.kind())))
        .collect();
    let mut index: HashMap<&str, Vec<Target>> = HashMap::new();
    for (i, m) in rules.iter().enumerate() {
        for k in std::iter::once(m.id.as_str()).chain(m.name.as_deref()) {
            index.entry(k).or_default().push(Target::Rule(i as u32));
        }
    }
    for (i, d) in docs.iter().enumerate() {
        for k in std::iter::once(d.meta.id.as_str()).chain(d.meta.name.as_deref()) {
            index.entry(k).or_default().push(Target::Doc(i));
        }
    }
    for v in index.values_mut() {
        v.dedup();
    }

    let n = docs.len();
    let mut failed: Vec<Option<R>> = vec![None; n];
    // Per document: (target, first reference written for it) in `rules` order.
    let mut targets: Vec<Vec<(Target, String)>> = vec![Vec::new(); n];
    for (i, d) in docs.iter().enumerate() {
        for r in &d.rules {
            let t = match index.get(r.as_str()).map(Vec::as_slice) {
                Some([t]) => *t,
                Some(many) => {
                    failed[i] = Some(R::Ambiguous(
                        r.clone(),
                        format!("{} loaded rules have this id or name", many.len()),
                    ));
                    break;
                }
                None => {
                    let why = rejected_ids
                        .get(r)
                        .map(|k| format!(" (it was rejected: {k})"))
                        .unwrap_or_default();
                    failed[i] = Some(R::UnknownRule(r.clone(), why));
                    break;
                }
            };
            if t == Target::Doc(i) {
                failed[i] = Some(R::Cycle(format!("`{}` references itself", d.meta.id)));
                break;
            }
            targets[i].push((t, r.clone()));
        }
    }

    // Cycles (depth-first, colours), then rejection of whatever depends on a rejected link.
    let mut colour = vec![0u8; n];
    let mut topo: Vec<usize> = Vec::with_capacity(n);
    for start in 0..n {
        if colour[start] != 0 {
            continue;
        }
        // Iterative DFS: (node, next child position).
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        colour[start] = 1;
        while let Some(top) = stack.last_mut() {
            let (v, pos) = *top;
            top.1 += 1;
            match targets[v].get(pos).map(|(t, _)| *t) {
                None => {
                    colour[v] = 2;
                    topo.push(v);
                    stack.pop();
                }
                Some(Target::Rule(_)) => {}
                Some(Target::Doc(j)) if colour[j] == 1 => {
                    let from = stack.iter().position(|(x, _)| *x == j).unwrap_or(0);
                    let path: Vec<&str> = stack[from..]
                        .iter()
                        .map(|(x, _)| docs[*x].meta.id.as_str())
                        .chain(std::iter::once(docs[j].meta.id.as_str()))
                        .collect();
                    for (x, _) in &stack[from..] {
                        failed[*x].get_or_insert_with(|| R::Cycle(path.join(" → ")));
                    }
                }
                Some(Target::Doc(j)) if colour[j] == 0 => {
                    colour[j] = 1;
                    stack.push((j, 0));
                }
                Some(Target::Doc(_)) => {}
            }
        }
    }

    let mut out = CorrelationSet::default();
    let mut built: Vec<Option<CorrIdx>> = vec![None; n];
    for &i in &topo {
        let d = &docs[i];
        if failed[i].is_none() {
            for (t, r) in &targets[i] {
                if let Target::Doc(j) = t {
                    if built[*j].is_none() {
                        failed[i] = Some(R::Chain(format!(
                            "references correlation `{r}`, which was rejected"
                        )));
                        break;
                    }
                }
            }
        }
        if failed[i].is_none() {
            match build(d, &targets[i], rules, &out, &built) {
                Ok(rule) => {
                    built[i] = Some(CorrIdx(out.rules.len() as u32));
                    out.rules.push(rule);
                }
                Err(e) => failed[i] = Some(e),
            }
        }
        if let Some(reason) = failed[i].take() {
            rejections.push(Rejection {
                path: d.meta.path.clone(),
                document: d.document,
                rule_id: Some(d.meta.id.clone()),
                title: Some(d.meta.title.clone()),
                reason: Reject::Correlation(reason),
            });
        }
    }

    out.by_corr = vec![Vec::new(); out.rules.len()];
    out.silent_corrs = vec![false; out.rules.len()];
    for (ci, r) in out.rules.iter().enumerate() {
        let c = CorrIdx(ci as u32);
        for (si, s) in r.sources.iter().enumerate() {
            match s.input {
                Input::Rule(ri) => {
                    out.by_rule.entry(ri).or_default().push((c, si as u32));
                    if !r.generate {
                        out.silent_rules.entry(ri).or_insert(c);
                    }
                }
                Input::Correlation(inner) => {
                    out.by_corr[inner.0 as usize].push((c, si as u32));
                    if !r.generate {
                        out.silent_corrs[inner.0 as usize] = true;
                    }
                }
            }
        }
    }
    out
}

fn build(
    d: &CorrelationDoc,
    targets: &[(Target, String)],
    rules: &[&RuleMeta],
    set: &CorrelationSet,
    built: &[Option<CorrIdx>],
) -> Result<CorrelationRule, R> {
    let mut sources: Vec<Source> = Vec::new();
    let mut order = Vec::with_capacity(targets.len());
    for (t, reference) in targets {
        let input = match t {
            Target::Rule(i) => Input::Rule(RuleIdx(*i)),
            Target::Doc(j) => Input::Correlation(
                built[*j]
                    .ok_or_else(|| R::Chain(format!("correlation `{reference}` is not loaded")))?,
            ),
        };
        if let Some(p) = sources.iter().position(|s| s.input == input) {
            order.push(p as u32);
            continue;
        }
        let (id, name) = match input {
            Input::Rule(r) => {
                let m = rules[r.0 as usize];
                (m.id.as_str(), m.name.as_deref())
            }
            Input::Correlation(c) => {
                let m = &set.rule(c).meta;
                (m.id.as_str(), m.name.as_deref())
            }
        };
        let field_for = |f: &str| -> Result<String, R> {
            let Some(alias) = d.aliases.iter().find(|a| a.name == f) else {
                return Ok(f.to_string());
            };
            alias
                .fields
                .iter()
                .find(|(r, _)| r == reference || r == id || Some(r.as_str()) == name)
                .map(|(_, field)| field.clone())
                .ok_or_else(|| {
                    R::Aliases(format!("alias `{f}` gives no field for rule `{reference}`"))
                })
        };
        let group_fields = d
            .group_by
            .iter()
            .map(|g| field_for(g))
            .collect::<Result<Vec<_>, _>>()?;
        let value_fields = d
            .condition
            .iter()
            .flat_map(|c| c.field.iter())
            .map(|f| field_for(f))
            .collect::<Result<Vec<_>, _>>()?;
        if let Input::Correlation(c) = input {
            // A correlation's match carries its group key: that is all an outer rule can read.
            let inner = set.rule(c);
            for f in group_fields.iter().chain(&value_fields) {
                if !inner.group_by.contains(f) {
                    return Err(R::Chain(format!(
                        "`{f}` is not a group-by field of correlation `{reference}` (its group-by: [{}])",
                        inner.group_by.join(", ")
                    )));
                }
            }
        }
        order.push(sources.len() as u32);
        sources.push(Source {
            input,
            reference: reference.clone(),
            group_fields,
            value_fields,
        });
    }
    let condition = d.condition.clone().unwrap_or_else(|| Condition {
        ops: vec![(
            CmpOp::Gte,
            match d.kind {
                CorrelationType::TemporalOrdered => order.len(),
                _ => sources.len(),
            } as f64,
        )],
        field: Vec::new(),
        percentile: None,
    });
    let fingerprint = {
        let srcs: Vec<String> = sources
            .iter()
            .map(|s| {
                let id = match s.input {
                    Input::Rule(r) => rules[r.0 as usize].id.as_str(),
                    Input::Correlation(c) => set.rule(c).meta.id.as_str(),
                };
                format!("{id}{:?}{:?}", s.group_fields, s.value_fields)
            })
            .collect();
        let percentile = match d.kind {
            CorrelationType::ValueMedian => Some(50.0),
            _ => condition.percentile,
        };
        format!(
            "{}|{}|{:?}|{:?}|{:?}|{:?}|{:?}",
            d.kind, d.timespan_ms, d.group_by, srcs, order, condition.ops, percentile
        )
    };
    Ok(CorrelationRule {
        meta: Arc::new(d.meta.clone()),
        kind: d.kind,
        timespan_ms: d.timespan_ms,
        timespan: d.timespan.clone(),
        condition,
        group_by: d.group_by.clone(),
        sources,
        order,
        generate: d.generate,
        fingerprint,
    })
}

impl CorrelationDoc {
    /// Every field name the correlation reads from events (group-by fields, alias targets,
    /// condition fields): the loader registers them so [`crate::Engine::field_values`] knows
    /// them.
    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.group_by
            .iter()
            .chain(self.condition.iter().flat_map(|c| c.field.iter()))
            .chain(
                self.aliases
                    .iter()
                    .flat_map(|a| a.fields.iter().map(|(_, f)| f)),
            )
            .map(String::as_str)
    }
}
