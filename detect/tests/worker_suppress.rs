//! Issue 16, must show: a false-positive close with a suppression. The stage runs on the
//! in-process bus with its suppressions followed from the incident-events topic; a `suppress`
//! record arrives there, then events: the matching one's detection is marked suppressed and
//! counted in `detect_suppressed_total`; one of another entity, rule or agency is not; once the
//! paused clock passes the suppression's expiry, the next matching event is not suppressed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use canhgac_core::lifecycle::{
    suppression_id, Action, Actor, CloseReason, EntityRef, IncidentEvent, Suppression,
};
use canhgac_core::topics::Topics;
use canhgac_core::transport::{
    Bus, BusSubscription, Message, Publisher, Subscription, TopicFilter,
};
use canhgac_core::{Detection, Event, Id};
use canhgac_detect::worker::{
    follow_suppressions, DetectMetrics, DetectStage, RulesHandle, RulesetSpec, StageOptions,
    SuppressionsHandle,
};
use chrono::Utc;
use serde_json::json;
use tokio_util::sync::CancellationToken;

const SUPPRESSED_IP: &str = "203.0.113.5";
const OTHER_IP: &str = "203.0.113.6";

/// Two IOC lists (rules `bad-ips` and `also-bad`) naming the addresses.
fn rules() -> RulesHandle {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("worker_suppress");
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad-ips.txt");
    std::fs::write(&bad, format!("{SUPPRESSED_IP}\n{OTHER_IP}\n")).unwrap();
    let also = dir.join("also-bad.txt");
    std::fs::write(&also, format!("{SUPPRESSED_IP}\n")).unwrap();
    let spec = RulesetSpec {
        ioc: vec![bad, also],
        ..Default::default()
    };
    RulesHandle::new(spec.load(1).unwrap())
}

fn event(n: u8, ip: &str) -> Event {
    serde_json::from_value(json!({
        "v": 1,
        "id": Id([n; 16]).to_hex(),
        "agency": "byt",
        "sensor": "s1",
        "dataset": "json",
        "@timestamp": "2026-10-01T00:00:00Z",
        "received": "2026-10-01T00:00:00Z",
        "source": {"kind": "file", "name": "t"},
        "ecs": {"source.ip": ip},
        "original": {}
    }))
    .unwrap()
}

/// The records `serve` publishes for "close as false positive and suppress": the resolve, then
/// the suppression on the same incident.
fn close_and_suppress(expires_in: chrono::Duration) -> (Vec<IncidentEvent>, Suppression) {
    let now = Utc::now();
    let entity = EntityRef {
        kind: "ip".into(),
        value: SUPPRESSED_IP.into(),
    };
    let s = Suppression {
        id: suppression_id("bad-ips", "byt", &entity, now),
        rule: "bad-ips".into(),
        agency: "byt".into(),
        entity,
        owner: "Lan".into(),
        reason: "the agency's own vulnerability scanner".into(),
        created: now,
        expires: now + expires_in,
    };
    let by = Actor {
        name: "Lan".into(),
        role: "agency:byt".into(),
    };
    let record = |action| {
        IncidentEvent::new(
            Id([7; 16]),
            Id([8; 16]),
            "byt",
            now,
            by.clone(),
            action,
            None,
        )
    };
    let resolve = record(Action::Resolve {
        reason: CloseReason::FalsePositive,
        note: "scanner".into(),
        duplicate_of: None,
    });
    let suppress = record(Action::Suppress {
        suppression: s.clone(),
    });
    (vec![resolve, suppress], s)
}

struct Rig {
    topics: Topics,
    bus: Bus,
    detections: BusSubscription,
    metrics: DetectMetrics,
    handle: SuppressionsHandle,
}

impl Rig {
    /// Sends an event of `agency` and returns its detections (acked), by rule.
    async fn detect(&mut self, agency: &str, e: &Event, rules: usize) -> Vec<(String, Option<Id>)> {
        let m = Message {
            topic: self.topics.events(agency),
            key: None,
            payload: serde_json::to_vec(e).unwrap(),
            headers: vec![],
        };
        let delivery = self.bus.publisher().send(m).await.unwrap();
        let mut out = Vec::new();
        for _ in 0..rules {
            let r = tokio::time::timeout(Duration::from_secs(30), self.detections.recv())
                .await
                .expect("a detection within 30 s")
                .unwrap()
                .unwrap();
            let d: Detection = serde_json::from_slice(&r.payload).unwrap();
            r.ack.ack();
            assert_eq!(d.event.id, e.id);
            out.push((d.rule.id, d.suppressed));
        }
        out.sort();
        delivery.await.expect("the event is acked");
        out
    }

    fn counted(&self, s: &Suppression) -> u64 {
        self.metrics
            .suppressed
            .with_label_values(&[&s.id.to_hex()])
            .get()
    }

    fn gauge(&self) -> i64 {
        self.metrics.suppressions_active.get()
    }

    async fn until_gauge(&self, want: i64) {
        for _ in 0..500 {
            if self.gauge() == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "detect_suppressions_active stayed {} (want {want})",
            self.gauge()
        );
    }
}

#[tokio::test]
async fn a_false_positive_close_suppresses_the_next_matching_detection_until_it_expires() {
    let topics = Topics::new("canhgac").unwrap();
    let bus = Bus::new(64);
    let t = topics.clone();
    let mut events_sub = bus.subscribe(TopicFilter::Matching(Arc::new(move |topic: &str| {
        t.agency_of_events_topic(topic).is_some()
    })));
    let detections = bus.subscribe(TopicFilter::Exact(vec![topics.detections()]));
    let lifecycle = bus.subscribe(TopicFilter::Exact(vec![topics.incident_events()]));
    let registry = prometheus::Registry::new();
    let metrics = DetectMetrics::new(&registry).unwrap();
    let handle = SuppressionsHandle::new();
    let stage = DetectStage::new(
        bus.publisher(),
        topics.clone(),
        rules(),
        metrics.clone(),
        StageOptions::default(),
    )
    .with_suppressions(handle.clone());
    let cancel = CancellationToken::new();
    let follower = tokio::spawn(follow_suppressions(
        lifecycle,
        handle.clone(),
        cancel.clone(),
    ));
    let c = cancel.clone();
    let worker = tokio::spawn(async move { stage.run(&mut events_sub, c).await });
    let mut rig = Rig {
        topics: topics.clone(),
        bus: bus.clone(),
        detections,
        metrics,
        handle,
    };

    // Before any suppression, the address gives detections of both lists, unmarked.
    let both = |s: Option<Id>| vec![("also-bad".to_string(), None), ("bad-ips".to_string(), s)];
    assert_eq!(
        rig.detect("byt", &event(1, SUPPRESSED_IP), 2).await,
        both(None)
    );

    // The incident is closed as a false positive with a suppression for an hour.
    let hour = chrono::Duration::hours(1);
    let (records, s) = close_and_suppress(hour);
    for r in &records {
        let m = Message {
            topic: topics.incident_events(),
            key: Some(r.id.to_hex().into_bytes()),
            payload: r.to_json(),
            headers: vec![],
        };
        bus.publisher()
            .send(m)
            .await
            .unwrap()
            .await
            .expect("the follower acks each record");
    }
    rig.until_gauge(1).await;
    assert_eq!(
        rig.handle.current().list(tokio::time::Instant::now()).len(),
        1
    );

    // The next matching event: its `bad-ips` detection is marked, counted; the other list's
    // detection of the same event is not.
    assert_eq!(
        rig.detect("byt", &event(2, SUPPRESSED_IP), 2).await,
        both(Some(s.id))
    );
    assert_eq!(rig.counted(&s), 1);
    // Another entity, another agency: not suppressed.
    assert_eq!(
        rig.detect("byt", &event(3, OTHER_IP), 1).await,
        vec![("bad-ips".to_string(), None)]
    );
    assert_eq!(
        rig.detect("btc", &event(4, SUPPRESSED_IP), 2).await,
        both(None)
    );
    assert_eq!(rig.counted(&s), 1, "only the matching detection counts");

    // Paused time: a little before the expiry it still holds…
    let before = Duration::from_secs(3600 - 5);
    tokio::time::pause();
    tokio::time::advance(before).await;
    tokio::time::resume();
    assert_eq!(
        rig.detect("byt", &event(5, SUPPRESSED_IP), 2).await,
        both(Some(s.id))
    );
    assert_eq!(rig.counted(&s), 2);
    assert_eq!(rig.gauge(), 1);
    // …and once the clock passes it, the next matching event is not suppressed.
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(10)).await;
    tokio::time::resume();
    assert_eq!(
        rig.detect("byt", &event(6, SUPPRESSED_IP), 2).await,
        both(None)
    );
    assert_eq!(rig.counted(&s), 2);
    rig.until_gauge(0).await;

    cancel.cancel();
    let stats = worker.await.unwrap().unwrap();
    assert_eq!(stats.events, 6);
    let followed = follower.await.unwrap();
    assert_eq!((followed.records, followed.changes), (2, 1));
}
