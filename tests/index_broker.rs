//! `canhgac index` against a real Kafka-protocol broker (Tansu): a fixed stream of detections
//! (several agencies, months and categories, with repeated detection ids), the indexer
//! SIGKILLed mid-stream and restarted, ends with exactly the incidents, counts and detection ids
//! of an undisturbed run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::{canhgac, committed_detections, index_full_contents, Broker};
use canhgac_core::detection::Detection;
use canhgac_core::Id;
use canhgac_index::synth::incident_detections;
use canhgac_index::{IncidentIndex, IncidentRecord, Scope};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;

const TOPIC: &str = "canhgac.detections";

/// 4,000 incidents over 8 agencies, 14 months and every category, 1–3 detections each; every
/// seventh detection is published twice (a producer retry or a detect replay).
fn stream() -> Vec<Detection> {
    let mut out = Vec::new();
    for i in 0..4000u64 {
        for (j, d) in incident_detections(i, 1 + i % 3, 202201, 14)
            .into_iter()
            .enumerate()
        {
            if (i + j as u64) % 7 == 0 {
                out.push(d.clone());
            }
            out.push(d);
        }
    }
    out
}

fn publish(broker: &Broker, ds: &[Detection]) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.brokers())
        .set("enable.idempotence", "true")
        .set("linger.ms", "20")
        .create()
        .unwrap();
    for d in ds {
        let payload = serde_json::to_vec(d).unwrap();
        let key = d.incident_id.to_hex();
        loop {
            match producer.send(BaseRecord::to(TOPIC).key(&key).payload(&payload)) {
                Ok(()) => break,
                Err((e, _)) if e.to_string().contains("Queue full") => {
                    producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => panic!("produce: {e}"),
            }
        }
    }
    producer.flush(Duration::from_secs(60)).unwrap();
    // A garbage message and another schema version in the middle of nowhere: rejected, logged.
    for bad in [b"not a detection".to_vec(), br#"{"v":9}"#.to_vec()] {
        producer
            .send(BaseRecord::<(), _>::to(TOPIC).payload(&bad))
            .unwrap();
    }
    producer.flush(Duration::from_secs(60)).unwrap();
}

fn indexer(broker: &Broker, dir: &Path, group: &str) -> Child {
    canhgac()
        .args([
            "index",
            "--brokers",
            &broker.brokers(),
            "--index",
            dir.to_str().unwrap(),
            "--group",
            group,
            "--commit-interval-ms",
            "150",
            "--commit-docs",
            "400",
            "--threads",
            "1",
            "--heap-mib",
            "64",
        ])
        .env("RUST_LOG", "warn")
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_for(dir: &Path, child: &mut Child, n: u64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let got = committed_detections(dir);
        if got >= n {
            return;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the indexer exited while {what}"
        );
        assert!(Instant::now() < deadline, "timed out {what}: {got} of {n}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every incident (full records) and detection id in the index.
fn contents(dir: &Path) -> (BTreeMap<Id, IncidentRecord>, BTreeSet<Id>) {
    let (incidents, detections) = index_full_contents(dir);
    (incidents, detections.into_keys().collect())
}

fn stop(mut child: Child) {
    // SIGTERM: drain, commit, exit.
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the indexer did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigkill_mid_stream_and_restart_gives_exactly_the_undisturbed_index() {
    let _heavy = crate::support::heavy();
    let broker = Broker::start();
    broker.create_topic(TOPIC, 3);
    let ds = stream();
    let distinct: BTreeSet<Id> = ds.iter().map(|d| d.id).collect();
    let total = distinct.len() as u64;
    // The expected incidents, aggregated here from the distinct detections.
    let mut expected: BTreeMap<Id, IncidentRecord> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for d in &ds {
        if seen.insert(d.id) {
            match expected.get_mut(&d.incident_id) {
                Some(r) => r.merge(d),
                None => {
                    expected.insert(d.incident_id, IncidentRecord::from_detection(d));
                }
            }
        }
    }
    let agencies: BTreeSet<&str> = expected
        .values()
        .map(|r| r.incident.agency.as_str())
        .collect();
    let months: BTreeSet<u32> = expected.values().map(|r| r.incident.month).collect();
    let categories: BTreeSet<_> = expected.values().map(|r| r.incident.category).collect();
    assert!(agencies.len() >= 5 && months.len() >= 12 && categories.len() >= 9);
    assert!(ds.len() as u64 > total, "the stream repeats detection ids");
    publish(&broker, &ds);
    eprintln!(
        "published {} messages: {} distinct detections, {} incidents",
        ds.len() + 2,
        total,
        expected.len()
    );

    let work = tempfile::tempdir().unwrap();
    let killed = work.path().join("killed");
    let calm = work.path().join("undisturbed");

    // Killed twice mid-stream, restarted each time.
    // Each start joins a fresh consumer group: the index resumes from its own payload
    // offsets, not from what a group committed (and a killed member does not stall a
    // rebalance).
    let mut child = indexer(&broker, &killed, "idx-killed-0");
    for fraction in [4, 2] {
        wait_for(&killed, &mut child, total / fraction, "indexing");
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let at = committed_detections(&killed);
        eprintln!("killed with {at} of {total} detections committed");
        assert!(
            at < total,
            "the indexer was killed mid-stream, not after it"
        );
        child = indexer(&broker, &killed, &format!("idx-killed-{fraction}"));
    }
    wait_for(&killed, &mut child, total, "finishing after the restarts");
    // Let it idle through a few commit intervals: nothing may change any more.
    std::thread::sleep(Duration::from_millis(800));
    stop(child);

    let mut child = indexer(&broker, &calm, "idx-undisturbed");
    wait_for(&calm, &mut child, total, "the undisturbed run");
    std::thread::sleep(Duration::from_millis(800));
    stop(child);

    let (inc_killed, det_killed) = contents(&killed);
    let (inc_calm, det_calm) = contents(&calm);
    assert_eq!(det_killed, distinct, "detection ids after kill and restart");
    assert_eq!(det_calm, distinct, "detection ids of the undisturbed run");
    assert_eq!(inc_calm.len(), expected.len());
    assert_eq!(inc_calm, expected, "the undisturbed run's incidents");
    assert_eq!(inc_killed, inc_calm, "incidents after kill and restart");
    let counts: u64 = inc_killed.values().map(|r| r.incident.count).sum();
    assert_eq!(counts, total);
    // Monthly counts agree too.
    let a = IncidentIndex::open(&killed).unwrap();
    let b = IncidentIndex::open(&calm).unwrap();
    let req = canhgac_index::StatsRequest {
        scope: Scope::All,
        month: 202302,
        months: 14,
        top: 5,
    };
    assert_eq!(a.monthly(&req).unwrap(), b.monthly(&req).unwrap());
}
