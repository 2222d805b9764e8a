//! Helpers of the binary's integration tests: the canhgac binary, reading an index back, the
//! golden files, a webhook receiver; and, from `canhgac-testsupport`, the shared test data, the
//! heavy-test guard and a real Kafka-protocol broker (Tansu) with a topic reader.

pub mod http;
pub mod webhook;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

pub use canhgac_testsupport::broker::{read_topic, Broker, TopicRecord};
pub use canhgac_testsupport::{data_dir, free_port, heavy, repo};

/// The canhgac binary built for these tests.
pub fn canhgac() -> Command {
    Command::new(env!("CARGO_BIN_EXE_canhgac"))
}

/// Every record of `kind` in the index at `dir`, page by page.
pub fn index_records(dir: &Path, kind: canhgac_index::Kind) -> Vec<canhgac_index::Record> {
    use canhgac_index::{IncidentIndex, Scope, SearchRequest};
    let index = IncidentIndex::open(dir).unwrap();
    let mut req = SearchRequest::new(Scope::All, "");
    req.kind = kind;
    req.limit = 5000;
    let mut out = Vec::new();
    loop {
        let resp = index.search(&req).unwrap();
        out.extend(resp.hits.into_iter().map(|h| h.record));
        match resp.next_cursor {
            Some(c) => req.cursor = Some(c),
            None => return out,
        }
    }
}

/// Every incident (full record) and every detection in the index at `dir`; panics if a
/// document is stored twice.
pub fn index_full_contents(
    dir: &Path,
) -> (
    BTreeMap<canhgac_core::Id, canhgac_index::IncidentRecord>,
    BTreeMap<canhgac_core::Id, canhgac_core::Detection>,
) {
    use canhgac_index::{Kind, Record};
    let mut incidents = BTreeMap::new();
    let mut detections = BTreeMap::new();
    for kind in [Kind::Incidents, Kind::Detections] {
        for r in index_records(dir, kind) {
            match r {
                Record::Incident(r) => {
                    assert!(
                        incidents.insert(r.incident.id, *r).is_none(),
                        "an incident twice"
                    )
                }
                Record::Detection(d) => {
                    assert!(detections.insert(d.id, *d).is_none(), "a detection twice")
                }
            }
        }
    }
    (incidents, detections)
}

/// Every incident (id → detection count) and every detection id in the index at `dir`; panics
/// if a document is stored twice.
pub fn index_contents(
    dir: &Path,
) -> (
    BTreeMap<canhgac_core::Id, u64>,
    std::collections::BTreeSet<canhgac_core::Id>,
) {
    let (incidents, detections) = index_full_contents(dir);
    (
        incidents
            .into_iter()
            .map(|(id, r)| (id, r.incident.count))
            .collect(),
        detections.into_keys().collect(),
    )
}

/// Which incident each detection is in (detection id → incident id): the grouping into
/// attacks, compared between a disturbed and an undisturbed run.
pub fn index_grouping(dir: &Path) -> BTreeMap<canhgac_core::Id, canhgac_core::Id> {
    index_full_contents(dir)
        .1
        .into_iter()
        .map(|(id, d)| (id, d.incident_id))
        .collect()
}

/// The output of `canhgac ARGS`: (exit code, stdout, stderr).
pub fn run_canhgac(args: &[&str]) -> (i32, String, String) {
    let out = canhgac().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Compares `actual` with `tests/golden/NAME`; `CANHGAC_UPDATE_GOLDEN=1` writes it instead.
pub fn golden(name: &str, actual: &str) {
    canhgac_testsupport::golden(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(name),
        actual,
    );
}

/// The index of the golden statistics and report tests: 2021-04: 800 incidents (the year-ago
/// month of April 2022); 2022-01: 20; 2022-02: none; 2022-03: 1,035; 2022-04: 938. Incidents
/// have 1–3 detections, some of which fall in the next month; the whole corpus is indexed
/// twice (a replay).
pub fn build_golden_index(dir: &Path) {
    use canhgac_index::{Indexer, IndexerOptions};
    let mut ds = Vec::new();
    for (month, n, salt) in [
        (202104, 800, 1),
        (202201, 20, 2),
        (202203, 1035, 3),
        (202204, 938, 4),
    ] {
        ds.extend(canhgac_index::synth::month_corpus(month, n, salt));
    }
    let mut ix = Indexer::open(
        dir,
        IndexerOptions {
            threads: 1,
            heap_bytes: 50 << 20,
            ..Default::default()
        },
    )
    .unwrap();
    for d in &ds {
        ix.process(&serde_json::to_vec(d).unwrap(), None).unwrap();
    }
    ix.commit().unwrap();
    for d in ds.iter().rev() {
        ix.process(&serde_json::to_vec(d).unwrap(), None).unwrap();
    }
    ix.commit().unwrap();
    ix.close().unwrap();
}

/// Committed detection documents in the index at `dir`, or 0 while it does not exist yet.
pub fn committed_detections(dir: &Path) -> u64 {
    use canhgac_index::{IncidentIndex, Kind, Scope, SearchRequest};
    let Ok(index) = IncidentIndex::open(dir) else {
        return 0;
    };
    let mut req = SearchRequest::new(Scope::All, "");
    req.kind = Kind::Detections;
    req.limit = 1;
    index.search(&req).map(|r| r.total).unwrap_or(0)
}

/// Every file below `dir`, recursively, appended to `out`.
pub fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Publishes detections on `canhgac.detections`, keyed by their provisional incident as the
/// detect worker keys them, and waits for the broker's acks.
pub async fn publish_detections(
    publisher: &canhgac_kafka::KafkaPublisher,
    ds: &[canhgac_core::Detection],
) {
    use canhgac_core::transport::{Message, Publisher};
    let mut pending = Vec::new();
    for d in ds {
        let msg = Message {
            topic: "canhgac.detections".into(),
            key: Some(d.incident_id.to_hex().into_bytes()),
            payload: serde_json::to_vec(d).unwrap(),
            headers: Vec::new(),
        };
        pending.push(publisher.send(msg).await.unwrap());
    }
    for p in pending {
        p.await.unwrap();
    }
}

/// A child process killed (SIGKILL) and reaped when dropped, so that a failing assertion leaves
/// nothing running.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
