//! Issue 16 part 4, notify follows the state: the notifier on the in-process bus, its
//! lifecycle view fed from the incident-events topic. A resolved incident (a record naming its
//! alert key) gets no growth escalation when its count crosses 10; reopened, it escalates
//! again; a suppressed detection gets no alert. Every alert carries an acknowledge link that
//! verifies with the shared secret and changes with nothing but the secret.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use canhgac_core::acklink::{verify, AckLinkError};
use canhgac_core::lifecycle::{Action, Actor, CloseReason, IncidentEvent, Policy};
use canhgac_core::registry::{RawRegistry, Registry};
use canhgac_core::topics::Topics;
use canhgac_core::transport::{
    Bus, BusPublisher, BusSubscription, Message, Publisher, Subscription, TopicFilter,
};
use canhgac_core::{Detection, Id};
use canhgac_notify::decision::Reason;
use canhgac_notify::{
    follow_lifecycle, AckLinks, Alert, Channels, LifecycleHandle, Notifier, NotifyMetrics,
    NotifyOptions, Store,
};
use chrono::Utc;
use tokio_util::sync::CancellationToken;

const PUBLIC_URL: &str = "https://soc.example.vn";
const SECRET: &[u8] = b"shared ack secret";

fn registry() -> Registry {
    let text = r#"
[[agency]]
id = "byt"
name_vi = "Bộ Y tế"
name_en = "Ministry of Health"
  [[agency.channel]]
  type = "kafka"
"#;
    RawRegistry::parse(text, Path::new("r.toml"))
        .unwrap()
        .validate("r")
        .unwrap()
}

/// Detection `n` of the provisional incident (alert key) `key`.
fn detection(n: u8, key: u8) -> Detection {
    serde_json::from_value(serde_json::json!({
        "v": 1, "id": Id([n; 16]).to_hex(),
        "incident_id": Id([key; 16]).to_hex(), "agency": "byt",
        "rule": {"id": "r1", "title": "Web shell upload", "kind": "sigma", "level": "high"},
        "category": "malware", "priority": "p3", "@timestamp": "2026-10-01T00:00:00Z",
        "month": 202610, "group_key": "portal.byt.gov.vn",
        "event": {"v": 1, "id": Id([n; 16]).to_hex(), "agency": "byt",
            "sensor": "s", "dataset": "json", "@timestamp": "2026-10-01T00:00:00Z",
            "received": "2026-10-01T00:00:00Z", "source": {"kind": "file", "name": "t"},
            "ecs": {}, "original": {}}
    }))
    .unwrap()
}

/// A lifecycle record on the incident of alert key `key`, as serve publishes it.
fn record(action: Action, key: u8, minute: u32) -> IncidentEvent {
    let at = format!("2026-10-02T00:{minute:02}:00Z").parse().unwrap();
    let mut r = IncidentEvent::new(
        Id([key; 16]),
        Id([1; 16]),
        "byt",
        at,
        Actor {
            name: "Lan".into(),
            role: "agency:byt".into(),
        },
        action,
        None,
    );
    r.alert_keys = vec![Id([key; 16])];
    r
}

struct Rig {
    topics: Topics,
    publisher: BusPublisher,
    alerts: BusSubscription,
    lifecycle: LifecycleHandle,
}

impl Rig {
    /// Publishes and waits for the consumer's ack (notify acks a detection once decided).
    async fn send(&self, topic: String, payload: Vec<u8>) {
        let m = Message {
            topic,
            key: None,
            payload,
            headers: vec![],
        };
        let delivery = self.publisher.send(m).await.unwrap();
        tokio::time::timeout(Duration::from_secs(30), delivery)
            .await
            .expect("acked within 30 s")
            .unwrap();
    }

    async fn detect(&self, d: &Detection) {
        self.send(self.topics.detections(), serde_json::to_vec(d).unwrap())
            .await;
    }

    async fn lifecycle(&self, r: &IncidentEvent) {
        self.send(self.topics.incident_events(), r.to_json()).await;
    }

    /// The next alert on the agency's Kafka topic.
    async fn alert(&mut self) -> Alert {
        let r = tokio::time::timeout(Duration::from_secs(30), self.alerts.recv())
            .await
            .expect("an alert within 30 s")
            .unwrap()
            .unwrap();
        r.ack.ack();
        serde_json::from_slice(&r.payload).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_incident_stops_escalating_a_reopened_one_escalates_and_suppressed_ones_never_alert(
) {
    let topics = Topics::new("canhgac").unwrap();
    let bus = Bus::new(64);
    let mut detections = bus.subscribe(TopicFilter::Exact(vec![topics.detections()]));
    let events = bus.subscribe(TopicFilter::Exact(vec![topics.incident_events()]));
    let alerts = bus.subscribe(TopicFilter::Exact(vec![topics.alerts("byt")]));
    let dir = tempfile::tempdir().unwrap();
    let registry = registry();
    let channels = Channels::new(
        bus.publisher(),
        topics.clone(),
        &registry,
        None,
        Duration::from_secs(5),
        |_| None,
    )
    .unwrap();
    let metrics = NotifyMetrics::unregistered();
    let options = NotifyOptions {
        thresholds: vec![10, 20],
        throttle_per_minute: 0,
        ack_links: Some(AckLinks::new(PUBLIC_URL, SECRET).unwrap()),
        ..Default::default()
    };
    let lifecycle = LifecycleHandle::new(Policy::default());
    let notifier = Notifier::new(
        Arc::new(Store::open(dir.path()).unwrap()),
        Arc::new(registry),
        channels,
        options,
        metrics.clone(),
    )
    .with_lifecycle(lifecycle.clone());
    let cancel = CancellationToken::new();
    let follower = tokio::spawn(follow_lifecycle(events, lifecycle.clone(), cancel.clone()));
    let c = cancel.clone();
    let run = tokio::spawn(async move { notifier.run(&mut detections, c).await });
    let mut rig = Rig {
        topics,
        publisher: bus.publisher(),
        alerts,
        lifecycle,
    };
    let key = Id([9; 16]);

    // The first detection alerts, with an acknowledge link for its agency and detection.
    let decided = Utc::now();
    rig.detect(&detection(1, 9)).await;
    let first = rig.alert().await;
    assert_eq!((first.incident_id, first.revision), (key, 1));
    assert_eq!(first.reasons, vec![Reason::New]);
    let url = first.ack_url.clone().expect("the alert carries its link");
    let token = url
        .strip_prefix(&format!("{PUBLIC_URL}/ack/"))
        .expect("under the public URL");
    let claim = verify(SECRET, token, Utc::now()).expect("verifies with the shared secret");
    assert_eq!(
        (claim.agency.as_str(), claim.detection),
        ("byt", Id([1; 16]))
    );
    let days = (claim.expires - decided).num_hours();
    assert!((14 * 24 - 1..=14 * 24).contains(&days), "{days} h");
    assert_eq!(
        verify(b"another secret", token, Utc::now()).unwrap_err(),
        AckLinkError::BadSignature
    );
    for lang in ["vi", "en"] {
        let (_, body) = first.email(lang);
        assert!(body.contains(&url), "{lang}: {body}");
    }
    // The same alert decided with another secret: only the signature differs.
    let now = Utc::now();
    let a = AckLinks::new(PUBLIC_URL, SECRET).unwrap();
    let b = AckLinks::new(PUBLIC_URL, b"rotated secret").unwrap();
    let (ua, ub) = (
        a.url("byt", Id([1; 16]), now),
        b.url("byt", Id([1; 16]), now),
    );
    assert_eq!(ua, a.url("byt", Id([1; 16]), now), "deterministic");
    assert_ne!(ua, ub);
    assert_eq!(
        ua.rsplit_once('.').unwrap().0,
        ub.rsplit_once('.').unwrap().0
    );

    // Closed as a false positive: its count crosses 10 quietly.
    let resolve = record(
        Action::Resolve {
            reason: CloseReason::FalsePositive,
            note: "the agency's scanner".into(),
            duplicate_of: None,
        },
        9,
        0,
    );
    rig.lifecycle(&resolve).await;
    assert!(rig.lifecycle.read(|l| l.closed(&key)));
    for n in 2..=12 {
        rig.detect(&detection(n, 9)).await;
    }
    // Reopened: the next threshold alerts again.
    rig.lifecycle(&record(
        Action::Reopen {
            note: "it came back".into(),
        },
        9,
        1,
    ))
    .await;
    assert!(!rig.lifecycle.read(|l| l.closed(&key)));
    for n in 13..=20 {
        rig.detect(&detection(n, 9)).await;
    }
    let again = rig.alert().await;
    assert_eq!(
        (again.incident_id, again.revision, again.count),
        (key, 2, 20),
        "no alert at 10 while closed"
    );
    assert_eq!(again.reasons, vec![Reason::CountCrossed { threshold: 20 }]);
    assert_eq!(
        again.ack_url.as_deref().map(|u| u.contains("/ack/byt.")),
        Some(true)
    );

    // A suppressed detection of a new incident: no alert; the next incident's is the next one.
    let mut suppressed = detection(30, 10);
    suppressed.suppressed = Some(Id([5; 16]));
    rig.detect(&suppressed).await;
    rig.detect(&detection(31, 11)).await;
    let next = rig.alert().await;
    assert_eq!(
        next.incident_id,
        Id([11; 16]),
        "the suppressed one never alerted"
    );
    let outcome = |o: &str| metrics.detections.with_label_values(&[o]).get();
    assert_eq!(outcome("suppressed"), 1);
    assert_eq!(outcome("alert"), 3);
    assert_eq!(outcome("quiet"), 18);

    cancel.cancel();
    let summary = run.await.unwrap().unwrap();
    assert_eq!((summary.alerts, summary.suppressed), (3, 1));
    assert_eq!(follower.await.unwrap().records, 2);
}
