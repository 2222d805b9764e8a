//! Table-driven cases: a correlation (over the `BASE` rules), events as (seconds, JSON) in
//! arrival order, and the matches expected as `"<id>@<seconds> <group>"`.

use std::time::Duration;

use canhgac_sigma::CorrelationConfig;
use serde_json::{json, Value};

use super::run;

struct Case {
    name: &'static str,
    rule: &'static str,
    events: Vec<(i64, Value)>,
    expect: &'static [&'static str],
    lateness_secs: Option<u64>,
}

fn fail(user: &str) -> Value {
    json!({"action": "fail", "User": user})
}

fn ok(user: &str) -> Value {
    json!({"action": "ok", "User": user})
}

fn xfer(user: &str, bytes: Value) -> Value {
    json!({"action": "xfer", "User": user, "bytes": bytes})
}

const COUNT3: &str = "title: three failures\nid: c-count\ncorrelation:\n    type: event_count\n    rules: [failed_logon]\n    group-by: [User]\n    timespan: 60s\n    condition: {gte: 3}\n";

const COUNT2: &str = "title: two failures\nid: c-two\ncorrelation:\n    type: event_count\n    rules: [failed_logon]\n    group-by: [User]\n    timespan: 1m\n    condition: {gte: 2}\n";

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "event_count fires per group at the event completing it",
            rule: COUNT3,
            events: vec![(0, fail("bob")), (10, fail("bob")), (15, fail("alice")), (20, fail("bob")), (25, fail("alice"))],
            expect: &["c-count@20 User=bob"],
            lateness_secs: None,
        },
        Case {
            name: "event_count window slides: events older than the timespan fall out",
            rule: COUNT3,
            events: vec![(0, fail("bob")), (10, fail("bob")), (70, fail("bob")), (75, fail("bob")), (80, fail("bob"))],
            expect: &["c-count@80 User=bob"],
            lateness_secs: None,
        },
        Case {
            name: "window bounds are inclusive: [t - timespan, t]",
            rule: COUNT3,
            events: vec![(0, fail("bob")), (30, fail("bob")), (60, fail("bob")), (100, fail("carol")), (130, fail("carol")), (161, fail("carol"))],
            expect: &["c-count@60 User=bob"],
            lateness_secs: None,
        },
        Case {
            name: "re-arm: no window overlapping a reported one is reported again",
            rule: COUNT2,
            events: vec![(0, fail("bob")), (10, fail("bob")), (20, fail("bob")), (30, fail("bob")), (70, fail("bob")), (71, fail("bob")), (80, fail("bob")), (150, fail("bob"))],
            expect: &["c-two@10 User=bob", "c-two@71 User=bob"],
            lateness_secs: None,
        },
        Case {
            name: "a flood gives one match per timespan per key",
            rule: COUNT2,
            events: (0..300).map(|i| (i, fail("bob"))).collect(),
            expect: &["c-two@1 User=bob", "c-two@62 User=bob", "c-two@123 User=bob", "c-two@184 User=bob", "c-two@245 User=bob"],
            lateness_secs: None,
        },
        Case {
            name: "value_count counts distinct values of the field",
            rule: "title: spray\nid: c-spray\ncorrelation:\n    type: value_count\n    rules: [failed_logon]\n    group-by: [Source]\n    timespan: 5m\n    condition: {field: User, gte: 3}\n",
            events: vec![
                (0, json!({"action": "fail", "Source": "10.0.0.9", "User": "a"})),
                (1, json!({"action": "fail", "Source": "10.0.0.9", "User": "a"})),
                (2, json!({"action": "fail", "Source": "10.0.0.9", "User": "b"})),
                (3, json!({"action": "fail", "Source": "10.0.0.8", "User": "c"})),
                (4, json!({"action": "fail", "Source": "10.0.0.9", "User": "b"})),
                (5, json!({"action": "fail", "Source": "10.0.0.9", "User": "c"})),
            ],
            expect: &["c-spray@5 Source=10.0.0.9"],
            lateness_secs: None,
        },
        Case {
            name: "value_count over two fields counts distinct combinations",
            rule: "title: pairs\nid: c-pairs\ncorrelation:\n    type: value_count\n    rules: [failed_logon]\n    group-by: [Source]\n    timespan: 5m\n    condition: {field: [User, Host], gte: 3}\n",
            events: vec![
                (0, json!({"action": "fail", "Source": "s", "User": "a", "Host": "h1"})),
                (1, json!({"action": "fail", "Source": "s", "User": "a", "Host": "h1"})),
                (2, json!({"action": "fail", "Source": "s", "User": "a", "Host": "h2"})),
                (3, json!({"action": "fail", "Source": "s", "User": "b", "Host": "h1"})),
            ],
            expect: &["c-pairs@3 Source=s"],
            lateness_secs: None,
        },
        Case {
            name: "temporal: every rule in any order",
            rule: "title: both\nid: c-both\ncorrelation:\n    type: temporal\n    rules: [failed_logon, successful_logon]\n    group-by: [User]\n    timespan: 1m\n",
            events: vec![(0, ok("bob")), (5, fail("alice")), (30, fail("bob")), (100, ok("alice"))],
            expect: &["c-both@30 User=bob"],
            lateness_secs: None,
        },
        Case {
            name: "temporal with a condition: at least 2 of 3 rules",
            rule: "title: two of three\nid: c-2of3\ncorrelation:\n    type: temporal\n    rules: [failed_logon, successful_logon, transfer]\n    group-by: [User]\n    timespan: 1m\n    condition: {gte: 2}\n",
            events: vec![(0, fail("bob")), (1, fail("bob")), (10, xfer("bob", json!(1)))],
            expect: &["c-2of3@10 User=bob"],
            lateness_secs: None,
        },
        Case {
            name: "temporal_ordered: the written order is required",
            rule: "title: fail then ok\nid: c-seq\ncorrelation:\n    type: temporal_ordered\n    rules: [failed_logon, successful_logon]\n    group-by: [User]\n    timespan: 1m\n",
            events: vec![(0, ok("bob")), (10, fail("bob")), (20, ok("bob")), (100, fail("eve")), (161, ok("eve"))],
            expect: &["c-seq@20 User=bob"],
            lateness_secs: None,
        },
        Case {
            name: "temporal: one event matching two referenced rules satisfies both",
            rule: "title: any and fail\nid: c-two-rules\ncorrelation:\n    type: temporal\n    rules: [failed_logon, any_logon]\n    group-by: [User]\n    timespan: 1m\n",
            events: vec![(0, fail("bob"))],
            expect: &["c-two-rules@0 User=bob"],
            lateness_secs: None,
        },
        Case {
            name: "event_count: an event matching two referenced rules counts once",
            rule: "title: logons\nid: c-once\ncorrelation:\n    type: event_count\n    rules: [failed_logon, any_logon]\n    group-by: [User]\n    timespan: 1m\n    condition: {gte: 2}\n",
            events: vec![(0, fail("bob")), (5, ok("bob"))],
            expect: &["c-once@5 User=bob"],
            lateness_secs: None,
        },
        Case {
            name: "value_sum: numeric field summed (strings parsed, non-numbers ignored)",
            rule: "title: exfil\nid: c-sum\ncorrelation:\n    type: value_sum\n    rules: [transfer]\n    group-by: [User]\n    timespan: 1h\n    condition: {field: bytes, gt: 1000}\n",
            events: vec![(0, xfer("bob", json!(400))), (10, xfer("bob", json!("500"))), (20, xfer("bob", json!("lots"))), (30, xfer("bob", json!(100))), (40, xfer("bob", json!(1.5)))],
            expect: &["c-sum@40 User=bob"],
            lateness_secs: None,
        },
        Case {
            name: "value_avg: mean of the field",
            rule: "title: avg\nid: c-avg\ncorrelation:\n    type: value_avg\n    rules: [transfer]\n    group-by: [User]\n    timespan: 1h\n    condition: {field: bytes, gt: 500}\n",
            events: vec![(0, xfer("bob", json!(100))), (10, xfer("bob", json!(800))), (20, xfer("bob", json!(1000)))],
            expect: &["c-avg@20 User=bob"],
            lateness_secs: None,
        },
        Case {
            name: "value_percentile: the given percentile (linear interpolation)",
            rule: "title: p90\nid: c-p90\ncorrelation:\n    type: value_percentile\n    rules: [transfer]\n    group-by: [User]\n    timespan: 1h\n    condition: {field: bytes, percentile: 90, gte: 46}\n",
            events: vec![(0, xfer("bob", json!(10))), (1, xfer("bob", json!(20))), (2, xfer("bob", json!(30))), (3, xfer("bob", json!(40))), (4, xfer("bob", json!(50)))],
            expect: &["c-p90@4 User=bob"],
            lateness_secs: None,
        },
        Case {
            name: "value_median",
            rule: "title: median\nid: c-med\ncorrelation:\n    type: value_median\n    rules: [transfer]\n    group-by: [User]\n    timespan: 1h\n    condition: {field: bytes, gte: 25}\n",
            events: vec![(0, xfer("bob", json!(10))), (1, xfer("bob", json!(20))), (2, xfer("bob", json!(30))), (3, xfer("bob", json!(40)))],
            expect: &["c-med@3 User=bob"],
            lateness_secs: None,
        },
        Case {
            name: "range condition: gt 1 and lte 2",
            rule: "title: range\nid: c-range\ncorrelation:\n    type: event_count\n    rules: [failed_logon]\n    group-by: [User]\n    timespan: 1m\n    condition: {gt: 1, lte: 2}\n",
            events: vec![(0, fail("bob")), (1, fail("bob")), (2, fail("bob")), (0, fail("x"))],
            expect: &["c-range@1 User=bob"],
            lateness_secs: None,
        },
        Case {
            name: "lt on a trailing window: the first event of a quiet key",
            rule: "title: rare\nid: c-rare\ncorrelation:\n    type: event_count\n    rules: [failed_logon]\n    group-by: [User]\n    timespan: 1m\n    condition: {lt: 2}\n",
            events: vec![(0, fail("bob")), (1, fail("bob")), (2, fail("bob")), (61, fail("bob")), (200, fail("bob"))],
            expect: &["c-rare@0 User=bob", "c-rare@200 User=bob"],
            lateness_secs: None,
        },
        Case {
            name: "neq",
            rule: "title: not one\nid: c-neq\ncorrelation:\n    type: event_count\n    rules: [failed_logon]\n    group-by: [User]\n    timespan: 1m\n    condition: {neq: 1}\n",
            events: vec![(0, fail("bob")), (1, fail("bob"))],
            expect: &["c-neq@1 User=bob"],
            lateness_secs: None,
        },
        Case {
            name: "group-by on two fields; an event lacking one does not contribute",
            rule: "title: per user and host\nid: c-uh\ncorrelation:\n    type: event_count\n    rules: [failed_logon]\n    group-by: [User, Host]\n    timespan: 1m\n    condition: {gte: 2}\n",
            events: vec![
                (0, json!({"action": "fail", "User": "bob", "Host": "h1"})),
                (1, json!({"action": "fail", "User": "bob", "Host": "h2"})),
                (2, json!({"action": "fail", "User": "bob"})),
                (3, json!({"action": "fail", "User": "bob", "Host": "h1"})),
            ],
            expect: &["c-uh@3 User=bob,Host=h1"],
            lateness_secs: None,
        },
        Case {
            name: "no group-by: one key for the stream",
            rule: "title: global\nid: c-global\ncorrelation:\n    type: event_count\n    rules: [failed_logon]\n    timespan: 1m\n    condition: {gte: 3}\n",
            events: vec![(0, fail("a")), (1, fail("b")), (2, json!({"action": "fail"}))],
            expect: &["c-global@2 "],
            lateness_secs: None,
        },
        Case {
            name: "aliases: differently named fields of two rules as one group",
            rule: "title: xfer after fail\nid: c-alias\ncorrelation:\n    type: temporal\n    rules: [failed_logon, transfer]\n    group-by: [account]\n    timespan: 1m\n    aliases:\n        account:\n            failed_logon: User\n            transfer: Owner\n",
            events: vec![
                (0, json!({"action": "fail", "User": "bob"})),
                (5, json!({"action": "xfer", "User": "someone", "Owner": "alice"})),
                (6, json!({"action": "xfer", "User": "alice", "Owner": "bob"})),
            ],
            expect: &["c-alias@6 account=bob"],
            lateness_secs: None,
        },
        Case {
            name: "lateness: an event older than watermark - lateness is dropped",
            rule: COUNT2,
            events: vec![(100, fail("bob")), (85, fail("bob")), (200, fail("eve")), (195, fail("eve"))],
            expect: &["c-two@200 User=eve"],
            lateness_secs: Some(10),
        },
        Case {
            name: "out of order within lateness completes a window ending at a later event",
            rule: COUNT3,
            events: vec![(0, fail("bob")), (50, fail("bob")), (40, fail("bob"))],
            expect: &["c-count@50 User=bob"],
            lateness_secs: None,
        },
        Case {
            name: "out of order: temporal_ordered sees event time, not arrival order",
            rule: "title: fail then ok\nid: c-seq2\ncorrelation:\n    type: temporal_ordered\n    rules: [failed_logon, successful_logon]\n    group-by: [User]\n    timespan: 1m\n",
            events: vec![(10, ok("bob")), (5, fail("bob"))],
            expect: &["c-seq2@10 User=bob"],
            lateness_secs: None,
        },
        Case {
            name: "dedupe: a replayed event id is not counted twice",
            rule: COUNT2,
            events: vec![
                (0, json!({"action": "fail", "User": "bob", "eid": "e1"})),
                (0, json!({"action": "fail", "User": "bob", "eid": "e1"})),
                (0, json!({"action": "fail", "User": "bob", "eid": "e1"})),
                (7, json!({"action": "fail", "User": "bob", "eid": "e2"})),
            ],
            expect: &["c-two@7 User=bob"],
            lateness_secs: None,
        },
    ]
}

#[test]
fn correlation_cases() {
    let mut failures = Vec::new();
    for c in cases() {
        let mut config = CorrelationConfig::default();
        if let Some(l) = c.lateness_secs {
            config.allowed_lateness = Duration::from_secs(l);
        }
        let got = run(c.rule, &c.events, config);
        if got != c.expect {
            failures.push(format!(
                "{}:\n  expected {:?}\n  got      {:?}",
                c.name, c.expect, got
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
