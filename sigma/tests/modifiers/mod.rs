//! Table-driven modifier and condition tests (rule YAML + event JSON → verdict), one module
//! per family, Hayabusa-style.

use canhgac_sigma::testsuite as common;
mod condition;
mod encoding;
mod field;
mod string;
mod typed;
mod wildcard_props;

use canhgac_core::event::Event;
use canhgac_sigma::mapping::MappingFile;
use canhgac_sigma::{EngineBuilder, Mappings, Placeholders};
use serde_json::Value;

/// A test case: a `detection` block (indented under `detection:`), an event, the verdict.
pub struct Case {
    pub name: &'static str,
    pub detection: &'static str,
    pub event: Value,
    pub expect: bool,
}

fn mappings() -> Mappings {
    let f = MappingFile::from_yaml(
        "datasets: [test]\nlayout: flat\nlogsources:\n  - logsource: {product: test}\n",
        "test",
    )
    .expect("test mapping");
    Mappings { files: vec![f] }
}

fn rule_yaml(detection: &str) -> String {
    let body: String = detection.lines().map(|l| format!("    {l}\n")).collect();
    format!("title: test rule\nid: 00000000-0000-0000-0000-000000000001\nlogsource:\n    product: test\ndetection:\n{body}")
}

pub fn event(original: Value) -> Event {
    common::event("test", original)
}

/// Whether the rule fires on the event; panics if the rule is rejected.
pub fn verdict_with(detection: &str, ev: &Value, placeholders: Placeholders) -> bool {
    let mut b = EngineBuilder::new(mappings()).placeholders(placeholders);
    b.add_source("test.yml", rule_yaml(detection));
    let (engine, report) = b.build();
    assert!(
        report.rejections.is_empty(),
        "rejected: {:?}\n{detection}",
        report.rejections
    );
    let mut s = engine.scratch();
    !engine.matches(&event(ev.clone()), &mut s).is_empty()
}

pub fn verdict(detection: &str, ev: &Value) -> bool {
    verdict_with(detection, ev, Placeholders::new())
}

/// The rejection kind of a rule, or `None` if it loads.
pub fn rejection(detection: &str) -> Option<&'static str> {
    let mut b = EngineBuilder::new(mappings());
    b.add_source("test.yml", rule_yaml(detection));
    let (_, report) = b.build();
    report.rejections.first().map(|r| r.reason.kind())
}

pub fn run(cases: &[Case]) {
    let mut failed = Vec::new();
    for c in cases {
        let got = verdict(c.detection, &c.event);
        if got != c.expect {
            failed.push(format!("{}: expected {}, got {got}", c.name, c.expect));
        }
    }
    common::assert_all_passed(&failed, cases.len());
}

#[macro_export]
macro_rules! case {
    ($name:expr, $det:expr, $ev:tt => $expect:expr) => {
        $crate::modifiers::Case {
            name: $name,
            detection: $det,
            event: serde_json::json!($ev),
            expect: $expect,
        }
    };
}
