//! exists, null and empty values, neq, fieldref, expand.

use super::{run, verdict_with};
use crate::case;
use canhgac_sigma::Placeholders;

#[test]
fn exists_null_empty() {
    run(&[
        case!("exists true", "sel:\n    A|exists: true\ncondition: sel", {"A": ""} => true),
        case!("exists true, null value counts", "sel:\n    A|exists: true\ncondition: sel", {"A": null} => true),
        case!("exists true miss", "sel:\n    A|exists: true\ncondition: sel", {"B": 1} => false),
        case!("exists false", "sel:\n    A|exists: false\ncondition: sel", {"B": 1} => true),
        case!("exists false miss", "sel:\n    A|exists: false\ncondition: sel", {"A": 1} => false),
        case!("null: absent", "sel:\n    A: null\ncondition: sel", {"B": 1} => true),
        case!("null: json null", "sel:\n    A: null\ncondition: sel", {"A": null} => true),
        case!("null: value", "sel:\n    A: null\ncondition: sel", {"A": "x"} => false),
        case!("empty", "sel:\n    A: ''\ncondition: sel", {"A": ""} => true),
        case!("empty miss", "sel:\n    A: ''\ncondition: sel", {"A": "x"} => false),
        case!("spec: not null", "sel:\n    EventID: 4738\nfilter:\n    PasswordLastSet: null\ncondition: sel and not filter", {"EventID": 4738, "PasswordLastSet": "2024"} => true),
    ]);
}

#[test]
fn neq() {
    run(&[
        case!("neq", "sel:\n    A|neq: x\ncondition: sel", {"A": "y"} => true),
        case!("neq equal", "sel:\n    A|neq: x\ncondition: sel", {"A": "X"} => false),
        case!("neq list", "sel:\n    A|neq: [x, y]\ncondition: sel", {"A": "y"} => false),
        case!("neq number", "sel:\n    A|neq: 3\ncondition: sel", {"A": 4} => true),
        case!("neq absent", "sel:\n    A|neq: x\ncondition: sel", {"B": "y"} => false),
    ]);
}

#[test]
fn fieldref() {
    run(&[
        case!("equal", "sel:\n    TargetUserName|fieldref: SubjectUserName\ncondition: sel", {"TargetUserName": "Bob", "SubjectUserName": "bob"} => true),
        case!("different", "sel:\n    TargetUserName|fieldref: SubjectUserName\ncondition: sel", {"TargetUserName": "bob", "SubjectUserName": "alice"} => false),
        case!("neq fieldref", "sel:\n    A|fieldref|neq: B\ncondition: sel", {"A": "1", "B": "2"} => true),
        case!("startswith fieldref", "sel:\n    A|fieldref|startswith: B\ncondition: sel", {"A": "abc", "B": "ab"} => true),
        case!("missing other", "sel:\n    A|fieldref: B\ncondition: sel", {"A": "abc"} => false),
    ]);
}

#[test]
fn expand_placeholders() {
    let det = "sel:\n    Computer|expand: '%Servers%'\ncondition: sel";
    assert_eq!(
        super::rejection(det),
        Some("placeholder"),
        "unconfigured placeholders reject the rule"
    );
    let mut p = Placeholders::new();
    p.insert("Servers", vec!["srv*".into(), "dc1".into()]);
    assert!(verdict_with(
        det,
        &serde_json::json!({"Computer": "SRV-01"}),
        p.clone()
    ));
    assert!(verdict_with(
        det,
        &serde_json::json!({"Computer": "dc1"}),
        p.clone()
    ));
    assert!(!verdict_with(
        det,
        &serde_json::json!({"Computer": "ws1"}),
        p.clone()
    ));
    let det = "sel:\n    Ip|expand|cidr: '%Nets%'\ncondition: sel";
    let mut p = Placeholders::new();
    p.insert("Nets", vec!["10.0.0.0/8".into()]);
    assert!(verdict_with(det, &serde_json::json!({"Ip": "10.2.3.4"}), p));
    // without `expand`, percent signs are literal
    assert!(super::verdict(
        "sel:\n    A: '%Servers%'\ncondition: sel",
        &serde_json::json!({"A": "%servers%"})
    ));
}

#[test]
fn unsupported_constructs_are_named() {
    assert_eq!(
        super::rejection("sel:\n    A|containz: x\ncondition: sel"),
        Some("unknown-modifier")
    );
    assert_eq!(
        super::rejection("sel:\n    A: x\ncondition: sel | count() by B > 3"),
        Some("aggregation")
    );
    assert_eq!(
        super::rejection("sel:\n    A: x\nsel2:\n    B: y\ncondition: sel near sel2"),
        Some("near")
    );
    assert_eq!(
        super::rejection("sel:\n    A|re: '(unclosed'\ncondition: sel"),
        Some("regex")
    );
    assert_eq!(
        super::rejection("sel:\n    A|cidr: nonsense\ncondition: sel"),
        Some("modifier")
    );
    assert_eq!(
        super::rejection("sel:\n    A: x\ncondition: sel and nope"),
        Some("condition")
    );
    assert_eq!(
        super::rejection("sel:\n    A|i: x\ncondition: sel"),
        Some("modifier")
    );
}
