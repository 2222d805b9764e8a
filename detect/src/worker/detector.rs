//! From an event and the rules it matched to [`Detection`]s: attribution to an information
//! system, category, priority, incident id, entities and guidance.

use canhgac_core::detection::{
    techniques_from_tags, Category, CorrelationInfo, Detection, Entities, IocHit, RuleKind,
    RuleRef, SystemRef, DETECTION_SCHEMA_VERSION,
};
use canhgac_core::id::{detection_id, incident_id};
use canhgac_core::registry::AttributionKeys;
use std::borrow::Cow;

use canhgac_core::Event;

use crate::ioc::IocMatch;
use crate::taxonomy::RuleFacts;
use canhgac_sigma::rule::RuleMeta;
use canhgac_sigma::CorrelationMatch;
use canhgac_sigma::RuleIdx;

use super::ruleset::Ruleset;
use super::suppress::SuppressionsHandle;

/// The rule reference of a Sigma rule.
pub fn sigma_rule_ref(meta: &RuleMeta) -> RuleRef {
    RuleRef {
        id: meta.id.clone(),
        title: meta.title.clone(),
        kind: RuleKind::Sigma,
        level: meta.level,
        author: meta.author.clone(),
        tags: meta.tags.clone(),
        techniques: techniques_from_tags(&meta.tags),
        references: meta.references.clone(),
        falsepositives: meta.falsepositives.clone(),
    }
}

/// The system of `agency` an event belongs to, if the registry knows it.
pub fn attribute(rules: &Ruleset, agency: &str, event: &Event) -> Option<SystemRef> {
    let e = &event.ecs;
    let hosts: Vec<&str> = e.host_name.iter().map(String::as_str).collect();
    let mut ips = Vec::with_capacity(4);
    ips.extend(e.destination_ip);
    ips.extend(e.host_ip);
    ips.extend(e.source_ip);
    ips.extend(e.related.ip.iter().copied());
    let domains: Vec<&str> = e.url_domain.iter().map(String::as_str).collect();
    rules
        .registry
        .attribute(
            agency,
            AttributionKeys {
                hosts: &hosts,
                ips: &ips,
                domains: &domains,
            },
        )
        .map(|a| SystemRef {
            id: a.system.id.clone(),
            name_vi: a.system.name_vi.clone(),
            name_en: a.system.name_en.clone(),
            level: a.system.level,
        })
}

/// Builds the detection of one rule on one event. `agency` comes from the topic.
pub fn build(
    rules: &Ruleset,
    agency: &str,
    event: &Event,
    system: Option<&SystemRef>,
    rule: RuleRef,
    facts: RuleFacts<'_>,
    ioc: Option<IocHit>,
) -> Detection {
    let event = Cow::Borrowed(event);
    build_with(rules, agency, event, system, rule, facts, ioc)
}

/// [`build`], the event moved into the detection when it is owned (a clone of an evtx
/// record's `Value` costs about 5 µs).
fn build_with(
    rules: &Ruleset,
    agency: &str,
    event: Cow<'_, Event>,
    system: Option<&SystemRef>,
    rule: RuleRef,
    facts: RuleFacts<'_>,
    ioc: Option<IocHit>,
) -> Detection {
    let (category, _) = rules.taxonomy.category(facts);
    let priority = rules.taxonomy.priority(rule.level, system.map(|s| s.level));
    let group_key = rules.taxonomy.group_key(category, &event, ioc.as_ref());
    let grouping = rules
        .taxonomy
        .grouping(category, &event, ioc.as_ref(), system);
    let window = rules.taxonomy.window_start(event.timestamp);
    let mut entities = Entities::from_event(&event);
    if let Some(hit) = &ioc {
        let list = match hit.indicator_type.as_str() {
            "ip" | "cidr" => &mut entities.ips,
            "domain" => &mut entities.domains,
            "url" => &mut entities.urls,
            "hash" => &mut entities.hashes,
            "email" => &mut entities.emails,
            _ => &mut entities.hosts,
        };
        if !list.contains(&hit.value) {
            list.push(hit.value.clone());
        }
    }
    Detection {
        schema: DETECTION_SCHEMA_VERSION,
        id: detection_id(&event.id, &rule.id),
        incident_id: incident_id(agency, &rule.id, &group_key, window),
        agency: agency.to_string(),
        system: system.cloned(),
        guidance: rules.taxonomy.guidance(category, &rule.id),
        category,
        priority,
        timestamp: event.timestamp,
        month: canhgac_core::detection::month_of(event.timestamp),
        group_key,
        grouping,
        entities,
        ioc,
        correlation: None,
        rule,
        suppressed: None,
        event: event.into_owned(),
    }
}

/// Events to detections one at a time, as the worker makes them: the Sigma rules that give
/// detections of their own, then the IOC lists' hits, with the worker's ids, categories,
/// priorities and incident ids. Correlations are not fed. The simulator's accuracy harness
/// scores through this, so it measures what the worker does. With
/// [`Detector::with_suppressions`] it marks suppressed detections as the worker does.
pub struct Detector<'r> {
    rules: &'r Ruleset,
    scratch: canhgac_sigma::Scratch,
    matched: Vec<RuleIdx>,
    hits: Vec<IocMatch>,
    suppressions: Option<SuppressionsHandle>,
}

impl<'r> Detector<'r> {
    pub fn new(rules: &'r Ruleset) -> Self {
        Detector {
            rules,
            scratch: rules.engine.scratch(),
            matched: Vec::new(),
            hits: Vec::new(),
            suppressions: None,
        }
    }

    /// Marks the detections a suppression in force covers, as the worker does.
    pub fn with_suppressions(mut self, handle: SuppressionsHandle) -> Self {
        self.suppressions = Some(handle);
        self
    }

    /// Appends every detection of `event` (an event of `agency`) to `out`; `iocs`, when
    /// given, are the IOC lists applied.
    pub fn detect(
        &mut self,
        agency: &str,
        event: &Event,
        iocs: Option<&crate::ioc::IocSet>,
        out: &mut Vec<Detection>,
    ) {
        self.matched.clear();
        self.hits.clear();
        self.rules
            .engine
            .eval(event, &mut self.scratch, &mut self.matched);
        if let Some(set) = iocs {
            set.matches(event, &mut self.hits);
        }
        let from = out.len();
        detections_of(
            self.rules,
            agency,
            Cow::Borrowed(event),
            &self.matched,
            &self.hits,
            out,
        );
        if let Some(h) = &self.suppressions {
            let set = h.current();
            let now = tokio::time::Instant::now();
            for d in &mut out[from..] {
                set.mark(d, now);
            }
        }
    }
}

/// The Sigma detections of one event, from the rules that matched it (`Engine::eval` or
/// `Engine::eval_json`). A rule that only feeds a correlation (`generate: false`, the
/// default) gives no detection of its own.
pub fn sigma_detections(
    rules: &Ruleset,
    agency: &str,
    event: &Event,
    matched: &[RuleIdx],
    out: &mut Vec<Detection>,
) {
    detections_of(rules, agency, Cow::Borrowed(event), matched, &[], out);
}

fn sigma_one(
    rules: &Ruleset,
    agency: &str,
    event: Cow<'_, Event>,
    system: Option<&SystemRef>,
    idx: RuleIdx,
) -> Detection {
    let meta = rules.engine.rule(idx);
    let facts = RuleFacts {
        id: &meta.id,
        tags: &meta.tags,
        logsource: Some(&meta.logsource),
        ioc_kind: None,
    };
    build_with(
        rules,
        agency,
        event,
        system,
        sigma_rule_ref(meta),
        facts,
        None,
    )
}

/// [`sigma_detections`] then [`ioc_detections`] of one event. An owned event (one the caller
/// no longer needs) is moved into the last detection instead of cloned once more.
pub fn detections_of(
    rules: &Ruleset,
    agency: &str,
    event: Cow<'_, Event>,
    matched: &[RuleIdx],
    hits: &[IocMatch],
    out: &mut Vec<Detection>,
) {
    let emits = |i: &&RuleIdx| rules.correlations.emits_rule(**i);
    let n = matched.iter().filter(emits).count() + hits.len();
    if n == 0 {
        return;
    }
    let system = attribute(rules, agency, &event);
    let mut event = Some(event);
    for (k, &idx) in matched.iter().filter(emits).enumerate() {
        let e = nth(&mut event, k + 1 == n);
        out.push(sigma_one(rules, agency, e, system.as_ref(), idx));
    }
    for (k, m) in hits.iter().enumerate() {
        let e = nth(&mut event, k + 1 == hits.len());
        out.push(ioc_one(rules, agency, e, system.as_ref(), m));
    }
}

/// The event for one detection of [`detections_of`]: lent, or given to the last one.
fn nth<'e>(event: &'e mut Option<Cow<'_, Event>>, last: bool) -> Cow<'e, Event> {
    match last {
        true => event.take().expect("only the last detection takes it"),
        false => Cow::Borrowed(event.as_deref().expect("the last detection comes last")),
    }
}

/// The detection id of an IOC hit: hash(event id, `ioc:<list id>:<indicator>`), so two
/// indicators of one list on one event are two detections and a replay gives the same ids.
pub fn ioc_detection_id(event: &Event, m: &IocMatch) -> canhgac_core::Id {
    detection_id(&event.id, &format!("ioc:{}:{}", m.list.id, m.hit.indicator))
}

/// Every IOC detection of one event: one per (list, indicator) in `hits` (what
/// `IocSet::matches` left after allowlists). The category comes from the taxonomy's `ioc_kinds` for the hit's kind
/// (`IocHit::list_kind`: the family's, `family_kinds`, else the list's); the guidance is the list's own when it has one.
pub fn ioc_detections(
    rules: &Ruleset,
    agency: &str,
    event: &Event,
    hits: &[IocMatch],
    out: &mut Vec<Detection>,
) {
    detections_of(rules, agency, Cow::Borrowed(event), &[], hits, out);
}

fn ioc_one(
    rules: &Ruleset,
    agency: &str,
    event: Cow<'_, Event>,
    system: Option<&SystemRef>,
    m: &IocMatch,
) -> Detection {
    let rule = m.list.rule_ref();
    let facts = RuleFacts {
        id: &m.list.id,
        tags: &[],
        logsource: None,
        ioc_kind: Some(&m.hit.list_kind),
    };
    let mut d = build_with(
        rules,
        agency,
        event,
        system,
        rule,
        facts,
        Some(m.hit.clone()),
    );
    d.id = ioc_detection_id(&d.event, m);
    let g = &m.list.guidance;
    if !g.vi.is_empty() || !g.en.is_empty() {
        d.guidance = g.clone();
    }
    d
}

/// The detection of a correlation match, raised on the event that closed its window. Its id
/// is the match id: hash(correlation id, group, window end, closing event id).
pub fn correlation_detection(
    rules: &Ruleset,
    agency: &str,
    event: &Event,
    m: &CorrelationMatch,
) -> Detection {
    let meta = &m.rule;
    let mut rule = sigma_rule_ref(meta);
    rule.kind = RuleKind::Correlation;
    let facts = RuleFacts {
        id: &meta.id,
        tags: &meta.tags,
        logsource: None,
        ioc_kind: None,
    };
    let system = attribute(rules, agency, event);
    let mut d = build(rules, agency, event, system.as_ref(), rule, facts, None);
    d.id = m.id;
    d.correlation = Some(CorrelationInfo {
        kind: m.kind.as_str().to_string(),
        group: m.group.clone(),
        first: m.first,
        last: m.last,
        value: m.value,
        events: m.events,
        event_ids: m.event_ids.clone(),
    });
    d
}

/// The category a Sigma rule gets (for `rules check` and metrics).
pub fn sigma_category(rules: &Ruleset, meta: &RuleMeta) -> Category {
    rules
        .taxonomy
        .category(RuleFacts {
            id: &meta.id,
            tags: &meta.tags,
            logsource: Some(&meta.logsource),
            ioc_kind: None,
        })
        .0
}
