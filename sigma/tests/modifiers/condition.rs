//! The condition grammar, keyword searches, lists of conditions, and filters.

use super::run;
use crate::case;

const TWO: &str = "sel1:\n    A: x\nsel2:\n    B: y\n_hidden:\n    C: z\nfilter_1:\n    D: w\n";

fn det(cond: &str) -> String {
    format!("{TWO}condition: {cond}")
}

#[test]
fn boolean_operators_and_precedence() {
    let cases: Vec<(&str, serde_json::Value, bool)> = vec![
        (
            "sel1 and sel2",
            serde_json::json!({"A": "x", "B": "y"}),
            true,
        ),
        ("sel1 and sel2", serde_json::json!({"A": "x"}), false),
        ("sel1 or sel2", serde_json::json!({"B": "y"}), true),
        ("not sel1", serde_json::json!({"B": "y"}), true),
        ("not sel1", serde_json::json!({"A": "x"}), false),
        // and binds tighter than or
        (
            "sel1 or sel2 and filter_1",
            serde_json::json!({"A": "x"}),
            true,
        ),
        (
            "(sel1 or sel2) and filter_1",
            serde_json::json!({"A": "x"}),
            false,
        ),
        // not binds tighter than and
        ("not sel1 and sel2", serde_json::json!({"B": "y"}), true),
        (
            "not (sel1 and sel2)",
            serde_json::json!({"A": "x", "B": "y"}),
            false,
        ),
        (
            "sel1 and not filter_1",
            serde_json::json!({"A": "x", "D": "w"}),
            false,
        ),
    ];
    for (cond, ev, want) in cases {
        assert_eq!(super::verdict(&det(cond), &ev), want, "{cond} on {ev}");
    }
}

#[test]
fn quantifiers_and_patterns() {
    let cases: Vec<(&str, serde_json::Value, bool)> = vec![
        ("1 of sel*", serde_json::json!({"B": "y"}), true),
        ("any of sel*", serde_json::json!({"B": "y"}), true),
        ("all of sel*", serde_json::json!({"B": "y"}), false),
        ("all of sel*", serde_json::json!({"A": "x", "B": "y"}), true),
        ("1 of them", serde_json::json!({"D": "w"}), true),
        // `them` and patterns skip identifiers starting with `_`
        ("1 of them", serde_json::json!({"C": "z"}), false),
        (
            "all of them",
            serde_json::json!({"A": "x", "B": "y", "D": "w"}),
            true,
        ),
        ("1 of *", serde_json::json!({"C": "z"}), false),
        ("1 of _h*", serde_json::json!({"C": "z"}), true),
        ("2 of them", serde_json::json!({"A": "x", "D": "w"}), true),
        ("2 of them", serde_json::json!({"A": "x"}), false),
        (
            "sel1 and not 1 of filter_*",
            serde_json::json!({"A": "x", "D": "w"}),
            false,
        ),
    ];
    for (cond, ev, want) in cases {
        assert_eq!(super::verdict(&det(cond), &ev), want, "{cond} on {ev}");
    }
}

#[test]
fn condition_lists_are_or() {
    run(&[
        case!("list 1", "sel1:\n    A: x\nsel2:\n    B: y\ncondition:\n    - sel1\n    - sel2", {"B": "y"} => true),
        case!("list none", "sel1:\n    A: x\nsel2:\n    B: y\ncondition:\n    - sel1\n    - sel2", {"C": "y"} => false),
    ]);
}

#[test]
fn selections_lists_of_maps_and_keywords() {
    run(&[
        case!("list of maps is OR", "sel:\n    - A: x\n    - B: y\ncondition: sel", {"B": "y"} => true),
        case!("map of lists", "sel:\n    A: [x, z]\n    B: y\ncondition: sel", {"A": "z", "B": "y"} => true),
        case!("keyword anywhere", "keywords:\n    - 'event::clear'\n    - 'sekurlsa::'\ncondition: keywords", {"Msg": "mimikatz # sekurlsa::logonpasswords"} => true),
        case!("keyword nested value", "keywords:\n    - 'evil'\ncondition: keywords", {"a": {"b": ["x", "EVIL thing"]}} => true),
        case!("keyword miss", "keywords:\n    - 'evil'\ncondition: keywords", {"a": "good"} => false),
        case!("keyword wildcard", "keywords:\n    - 'net*user'\ncondition: keywords", {"a": "net1 user x"} => true),
        case!("keyword number", "keywords:\n    - 4625\ncondition: keywords", {"EventID": 4625} => true),
        case!("keywords all", "keywords:\n    '|all':\n        - 'OabVirtualDirectory'\n        - ' -ExternalUrl '\ncondition: keywords", {"m": "Set-OabVirtualDirectory -ExternalUrl http://x"} => true),
        case!("keywords all miss", "keywords:\n    '|all':\n        - 'OabVirtualDirectory'\n        - ' -ExternalUrl '\ncondition: keywords", {"m": "Set-OabVirtualDirectory"} => false),
        case!("keywords and field", "keywords:\n    - 'evil'\nsel:\n    A: x\ncondition: keywords and sel", {"A": "x", "B": "evil"} => true),
    ]);
}

#[test]
fn meta_filters_apply_as_and_not() {
    use canhgac_sigma::{EngineBuilder, Mappings};
    let mapping = canhgac_sigma::mapping::MappingFile::from_yaml(
        "datasets: [test]\nlogsources:\n  - logsource: {product: test}\n",
        "t",
    )
    .unwrap();
    let rule = "title: r\nid: 11111111-1111-1111-1111-111111111111\nlogsource: {product: test}\ndetection:\n    sel:\n        Image|endswith: '\\rar.exe'\n    condition: sel\n";
    let filter = "title: Filter admins\nid: 22222222-2222-2222-2222-222222222222\nlogsource: {product: test}\nfilter:\n    rules:\n        - 11111111-1111-1111-1111-111111111111\n    selection:\n        User|startswith: 'adm_'\n    condition: selection\n";
    let mut b = EngineBuilder::new(Mappings {
        files: vec![mapping],
    });
    b.add_source("r.yml", rule).add_source("f.yml", filter);
    let (engine, report) = b.build();
    assert!(report.rejections.is_empty(), "{:?}", report.rejections);
    assert_eq!(report.filters, 1);
    let mut s = engine.scratch();
    let mut hit = |ev: serde_json::Value| !engine.matches(&super::event(ev), &mut s).is_empty();
    assert!(hit(
        serde_json::json!({"Image": "c:\\rar.exe", "User": "bob"})
    ));
    assert!(!hit(
        serde_json::json!({"Image": "c:\\rar.exe", "User": "adm_bob"})
    ));
    let (_, meta) = engine.rules().next().unwrap();
    assert_eq!(
        meta.filters,
        vec!["22222222-2222-2222-2222-222222222222".to_string()]
    );
}

#[test]
fn correlations_are_recognised_not_broken() {
    let doc = "title: many failures\nid: 33333333-3333-3333-3333-333333333333\ncorrelation:\n    type: event_count\n    rules: [x]\n    group-by: [User]\n    timespan: 5m\n    condition:\n        gte: 10\n";
    let mut b = canhgac_sigma::EngineBuilder::new(canhgac_sigma::Mappings::builtin());
    b.add_source("c.yml", doc);
    let (_, report) = b.build();
    // Parsed and validated (tests/correlation/ covers them): this one names no loaded rule.
    assert_eq!(report.rejections.len(), 1);
    assert_eq!(
        report.rejections[0].reason.kind(),
        "correlation-unknown-rule"
    );
    assert_eq!(
        report.rejections[0].reason.to_string(),
        "correlation: references rule `x`, which is not loaded"
    );
}

#[test]
fn field_values_follow_the_mapping() {
    // Security 4688 maps Sigma's Image to NewProcessName (rules/mappings/windows.yml).
    let rule = "title: r\nid: 44444444-4444-4444-4444-444444444444\nlogsource: {product: windows, category: process_creation}\ndetection:\n    sel:\n        Image|endswith: '\\cmd.exe'\n    condition: sel\n";
    let mut b = canhgac_sigma::EngineBuilder::new(canhgac_sigma::Mappings::builtin());
    b.add_source("r.yml", rule);
    let (engine, _) = b.build();
    let mut ev = super::event(
        serde_json::json!({"Event": {"System": {"EventID": 4688, "Channel": "Security"},
        "EventData": {"NewProcessName": "C:\\Windows\\System32\\cmd.exe"}}}),
    );
    ev.dataset = canhgac_core::Dataset::new("windows");
    let mut s = engine.scratch();
    assert_eq!(
        engine.field_values(&ev, &mut s, "Image"),
        vec!["C:\\Windows\\System32\\cmd.exe".to_string()]
    );
    assert_eq!(engine.matches(&ev, &mut s).len(), 1);
}
