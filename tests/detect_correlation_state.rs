//! Correlation windows of `canhgac detect` survive a SIGKILL, against a real broker (Tansu).
//!
//! A correlation (five requests for one probe path from one client address within an hour)
//! whose threshold is reached only by events on both sides of the kill: three requests are
//! read, counted, saved on `<prefix>.state.detect` and committed; the worker is SIGKILLed; two
//! more requests are published and a new worker takes over. It restores the saved window from
//! the state topic and fires, once: exactly one correlation detection (by distinct id) on
//! `<prefix>.detections`, counting all five requests.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::{canhgac, read_topic, repo, Broker};

const RULES: &str = "title: Probe path requested
id: 33333333-0000-4000-8000-000000000001
name: probe_request
status: test
logsource: {category: webserver}
detection:
    selection:
        cs-uri-stem|endswith: '/canhgac-probe'
    condition: selection
level: low
---
title: Repeated probe requests from one client
id: 33333333-0000-4000-8000-000000000002
status: test
correlation:
    type: event_count
    rules: [probe_request]
    group-by: [c-ip]
    timespan: 1h
    condition: {gte: 5}
level: high
tags: [attack.reconnaissance]
";

/// `n` access-log requests for the probe path from one client, from second `from` on.
fn requests(path: &Path, from: u32, n: u32) {
    let lines: String = (from..from + n)
        .map(|s| {
            format!(
                "203.0.113.9 - - [11/Jul/2025:08:41:{s:02} +0700] \"GET /x/canhgac-probe HTTP/1.1\" 404 12\n"
            )
        })
        .collect();
    std::fs::write(path, lines).unwrap();
}

fn sensor(broker: &Broker, file: &Path) {
    let out = canhgac()
        .args([
            "sensor",
            "--brokers",
            &broker.brokers(),
            "--agency",
            "byt",
            "--sensor",
            "web1",
            "--once",
            "--topic-prefix",
            "corr",
            "--format",
            "web",
        ])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sensor: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn worker(broker: &Broker, rules: &Path, log: &Path) -> Child {
    canhgac()
        .args([
            "detect",
            "--brokers",
            &broker.brokers(),
            "--group",
            "g-corr",
            "--topic-prefix",
            "corr",
            "--reload-interval",
            "0",
        ])
        .arg("--rules")
        .arg(rules)
        .arg("--registry")
        .arg(repo("rules/agencies.example.toml"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// Correlation detections on `corr.detections`, by distinct id.
fn correlations(broker: &Broker) -> BTreeMap<String, serde_json::Value> {
    read_topic(&broker.brokers(), "corr.detections")
        .iter()
        .map(|r| r.json())
        .filter(|d| d["rule"]["kind"] == "correlation")
        .map(|d| (d["id"].as_str().unwrap().to_string(), d))
        .collect()
}

fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn a_window_reached_on_both_sides_of_a_sigkill_fires_exactly_once() {
    let _heavy = crate::support::heavy();
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(rules.join("probe.yml"), RULES).unwrap();

    // Three requests before the kill.
    let before = dir.path().join("before.log");
    requests(&before, 0, 3);
    sensor(&broker, &before);
    let mut a = worker(&broker, &rules, &dir.path().join("a.log"));
    // The three are counted and saved: a state record covering them on the state topic.
    let saved_upto = || {
        read_topic(&broker.brokers(), "corr.state.detect")
            .iter()
            .map(|r| r.json())
            .filter(|s| s["snapshot"]["stats"]["hits"].as_u64() == Some(3))
            .filter_map(|s| s["next_offset"].as_i64())
            .max()
    };
    wait_until("the saved window", Duration::from_secs(180), || {
        saved_upto().is_some()
    });
    // Auto-commit runs every second: the commit now covers the three as well.
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        correlations(&broker).is_empty(),
        "three requests are below the threshold"
    );
    a.kill().unwrap();
    a.wait().unwrap();

    // Two more after it; a new worker takes over.
    let after = dir.path().join("after.log");
    requests(&after, 10, 2);
    sensor(&broker, &after);
    let b_log = dir.path().join("b.log");
    let mut b = worker(&broker, &rules, &b_log);
    wait_until(
        "the correlation detection",
        Duration::from_secs(180),
        || !correlations(&broker).is_empty(),
    );
    // Let any duplicate arrive before counting.
    std::thread::sleep(Duration::from_secs(8));
    let found = correlations(&broker);
    b.kill().unwrap();
    b.wait().unwrap();
    let log = std::fs::read_to_string(&b_log).unwrap();
    assert!(
        log.contains("correlation windows restored"),
        "the new worker restored the saved window: {log}"
    );
    assert_eq!(
        found.len(),
        1,
        "exactly one correlation detection: {found:#?}"
    );
    let d = found.values().next().unwrap();
    assert!(d["category"].as_str().is_some());
    let c = &d["correlation"];
    assert_eq!(
        c["events"].as_u64(),
        Some(5),
        "the window holds the requests from both sides of the kill: {d:#}"
    );
    assert_eq!(c["event_ids"].as_array().unwrap().len(), 5);
}
