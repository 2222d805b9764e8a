//! The examples of the Sigma correlation rules specification (SigmaHQ/sigma-specification,
//! `specification/sigma-correlation-rules-specification.md`, v2.0.2; the specification is in
//! the public domain), run on events.

use std::sync::Arc;

use canhgac_sigma::{CorrelationConfig, CorrelationEngine};
use serde_json::json;

use super::{describe, load_with, mappings, run_on};

/// "Failed Logins Followed by Successful Login", verbatim.
const FAILED_THEN_SUCCESS: &str = r#"
title: Correlation - Multiple Failed Logins Followed by Successful Login
id: b180ead8-d58f-40b2-ae54-c8940995b9b6
status: experimental
description: Detects multiple failed logins by a single user followed by a successful login of that user
references:
    - https://reference.com
author: Florian Roth (Nextron Systems)
date: 2023-06-16
correlation:
    type: temporal_ordered
    rules:
        - multiple_failed_login
        - successful_login
    group-by:
        - User
    timespan: 10m
falsepositives:
    - Unlikely
level: high
---
title: Multiple failed logons
id: a8418a5a-5fc4-46b5-b23b-6c73beb19d41
description: Detects multiple failed logins within a certain amount of time
name: multiple_failed_login
correlation:
    type: event_count
    rules:
        - failed_login
    group-by:
        - User
    timespan: 10m
    condition:
        gte: 10
---
title: Single failed login
id: 53ba33fd-3a50-4468-a5ef-c583635cfa92
name: failed_login
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID:
            - 529
            - 4625
    condition: selection
---
title: Successful login
id: 4d0a2c83-c62c-4ed4-b475-c7e23a9269b8
description: Detects a successful login
name: successful_login
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID:
            - 528
            - 4624
    condition: selection
"#;

#[test]
fn failed_logins_followed_by_successful_login() {
    let (engine, set, report) = load_with(FAILED_THEN_SUCCESS, mappings());
    assert!(report.rejections.is_empty(), "{:?}", report.rejections);
    assert_eq!((report.rules, report.correlations), (2, 2));
    let set = Arc::new(set);
    // generate defaults to false: the base rules are building blocks only.
    for (r, _) in engine.rules() {
        assert!(!set.emits_rule(r));
    }
    let mut corr = CorrelationEngine::new(set, CorrelationConfig::default());
    let mut events = Vec::new();
    // alice: 10 failures in 90 s, then success at 5 min → the chain fires.
    for i in 0..10 {
        events.push((i * 10, json!({"EventID": 4625, "User": "alice"})));
    }
    events.push((300, json!({"EventID": 4624, "User": "alice"})));
    // bob: 9 failures and a success: no inner match, no outer match.
    for i in 0..9 {
        events.push((400 + i, json!({"EventID": 529, "User": "bob"})));
    }
    events.push((420, json!({"EventID": 528, "User": "bob"})));
    // carol: success first, then 10 failures: wrong order.
    events.push((500, json!({"EventID": 4624, "User": "carol"})));
    for i in 0..10 {
        events.push((501 + i, json!({"EventID": 4625, "User": "carol"})));
    }
    let got: Vec<String> = run_on(&engine, &mut corr, &events, 0)
        .iter()
        .map(describe)
        .collect();
    assert_eq!(
        got,
        [
            "(inner) a8418a5a-5fc4-46b5-b23b-6c73beb19d41@90 User=alice",
            "b180ead8-d58f-40b2-ae54-c8940995b9b6@300 User=alice",
            "(inner) a8418a5a-5fc4-46b5-b23b-6c73beb19d41@510 User=carol",
        ]
    );
    let all = run_on(
        &engine,
        &mut CorrelationEngine::new(corr.set().clone(), Default::default()),
        &events,
        0,
    );
    let outer = &all[1];
    assert_eq!(
        outer.rule.author.as_deref(),
        Some("Florian Roth (Nextron Systems)")
    );
    assert_eq!(outer.rule.level.as_str(), "high");
    assert_eq!((outer.first - super::t0()).num_seconds(), 90);
    assert_eq!(outer.events, 2);
    // The inner match lists its ten failures; the outer its two links (the inner match's id
    // and the success event).
    assert_eq!(all[0].events, 10);
    assert_eq!(outer.event_ids[0], all[0].id);
}

/// "Field Name Aliases Example": the two rules are given the title and logsource a loadable
/// rule needs (the specification shows only their `name` and `detection`).
const ALIASES: &str = r#"
title: Internal error
name: internal_error
logsource: {product: test}
detection:
    selection:
        http.response.status_code: 500
    condition: selection
---
title: New network connection
name: new_network_connection
logsource: {product: test}
detection:
    selection:
        event.category: network
        event.type: connection
        event.outcome: success
    condition: selection
---
title: Error then connection between the same hosts
id: 7b5c2a41-0a9d-4d1e-9a54-2f5b8e0c1d11
correlation:
    type: temporal
    rules:
        - internal_error
        - new_network_connection
    group-by:
        - internal_ip
        - remote_ip
    timespan: 10s
    aliases:
        internal_ip:
            internal_error: destination.ip
            new_network_connection: source.ip
        remote_ip:
            internal_error: source.ip
            new_network_connection: destination.ip
"#;

#[test]
fn field_name_aliases_example() {
    let (engine, set, report) = load_with(ALIASES, mappings());
    assert!(report.rejections.is_empty(), "{:?}", report.rejections);
    let mut corr = CorrelationEngine::new(Arc::new(set), CorrelationConfig::default());
    let error = |src: &str, dst: &str| json!({"http": {"response": {"status_code": 500}}, "source": {"ip": src}, "destination": {"ip": dst}});
    let conn = |src: &str, dst: &str| {
        json!({"event.category": "network", "event.type": "connection", "event.outcome": "success",
               "source.ip": src, "destination.ip": dst})
    };
    let events = vec![
        // 203.0.113.5 causes an error on 10.0.0.1; 10.0.0.1 then connects out to it.
        (0, error("203.0.113.5", "10.0.0.1")),
        (4, conn("10.0.0.1", "203.0.113.5")),
        // Same hosts, reversed roles: no match. And a connection 11 s after an error: too late.
        (20, error("10.0.0.2", "10.0.0.3")),
        (21, conn("10.0.0.2", "10.0.0.3")),
        (40, error("198.51.100.7", "10.0.0.4")),
        (51, conn("10.0.0.4", "198.51.100.7")),
    ];
    let got: Vec<String> = run_on(&engine, &mut corr, &events, 0)
        .iter()
        .map(describe)
        .collect();
    assert_eq!(
        got,
        ["7b5c2a41-0a9d-4d1e-9a54-2f5b8e0c1d11@4 internal_ip=10.0.0.1,remote_ip=203.0.113.5"]
    );
}

/// The type examples of the specification, loaded as written (their referenced rules added).
#[test]
fn type_examples_load() {
    let base = "title: base\nid: 5638f7c0-ac70-491d-8465-2a65075e0d86\nlogsource: {product: test}\ndetection:\n    sel: {a: 1}\n    condition: sel\n";
    let examples = [
        "title: Many failed logins\nid: 0e95725d-7320-415d-80f7-004da920fc11\ncorrelation:\n    type: event_count\n    rules:\n        - 5638f7c0-ac70-491d-8465-2a65075e0d86\n    group-by:\n        - ComputerName\n    timespan: 1h\n    condition:\n        gte: 100\n",
        "title: Failed login\nid: 0e95725d-7320-415d-80f7-004da920fc12\ncorrelation:\n    type: value_count\n    rules:\n        - 5638f7c0-ac70-491d-8465-2a65075e0d86\n    group-by:\n        - ComputerName\n        - WorkstationName\n    timespan: 1d\n    condition:\n        field: User\n        gte: 100\n",
    ];
    for ex in examples {
        let (_, set, report) = load_with(&format!("{base}---\n{ex}"), mappings());
        assert!(report.rejections.is_empty(), "{:?}", report.rejections);
        assert_eq!(set.len(), 1);
    }
    // The v2.1 value_percentile example has no `percentile`: which percentile it means is not
    // said, so it is refused with that reason rather than guessed.
    let pct = "title: A computer spawned a processes name in the last 24h than 1% of all the processes.\ncorrelation:\n    type: value_percentile\n    rules:\n        - 5638f7c0-ac70-491d-8465-2a65075e0d86\n    group-by:\n        - ComputerName\n    timespan: 24h\n    condition:\n        field: image\n        lte: 1\n";
    let (_, set, report) = load_with(&format!("{base}---\n{pct}"), mappings());
    assert!(set.is_empty());
    assert_eq!(report.rejections[0].reason.kind(), "correlation-percentile");
}
