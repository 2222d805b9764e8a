//! The detect stage on the in-process bus: real Windows attack traces in, detections out; the
//! agency comes from the topic; bad payloads go to the DLQ; an event is acked only after every
//! detection it produced was acked downstream.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use canhgac_core::event::{event_id, Event, SourceKind, SourceRef, EVENT_SCHEMA_VERSION};
use canhgac_core::topics::Topics;
use canhgac_core::transport::{Bus, Message, Publisher, Subscription, TopicFilter};
use canhgac_core::Detection;
use canhgac_detect::worker::{DetectMetrics, DetectStage, RulesHandle, RulesetSpec, StageOptions};
use canhgac_ingest::{FileReader, Item, ReadOptions};
use tokio_util::sync::CancellationToken;

fn data(p: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    assert!(d.exists(), "test data missing at {}", d.display());
    d.join(p)
}

/// The first `n` Windows attack-trace events, as the sensor of agency `claimed` would send them.
fn windows_events(n: usize, claimed: &str) -> Vec<Event> {
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
                id: event_id(claimed, "s1", b"fp", offset, &raw),
                agency: claimed.into(),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage_on_the_bus_detects_classifies_and_acks_end_to_end() {
    let spec = RulesetSpec {
        rules: vec![data("sigma/rules/rules/windows")],
        registry: Some(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/agencies.example.toml"),
        ),
        ..Default::default()
    };
    let rules = RulesHandle::new(spec.load(1).unwrap());
    // A payload that claims another agency: the topic decides.
    let events = windows_events(3000, "evil-agency");
    let expected: usize = {
        let r = rules.current();
        let mut s = r.engine.scratch();
        let mut out = Vec::new();
        events
            .iter()
            .map(|e| {
                out.clear();
                r.engine.eval(e, &mut s, &mut out);
                out.len()
            })
            .sum()
    };
    assert!(expected > 100, "the traces trigger rules ({expected})");

    let topics = Topics::new("canhgac").unwrap();
    let bus = Bus::new(64);
    let t = topics.clone();
    let mut events_sub = bus.subscribe(TopicFilter::Matching(Arc::new(move |topic: &str| {
        t.agency_of_events_topic(topic).is_some()
    })));
    let mut detections_sub = bus.subscribe(TopicFilter::Exact(vec![topics.detections()]));
    let mut dlq_sub = bus.subscribe(TopicFilter::Exact(vec![topics.dlq("byt")]));
    let registry = prometheus::Registry::new();
    let metrics = DetectMetrics::new(&registry).unwrap();
    let stage = DetectStage::new(
        bus.publisher(),
        topics.clone(),
        rules,
        metrics,
        StageOptions {
            batch: 128,
            max_in_flight: 1000,
            ..Default::default()
        },
    );
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    let worker = tokio::spawn(async move { stage.run(&mut events_sub, c).await });

    // Detections are collected and acked, except that the very first is held for a while.
    let collector = tokio::spawn(async move {
        let mut got: Vec<Detection> = Vec::new();
        let mut held = None;
        while got.len() < expected {
            let r = detections_sub.recv().await.unwrap().unwrap();
            got.push(serde_json::from_slice(&r.payload).unwrap());
            if held.is_none() {
                held = Some(r.ack);
            } else {
                r.ack.ack();
            }
        }
        (got, held)
    });
    let dlq = tokio::spawn(async move {
        let r = dlq_sub.recv().await.unwrap().unwrap();
        let reason = String::from_utf8(r.header("reason").unwrap().to_vec()).unwrap();
        r.ack.ack();
        reason
    });

    let publisher = bus.publisher();
    let mut deliveries = Vec::new();
    for e in &events {
        let m = Message {
            topic: topics.events("byt"),
            key: None,
            payload: serde_json::to_vec(e).unwrap(),
            headers: vec![],
        };
        deliveries.push(publisher.send(m).await.unwrap());
    }
    let garbage = Message {
        topic: topics.events("byt"),
        key: None,
        payload: b"{not an event".to_vec(),
        headers: vec![],
    };
    let garbage = publisher.send(garbage).await.unwrap();

    let (got, held) = collector.await.unwrap();
    assert_eq!(
        got.len(),
        expected,
        "one detection per (event, rule) the engine matches"
    );
    assert_eq!(dlq.await.unwrap(), "invalid_event");
    garbage
        .await
        .expect("the DLQ record was acked, so the bad event is acked");
    for d in &got {
        assert_eq!(d.agency, "byt", "agency from the topic");
        assert_eq!(d.event.agency, "byt");
        assert_eq!(
            d.id,
            canhgac_core::id::detection_id(&d.event.id, &d.rule.id)
        );
        assert!(!d.guidance.vi.is_empty() && !d.guidance.en.is_empty());
    }
    // The event behind the held detection is not acked until that detection is.
    let held_event = got[0].event.id;
    let idx = events.iter().position(|e| e.id == held_event).unwrap();
    let mut pending = deliveries.remove(idx);
    assert!(
        futures::poll!(&mut pending).is_pending(),
        "not acked before its detection"
    );
    held.unwrap().ack();
    pending.await.unwrap();
    for d in deliveries {
        d.await.unwrap();
    }
    cancel.cancel();
    let stats = worker.await.unwrap().unwrap();
    assert_eq!(stats.events, 3000);
    assert_eq!(stats.dlq, 1);
    assert_eq!(stats.detections as usize, expected);
}

/// `detections_of` (the worker's path: the event moved into its last detection instead of
/// cloned) gives exactly what `sigma_detections` then `ioc_detections` give, on the traces with
/// an IOC list of their own addresses, so that events with Sigma and IOC detections, either
/// alone or both, all occur.
#[test]
fn moving_the_event_into_its_last_detection_changes_no_detection() {
    use canhgac_detect::worker::detector::{detections_of, ioc_detections, sigma_detections};
    let events = windows_events(3000, "byt");
    let ips: std::collections::BTreeSet<String> = events
        .iter()
        .step_by(3)
        .filter_map(|e| e.ecs.source_ip.or(e.ecs.destination_ip))
        .map(|ip| ip.to_string())
        .collect();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("detections_of");
    std::fs::create_dir_all(&dir).unwrap();
    let list = dir.join("seen-addresses.txt");
    std::fs::write(&list, ips.into_iter().collect::<Vec<_>>().join("\n")).unwrap();
    let spec = RulesetSpec {
        rules: vec![data("sigma/rules/rules/windows")],
        ioc: vec![list],
        ..Default::default()
    };
    let r = spec.load(1).unwrap();
    let mut s = r.engine.scratch();
    let (mut matched, mut hits) = (Vec::new(), Vec::new());
    let (mut sigma_only, mut ioc_only, mut both) = (0, 0, 0);
    for e in &events {
        matched.clear();
        hits.clear();
        r.engine.eval(e, &mut s, &mut matched);
        r.ioc.matches(e, &mut hits);
        let (mut want, mut got) = (Vec::new(), Vec::new());
        sigma_detections(&r, "byt", e, &matched, &mut want);
        let n_sigma = want.len();
        ioc_detections(&r, "byt", e, &hits, &mut want);
        detections_of(
            &r,
            "byt",
            std::borrow::Cow::Owned(e.clone()),
            &matched,
            &hits,
            &mut got,
        );
        assert_eq!(got, want, "event {}", e.id);
        match (n_sigma > 0, want.len() > n_sigma) {
            (true, false) => sigma_only += 1,
            (false, true) => ioc_only += 1,
            (true, true) => both += 1,
            (false, false) => {}
        }
    }
    assert!(
        sigma_only > 0 && ioc_only > 0 && both > 0,
        "{sigma_only} / {ioc_only} / {both}"
    );
}
