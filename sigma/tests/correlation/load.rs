//! Loading correlation documents: what loads, and every named rejection reason.

use canhgac_sigma::correlation::{CorrelationType, Input};
use canhgac_sigma::{EngineBuilder, RuleIdx};

use super::{load_with, mappings, BASE};

/// Correlation body (indented under `correlation:`) → expected rejection kind and a fragment
/// of its message.
const REJECTIONS: &[(&str, &str, &str)] = &[
    ("type: event_counts\n    rules: [failed_logon]\n    timespan: 1m\n    condition: {gte: 1}", "correlation-type", "unknown correlation type `event_counts`"),
    ("rules: [failed_logon]\n    timespan: 1m\n    condition: {gte: 1}", "correlation-type", "missing `correlation.type`"),
    ("type: event_count\n    timespan: 1m\n    condition: {gte: 1}", "correlation-rules", "names no rule"),
    ("type: event_count\n    rules: [failed_logon, failed_logon]\n    timespan: 1m\n    condition: {gte: 1}", "correlation-rules", "listed twice"),
    ("type: event_count\n    rules: [no_such_rule]\n    timespan: 1m\n    condition: {gte: 1}", "correlation-unknown-rule", "`no_such_rule`, which is not loaded"),
    ("type: event_count\n    rules: [failed_logon]\n    condition: {gte: 1}", "correlation-timespan", "missing"),
    ("type: event_count\n    rules: [failed_logon]\n    timespan: 5 minutes\n    condition: {gte: 1}", "correlation-timespan", "not <number>"),
    ("type: event_count\n    rules: [failed_logon]\n    timespan: 0s\n    condition: {gte: 1}", "correlation-timespan", "greater than zero"),
    ("type: event_count\n    rules: [failed_logon]\n    timespan: 1M\n    condition: {gte: 1}", "correlation-timespan", "not fixed durations"),
    ("type: event_count\n    rules: [failed_logon]\n    timespan: 1m", "correlation-condition", "missing (required for event_count)"),
    ("type: event_count\n    rules: [failed_logon]\n    timespan: 1m\n    condition: {field: User}", "correlation-condition", "no comparison"),
    ("type: event_count\n    rules: [failed_logon]\n    timespan: 1m\n    condition: {gte: ten}", "correlation-condition", "is not a number"),
    ("type: event_count\n    rules: [failed_logon]\n    timespan: 1m\n    condition: {atleast: 3}", "correlation-condition", "unknown key `atleast`"),
    ("type: temporal\n    rules: [failed_logon, successful_logon]\n    timespan: 1m\n    condition: failed_logon and not successful_logon", "correlation-condition", "extended (boolean) condition"),
    ("type: value_count\n    rules: [failed_logon]\n    timespan: 1m\n    condition: {gte: 3}", "correlation-field", "value_count needs `condition.field`"),
    ("type: value_sum\n    rules: [transfer]\n    timespan: 1m\n    condition: {gte: 3, field: [a, b]}", "correlation-field", "aggregates one field"),
    ("type: event_count\n    rules: [failed_logon]\n    timespan: 1m\n    condition: {gte: 3, field: User}", "correlation-field", "does not read a field"),
    ("type: value_percentile\n    rules: [transfer]\n    timespan: 1m\n    condition: {gte: 3, field: bytes}", "correlation-percentile", "needs `condition.percentile`"),
    ("type: value_percentile\n    rules: [transfer]\n    timespan: 1m\n    condition: {gte: 3, field: bytes, percentile: 101}", "correlation-percentile", "from 0 to 100"),
    ("type: value_avg\n    rules: [transfer]\n    timespan: 1m\n    condition: {gte: 3, field: bytes, percentile: 50}", "correlation-percentile", "does not take a percentile"),
    ("type: temporal\n    rules: [failed_logon, transfer]\n    group-by: [acct]\n    timespan: 1m\n    aliases:\n        acct:\n            failed_logon: User", "correlation-aliases", "alias `acct` gives no field for rule `transfer`"),
    ("type: temporal\n    rules: [failed_logon, transfer]\n    group-by: [acct]\n    timespan: 1m\n    aliases:\n        acct:\n            failed_logon: User\n            other_rule: Owner", "correlation-aliases", "names rule `other_rule`"),
    ("type: temporal\n    rules: [failed_logon, transfer]\n    timespan: 1m\n    aliases: [a, b]", "correlation-aliases", "is not a map"),
    ("type: event_count\n    rules: [failed_logon]\n    group-by: {User: 1}\n    timespan: 1m\n    condition: {gte: 1}", "correlation-group-by", "a map is not a name"),
    ("type: event_count\n    rules: [failed_logon]\n    timespan: 1m\n    condition: {gte: 1}\n    generate: maybe", "correlation-generate", "is not a boolean"),
    ("type: event_count\n    rules: [failed_logon]\n    timespan: 1m\n    condition: {gte: 1}\n    window: 5", "correlation-unknown-key", "correlation.window"),
];

#[test]
fn rejections_are_named() {
    let mut failures = Vec::new();
    for (body, kind, fragment) in REJECTIONS {
        let yaml = format!("{BASE}\n---\ntitle: bad\nid: c-bad\ncorrelation:\n    {body}\n");
        let (_, set, report) = load_with(&yaml, mappings());
        let r: Vec<_> = report.rejections.iter().collect();
        let ok = set.is_empty()
            && r.len() == 1
            && r[0].reason.kind() == *kind
            && r[0].reason.to_string().contains(fragment)
            && r[0].rule_id.as_deref() == Some("c-bad")
            && r[0].document == 4;
        if !ok {
            failures.push(format!(
                "{body:?}: expected {kind} containing {fragment:?}, got {:?}",
                r.iter()
                    .map(|r| (r.reason.kind(), r.reason.to_string(), r.document))
                    .collect::<Vec<_>>()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn missing_title_and_unsupported_status_are_named() {
    let (_, _, report) = load_with(
        "id: c1\ncorrelation: {type: event_count, rules: [x], timespan: 1m, condition: {gte: 1}}\n---\ntitle: t\nid: c2\nstatus: unsupported\ncorrelation: {type: event_count, rules: [x], timespan: 1m, condition: {gte: 1}}\n",
        mappings(),
    );
    let kinds: Vec<_> = report.rejections.iter().map(|r| r.reason.kind()).collect();
    assert_eq!(kinds, ["missing-field", "status-unsupported"]);
}

#[test]
fn references_resolve_by_id_and_name_and_report_rejected_targets() {
    let yaml = format!(
        "{BASE}\n---\ntitle: broken\nid: r-broken\nname: broken_rule\nlogsource: {{product: test}}\ndetection:\n    sel:\n        a|nosuchmod: 1\n    condition: sel\n---\ntitle: by id\nid: c-id\ncorrelation:\n    type: event_count\n    rules: [00000000-0000-0000-0000-00000000000a, successful_logon]\n    timespan: 1m\n    condition: {{gte: 1}}\n---\ntitle: on broken\nid: c-broken\ncorrelation:\n    type: event_count\n    rules: [r-broken]\n    timespan: 1m\n    condition: {{gte: 1}}\n"
    );
    let (engine, set, report) = load_with(&yaml, mappings());
    assert_eq!(set.len(), 1);
    let c = set.rule(set.rule_by_id("c-id").unwrap());
    let inputs: Vec<Input> = c.sources.iter().map(|s| s.input).collect();
    assert_eq!(
        inputs,
        [
            Input::Rule(
                engine
                    .rule_by_id("00000000-0000-0000-0000-00000000000a")
                    .unwrap()
            ),
            Input::Rule(
                engine
                    .rule_by_id("00000000-0000-0000-0000-00000000000b")
                    .unwrap()
            ),
        ]
    );
    let rej: Vec<String> = report.rejections.iter().map(|r| r.to_string()).collect();
    assert_eq!(rej.len(), 2, "{rej:?}");
    assert!(
        rej[1].contains(
            "references rule `r-broken`, which is not loaded (it was rejected: unknown-modifier)"
        ),
        "{rej:?}"
    );
}

#[test]
fn ambiguous_names_are_rejected() {
    let yaml = format!(
        "{BASE}\n---\ntitle: dup name\nid: r-dup\nname: failed_logon\nlogsource: {{product: test}}\ndetection:\n    sel: {{a: 1}}\n    condition: sel\n---\ntitle: c\nid: c-amb\ncorrelation:\n    type: event_count\n    rules: [failed_logon]\n    timespan: 1m\n    condition: {{gte: 1}}\n"
    );
    let (_, set, report) = load_with(&yaml, mappings());
    assert!(set.is_empty());
    assert_eq!(report.rejections[0].reason.kind(), "correlation-ambiguous");
}

#[test]
fn cycles_and_dependants_are_rejected() {
    let yaml = format!(
        "{BASE}\n---\ntitle: a\nid: c-a\nname: ca\ncorrelation:\n    type: temporal\n    rules: [cb, failed_logon]\n    timespan: 1m\n---\ntitle: b\nid: c-b\nname: cb\ncorrelation:\n    type: temporal\n    rules: [ca]\n    timespan: 1m\n---\ntitle: self\nid: c-self\nname: cself\ncorrelation:\n    type: temporal\n    rules: [cself]\n    timespan: 1m\n---\ntitle: on cycle\nid: c-top\ncorrelation:\n    type: temporal\n    rules: [ca, successful_logon]\n    timespan: 1m\n---\ntitle: fine\nid: c-fine\ncorrelation:\n    type: event_count\n    rules: [failed_logon]\n    timespan: 1m\n    condition: {{gte: 1}}\n"
    );
    let (_, set, report) = load_with(&yaml, mappings());
    assert_eq!(set.len(), 1);
    assert_eq!(set.rules().next().unwrap().1.meta.id, "c-fine");
    let mut got: Vec<(String, &str)> = report
        .rejections
        .iter()
        .map(|r| (r.rule_id.clone().unwrap(), r.reason.kind()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("c-a".to_string(), "correlation-cycle"),
            ("c-b".to_string(), "correlation-cycle"),
            ("c-self".to_string(), "correlation-cycle"),
            ("c-top".to_string(), "correlation-chain"),
        ]
    );
    let cycle = report
        .rejections
        .iter()
        .find(|r| r.rule_id.as_deref() == Some("c-a"))
        .unwrap();
    assert!(
        cycle.reason.to_string().contains("c-a → c-b → c-a"),
        "{}",
        cycle.reason
    );
}

#[test]
fn chains_only_read_the_inner_group_by() {
    let yaml = format!(
        "{BASE}\n---\ntitle: inner\nid: c-in\nname: inner\ncorrelation:\n    type: event_count\n    rules: [failed_logon]\n    group-by: [User]\n    timespan: 1m\n    condition: {{gte: 2}}\n---\ntitle: outer\nid: c-out\ncorrelation:\n    type: temporal\n    rules: [inner, successful_logon]\n    group-by: [Host]\n    timespan: 1m\n"
    );
    let (_, set, report) = load_with(&yaml, mappings());
    assert_eq!(set.len(), 1);
    let r = &report.rejections[0];
    assert_eq!(r.reason.kind(), "correlation-chain");
    assert!(
        r.reason.to_string().contains(
            "`Host` is not a group-by field of correlation `inner` (its group-by: [User])"
        ),
        "{}",
        r.reason
    );
}

#[test]
fn duplicate_ids_across_rules_and_correlations() {
    let yaml = format!(
        "{BASE}\n---\ntitle: clash\nid: 00000000-0000-0000-0000-00000000000a\ncorrelation:\n    type: event_count\n    rules: [transfer]\n    timespan: 1m\n    condition: {{gte: 1}}\n"
    );
    let (_, set, report) = load_with(&yaml, mappings());
    assert!(set.is_empty());
    assert_eq!(report.rejections[0].reason.kind(), "duplicate-id");
}

#[test]
fn build_counts_correlations_and_generate_controls_output() {
    let yaml = format!(
        "{BASE}\n---\ntitle: quiet\nid: c-quiet\nname: quiet\ncorrelation:\n    type: event_count\n    rules: [failed_logon]\n    group-by: [User]\n    timespan: 1m\n    condition: {{gte: 2}}\n---\ntitle: loud\nid: c-loud\nlevel: high\ncorrelation:\n    type: temporal_ordered\n    rules: [quiet, successful_logon]\n    group-by: [User]\n    timespan: 1h\n    generate: true\n"
    );
    let mut b = EngineBuilder::new(mappings());
    b.add_source("x.yml", yaml.clone());
    let (engine, report) = b.build();
    assert_eq!((engine.len(), report.correlations, report.rules), (4, 2, 4));
    assert!(report.rejections.is_empty(), "{:?}", report.rejections);

    let (engine, set, _) = load_with(&yaml, mappings());
    let rule = |id: &str| engine.rule_by_id(id).unwrap();
    // `quiet` has generate: false, so its base rule is only a building block.
    assert!(!set.emits_rule(rule("00000000-0000-0000-0000-00000000000a")));
    // `loud` has generate: true: its references (successful_logon, quiet) keep their output.
    assert!(set.emits_rule(rule("00000000-0000-0000-0000-00000000000b")));
    assert!(set.emits(set.rule_by_id("c-quiet").unwrap()));
    assert!(set.emits(set.rule_by_id("c-loud").unwrap()));
    assert!(set.emits_rule(rule("00000000-0000-0000-0000-00000000000c")));
    assert!(!set.feeds(rule("00000000-0000-0000-0000-00000000000c")));
    assert!(set.feeds(RuleIdx(0)));
    let loud = set.rule(set.rule_by_id("c-loud").unwrap());
    assert_eq!(loud.kind, CorrelationType::TemporalOrdered);
    assert_eq!(loud.meta.level.as_str(), "high");
    // Dependency order: the inner correlation comes first.
    let order: Vec<&str> = set.rules().map(|(_, r)| r.meta.id.as_str()).collect();
    assert_eq!(order, ["c-quiet", "c-loud"]);
}

#[test]
fn group_by_fields_are_read_through_the_mapping() {
    // Security 4688 maps Sigma's Image to NewProcessName (rules/mappings/windows.yml): a
    // correlation grouping by Image reads NewProcessName from those events.
    let yaml = "title: proc\nid: r-proc\nname: proc\nlogsource: {product: windows, category: process_creation}\ndetection:\n    sel:\n        CommandLine|contains: whoami\n    condition: sel\n---\ntitle: many\nid: c-img\ncorrelation:\n    type: event_count\n    rules: [proc]\n    group-by: [Image, SubjectUserName]\n    timespan: 1m\n    condition: {gte: 2}\n";
    let (engine, set, report) = load_with(yaml, canhgac_sigma::Mappings::builtin());
    assert!(report.rejections.is_empty(), "{:?}", report.rejections);
    let mut corr =
        canhgac_sigma::CorrelationEngine::new(std::sync::Arc::new(set), Default::default());
    let mut s = engine.scratch();
    let mut out = Vec::new();
    for n in 0..2 {
        let mut ev = super::event(
            n,
            n as usize,
            serde_json::json!({"Event": {"System": {"EventID": 4688, "Channel": "Security"},
                "EventData": {"NewProcessName": "C:\\Windows\\System32\\whoami.exe",
                    "CommandLine": "whoami /all", "SubjectUserName": "bob"}}}),
        );
        ev.dataset = canhgac_core::Dataset::new("windows");
        let matched: Vec<_> = engine
            .matches(&ev, &mut s)
            .iter()
            .map(|m| m.rule_idx)
            .collect();
        assert_eq!(matched.len(), 1);
        out.extend(corr.observe(&engine, &mut s, &ev, &matched));
    }
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].group,
        [
            (
                "Image".to_string(),
                "C:\\Windows\\System32\\whoami.exe".to_string()
            ),
            ("SubjectUserName".to_string(), "bob".to_string())
        ]
    );
}
