//! The detect stage on the in-process bus with the parts around the Sigma engine: rule files
//! changed on disk while it runs (the new set is used for later batches; a broken file keeps the
//! previous set, logged and counted), IOC lists (one detection per list and indicator, the
//! category from the list's kind) and Sigma correlation rules (fed in event order, a
//! `generate: false` base rule silent, the same matches as the engine run offline).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use canhgac_core::detection::{Category, RuleKind};
use canhgac_core::event::{event_id, Event, SourceKind, SourceRef, EVENT_SCHEMA_VERSION};
use canhgac_core::topics::Topics;
use canhgac_core::transport::{Bus, Message, Publisher, Subscription, TopicFilter};
use canhgac_core::Detection;
use canhgac_detect::worker::{
    watch, DetectMetrics, DetectStage, RulesHandle, RulesetSpec, StageOptions,
};
use canhgac_ingest::{FileReader, Item, ReadOptions};
use canhgac_sigma::{CorrelationConfig, CorrelationEngine};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn data(p: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    assert!(d.exists(), "test data missing at {}", d.display());
    d.join(p)
}

/// The first `n` Windows attack-trace events, as a sensor would send them.
fn windows_events(n: usize) -> Vec<Event> {
    let path = data("windows/evtx-attack-samples.jsonl.gz");
    let mut reader = FileReader::open(&path, &ReadOptions::default()).unwrap();
    let mut out = Vec::new();
    while let Some(item) = reader.next_item().unwrap() {
        if let Item::Event {
            offset,
            line,
            raw,
            decoded,
        } = item
        {
            let d = *decoded;
            out.push(Event {
                schema: EVENT_SCHEMA_VERSION,
                id: event_id("byt", "s1", b"fp", offset, &raw),
                agency: "byt".into(),
                sensor: "s1".into(),
                dataset: d.dataset,
                timestamp: d.timestamp.unwrap_or_default(),
                received: d.timestamp.unwrap_or_default(),
                source: SourceRef {
                    kind: SourceKind::File,
                    name: path.display().to_string(),
                    offset: Some(offset),
                    line: Some(line),
                },
                ecs: d.ecs,
                original: d.original,
            });
            if out.len() == n {
                break;
            }
        }
    }
    out
}

/// A stage on a bus with a collector that acks every detection.
struct Rig {
    topics: Topics,
    bus: Bus,
    cancel: CancellationToken,
    detections: tokio::sync::mpsc::UnboundedReceiver<Detection>,
    worker: tokio::task::JoinHandle<()>,
}

impl Rig {
    fn start(handle: RulesHandle, metrics: DetectMetrics) -> Rig {
        let topics = Topics::new("canhgac").unwrap();
        let bus = Bus::new(64);
        let t = topics.clone();
        let mut events_sub = bus.subscribe(TopicFilter::Matching(Arc::new(move |topic: &str| {
            t.agency_of_events_topic(topic).is_some()
        })));
        let mut detections_sub = bus.subscribe(TopicFilter::Exact(vec![topics.detections()]));
        let stage = DetectStage::new(
            bus.publisher(),
            topics.clone(),
            handle,
            metrics,
            StageOptions {
                batch: 64,
                ..Default::default()
            },
        );
        let cancel = CancellationToken::new();
        let c = cancel.clone();
        let worker = tokio::spawn(async move {
            stage.run(&mut events_sub, c).await.unwrap();
        });
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(Ok(r)) = detections_sub.recv().await {
                let _ = tx.send(serde_json::from_slice(&r.payload).unwrap());
                r.ack.ack();
            }
        });
        Rig {
            topics,
            bus,
            cancel,
            detections: rx,
            worker,
        }
    }

    /// Publishes events and waits until the stage acked every one: their detections are then
    /// all delivered.
    async fn publish(&mut self, events: &[Event]) -> Vec<Detection> {
        let publisher = self.bus.publisher();
        let mut deliveries = Vec::new();
        for e in events {
            let m = Message {
                topic: self.topics.events("byt"),
                key: None,
                payload: serde_json::to_vec(e).unwrap(),
                headers: vec![],
            };
            deliveries.push(publisher.send(m).await.unwrap());
        }
        for d in deliveries {
            d.await.unwrap();
        }
        let mut out = Vec::new();
        while let Ok(d) = self.detections.try_recv() {
            out.push(d);
        }
        out
    }

    async fn stop(self) {
        self.cancel.cancel();
        self.worker.await.unwrap();
    }
}

/// (event id, rule id) of every Sigma match of `events` under `spec`, offline.
fn offline(spec: &RulesetSpec, events: &[Event]) -> BTreeSet<(String, String)> {
    let rules = spec.load(1).unwrap();
    let mut scratch = rules.engine.scratch();
    let mut matched = Vec::new();
    let mut out = BTreeSet::new();
    for e in events {
        matched.clear();
        rules.engine.eval(e, &mut scratch, &mut matched);
        for &m in &matched {
            out.insert((e.id.to_string(), rules.engine.rule(m).id.clone()));
        }
    }
    out
}

fn pairs(ds: &[Detection]) -> BTreeSet<(String, String)> {
    ds.iter()
        .map(|d| (d.event.id.to_string(), d.rule.id.clone()))
        .collect()
}

const RULE_A: &str = "title: Process created by the Windows shell
id: 11111111-0000-4000-8000-00000000000a
status: test
logsource: {product: windows, category: process_creation}
detection:
    selection:
        ParentImage|endswith: '\\explorer.exe'
    condition: selection
level: medium
";

const RULE_B: &str = "title: Command shell started
id: 11111111-0000-4000-8000-00000000000b
status: test
logsource: {product: windows, category: process_creation}
detection:
    selection:
        Image|endswith: '.exe'
    condition: selection
level: high
";

async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_changed_on_disk_apply_to_later_batches_and_a_broken_file_keeps_the_old_set() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.yml"), RULE_A).unwrap();
    let spec = RulesetSpec {
        rules: vec![dir.path().to_path_buf()],
        ..Default::default()
    };
    let handle = RulesHandle::new(spec.load(1).unwrap());
    let registry = prometheus::Registry::new();
    let metrics = DetectMetrics::new(&registry).unwrap();
    let mut rig = Rig::start(handle.clone(), metrics.clone());
    let (hup_tx, hup_rx) = mpsc::channel(1);
    let (m, h) = (metrics.clone(), handle.clone());
    let watcher = tokio::spawn(watch(
        spec.clone(),
        handle.clone(),
        Duration::from_millis(50),
        hup_rx,
        move |o| m.reloaded(o, &h),
        rig.cancel.clone(),
    ));

    // Three batches of the same mix: every third event.
    let events = windows_events(3000);
    let part = |k: usize| -> Vec<Event> { events.iter().skip(k).step_by(3).cloned().collect() };
    let (first, second, third) = (&part(0)[..], &part(1)[..], &part(2)[..]);

    // Generation 1: rule A only.
    let got = rig.publish(first).await;
    assert!(!got.is_empty(), "rule A matches the first batch");
    assert_eq!(pairs(&got), offline(&spec, first));

    // Rule B added on disk: picked up by the watcher, used for the next batch.
    std::fs::write(dir.path().join("b.yml"), RULE_B).unwrap();
    // The watcher swaps the set, then reports it (metrics): wait for both.
    wait_until("the reload and its report", || {
        handle.current().generation == 2
            && metrics.reloads.with_label_values(&["loaded"]).get() == 1
            && metrics.rules_loaded.get() == 2
    })
    .await;
    let got = rig.publish(second).await;
    let want = offline(&spec, second);
    assert!(
        want.iter().any(|(_, r)| r.ends_with('b')),
        "rule B matches the second batch"
    );
    assert_eq!(pairs(&got), want);

    // A broken file: the previous set stays, the failure is counted; SIGHUP (the channel)
    // retries and fails again the same way.
    std::fs::write(
        dir.path().join("c.yml"),
        "title: broken\ndetection: [unclosed\n",
    )
    .unwrap();
    wait_until("the failed reload", || {
        metrics.reloads.with_label_values(&["kept_previous"]).get() == 1
    })
    .await;
    hup_tx.send(()).await.unwrap();
    wait_until("the failed forced reload", || {
        metrics.reloads.with_label_values(&["kept_previous"]).get() == 2
    })
    .await;
    assert_eq!(handle.current().generation, 2);
    let got = rig.publish(third).await;
    std::fs::remove_file(dir.path().join("c.yml")).unwrap();
    assert_eq!(
        pairs(&got),
        offline(&spec, third),
        "rules A and B still apply"
    );

    rig.stop().await;
    watcher.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ioc_lists_and_correlations_become_detections() {
    let events = windows_events(8255);
    let dir = tempfile::tempdir().unwrap();

    // Two IOC lists over addresses the traces contain: a C2 list and a phishing list.
    let mut ips: Vec<String> = Vec::new();
    for e in &events {
        for ip in e.ecs.destination_ip.iter().chain(&e.ecs.source_ip) {
            let s = ip.to_string();
            if !ip.is_loopback() && !ip.is_unspecified() && !ips.contains(&s) {
                ips.push(s);
            }
        }
    }
    assert!(ips.len() >= 2, "the traces carry addresses ({ips:?})");
    std::fs::write(dir.path().join("c2.txt"), format!("# c2\n{}\n", ips[0])).unwrap();
    std::fs::write(dir.path().join("phish.txt"), format!("{}\n", ips[1])).unwrap();
    let def = |id: &str, kind: &str, file: &str| {
        format!("id: {id}\ntitle: test {kind} list\nkind: {kind}\nformat: plain\npath: {file}\nlevel: high\nguidance: {{vi: 'Chặn địa chỉ', en: 'Block the address'}}\n")
    };
    let ioc = dir.path().join("ioc");
    std::fs::create_dir(&ioc).unwrap();
    std::fs::write(ioc.join("c2.yaml"), def("test-c2", "c2", "../c2.txt")).unwrap();
    std::fs::write(
        ioc.join("phish.yaml"),
        def("test-phish", "phishing", "../phish.txt"),
    )
    .unwrap();

    // A correlation over a base rule that is not reported on its own (generate: false).
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(
        rules.join("burst.yml"),
        "title: Process started
id: 22222222-0000-4000-8000-000000000001
name: proc_start
status: test
logsource: {product: windows, category: process_creation}
detection:
    selection:
        Image|endswith: '.exe'
    condition: selection
level: low
---
title: Burst of processes on one computer
id: 22222222-0000-4000-8000-000000000002
status: test
correlation:
    type: event_count
    rules: [proc_start]
    group-by: [Computer]
    timespan: 10m
    condition: {gte: 5}
level: high
tags: [attack.execution]
",
    )
    .unwrap();
    std::fs::write(dir.path().join("rules/b.yml"), RULE_B).unwrap();

    let spec = RulesetSpec {
        rules: vec![rules.clone()],
        ioc: vec![ioc.clone()],
        ..Default::default()
    };
    let loaded = spec.load(1).unwrap();
    assert_eq!(loaded.correlations.len(), 1);
    assert!(
        loaded.report.rejections.is_empty(),
        "{:?}",
        loaded.report.rejections
    );

    // Offline expectations: IOC matches, and correlation matches fed in the same order.
    let mut want_ioc = BTreeMap::new();
    let mut hits = Vec::new();
    for e in &events {
        hits.clear();
        loaded.ioc.matches(e, &mut hits);
        for h in &hits {
            want_ioc.insert(
                canhgac_detect::worker::detector::ioc_detection_id(e, h).to_string(),
                (h.list.id.clone(), h.hit.value.clone()),
            );
        }
    }
    assert!(!want_ioc.is_empty());
    let mut corr =
        CorrelationEngine::new(loaded.correlations.clone(), CorrelationConfig::default());
    let mut scratch = loaded.engine.scratch();
    let mut matched = Vec::new();
    let mut want_corr = BTreeSet::new();
    for e in &events {
        matched.clear();
        loaded.engine.eval(e, &mut scratch, &mut matched);
        for m in corr.observe(&loaded.engine, &mut scratch, e, &matched) {
            want_corr.insert(m.id.to_string());
        }
    }
    assert!(!want_corr.is_empty(), "the traces hold process bursts");

    let registry = prometheus::Registry::new();
    let metrics = DetectMetrics::new(&registry).unwrap();
    let mut rig = Rig::start(RulesHandle::new(loaded), metrics.clone());
    let got = rig.publish(&events).await;
    rig.stop().await;

    let mut got_ioc = BTreeMap::new();
    let mut got_corr = BTreeSet::new();
    for d in &got {
        match d.rule.kind {
            RuleKind::Ioc => {
                let hit = d.ioc.as_ref().unwrap();
                let want = match d.rule.id.as_str() {
                    "test-c2" => Category::Malware,
                    "test-phish" => Category::Phishing,
                    other => panic!("unexpected list {other}"),
                };
                assert_eq!(d.category, want, "category from the list's kind");
                assert_eq!(d.guidance.en, "Block the address");
                assert!(d.entities.ips.contains(&hit.value));
                got_ioc.insert(d.id.to_string(), (d.rule.id.clone(), hit.value.clone()));
            }
            RuleKind::Correlation => {
                let c = d.correlation.as_ref().unwrap();
                assert_eq!(c.kind, "event_count");
                assert!(c.value >= 5.0 && !c.event_ids.is_empty());
                assert!(c.event_ids.contains(&d.event.id), "closed by its event");
                assert_eq!(
                    d.category,
                    Category::Intrusion,
                    "attack.execution alone is an intrusion"
                );
                got_corr.insert(d.id.to_string());
            }
            RuleKind::Sigma => assert!(
                d.rule.id.ends_with('b'),
                "the correlation's base rule is silent: {}",
                d.rule.id
            ),
        }
    }
    assert_eq!(got_ioc, want_ioc, "one detection per IOC match, own ids");
    assert_eq!(got_corr, want_corr, "the offline correlation matches");
    assert_eq!(
        metrics.ioc_hits.with_label_values(&["test-c2", "c2"]).get() as usize,
        want_ioc.values().filter(|(l, _)| l == "test-c2").count()
    );
    assert_eq!(metrics.correlation_matches.get() as usize, want_corr.len());
}
