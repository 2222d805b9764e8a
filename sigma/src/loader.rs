//! Loading: read rule files (in parallel), parse documents, apply filters, compile, build the
//! routing plans and the shared automata, and report every rejection with its reason.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::compile::atoms::AtomTable;
use crate::compile::prefilter::necessary;
use crate::compile::{with_filters, Compiler, Node, SlotTable};
use crate::correlation::{CorrelationDoc, CorrelationSet};
use crate::engine::{CompiledRule, Engine, Group, Plan, PlanCond, PlanEntry, PlanWhen};
use crate::error::{Reject, Rejection, SigmaError};
use crate::fieldcheck;
use crate::mapping::Mappings;
use crate::modifiers::string::fold_into;
use crate::modifiers::Placeholders;
use crate::parse::{load_yaml, parse_document, Document, FilterDoc, RuleDoc};
use crate::rule::Logsource;

/// What a load did: counts, rejections with reasons, logsources no mapping routes.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    pub files: usize,
    pub documents: usize,
    pub rules: usize,
    pub filters: usize,
    /// Correlation rules loaded (see [`EngineBuilder::build_with_correlations`]).
    pub correlations: usize,
    pub rejections: Vec<Rejection>,
    /// Rule logsources with no mapping entry: loaded, but no event reaches them.
    pub unrouted: Vec<(Logsource, usize)>,
    pub warnings: Vec<String>,
    pub elapsed: Duration,
}

impl LoadReport {
    /// Rejections grouped by [`Reject::kind`].
    pub fn by_reason(&self) -> BTreeMap<&'static str, Vec<&Rejection>> {
        let mut m: BTreeMap<&'static str, Vec<&Rejection>> = BTreeMap::new();
        for r in &self.rejections {
            m.entry(r.reason.kind()).or_default().push(r);
        }
        m
    }
}

/// Collects rule sources, then [`EngineBuilder::build`]s an [`Engine`].
pub struct EngineBuilder {
    mappings: Mappings,
    placeholders: Placeholders,
    sources: Vec<(PathBuf, String)>,
    strict_fields: bool,
}

impl EngineBuilder {
    pub fn new(mappings: Mappings) -> Self {
        EngineBuilder {
            mappings,
            placeholders: Placeholders::new(),
            sources: Vec::new(),
            strict_fields: false,
        }
    }

    /// Rejects (`enrichment-field`) rather than warns about rules that name fields only
    /// enriching sensors add (a mapping entry's `fields_enriched`): for deployments whose
    /// events are plain Sysmon, where such a selection never matches and such a filter never
    /// applies. Fields outside every schema are rejected either way (`unknown-field`).
    pub fn strict_fields(mut self, strict: bool) -> Self {
        self.strict_fields = strict;
        self
    }

    /// Values for `expand` placeholders; without them such rules are rejected.
    pub fn placeholders(mut self, p: Placeholders) -> Self {
        self.placeholders = p;
        self
    }

    /// Adds rule text (one or more YAML documents) under a name used in reports.
    pub fn add_source(&mut self, path: impl Into<PathBuf>, text: impl Into<String>) -> &mut Self {
        self.sources.push((path.into(), text.into()));
        self
    }

    /// Adds a rule file, or every `*.yml`/`*.yaml` under a directory (sorted, recursive).
    pub fn add_path(&mut self, path: &Path) -> Result<usize, SigmaError> {
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |source| SigmaError::Io { path: p, source }
        };
        let meta = std::fs::metadata(path).map_err(io(path))?;
        let mut files = Vec::new();
        if meta.is_dir() {
            let mut stack = vec![path.to_path_buf()];
            while let Some(dir) = stack.pop() {
                for e in std::fs::read_dir(&dir).map_err(io(&dir))? {
                    let p = e.map_err(io(&dir))?.path();
                    if p.is_dir() {
                        stack.push(p);
                    } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml"))
                    {
                        files.push(p);
                    }
                }
            }
            files.sort();
        } else {
            files.push(path.to_path_buf());
        }
        let texts: Vec<Result<(PathBuf, String), SigmaError>> = files
            .into_par_iter()
            .map(|p| {
                std::fs::read_to_string(&p)
                    .map(|t| (p.clone(), t))
                    .map_err(|source| SigmaError::Io { path: p, source })
            })
            .collect();
        let n = texts.len();
        for t in texts {
            self.sources.push(t?);
        }
        Ok(n)
    }

    /// Parses and compiles everything added. Correlation rules are validated, counted and
    /// their problems reported, but not returned: callers that evaluate correlations use
    /// [`build_with_correlations`](Self::build_with_correlations).
    pub fn build(self) -> (Engine, LoadReport) {
        let (engine, _, report) = self.build_with_correlations();
        (engine, report)
    }

    /// Parses and compiles everything added, and resolves the correlation rules against the
    /// loaded detection rules (references by id or name, chains, aliases). Fields the
    /// correlations read are registered so [`Engine::field_values`] returns them.
    #[allow(clippy::result_large_err)]
    pub fn build_with_correlations(self) -> (Engine, CorrelationSet, LoadReport) {
        let t0 = Instant::now();
        let mut report = LoadReport {
            files: self.sources.len(),
            ..Default::default()
        };
        let parsed: Vec<(PathBuf, Vec<Result<Document, Rejection>>)> = self
            .sources
            .into_par_iter()
            .map(|(path, text)| {
                let docs = match load_yaml(&text) {
                    // A legacy collection (`action: global` first): every part goes with it.
                    Ok(docs) if collection_action(&docs).is_some() => {
                        let action = collection_action(&docs).unwrap_or_default();
                        docs.iter()
                            .enumerate()
                            .filter(|(_, y)| !y.is_null())
                            .map(|(i, y)| {
                                let (id, title) = match y {
                                    yaml_rust2::Yaml::Hash(h) => (
                                        crate::yaml::get(h, "id").and_then(crate::yaml::text),
                                        crate::yaml::get(h, "title").and_then(crate::yaml::text),
                                    ),
                                    _ => (None, None),
                                };
                                Err(Rejection {
                                    path: path.clone(),
                                    document: i,
                                    rule_id: id,
                                    title,
                                    reason: Reject::Collection(action.clone()),
                                })
                            })
                            .collect()
                    }
                    Ok(docs) => docs
                        .iter()
                        .enumerate()
                        .filter(|(_, y)| !y.is_null())
                        .map(|(i, y)| {
                            parse_document(y, &path, i).map_err(|(ident, reason)| Rejection {
                                path: path.clone(),
                                document: i,
                                rule_id: ident.id,
                                title: ident.title,
                                reason,
                            })
                        })
                        .collect(),
                    Err(reason) => {
                        vec![Err(Rejection {
                            path: path.clone(),
                            document: 0,
                            rule_id: None,
                            title: None,
                            reason,
                        })]
                    }
                };
                (path, docs)
            })
            .collect();

        let mut rules: Vec<RuleDoc> = Vec::new();
        let mut filters: Vec<FilterDoc> = Vec::new();
        let mut correlations: Vec<CorrelationDoc> = Vec::new();
        let mut ids: HashMap<String, PathBuf> = HashMap::new();
        for (_, docs) in parsed {
            for d in docs {
                report.documents += 1;
                match d {
                    Ok(Document::Rule(r)) => {
                        let r = *r;
                        if let Some(first) = ids.get(&r.meta.id) {
                            report.rejections.push(Rejection {
                                path: r.meta.path.clone(),
                                document: 0,
                                rule_id: Some(r.meta.id.clone()),
                                title: Some(r.meta.title.clone()),
                                reason: Reject::Duplicate(
                                    r.meta.id.clone(),
                                    first.display().to_string(),
                                ),
                            });
                            continue;
                        }
                        ids.insert(r.meta.id.clone(), r.meta.path.clone());
                        rules.push(r);
                    }
                    Ok(Document::Filter(f)) => filters.push(f),
                    Ok(Document::Correlation(c)) => {
                        if let Some(first) = ids.get(&c.meta.id) {
                            report.rejections.push(Rejection {
                                path: c.meta.path.clone(),
                                document: c.document,
                                rule_id: Some(c.meta.id.clone()),
                                title: Some(c.meta.title.clone()),
                                reason: Reject::Duplicate(
                                    c.meta.id.clone(),
                                    first.display().to_string(),
                                ),
                            });
                            continue;
                        }
                        ids.insert(c.meta.id.clone(), c.meta.path.clone());
                        correlations.push(*c);
                    }
                    Err(rej) => report.rejections.push(rej),
                }
            }
        }

        let mut slots = SlotTable::default();
        for c in &correlations {
            for f in c.field_names() {
                slots.slot(f);
            }
        }
        let mut atoms = AtomTable::default();
        let mut directs = Vec::new();
        let mut compiler = Compiler {
            slots: &mut slots,
            atoms: &mut atoms,
            directs: &mut directs,
            placeholders: &self.placeholders,
        };

        // Filters first: each target rule gets `and not <filter>`.
        let mut filter_nodes: HashMap<&str, Vec<(String, Node)>> = HashMap::new();
        for f in &filters {
            let checked = fieldcheck::check(
                &self.mappings,
                &f.logsource,
                &f.detection,
                self.strict_fields,
            );
            match checked.and_then(|w| compiler.detection(&f.detection).map(|n| (w, n))) {
                Ok((warning, node)) => {
                    if let Some(w) = warning {
                        report.warnings.push(format!("filter {}: {w}", f.id));
                    }
                    report.filters += 1;
                    for target in &f.rules {
                        filter_nodes
                            .entry(target.as_str())
                            .or_default()
                            .push((f.id.clone(), node.clone()));
                    }
                }
                Err(reason) => report.rejections.push(Rejection {
                    path: PathBuf::from(&f.title),
                    document: 0,
                    rule_id: Some(f.id.clone()),
                    title: Some(f.title.clone()),
                    reason,
                }),
            }
        }
        let mut used_targets: HashSet<&str> = HashSet::new();

        let mut compiled: Vec<CompiledRule> = Vec::with_capacity(rules.len());
        let mut group_of: BTreeMap<Logsource, u32> = BTreeMap::new();
        let mut groups: Vec<Group> = Vec::new();
        for mut r in rules {
            let checked = fieldcheck::check(
                &self.mappings,
                &r.meta.logsource,
                &r.detection,
                self.strict_fields,
            );
            let node = match checked.and_then(|w| compiler.detection(&r.detection).map(|n| (w, n)))
            {
                Ok((warning, n)) => {
                    if let Some(w) = warning {
                        report.warnings.push(format!(
                            "{} ({}): {w}",
                            r.meta.path.display(),
                            r.meta.id
                        ));
                    }
                    n
                }
                Err(reason) => {
                    report.rejections.push(Rejection {
                        path: r.meta.path.clone(),
                        document: 0,
                        rule_id: Some(r.meta.id.clone()),
                        title: Some(r.meta.title.clone()),
                        reason,
                    });
                    continue;
                }
            };
            let mut fnodes = Vec::new();
            for key in [Some(r.meta.id.as_str()), r.meta.name.as_deref()]
                .into_iter()
                .flatten()
            {
                if let Some((k, list)) = filter_nodes.get_key_value(key) {
                    used_targets.insert(k);
                    for (fid, n) in list {
                        r.meta.filters.push(fid.clone());
                        fnodes.push(n.clone());
                    }
                }
            }
            let node = with_filters(node, fnodes);
            let g = *group_of.entry(r.meta.logsource.clone()).or_insert_with(|| {
                groups.push(Group {
                    logsource: r.meta.logsource.clone(),
                    always: Vec::new(),
                    keywords: false,
                    scanners: Vec::new(),
                    slots: Vec::new(),
                    keyword_scanner: None,
                });
                groups.len() as u32 - 1
            });
            compiled.push(CompiledRule {
                meta: r.meta,
                node,
                group: g,
                prefiltered: false,
            });
        }
        for f in &filters {
            for t in &f.rules {
                if !used_targets.contains(t.as_str()) {
                    report.warnings.push(format!(
                        "filter {} names rule `{t}`, which is not loaded",
                        f.id
                    ));
                }
            }
        }

        // Routing plans, one per dataset.
        let mut plans: Vec<Plan> = Vec::new();
        let mut plan_by_dataset: FxHashMap<String, u32> = FxHashMap::default();
        let mut route_field_names: HashSet<String> = HashSet::new();
        let mut routed_groups = vec![false; groups.len()];
        let mut datasets: Vec<String> = self
            .mappings
            .files
            .iter()
            .flat_map(|f| f.datasets.iter().cloned())
            .collect();
        datasets.sort();
        datasets.dedup();
        for ds in &datasets {
            let mut plan = Plan {
                layout: crate::mapping::Layout::Flat,
                route_slots: Vec::new(),
                route_bits: Vec::new(),
                base_renames: Vec::new(),
                entries: Vec::new(),
            };
            for file in self
                .mappings
                .files
                .iter()
                .filter(|f| f.datasets.contains(ds))
            {
                plan.layout = file.layout;
                for (sigma, event) in &file.fields {
                    plan.base_renames
                        .push((slots.slot(event), slots.slot(sigma)));
                }
                for entry in &file.logsources {
                    let gs: Vec<u32> = groups
                        .iter()
                        .enumerate()
                        .filter(|(_, g)| entry.applies_to(&g.logsource))
                        .map(|(i, _)| i as u32)
                        .collect();
                    let mut whens = Vec::new();
                    let mut any_when_for_ds = entry.when.is_empty();
                    for w in &entry.when {
                        if let Some((_, dsv)) = w.conds.iter().find(|(k, _)| k == "dataset") {
                            if !dsv.iter().any(|d| d.eq_ignore_ascii_case(ds)) {
                                continue;
                            }
                        }
                        any_when_for_ds = true;
                        let mut pw = PlanWhen::default();
                        for (k, vals) in w.conds.iter().filter(|(k, _)| k != "dataset") {
                            let slot = slots.slot(k);
                            route_field_names.insert(k.clone());
                            if !plan.route_slots.contains(&slot) {
                                plan.route_slots.push(slot);
                            }
                            let folded = vals
                                .iter()
                                .map(|v| {
                                    let mut f = Vec::new();
                                    fold_into(v.as_bytes(), &mut f);
                                    f
                                })
                                .collect();
                            pw.conds.push(PlanCond::Slot(slot, folded));
                        }
                        for (sigma, event) in &w.fieldmap {
                            pw.renames.push((slots.slot(event), slots.slot(sigma)));
                        }
                        whens.push(pw);
                    }
                    // An entry whose every `when` names other datasets does not apply here.
                    if !any_when_for_ds || gs.is_empty() {
                        continue;
                    }
                    for &g in &gs {
                        routed_groups[g as usize] = true;
                    }
                    // A `when` with no predicate left (only a dataset test) selects every event.
                    if whens
                        .iter()
                        .any(|w| w.conds.is_empty() && w.renames.is_empty())
                    {
                        whens.clear();
                    }
                    plan.entries.push(PlanEntry { groups: gs, whens });
                }
            }
            plan_by_dataset.insert(ds.clone(), plans.len() as u32);
            plans.push(plan);
        }
        for (g, routed) in groups.iter().zip(&routed_groups) {
            if !routed {
                let n = compiled
                    .iter()
                    .filter(|r| r.meta.logsource == g.logsource)
                    .count();
                report.unrouted.push((g.logsource.clone(), n));
            }
        }

        // Prefilters and triggers.
        let route_slots: HashSet<u32> = route_field_names
            .iter()
            .filter_map(|n| slots.get(n))
            .collect();
        let common: HashSet<u32> = self
            .mappings
            .files
            .iter()
            .flat_map(|f| f.common_fields.iter())
            .filter_map(|n| slots.get(n))
            .collect();
        let weight = |slot: u32| {
            if route_slots.contains(&slot) {
                1000.0
            } else if common.contains(&slot) {
                100.0
            } else {
                1.0
            }
        };
        let n_atoms = atoms.info.len();
        let mut triggers: Vec<Vec<u32>> = vec![Vec::new(); n_atoms];
        // (group, slot) → prefilter atoms
        let mut scan_atoms: BTreeMap<(u32, u32), Vec<u32>> = BTreeMap::new();
        for (i, r) in compiled.iter_mut().enumerate() {
            crate::compile::reorder(&mut r.node, &directs);
            match necessary(&r.node, &directs, &atoms.info, &weight) {
                Some((_, set)) => {
                    r.prefiltered = true;
                    for a in set {
                        triggers[a as usize].push(i as u32);
                        scan_atoms
                            .entry((r.group, atoms.info[a as usize].slot))
                            .or_default()
                            .push(a);
                    }
                }
                None => {
                    groups[r.group as usize].always.push(i as u32);
                }
            }
            if uses_keywords(&r.node, &directs, &atoms) {
                groups[r.group as usize].keywords = true;
            }
            node_slots(
                &r.node,
                &directs,
                &atoms,
                &mut groups[r.group as usize].slots,
            );
        }
        let scanners: Vec<((u32, u32), crate::compile::atoms::SlotMatcher)> = scan_atoms
            .into_par_iter()
            .map(|(key, mut list)| {
                list.sort_unstable();
                list.dedup();
                // Keyword text is one buffer of the whole event, ASCII-lowercased.
                let ascii_ci = key.1 == crate::compile::KEYWORD_SLOT;
                (
                    key,
                    crate::compile::atoms::build_scanner(&atoms.info, &list, ascii_ci, ascii_ci),
                )
            })
            .collect();
        for g in &mut groups {
            g.slots.sort_unstable();
            g.slots.dedup();
        }
        for plan in &mut plans {
            plan.route_bits = vec![0u64; slots.len().div_ceil(64).max(1)];
            for &s in &plan.route_slots {
                plan.route_bits[(s >> 6) as usize] |= 1 << (s & 63);
            }
        }
        for ((g, slot), m) in scanners {
            if slot == crate::compile::KEYWORD_SLOT {
                groups[g as usize].keyword_scanner = Some(m);
            } else {
                groups[g as usize].scanners.push((slot, m));
            }
        }
        report.rules = compiled.len();
        let metas: Vec<&crate::rule::RuleMeta> = compiled.iter().map(|r| &r.meta).collect();
        let correlation_set =
            crate::correlation::set::resolve(correlations, &metas, &mut report.rejections);
        report.correlations = correlation_set.len();
        report
            .rejections
            .sort_by(|a, b| a.path.cmp(&b.path).then(a.document.cmp(&b.document)));
        let engine = Engine {
            rules: compiled,
            directs,
            slots,
            atom_info: atoms.info,
            triggers: triggers.into_iter().map(Vec::into_boxed_slice).collect(),
            groups,
            plans,
            plan_by_dataset,
        };
        report.elapsed = t0.elapsed();
        (engine, correlation_set, report)
    }
}

fn uses_keywords(n: &Node, directs: &[crate::compile::Direct], atoms: &AtomTable) -> bool {
    match n {
        Node::Atom(a) => atoms.info[*a as usize].slot == crate::compile::KEYWORD_SLOT,
        Node::Direct(d) => directs[*d as usize].slot == crate::compile::KEYWORD_SLOT,
        Node::And(c) | Node::Or(c) | Node::AtLeast(_, c) => {
            c.iter().any(|c| uses_keywords(c, directs, atoms))
        }
        Node::Not(c) => uses_keywords(c, directs, atoms),
        Node::True | Node::False => false,
    }
}

fn node_slots(n: &Node, directs: &[crate::compile::Direct], atoms: &AtomTable, out: &mut Vec<u32>) {
    match n {
        Node::Atom(a) => out.push(atoms.info[*a as usize].slot),
        Node::Direct(d) => {
            let d = &directs[*d as usize];
            out.push(d.slot);
            if let crate::compile::DirectOp::FieldRef { other, .. } = d.op {
                out.push(other);
            }
        }
        Node::And(c) | Node::Or(c) | Node::AtLeast(_, c) => {
            c.iter().for_each(|c| node_slots(c, directs, atoms, out))
        }
        Node::Not(c) => node_slots(c, directs, atoms, out),
        Node::True | Node::False => {}
    }
}

/// `action` of a legacy multi-document rule collection (first document), if any.
fn collection_action(docs: &[yaml_rust2::Yaml]) -> Option<String> {
    match docs.first() {
        Some(yaml_rust2::Yaml::Hash(h)) => {
            crate::yaml::get(h, "action").and_then(crate::yaml::text)
        }
        _ => None,
    }
}
