//! State across restarts (snapshot/restore, replays, rule changes), memory bounds, and a
//! property test of `event_count` against a naive recount.

use std::sync::Arc;
use std::time::Duration;

use canhgac_core::id::IdHasher;
use canhgac_sigma::{CorrIdx, CorrelationConfig, CorrelationEngine, CorrelationSnapshot, Hit};
use proptest::prelude::*;
use serde_json::{json, Value};

use super::{describe, load_ok, run_on, t0};

/// Several correlation types over several keys, chained: state worth saving.
const RULES: &str = r#"
title: three failures
id: c-count
name: three_failures
correlation:
    type: event_count
    rules: [failed_logon]
    group-by: [User]
    timespan: 60s
    condition: {gte: 3}
---
title: then success
id: c-chain
correlation:
    type: temporal_ordered
    rules: [three_failures, successful_logon]
    group-by: [User]
    timespan: 5m
---
title: spray
id: c-spray
correlation:
    type: value_count
    rules: [failed_logon]
    group-by: [Source]
    timespan: 2m
    condition: {field: User, gte: 3}
---
title: volume
id: c-sum
correlation:
    type: value_sum
    rules: [transfer]
    group-by: [User]
    timespan: 2m
    condition: {field: bytes, gte: 1000}
"#;

fn scenario() -> Vec<(i64, Value)> {
    let users = ["ann", "bob", "cid"];
    let mut v = Vec::new();
    for i in 0..120i64 {
        let u = users[(i / 6 % 3) as usize];
        let t = i * 4 - (i % 5) * 3; // a little out of order, within the default lateness
        let ev = match i % 6 {
            0 | 1 | 3 => {
                json!({"action": "fail", "User": u, "Source": format!("10.0.0.{}", i % 2)})
            }
            2 => json!({"action": "ok", "User": u}),
            _ => json!({"action": "xfer", "User": u, "bytes": i * 13}),
        };
        v.push((t, ev));
    }
    v
}

fn ids(ms: &[canhgac_sigma::CorrelationMatch]) -> Vec<(String, canhgac_core::Id)> {
    ms.iter().map(|m| (describe(m), m.id)).collect()
}

#[test]
fn restore_then_continue_equals_an_uninterrupted_run() {
    let (engine, set) = load_ok(RULES);
    let events = scenario();
    let mut whole = CorrelationEngine::new(set.clone(), CorrelationConfig::default());
    let all = run_on(&engine, &mut whole, &events, 0);
    assert!(all.len() >= 5, "scenario too quiet: {:?}", ids(&all));
    assert!(all.iter().any(|m| m.rule.id == "c-chain"));
    for split in [1, 17, 40, 63, 99, 119] {
        let mut first = CorrelationEngine::new(set.clone(), CorrelationConfig::default());
        let mut got = run_on(&engine, &mut first, &events[..split], 0);
        let json = first.snapshot_json().unwrap();
        let (mut second, report) =
            CorrelationEngine::restore_json(set.clone(), CorrelationConfig::default(), &json)
                .unwrap();
        assert_eq!(report.keys_restored, first.snapshot().keys.len());
        got.extend(run_on(&engine, &mut second, &events[split..], split));
        assert_eq!(ids(&got), ids(&all), "split at {split}");
        assert_eq!(second.stats(), whole.stats(), "split at {split}");
        assert_eq!(second.snapshot(), whole.snapshot(), "split at {split}");
    }
}

#[test]
fn replayed_events_after_restore_are_not_counted_twice() {
    let (engine, set) = load_ok(RULES);
    let events = scenario();
    let mut whole = CorrelationEngine::new(set.clone(), CorrelationConfig::default());
    let all = run_on(&engine, &mut whole, &events, 0);
    for (snap_at, replay_from) in [(40, 30), (63, 55), (99, 95)] {
        let mut first = CorrelationEngine::new(set.clone(), CorrelationConfig::default());
        let mut got = run_on(&engine, &mut first, &events[..snap_at], 0);
        let (mut second, _) =
            CorrelationEngine::restore(set.clone(), CorrelationConfig::default(), first.snapshot())
                .unwrap();
        // Kafka redelivers from the last committed offset, before the snapshot point.
        got.extend(run_on(
            &engine,
            &mut second,
            &events[replay_from..],
            replay_from,
        ));
        assert_eq!(
            ids(&got),
            ids(&all),
            "snapshot at {snap_at}, replay from {replay_from}"
        );
        assert!(second.stats().duplicates > 0);
    }
}

#[test]
fn without_restore_a_straddling_correlation_is_missed() {
    let (engine, set) = load_ok(RULES);
    let fail = |u: &str| json!({"action": "fail", "User": u});
    let events = vec![(0, fail("bob")), (10, fail("bob")), (20, fail("bob"))];
    let mut whole = CorrelationEngine::new(set.clone(), CorrelationConfig::default());
    assert_eq!(run_on(&engine, &mut whole, &events, 0).len(), 1);
    let mut before = CorrelationEngine::new(set.clone(), CorrelationConfig::default());
    assert!(run_on(&engine, &mut before, &events[..2], 0).is_empty());
    let mut restarted = CorrelationEngine::new(set, CorrelationConfig::default());
    assert!(run_on(&engine, &mut restarted, &events[2..], 2).is_empty());
}

#[test]
fn restore_drops_state_of_changed_or_removed_rules() {
    let (engine, set) = load_ok(RULES);
    let mut first = CorrelationEngine::new(set, CorrelationConfig::default());
    run_on(&engine, &mut first, &scenario()[..50], 0);
    let snap = first.snapshot();
    let n_count = snap
        .keys
        .iter()
        .filter(|k| k.correlation == "c-count")
        .count();
    let n_spray = snap
        .keys
        .iter()
        .filter(|k| k.correlation == "c-spray")
        .count();
    let n_other = snap.keys.len() - n_count - n_spray;
    assert!(n_count > 0 && n_spray > 0);
    // c-count's timespan changes and c-spray is removed. c-chain (on c-count) keeps its state:
    // its own definition, which names c-count by id, is unchanged.
    let changed = RULES.replace("timespan: 60s", "timespan: 90s");
    let changed = &changed[..changed.find("---\ntitle: spray").unwrap()];
    let changed = format!(
        "{changed}---\n{}",
        &RULES[RULES.find("title: volume").unwrap()..]
    );
    let (_, set2) = load_ok(&changed);
    let (restored, report) =
        CorrelationEngine::restore(set2, CorrelationConfig::default(), snap.clone()).unwrap();
    assert_eq!(report.keys_changed_rule, n_count);
    assert_eq!(report.keys_unknown_rule, n_spray);
    assert_eq!(report.keys_restored, n_other);
    assert_eq!(restored.stats().keys as usize, n_other);

    let mut bad = snap;
    bad.version = 99;
    let (_, set3) = load_ok(RULES);
    let err = CorrelationEngine::restore(set3.clone(), CorrelationConfig::default(), bad)
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("version 99 not supported"),
        "{err}"
    );
    assert!(CorrelationEngine::restore_json(set3, CorrelationConfig::default(), "{").is_err());
}

fn hit(user: &str, n: u64, secs: i64) -> Hit {
    Hit {
        correlation: CorrIdx(0),
        source: 0,
        key: vec![user.to_string()],
        value: None,
        event_id: IdHasher::new("prop").part_u64(n).finish(),
        time: t0() + chrono::Duration::seconds(secs),
    }
}

fn count_engine(n: u32, span: u32, config: CorrelationConfig) -> CorrelationEngine {
    let rule = format!(
        "title: count\nid: c-prop\ncorrelation:\n    type: event_count\n    rules: [failed_logon]\n    group-by: [User]\n    timespan: {span}s\n    condition: {{gte: {n}}}\n"
    );
    let (_, set) = load_ok(&rule);
    CorrelationEngine::new(set, config)
}

#[test]
fn bounds_are_enforced_and_counted() {
    let config = CorrelationConfig {
        max_keys: 2,
        max_entries_per_key: 3,
        allowed_lateness: Duration::from_secs(5),
        sweep_interval: Duration::from_secs(1),
        ..Default::default()
    };
    let mut c = count_engine(100, 60, config);
    for i in 0..10 {
        c.feed(hit("a", i, i as i64));
    }
    c.feed(hit("b", 100, 10));
    c.feed(hit("c", 101, 11)); // evicts "a", the least recently updated
    c.feed(hit("b", 102, 2)); // 9 s behind the watermark: late
    let s = c.stats();
    assert_eq!((s.keys, s.keys_evicted, s.entries_capped), (2, 1, 7));
    assert_eq!((s.late_dropped, s.entries, s.hits), (1, 2, 12));
    // Everything expires once the watermark has passed lateness + timespan.
    c.advance_watermark(t0() + chrono::Duration::seconds(11 + 5 + 60 + 1));
    let s = c.stats();
    assert_eq!((s.keys, s.entries, s.keys_expired), (0, 0, 2));
}

#[test]
fn a_clock_bounds_the_watermark() {
    let config = CorrelationConfig {
        max_future_skew: Duration::from_secs(60),
        ..Default::default()
    };
    let mut c = count_engine(2, 60, config);
    c.set_clock(t0());
    c.feed(hit("a", 1, 86_400)); // a day ahead of the clock
    assert_eq!(c.watermark(), Some(t0() + chrono::Duration::seconds(60)));
    // Not late: the watermark did not jump a day ahead.
    assert_eq!(c.feed(hit("a", 2, 30)).len(), 0);
    assert_eq!(c.stats().late_dropped, 0);
}

/// Matches of a naive O(n²) recount: in arrival order, the window ending at each event is
/// recounted from scratch; a window is reported unless it overlaps a reported one.
fn naive(events: &[(u8, i64)], n: usize, span: i64) -> Vec<(u8, i64)> {
    let mut fired: Vec<(u8, i64)> = Vec::new();
    for (j, &(k, t)) in events.iter().enumerate() {
        let count = events[..=j]
            .iter()
            .filter(|(k2, t2)| *k2 == k && *t2 >= t - span && *t2 <= t)
            .count();
        let overlaps = fired
            .iter()
            .any(|(k2, f)| *k2 == k && (t - f).abs() <= span);
        if count >= n && !overlaps {
            fired.push((k, t));
        }
    }
    fired
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn event_count_agrees_with_a_naive_recount(
        gaps in proptest::collection::vec((0u8..3, 0i64..40), 1..80),
        n in 1u32..6,
        span in 1u32..120,
    ) {
        let mut t = 0i64;
        let events: Vec<(u8, i64)> = gaps.iter().map(|(k, g)| { t += g; (*k, t) }).collect();
        let mut c = count_engine(n, span, CorrelationConfig::default());
        let mut got = Vec::new();
        for (i, (k, t)) in events.iter().enumerate() {
            for m in c.feed(hit(&k.to_string(), i as u64, *t)) {
                let k: u8 = m.group[0].1.parse().unwrap();
                got.push((k, (m.last - t0()).num_seconds()));
                prop_assert_eq!(m.events as i64, events[..=i].iter()
                    .filter(|(k2, t2)| *k2 == k && *t2 >= *t - span as i64).count() as i64);
            }
        }
        prop_assert_eq!(got, naive(&events, n as usize, span as i64));
    }

    #[test]
    fn snapshot_anywhere_changes_nothing(
        evs in proptest::collection::vec((0u8..3, 0i64..200, 0u8..4), 1..60),
        split in 0usize..60,
    ) {
        // Arrival order with jitter up to 50 s (inside the 60 s lateness); duplicate ids too.
        let events: Vec<Hit> = evs.iter().enumerate().map(|(i, (k, t, d))| {
            let mut h = hit(&k.to_string(), if *d == 0 { (i as u64).saturating_sub(1) } else { i as u64 }, i as i64 * 10 + *t / 4);
            h.time -= chrono::Duration::seconds(*t % 50);
            h
        }).collect();
        let split = split.min(events.len());
        let mut whole = count_engine(3, 60, CorrelationConfig::default());
        let all: Vec<_> = events.iter().flat_map(|h| whole.feed(h.clone())).map(|m| m.id).collect();
        let mut a = count_engine(3, 60, CorrelationConfig::default());
        let mut got: Vec<_> = events[..split].iter().flat_map(|h| a.feed(h.clone())).map(|m| m.id).collect();
        let snap: CorrelationSnapshot = serde_json::from_str(&a.snapshot_json().unwrap()).unwrap();
        let (mut b, _) = CorrelationEngine::restore(Arc::clone(a.set()), CorrelationConfig::default(), snap).unwrap();
        got.extend(events[split..].iter().flat_map(|h| b.feed(h.clone())).map(|m| m.id));
        prop_assert_eq!(got, all);
        prop_assert_eq!(b.stats(), whole.stats());
    }
}
