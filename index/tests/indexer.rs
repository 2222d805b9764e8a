//! The indexer: exact counts under replays, restarts from the commit payload, rejected input,
//! status changes, retention, and the transport loop acking only after the commit.

use std::collections::{BTreeMap, HashMap};

use canhgac_core::detection::{Detection, Status};
use canhgac_core::lifecycle::{Action, Actor, CloseReason, IncidentEvent};
use canhgac_core::transport::{Bus, Message, Publisher, TopicFilter};
use canhgac_core::Id;
use canhgac_index::synth::{incident_detections, month_corpus};
use canhgac_index::{
    CommitPolicy, IncidentIndex, IncidentRecord, Indexer, Outcome, Position, RunOptions, Scope,
    SearchRequest,
};
use tokio_util::sync::CancellationToken;

use crate::support::opts;

fn corpus() -> Vec<Detection> {
    let mut v = Vec::new();
    for i in 0..300 {
        v.extend(incident_detections(i, 1 + i % 4, 202201, 6));
    }
    v
}

/// The incidents the corpus should give: distinct detections aggregated.
fn expected(ds: &[Detection]) -> BTreeMap<Id, IncidentRecord> {
    let mut seen = std::collections::HashSet::new();
    let mut out: BTreeMap<Id, IncidentRecord> = BTreeMap::new();
    for d in ds {
        if !seen.insert(d.id) {
            continue;
        }
        match out.get_mut(&d.incident_id) {
            Some(r) => r.merge(d),
            None => {
                out.insert(d.incident_id, IncidentRecord::from_detection(d));
            }
        }
    }
    out
}

fn all_incidents(index: &IncidentIndex) -> BTreeMap<Id, IncidentRecord> {
    let mut out = BTreeMap::new();
    let mut req = SearchRequest::new(Scope::All, "");
    req.limit = 1000;
    loop {
        let resp = index.search(&req).unwrap();
        for h in resp.hits {
            if let canhgac_index::Record::Incident(r) = h.record {
                assert!(out.insert(r.incident.id, *r).is_none(), "an incident twice");
            }
        }
        match resp.next_cursor {
            Some(c) => req.cursor = Some(c),
            None => break,
        }
    }
    out
}

fn detection_count(index: &IncidentIndex) -> u64 {
    let mut req = SearchRequest::new(Scope::All, "");
    req.kind = canhgac_index::Kind::Detections;
    index.search(&req).unwrap().total
}

fn payload(d: &Detection) -> Vec<u8> {
    serde_json::to_vec(d).unwrap()
}

#[test]
fn replays_and_duplicates_do_not_change_counts() {
    let ds = corpus();
    let mut ix = Indexer::in_ram(opts()).unwrap();
    for d in &ds {
        ix.process(&payload(d), None).unwrap();
    }
    ix.commit().unwrap();
    // A full replay, in another order, in a later batch.
    for d in ds.iter().rev() {
        assert_eq!(ix.process(&payload(d), None).unwrap(), Outcome::Duplicate);
    }
    ix.commit().unwrap();
    let index = IncidentIndex::of(&ix).unwrap();
    index.reload().unwrap();
    let want = expected(&ds);
    assert_eq!(all_incidents(&index), want);
    assert_eq!(detection_count(&index), ds.len() as u64);
    assert_eq!(
        want.values().map(|r| r.incident.count).sum::<u64>(),
        ds.len() as u64
    );
}

#[test]
fn crash_before_commit_resumes_from_payload_offsets_exactly() {
    let ds = corpus();
    let dir = tempfile::tempdir().unwrap();
    let topic = "canhgac.detections";
    // Two partitions, as a Kafka topic would deliver them.
    let parts: Vec<Vec<(i64, &Detection)>> = (0..2)
        .map(|p| {
            ds.iter()
                .enumerate()
                .filter(|(i, _)| i % 2 == p)
                .enumerate()
                .map(|(off, (_, d))| (off as i64, d))
                .collect()
        })
        .collect();
    let feed = |ix: &mut Indexer, p: usize, from: i64, to: i64| {
        for (off, d) in &parts[p] {
            if *off >= from && *off < to {
                let pos = Position {
                    topic: topic.into(),
                    partition: p as i32,
                    offset: *off,
                };
                ix.process(&payload(d), Some(&pos)).unwrap();
            }
        }
    };
    {
        let mut ix = Indexer::open(dir.path(), opts()).unwrap();
        feed(&mut ix, 0, 0, 100);
        feed(&mut ix, 1, 0, 40);
        ix.commit().unwrap();
        // Processed but never committed: lost in the "crash".
        feed(&mut ix, 0, 100, 250);
        feed(&mut ix, 1, 40, 200);
        drop(ix);
    }
    let mut ix = Indexer::open(dir.path(), opts()).unwrap();
    let starts = (ix.start_offsets())(&[
        (topic.to_string(), 0),
        (topic.to_string(), 1),
        (topic.to_string(), 2),
    ]);
    assert_eq!(
        starts,
        vec![
            (topic.to_string(), 0, 100),
            (topic.to_string(), 1, 40),
            (topic.to_string(), 2, 0)
        ]
    );
    // The consumer resumes a little early on partition 1 (a hint, not the payload): skipped.
    feed(&mut ix, 1, 30, 40);
    feed(&mut ix, 0, 100, i64::MAX);
    feed(&mut ix, 1, 40, i64::MAX);
    ix.commit().unwrap();
    let index = IncidentIndex::of(&ix).unwrap();
    index.reload().unwrap();
    assert_eq!(all_incidents(&index), expected(&ds));
    assert_eq!(detection_count(&index), ds.len() as u64);
    let offsets = ix.committed_offsets();
    assert_eq!(offsets[topic][&0], parts[0].len() as i64);
    assert_eq!(offsets[topic][&1], parts[1].len() as i64);
}

#[test]
fn garbage_and_other_versions_are_rejected_with_a_reason() {
    let mut ix = Indexer::in_ram(opts()).unwrap();
    let d = &corpus()[0];
    let mut v2 = serde_json::to_value(d).unwrap();
    v2["v"] = 2.into();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"not json".to_vec(), "json"),
        (b"{}".to_vec(), "json"),
        (b"{\"v\": 1, \"id\": \"zz\"}".to_vec(), "json"),
        (serde_json::to_vec(&v2).unwrap(), "schema_version"),
        (b"{\"v\": 7}".to_vec(), "schema_version"),
        (vec![0xff, 0xfe, 0x00], "json"),
        (Vec::new(), "json"),
    ];
    for (bytes, want) in cases {
        match ix.process(&bytes, None).unwrap() {
            Outcome::Rejected { reason, message } => {
                assert_eq!(reason, want, "{message}");
                assert!(!message.is_empty());
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
    }
    assert!(matches!(
        ix.process(&payload(d), None).unwrap(),
        Outcome::Indexed { new_incident: true }
    ));
}

/// A lifecycle record on the incident whose first detection is `anchor`, by "soc".
fn record(incident: Id, anchor: Id, agency: &str, at: &str, action: Action) -> IncidentEvent {
    IncidentEvent::new(
        incident,
        anchor,
        agency,
        at.parse().unwrap(),
        Actor {
            name: "soc".into(),
            role: "national".into(),
        },
        action,
        None,
    )
}

#[test]
fn status_changes_persist_and_detections_keep_them() {
    let dir = tempfile::tempdir().unwrap();
    let ds = month_corpus(202204, 6, 1);
    let target = ds[0].incident_id;
    let (anchor, agency) = (ds[0].id, ds[0].agency.clone());
    {
        let mut ix = Indexer::open(dir.path(), opts()).unwrap();
        // Only the first detection of the first incident, then acknowledge and resolve it.
        ix.process(&payload(&ds[0]), None).unwrap();
        ix.commit().unwrap();
        let ack = record(
            target,
            anchor,
            &agency,
            "2022-04-25T00:00:00Z",
            Action::Acknowledge {
                note: "đang xử lý".into(),
            },
        );
        assert!(matches!(
            ix.process(&ack.to_json(), None).unwrap(),
            Outcome::Recorded { .. }
        ));
        assert_eq!(
            ix.incident(&target).unwrap().unwrap().incident.status,
            Status::Acknowledged
        );
        // Records fold in (time, id) order: the resolution comes after the acknowledgement.
        let resolve = record(
            target,
            anchor,
            &agency,
            "2022-04-25T01:00:00Z",
            Action::Resolve {
                reason: CloseReason::Handled,
                note: "đã khôi phục".into(),
                duplicate_of: None,
            },
        );
        ix.process(&resolve.to_json(), None).unwrap();
        // A repeat of a record counts once.
        ix.process(&resolve.to_json(), None).unwrap();
        ix.commit().unwrap();
    }
    let mut ix = Indexer::open(dir.path(), opts()).unwrap();
    for d in &ds {
        ix.process(&payload(d), None).unwrap();
    }
    ix.commit().unwrap();
    let r = ix.incident(&target).unwrap().unwrap();
    assert_eq!(
        r.incident.status,
        Status::Resolved,
        "a detection does not reopen an incident"
    );
    assert_eq!(r.handling.history.len(), 2, "two lifecycle records");
    assert_eq!(r.handling.history[1].by.name, "soc");
    assert_eq!(r.handling.history[1].action.text(), "đã khôi phục");
    let n = ds.iter().filter(|d| d.incident_id == target).count() as u64;
    assert_eq!(r.incident.count, n);
    let index = IncidentIndex::of(&ix).unwrap();
    index.reload().unwrap();
    let mut req = SearchRequest::new(Scope::All, "\"đã khôi phục\"");
    req.statuses = vec![Status::Resolved];
    let resp = index.search(&req).unwrap();
    assert_eq!(resp.total, 1, "status and note are searchable");
}

#[test]
fn retention_drops_old_incidents_with_their_detections() {
    let mut ix = Indexer::in_ram(opts()).unwrap();
    let old = month_corpus(202401, 30, 1);
    let new = month_corpus(202504, 20, 2);
    for d in old.iter().chain(&new) {
        ix.process(&payload(d), None).unwrap();
    }
    ix.commit().unwrap();
    let dropped = ix
        .delete_older_than(12, "2025-04-15T00:00:00Z".parse().unwrap())
        .unwrap();
    assert_eq!(dropped, 30);
    ix.commit().unwrap();
    let index = IncidentIndex::of(&ix).unwrap();
    index.reload().unwrap();
    assert_eq!(all_incidents(&index).len(), 20);
    assert_eq!(detection_count(&index), new.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bus_messages_are_acked_only_after_the_commit() {
    let bus = Bus::new(1024);
    let sub = bus.subscribe(TopicFilter::Exact(vec![
        "canhgac.detections".into(),
        "canhgac.incident-events".into(),
    ]));
    let publisher = bus.publisher();
    let mut options = opts();
    options.commit = CommitPolicy {
        max_docs: 1_000_000,
        max_interval: std::time::Duration::from_millis(300),
    };
    let ix = Indexer::in_ram(options).unwrap();
    let index = IncidentIndex::of(&ix).unwrap();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(canhgac_index::run::run(
        ix,
        sub,
        RunOptions {
            track_offsets: false,
        },
        cancel.clone(),
    ));
    let ds = month_corpus(202203, 10, 3);
    let mut deliveries = Vec::new();
    for d in &ds {
        let m = Message {
            topic: "canhgac.detections".into(),
            payload: payload(d),
            ..Default::default()
        };
        deliveries.push(publisher.send(m).await.unwrap());
    }
    let started = std::time::Instant::now();
    for d in deliveries {
        d.await.unwrap();
    }
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(200),
        "acked before the commit"
    );
    index.reload().unwrap();
    assert_eq!(
        detection_count(&index),
        ds.len() as u64,
        "acked means committed"
    );
    // A lifecycle record on the same bus: acked once committed, like a detection.
    let ack = record(
        ds[0].incident_id,
        ds[0].id,
        &ds[0].agency,
        "2022-03-28T00:00:00Z",
        Action::Acknowledge { note: "ok".into() },
    );
    publisher
        .send(Message {
            topic: "canhgac.incident-events".into(),
            payload: ack.to_json(),
            ..Default::default()
        })
        .await
        .unwrap()
        .await
        .unwrap();
    index.reload().unwrap();
    let detail = index.incident(&Scope::All, &ds[0].incident_id, 10).unwrap();
    assert_eq!(
        detail.incident.incident.status,
        Status::Acknowledged,
        "committed before the answer"
    );
    cancel.cancel();
    let (_ix, summary) = task.await.unwrap().unwrap();
    assert_eq!(summary.indexed, ds.len() as u64);
    let _ = HashMap::<u8, u8>::new();
}
