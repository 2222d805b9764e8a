//! Sigma correlation rules: table-driven cases (rule YAML + a timed event sequence → the
//! matches expected, at their event times), loading and rejection, the specification's own
//! examples, snapshot/restore and a property test against a naive recount. Time is explicit:
//! every event carries its time, nothing reads a clock.

mod cases;
use canhgac_sigma::testsuite as common;
mod load;
mod spec;
mod state;

use std::sync::Arc;

use canhgac_core::event::Event;
use canhgac_core::id::IdHasher;
use canhgac_core::Id;
use canhgac_sigma::mapping::MappingFile;
use canhgac_sigma::{
    CorrelationConfig, CorrelationEngine, CorrelationMatch, CorrelationSet, Engine, EngineBuilder,
    LoadReport, Mappings,
};
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

/// Start of every test clock.
pub fn t0() -> DateTime<Utc> {
    "2024-01-01T00:00:00Z".parse().unwrap()
}

/// A flat `test` dataset routing `product: test` and `product: windows, service: security`.
pub fn mappings() -> Mappings {
    let f = MappingFile::from_yaml(
        "datasets: [test]\nlayout: flat\nlogsources:\n  - logsource: {product: test}\n  - logsource: {product: windows, service: security}\n",
        "test",
    )
    .expect("test mapping");
    Mappings { files: vec![f] }
}

/// Base rules most cases use, all on `product: test`, selecting on `action`.
pub const BASE: &str = r#"
title: Failed logon
id: 00000000-0000-0000-0000-00000000000a
name: failed_logon
author: Test Author
logsource: {product: test}
detection:
    sel: {action: fail}
    condition: sel
---
title: Successful logon
id: 00000000-0000-0000-0000-00000000000b
name: successful_logon
logsource: {product: test}
detection:
    sel: {action: ok}
    condition: sel
---
title: Transfer
id: 00000000-0000-0000-0000-00000000000c
name: transfer
logsource: {product: test}
detection:
    sel: {action: xfer}
    condition: sel
---
title: Any logon
id: 00000000-0000-0000-0000-00000000000d
name: any_logon
logsource: {product: test}
detection:
    sel:
        action: [fail, ok]
    condition: sel
"#;

/// Loads YAML with the test mappings.
pub fn load_with(yaml: &str, m: Mappings) -> (Engine, CorrelationSet, LoadReport) {
    let mut b = EngineBuilder::new(m);
    b.add_source("test.yml", yaml);
    b.build_with_correlations()
}

/// Loads `BASE` plus `yaml`; panics on any rejection.
pub fn load_ok(yaml: &str) -> (Engine, Arc<CorrelationSet>) {
    let (engine, set, report) = load_with(&format!("{BASE}\n---\n{yaml}"), mappings());
    assert!(
        report.rejections.is_empty(),
        "rejected: {:#?}",
        report.rejections
    );
    (engine, Arc::new(set))
}

/// An event at `secs` after [`t0`]; its id is the `eid` field if present, else `n`.
pub fn event(secs: i64, n: usize, original: Value) -> Event {
    let id = match original.get("eid").and_then(Value::as_str) {
        Some(e) => eid(e),
        None => IdHasher::new("test").part_u64(n as u64).finish(),
    };
    let t = t0() + Duration::seconds(secs);
    Event {
        id,
        timestamp: t,
        received: t,
        ..common::event("test", original)
    }
}

/// The id [`event`] gives an `eid`.
pub fn eid(e: &str) -> Id {
    IdHasher::new("test").part(e).finish()
}

/// `"<rule id>@<secs of last> k=v,k=v"`, prefixed `(inner) ` for a match not to report.
pub fn describe(m: &CorrelationMatch) -> String {
    let secs = (m.last - t0()).num_seconds();
    let group: Vec<String> = m.group.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "{}{}@{} {}",
        if m.emit { "" } else { "(inner) " },
        m.rule.id,
        secs,
        group.join(",")
    )
}

/// Feeds the events in the given (arrival) order through the engine and correlations.
pub fn run_on(
    engine: &Engine,
    corr: &mut CorrelationEngine,
    events: &[(i64, Value)],
    offset: usize,
) -> Vec<CorrelationMatch> {
    let mut s = engine.scratch();
    let mut out = Vec::new();
    for (n, (secs, ev)) in events.iter().enumerate() {
        let ev = event(*secs, offset + n, ev.clone());
        let mut matched = Vec::new();
        engine.eval(&ev, &mut s, &mut matched);
        out.extend(corr.observe(engine, &mut s, &ev, &matched));
    }
    out
}

/// Loads `BASE` + `yaml`, runs the events, describes the matches.
pub fn run(yaml: &str, events: &[(i64, Value)], config: CorrelationConfig) -> Vec<String> {
    let (engine, set) = load_ok(yaml);
    let mut corr = CorrelationEngine::new(set, config);
    run_on(&engine, &mut corr, events, 0)
        .iter()
        .map(describe)
        .collect()
}
