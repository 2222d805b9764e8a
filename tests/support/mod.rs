//! Shared helpers of the binary's integration tests: a real Kafka-protocol broker (Tansu 0.6.0,
//! started on 127.0.0.1 on a random port with sqlite storage and stopped when dropped), a topic
//! reader, the canhgac binary, and the shared test data.

#![allow(dead_code)]

pub mod webhook;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// The shared third-party test data (`../shared/data` beside the repository).
pub fn data_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    assert!(
        dir.join("README.md").exists(),
        "test data missing: expected {} (the shared data folder beside the repository)",
        dir.display()
    );
    dir
}

/// The canhgac binary built for these tests.
pub fn canhgac() -> Command {
    Command::new(env!("CARGO_BIN_EXE_canhgac"))
}

fn tansu_binary() -> PathBuf {
    if let Ok(p) = std::env::var("CANHGAC_TANSU") {
        return PathBuf::from(p);
    }
    let cargo_home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo")
        });
    let candidate = cargo_home.join("bin/tansu");
    if candidate.exists() {
        return candidate;
    }
    panic!(
        "the Tansu broker is not installed ({} not found); run the README's test command \
         (scripts/test.sh), which installs it with `cargo install tansu@0.6.0 --locked --features dynostore,libsql`",
        candidate.display()
    );
}

/// A Tansu broker on 127.0.0.1, killed on drop.
pub struct Broker {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub port: u16,
    storage: String,
}

impl Broker {
    /// Starts a broker with durable sqlite storage in a fresh directory.
    pub fn start() -> Broker {
        Self::start_with("sqlite://b.db")
    }

    /// Starts a broker with in-memory storage (fast, loses everything on restart).
    pub fn start_memory() -> Broker {
        Self::start_with("memory://tansu/")
    }

    fn start_with(storage: &str) -> Broker {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let mut b = Broker {
            child: None,
            dir,
            port,
            storage: storage.to_string(),
        };
        b.spawn();
        b
    }

    fn spawn(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let log = std::fs::File::create(self.dir.path().join("broker.log")).expect("broker log");
        let child = Command::new(tansu_binary())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                &self.storage,
            ])
            .current_dir(self.dir.path())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start tansu");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not start; log: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("broker.log")).unwrap_or_default()
    }

    /// SIGKILLs the broker and starts it again on the same port and storage.
    pub fn kill_and_restart(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.spawn();
    }

    /// Creates topics explicitly (Tansu does not auto-create).
    pub fn create_topic(&self, topic: &str, partitions: i32) {
        let status = Command::new(tansu_binary())
            .args([
                "topic",
                "create",
                topic,
                "--partitions",
                &partitions.to_string(),
                "--broker",
                &format!("tcp://127.0.0.1:{}", self.port),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("tansu topic create");
        assert!(status.success(), "cannot create topic {topic}");
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// One record read back from a topic.
#[derive(Debug, Clone)]
pub struct TopicRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: BTreeMap<String, String>,
}

impl TopicRecord {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).expect("payload is JSON")
    }
}

/// Reads every record of `topic` from the beginning up to the high watermarks at the time of
/// the call.
pub fn read_topic(brokers: &str, topic: &str) -> Vec<TopicRecord> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "canhgac-test-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let meta = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let partitions: Vec<i32> = meta.topics()[0]
        .partitions()
        .iter()
        .map(|p| p.id())
        .collect();
    let mut tpl = TopicPartitionList::new();
    let mut remaining = 0i64;
    let mut highs = BTreeMap::new();
    for &p in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .expect("watermarks");
        highs.insert(p, high);
        remaining += high - low;
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("tpl");
    }
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut done: BTreeMap<i32, bool> = highs.iter().map(|(p, h)| (*p, *h == 0)).collect();
    while done.values().any(|d| !d) {
        assert!(
            Instant::now() < deadline,
            "timed out reading {topic}: {} of {remaining}",
            out.len()
        );
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                let headers = m
                    .headers()
                    .map(|hs| {
                        hs.iter()
                            .map(|h| {
                                (
                                    h.key.to_string(),
                                    String::from_utf8_lossy(h.value.unwrap_or_default())
                                        .into_owned(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                if m.offset() + 1 >= highs[&m.partition()] {
                    done.insert(m.partition(), true);
                }
                if m.offset() < highs[&m.partition()] {
                    out.push(TopicRecord {
                        partition: m.partition(),
                        offset: m.offset(),
                        key: m.key().map(<[u8]>::to_vec),
                        payload: m.payload().unwrap_or_default().to_vec(),
                        headers,
                    });
                }
            }
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => {}
        }
    }
    out
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
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("CANHGAC_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (CANHGAC_UPDATE_GOLDEN=1 writes it)",
            path.display()
        )
    });
    assert_eq!(actual, expected, "{name} differs from the golden file");
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
