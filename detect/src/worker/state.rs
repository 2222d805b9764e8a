//! Correlation state that survives restarts and rebalances.
//!
//! Each events partition's [`CorrelationEngine`](canhgac_sigma::CorrelationEngine) is saved as a
//! [`PartitionState`]: the engine's snapshot and `next_offset`, the first record of the
//! partition it has not counted. The stage holds back the acknowledgement of every event it fed
//! to a correlation until a saved state covering it is durable ([`Gate`]), and saves a state
//! only once every event it covers had its detections delivered. So:
//!
//! - the consumer's committed offset never passes the saved state's `next_offset`;
//! - every saved state is a valid place to continue from: the engine after exactly the records
//!   below its offset, whose detections are all delivered.
//!
//! On Kafka the states are records of the compacted topic `<prefix>.state.detect`, keyed
//! `<topic>/<partition>`, published through the stage's publisher and acknowledged by the broker
//! before the acks they release. On assignment the binary reads the latest record of each
//! assigned partition and starts the partition at its `next_offset` (the group's committed
//! offset when there is none: then nothing before it ever entered a window). In `canhgac run`
//! (no durable offsets) they are one file, replaced atomically, restored on start; sources
//! re-read their unacknowledged tail and the engine drops contributions whose event id its
//! window already holds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};
use serde::{Deserialize, Serialize};

use canhgac_core::telemetry::register;
use canhgac_core::transport::{Ack, Message, Publisher};
use canhgac_core::CoreError;
use canhgac_sigma::CorrelationSnapshot;

use super::WorkerError;

/// An events partition: (topic, partition).
pub type PartKey = (String, i32);

/// Version of [`PartitionState`] this build writes and reads.
pub const STATE_VERSION: u32 = 1;

/// The saved correlation state of one events partition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionState {
    pub version: u32,
    pub topic: String,
    pub partition: i32,
    /// The first record of the partition the snapshot has not counted (`None` where offsets
    /// are not durable: `canhgac run`).
    pub next_offset: Option<i64>,
    pub snapshot: CorrelationSnapshot,
}

impl PartitionState {
    /// The record key on the state topic.
    pub fn key(&self) -> String {
        state_key(&self.topic, self.partition)
    }

    /// Reads a state record; `what` names it in the error.
    pub fn from_json(what: &str, bytes: &[u8]) -> Result<Self, WorkerError> {
        let s: PartitionState = serde_json::from_slice(bytes).map_err(|e| WorkerError::State {
            what: what.to_string(),
            reason: format!("not a correlation state record: {e}"),
        })?;
        if s.version != STATE_VERSION {
            return Err(WorkerError::State {
                what: what.to_string(),
                reason: format!(
                    "state version {} (this worker reads {STATE_VERSION})",
                    s.version
                ),
            });
        }
        Ok(s)
    }
}

/// The state topic's key of an events partition.
pub fn state_key(topic: &str, partition: i32) -> String {
    format!("{topic}/{partition}")
}

/// A change of the partitions this worker owns, applied before the next batch is correlated.
#[derive(Debug)]
pub enum Change {
    /// Assigned, with its saved state if there is one.
    Assigned(PartKey, Option<Box<PartitionState>>),
    /// Assigned, and its saved state could not be read: it starts with empty windows.
    Unreadable(PartKey),
    Revoked(PartKey),
}

/// Assignments and revocations, handed from the transport (the consumer's rebalance callbacks,
/// or the saved file at start) to the correlation step.
#[derive(Debug, Default)]
pub struct Assignments {
    changes: Mutex<Vec<Change>>,
    pending: AtomicBool,
}

impl Assignments {
    pub fn assigned(&self, part: PartKey, state: Option<PartitionState>) {
        self.push(Change::Assigned(part, state.map(Box::new)));
    }

    pub fn unreadable(&self, part: PartKey) {
        self.push(Change::Unreadable(part));
    }

    pub fn revoked(&self, parts: &[PartKey]) {
        for p in parts {
            self.push(Change::Revoked(p.clone()));
        }
    }

    fn push(&self, c: Change) {
        self.changes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(c);
        self.pending.store(true, Ordering::SeqCst);
    }

    /// The changes since the last call, in order.
    pub(super) fn take(&self) -> Vec<Change> {
        if !self.pending.swap(false, Ordering::SeqCst) {
            return Vec::new();
        }
        std::mem::take(&mut *self.changes.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Where the states go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateBackend {
    /// Records on a compacted topic (`Topics::state("detect")`) through the stage's publisher;
    /// offsets are tracked per partition.
    Topic(String),
    /// One JSON file replaced atomically (`canhgac run`: `<data_dir>/correlation-state.json`).
    File(PathBuf),
}

/// Metrics of saved and restored states (prefix `canhgac_`).
#[derive(Clone)]
pub struct StateMetrics {
    /// Partition states written (records on the topic, or entries of the file).
    pub written: IntCounter,
    /// Bytes written.
    pub bytes: IntCounter,
    /// Partitions assigned, by outcome: `restored`, `none` (no saved state), `failed`.
    pub restored: IntCounterVec,
    /// Redelivered records not fed again (below the restored state's offset).
    pub replay_skipped: IntCounter,
}

impl StateMetrics {
    pub fn new(registry: &Registry) -> Result<Self, CoreError> {
        Ok(Self {
            written: register(
                registry,
                IntCounter::new(
                    "detect_state_snapshots_written_total",
                    "correlation states of events partitions written",
                )
                .unwrap(),
            )?,
            bytes: register(
                registry,
                IntCounter::new(
                    "detect_state_snapshot_bytes_total",
                    "bytes of correlation state written",
                )
                .unwrap(),
            )?,
            restored: register(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "detect_state_restored_total",
                        "events partitions assigned, by what their saved correlation state gave (restored, none, failed)",
                    ),
                    &["outcome"],
                )
                .unwrap(),
            )?,
            replay_skipped: register(
                registry,
                IntCounter::new(
                    "detect_state_replay_skipped_total",
                    "redelivered events not fed to a correlation again: the restored state had counted them",
                )
                .unwrap(),
            )?,
        })
    }
}

/// What the stage needs to keep correlation state.
#[derive(Clone)]
pub struct StateOptions {
    pub backend: StateBackend,
    /// How often a state is taken (acks of correlated events wait up to this long).
    pub interval: Duration,
    pub assignments: std::sync::Arc<Assignments>,
    pub metrics: StateMetrics,
}

impl StateOptions {
    /// Options for `backend`, 1 s between states.
    pub fn new(backend: StateBackend, registry: &Registry) -> Result<Self, CoreError> {
        Ok(Self {
            backend,
            interval: Duration::from_secs(1),
            assignments: Default::default(),
            metrics: StateMetrics::new(registry)?,
        })
    }
}

/// The file of `canhgac run`.
#[derive(Serialize, Deserialize)]
struct StateFile {
    version: u32,
    parts: Vec<PartitionState>,
}

/// Reads the saved states of a file backend; a missing file is no state.
pub fn load_file(path: &Path) -> Result<Vec<PartitionState>, WorkerError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(WorkerError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let what = path.display().to_string();
    let file: StateFile = serde_json::from_slice(&bytes).map_err(|e| WorkerError::State {
        what: what.clone(),
        reason: format!("not a correlation state file: {e}"),
    })?;
    if file.version != STATE_VERSION {
        return Err(WorkerError::State {
            what,
            reason: format!(
                "state version {} (this worker reads {STATE_VERSION})",
                file.version
            ),
        });
    }
    Ok(file.parts)
}

/// Writes `bytes` to `path` atomically: a temporary file, fsync, rename, fsync of the folder.
fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("json.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// The states in the form the backend writes: (key, payload) per record, or one file.
pub(super) fn encode(backend: &StateBackend, parts: Vec<PartitionState>) -> Vec<(String, Vec<u8>)> {
    match backend {
        StateBackend::Topic(_) => parts
            .into_iter()
            .map(|p| {
                let bytes = serde_json::to_vec(&p).expect("states serialise");
                (p.key(), bytes)
            })
            .collect(),
        StateBackend::File(_) => {
            let file = StateFile {
                version: STATE_VERSION,
                parts,
            };
            vec![(
                String::new(),
                serde_json::to_vec(&file).expect("states serialise"),
            )]
        }
    }
}

/// Writes encoded states; resolves once they are durable (broker ack, or fsync).
pub(super) fn write<P: Publisher>(
    backend: &StateBackend,
    publisher: &P,
    records: Vec<(String, Vec<u8>)>,
) -> BoxFuture<'static, Result<(), CoreError>> {
    match backend.clone() {
        StateBackend::Topic(topic) => {
            let publisher = publisher.clone();
            Box::pin(async move {
                let mut deliveries = Vec::with_capacity(records.len());
                for (key, payload) in records {
                    let message = Message {
                        topic: topic.clone(),
                        key: Some(key.into_bytes()),
                        payload,
                        headers: Vec::new(),
                    };
                    deliveries.push(publisher.send(message).await?);
                }
                for d in deliveries {
                    d.await?;
                }
                Ok(())
            })
        }
        StateBackend::File(path) => Box::pin(async move {
            let Some((_, bytes)) = records.into_iter().next() else {
                return Ok(());
            };
            let p = path.clone();
            tokio::task::spawn_blocking(move || replace_file(&p, &bytes))
                .await
                .map_err(|e| CoreError::Transport(format!("correlation state writer: {e}")))?
                .map_err(|e| {
                    CoreError::Transport(format!(
                        "cannot write correlation state {}: {e}",
                        path.display()
                    ))
                })
        }),
    }
}

/// A state write in flight: resolves to what it covered, the partitions and bytes written.
type Writing = BoxFuture<'static, Result<(u64, u64, u64), CoreError>>;

/// A state taken and not yet durable: it covers the events numbered below `covered`.
struct Round {
    covered: u64,
    parts: u64,
    records: Vec<(String, Vec<u8>)>,
}

/// Holds the acks of correlated events until a durable state covers them (module docs).
/// Events are numbered in delivery order by the stage.
pub(super) struct Gate {
    /// Delivered, acks waiting for a state.
    held: BTreeMap<u64, Ack>,
    /// Numbered, not yet delivered.
    unsettled: BTreeSet<u64>,
    /// Taken, waiting for the deliveries of what it covers.
    ready: Option<Round>,
    /// Being written: resolves to what it covered, the records and bytes.
    writing: Option<Writing>,
    last: Instant,
    interval: Duration,
}

impl Gate {
    pub fn new(interval: Duration) -> Self {
        Self {
            held: BTreeMap::new(),
            unsettled: BTreeSet::new(),
            ready: None,
            writing: None,
            last: Instant::now(),
            interval,
        }
    }

    /// Events `first..first + n` are on their way.
    pub fn numbered(&mut self, first: u64, n: u64) {
        self.unsettled.extend(first..first + n);
    }

    /// Event `seq` is done: `ack` is `None` when its delivery failed (it is read again); with
    /// `hold` its ack waits for a state.
    pub fn settled(&mut self, seq: u64, ack: Option<Ack>, hold: bool) {
        self.unsettled.remove(&seq);
        match ack {
            Some(a) if hold => {
                self.held.insert(seq, a);
            }
            Some(a) => a.ack(),
            None => {}
        }
    }

    /// Whether to take a state now: acks are waiting, none is being written, and the interval
    /// passed (or `now` says so).
    pub fn due(&self, now: bool) -> bool {
        self.ready.is_none()
            && self.writing.is_none()
            && !self.held.is_empty()
            && (now || self.last.elapsed() >= self.interval)
    }

    /// A state of `parts` partitions was taken covering the events below `covered`.
    pub fn taken(&mut self, covered: u64, parts: u64, records: Vec<(String, Vec<u8>)>) {
        self.last = Instant::now();
        if records.is_empty() {
            // Nothing changed since the last durable state.
            self.release(covered);
            return;
        }
        self.ready = Some(Round {
            covered,
            parts,
            records,
        });
    }

    /// Starts writing the taken state once what it covers is delivered.
    pub fn start<P: Publisher>(&mut self, backend: &StateBackend, publisher: &P) {
        let Some(round) = &self.ready else { return };
        if self.unsettled.first().is_some_and(|s| *s < round.covered) {
            return;
        }
        let Round {
            covered,
            parts,
            records,
        } = self.ready.take().expect("checked");
        let bytes: u64 = records.iter().map(|(_, b)| b.len() as u64).sum();
        let w = write(backend, publisher, records);
        self.writing = Some(Box::pin(async move {
            w.await.map(|()| (covered, parts, bytes))
        }));
    }

    /// Whether a write is in flight.
    pub fn writing(&self) -> bool {
        self.writing.is_some()
    }

    /// Waits for the write in flight (pending forever when there is none).
    pub async fn written(&mut self) -> Result<(u64, u64, u64), CoreError> {
        match self.writing.as_mut() {
            Some(w) => {
                let r = w.await;
                self.writing = None;
                r
            }
            None => std::future::pending().await,
        }
    }

    /// A write completed: the acks it covers go.
    pub fn done(&mut self, covered: u64) {
        self.release(covered);
    }

    fn release(&mut self, covered: u64) {
        let rest = self.held.split_off(&covered);
        for (_, a) in std::mem::replace(&mut self.held, rest) {
            a.ack();
        }
    }

    /// Anything still to do (acks held, a state taken or being written).
    pub fn busy(&self) -> bool {
        !self.held.is_empty() || self.ready.is_some() || self.writing.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    fn counted(n: &Arc<AtomicUsize>) -> Ack {
        let n = n.clone();
        Ack::new(move |ok| {
            if ok {
                n.fetch_add(1, Ordering::SeqCst);
            }
        })
    }

    #[test]
    fn acks_wait_for_a_state_that_covers_them_and_their_deliveries() {
        let acked = Arc::new(AtomicUsize::new(0));
        let mut g = Gate::new(Duration::from_secs(3600));
        g.numbered(0, 3);
        g.settled(0, Some(counted(&acked)), true);
        g.settled(2, Some(counted(&acked)), false);
        assert_eq!(
            acked.load(Ordering::SeqCst),
            1,
            "an unheld ack goes at once"
        );
        assert!(!g.due(false), "the interval has not passed");
        assert!(g.due(true));
        g.taken(3, 1, vec![("k".into(), b"{}".to_vec())]);
        let p = canhgac_core::transport::Bus::new(4).publisher();
        let backend = StateBackend::File(PathBuf::from("/nonexistent/x.json"));
        g.start(&backend, &p);
        assert!(!g.writing(), "event 1 is not delivered yet");
        g.settled(1, Some(counted(&acked)), true);
        g.start(&backend, &p);
        assert!(g.writing());
        g.done(3);
        assert_eq!(acked.load(Ordering::SeqCst), 3);
        assert!(g.held.is_empty());
    }

    #[test]
    fn a_state_with_nothing_new_releases_at_once_and_later_events_stay_held() {
        let acked = Arc::new(AtomicUsize::new(0));
        let mut g = Gate::new(Duration::ZERO);
        g.numbered(0, 2);
        g.settled(0, Some(counted(&acked)), true);
        g.settled(1, Some(counted(&acked)), true);
        g.taken(1, 0, Vec::new());
        assert_eq!(acked.load(Ordering::SeqCst), 1, "only the covered event");
        assert!(g.busy());
    }

    #[test]
    fn state_records_round_trip_and_name_what_is_wrong() {
        let s = PartitionState {
            version: STATE_VERSION,
            topic: "p.events.moh".into(),
            partition: 2,
            next_offset: Some(41),
            snapshot: CorrelationSnapshot {
                version: canhgac_sigma::correlation::SNAPSHOT_VERSION,
                watermark_ms: Some(1),
                clock_ms: None,
                last_sweep_ms: None,
                stats: Default::default(),
                keys: Vec::new(),
            },
        };
        assert_eq!(s.key(), "p.events.moh/2");
        let bytes = serde_json::to_vec(&s).unwrap();
        assert_eq!(PartitionState::from_json("x", &bytes).unwrap(), s);
        let err = PartitionState::from_json("p.state.detect@7", b"{").unwrap_err();
        assert!(err.to_string().contains("p.state.detect@7"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("correlation-state.json");
        assert!(load_file(&path).unwrap().is_empty(), "no file, no state");
        let encoded = encode(&StateBackend::File(path.clone()), vec![s.clone()]);
        replace_file(&path, &encoded[0].1).unwrap();
        assert_eq!(load_file(&path).unwrap(), vec![s]);
    }
}
