//! The indexer: detections in, upserted detection and incident documents out, committed with
//! the consumed offsets in tantivy's commit payload.
//!
//! [`Indexer::process`] takes one message (a JSON [`Detection`]) and where it came from;
//! [`Indexer::commit`] makes everything processed so far durable in one tantivy commit whose
//! payload holds the next offset of every topic/partition consumed. Callers ack their messages
//! only after that commit (see [`crate::run`]), and a restarted indexer resumes from the payload
//! offsets ([`Indexer::start_offsets`]), so the Kafka group's committed offsets are only a hint.
//!
//! Exactness: a detection id already in the index or in the pending batch is a duplicate and
//! changes nothing. An incident touched since the last commit lives in memory (loaded from the
//! committed index on first touch) and is written once, at commit, with delete-then-add on its
//! id. A crash loses only the pending batch; its messages were not acked and the payload
//! offsets point before them, so they are read again and produce the same documents.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use canhgac_core::detection::{Detection, DETECTION_SCHEMA_VERSION};
use canhgac_core::lifecycle::{IncidentEvent, Policy};
use canhgac_core::Id;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use tantivy::indexer::LogMergePolicy;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument};

use crate::batch::Batch;
use crate::error::{IndexError, Result};
use crate::idfilter::IdFilter;
use crate::incident::IncidentRecord;
use crate::metrics::IndexMetrics;
use crate::schema::{Fields, SCHEMA_VERSION};
use crate::store;

/// Next offset to read, per topic and partition.
pub type Offsets = BTreeMap<String, BTreeMap<i32, i64>>;

/// Start offsets for newly assigned partitions: (topic, partition, next offset) for each
/// (topic, partition) asked (the shape of `canhgac_kafka::StartOffsets`).
pub type StartOffsetsFn = Arc<dyn Fn(&[(String, i32)]) -> Vec<(String, i32, i64)> + Send + Sync>;

/// Where a message came from (Kafka topic, partition, offset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// When to commit: after `max_docs` pending detections (and status changes), or
/// `max_interval` after the first pending one, whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitPolicy {
    pub max_docs: usize,
    pub max_interval: Duration,
}

impl Default for CommitPolicy {
    fn default() -> Self {
        CommitPolicy {
            max_docs: 50_000,
            max_interval: Duration::from_secs(2),
        }
    }
}

/// Settings of an [`Indexer`].
#[derive(Debug, Clone)]
pub struct IndexerOptions {
    pub commit: CommitPolicy,
    /// tantivy indexing threads.
    pub threads: usize,
    /// tantivy's indexing memory budget, in bytes, shared by the threads.
    pub heap_bytes: usize,
    /// The lifecycle policy incidents' records are folded under (`rules/lifecycle.toml`).
    pub policy: Policy,
}

impl Default for IndexerOptions {
    fn default() -> Self {
        IndexerOptions {
            commit: CommitPolicy::default(),
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .clamp(1, 4),
            heap_bytes: 256 << 20,
            policy: Policy::default(),
        }
    }
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new detection: its document was added and its incident updated.
    Indexed { new_incident: bool },
    /// A detection id already indexed or pending: nothing changed.
    Duplicate,
    /// Before the committed offset of its partition: already in the index.
    Skipped,
    /// A new lifecycle record, kept; `applied`: its anchor detection is indexed and its
    /// incident updated (otherwise it waits for the anchor).
    Recorded { applied: bool },
    /// Not a valid detection; `reason` is the metric label, `message` the detail.
    Rejected {
        reason: &'static str,
        message: String,
    },
}

/// The commit payload: schema version and consumed offsets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Payload {
    schema: u32,
    #[serde(default)]
    offsets: Offsets,
}

/// What a commit wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitStats {
    pub detections: usize,
    pub incidents: usize,
    pub retention_dropped: usize,
}

/// Retention: keep the incidents of the last `months` calendar months (the current one
/// included), drop older ones with their detections. See [`crate::retention`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub months: u32,
    /// How often it runs (at a commit).
    pub every: Duration,
}

/// The single writer of an index. See the module docs.
pub struct Indexer {
    pub(crate) path: Option<PathBuf>,
    pub(crate) index: Index,
    pub(crate) fields: Fields,
    pub(crate) writer: IndexWriter,
    reader: IndexReader,
    pub(crate) searcher: Searcher,
    options: IndexerOptions,
    committed: Offsets,
    pending_offsets: Offsets,
    shared_offsets: Arc<Mutex<Offsets>>,
    pub(crate) pending_detections: HashSet<Id>,
    /// Detections and incidents since the last commit, grouped into attacks.
    pub(crate) batch: Batch,
    /// Every id in the index or pending (maybe): skips lookups for new ids.
    pub(crate) known: IdFilter,
    pub(crate) rebuild_filter: bool,
    pending_ops: usize,
    first_pending: Option<Instant>,
    metrics: IndexMetrics,
    pub(crate) retention: Option<Retention>,
    pub(crate) last_retention: Option<Instant>,
}

/// The merge policy: tantivy's log merge policy, tuned for append-mostly data with upserts.
///
/// - segments are merged in layers (`level_log_size` 0.75), at least 8 at a time, so indexing
///   mostly appends and merges stay cheap;
/// - segments under 10,000 docs are one layer (frequent small commits do not leave a tail of
///   tiny segments);
/// - segments over 5 million docs are left alone (no multi-gigabyte re-merges);
/// - a segment with more than 20% deleted documents is merged anyway: every detection rewrites
///   its incident's document (delete + add), so old segments collect deleted incident docs.
pub fn merge_policy() -> LogMergePolicy {
    let mut p = LogMergePolicy::default();
    p.set_min_num_segments(8);
    p.set_min_layer_size(10_000);
    p.set_max_docs_before_merge(5_000_000);
    p.set_level_log_size(0.75);
    p.set_del_docs_ratio_before_merge(0.2);
    p
}

impl Indexer {
    /// Opens (or creates) the index in `dir` for writing. Fails when another process holds the
    /// writer lock.
    pub fn open(dir: &Path, options: IndexerOptions) -> Result<Indexer> {
        let (index, fields) = store::open_index(dir, true)?;
        Self::with_index(Some(dir.to_path_buf()), index, fields, options)
    }

    /// An indexer over an in-memory index (tests, benchmarks).
    pub fn in_ram(options: IndexerOptions) -> Result<Indexer> {
        let (index, fields) = store::ram_index();
        Self::with_index(None, index, fields, options)
    }

    fn with_index(
        path: Option<PathBuf>,
        index: Index,
        fields: Fields,
        options: IndexerOptions,
    ) -> Result<Indexer> {
        let writer: IndexWriter<TantivyDocument> = index
            .writer_with_num_threads(options.threads.max(1), options.heap_bytes.max(15 << 20))
            .map_err(IndexError::tantivy("open index writer"))?;
        writer.set_merge_policy(Box::new(merge_policy()));
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(IndexError::tantivy("open index reader"))?;
        let searcher = reader.searcher();
        let known = IdFilter::build(&searcher, &fields)?;
        let meta = index
            .load_metas()
            .map_err(IndexError::tantivy("read index metadata"))?;
        let committed = match meta.payload.as_deref() {
            None | Some("") => Offsets::new(),
            Some(text) => {
                let p: Payload = serde_json::from_str(text)
                    .map_err(|e| IndexError::Payload(format!("{e}: {text:.200}")))?;
                if p.schema != SCHEMA_VERSION {
                    return Err(IndexError::SchemaVersion {
                        path: path.clone().unwrap_or_default(),
                        found: p.schema.to_string(),
                        expected: SCHEMA_VERSION,
                    });
                }
                p.offsets
            }
        };
        Ok(Indexer {
            path,
            index,
            fields,
            writer,
            reader,
            searcher,
            options,
            shared_offsets: Arc::new(Mutex::new(committed.clone())),
            committed,
            pending_offsets: Offsets::new(),
            pending_detections: HashSet::new(),
            batch: Batch::default(),
            known,
            rebuild_filter: false,
            pending_ops: 0,
            first_pending: None,
            metrics: IndexMetrics::unregistered(),
            retention: None,
            last_retention: None,
        })
    }

    /// Records metrics in `metrics` (registered by the caller).
    pub fn with_metrics(mut self, metrics: IndexMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Applies retention at commits, every `retention.every`.
    pub fn with_retention(mut self, retention: Retention) -> Self {
        self.retention = Some(retention);
        self
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub fn index(&self) -> &Index {
        &self.index
    }

    pub fn fields(&self) -> &Fields {
        &self.fields
    }

    /// A searcher over the last commit.
    pub fn searcher(&self) -> Searcher {
        self.searcher.clone()
    }

    /// The offsets of the last commit (next offset to read per topic/partition).
    pub fn committed_offsets(&self) -> Offsets {
        self.committed.clone()
    }

    /// A function for the Kafka consumer's partition assignment
    /// (`SubscriptionOptions::start_offsets`): the committed next offset of each assigned
    /// partition, and 0 (the beginning; librdkafka's `auto.offset.reset` applies when it is
    /// gone) for partitions this index has never consumed — an empty index is rebuilt from
    /// the whole topic, whatever the group committed. It follows later commits.
    pub fn start_offsets(&self) -> StartOffsetsFn {
        let shared = self.shared_offsets.clone();
        Arc::new(move |parts: &[(String, i32)]| {
            let offsets = shared.lock().unwrap_or_else(|e| e.into_inner());
            parts
                .iter()
                .map(|(t, p)| {
                    let next = offsets.get(t).and_then(|m| m.get(p)).copied().unwrap_or(0);
                    (t.clone(), *p, next)
                })
                .collect()
        })
    }

    /// Documents (detections and status changes) waiting for the next commit.
    pub fn pending(&self) -> usize {
        self.pending_ops
    }

    /// When the commit policy asks for the next commit (`None`: nothing pending).
    pub fn commit_due(&self) -> Option<Instant> {
        self.first_pending
            .map(|t| t + self.options.commit.max_interval)
    }

    /// Whether the commit policy asks for a commit now.
    pub fn should_commit(&self) -> bool {
        self.pending_ops >= self.options.commit.max_docs
            || self.commit_due().is_some_and(|t| Instant::now() >= t)
    }

    pub(crate) fn note_pending(&mut self) {
        self.pending_ops += 1;
        self.first_pending.get_or_insert_with(Instant::now);
        self.metrics.pending.set(self.pending_ops as i64);
    }

    fn note_position(&mut self, pos: &Position) {
        let next = self
            .pending_offsets
            .entry(pos.topic.clone())
            .or_default()
            .entry(pos.partition)
            .or_insert(0);
        *next = (*next).max(pos.offset + 1);
    }

    /// Processes one message of the detections or the incident-events topic (a record has a
    /// top-level `"action"` member: [`Indexer::apply`]). `pos` is where it came from (for the
    /// commit payload; `None` on transports without durable offsets). Invalid input is
    /// rejected with a reason, never an error; errors are tantivy failures.
    pub fn process(&mut self, payload: &[u8], pos: Option<&Position>) -> Result<Outcome> {
        if let Some(pos) = pos {
            let committed = self
                .committed
                .get(&pos.topic)
                .and_then(|m| m.get(&pos.partition))
                .copied()
                .unwrap_or(0);
            if pos.offset < committed {
                self.metrics
                    .detections
                    .with_label_values(&["skipped"])
                    .inc();
                return Ok(Outcome::Skipped);
            }
            self.note_position(pos);
        }
        // The message is acked with the next commit (and its offset moves with it) even when
        // it changes nothing else (a duplicate, a record applied before): that commit must
        // come, or its producer would wait for the ack forever.
        self.first_pending.get_or_insert_with(Instant::now);
        let outcome = match parse(payload) {
            Ok(d) => self.add_detection(&d, payload)?,
            Err(_) if is_record(payload) => match IncidentEvent::from_json(payload) {
                Ok(e) => self.apply(&e)?,
                Err(message) => Outcome::Rejected {
                    reason: "record",
                    message: format!("not an incident event: {message}"),
                },
            },
            Err((reason, message)) => Outcome::Rejected { reason, message },
        };
        match &outcome {
            Outcome::Rejected { reason, message } => {
                self.metrics.rejected.with_label_values(&[reason]).inc();
                tracing::warn!(
                    reason,
                    error = %message,
                    topic = pos.map(|p| p.topic.as_str()),
                    partition = pos.map(|p| p.partition),
                    offset = pos.map(|p| p.offset),
                    "message rejected"
                );
            }
            Outcome::Indexed { .. } => self
                .metrics
                .detections
                .with_label_values(&["indexed"])
                .inc(),
            Outcome::Duplicate => self
                .metrics
                .detections
                .with_label_values(&["duplicate"])
                .inc(),
            Outcome::Skipped | Outcome::Recorded { .. } => {}
        }
        Ok(outcome)
    }

    /// Adds a parsed detection to the attack it links to; `json` is stored as its source.
    pub fn add_detection(&mut self, d: &Detection, json: &[u8]) -> Result<Outcome> {
        if self.known.may_contain(&d.id)
            && (self.pending_detections.contains(&d.id)
                || store::find(&self.searcher, &self.fields.id_term(&d.id))?.is_some())
        {
            return Ok(Outcome::Duplicate);
        }
        if let Some(s) = d.suppressed {
            self.add_suppressed(d, json, &s);
            self.pending_detections.insert(d.id);
            if !self.known.insert(&d.id) {
                self.rebuild_filter = true;
            }
            self.note_pending();
            return Ok(Outcome::Indexed {
                new_incident: false,
            });
        }
        let p = self.placement(d)?;
        let (incident, new_incident) =
            self.batch
                .assign(&self.searcher, &self.fields, Some(&self.known), d, json, &p)?;
        self.pending_detections.insert(d.id);
        let mut room = self.known.insert(&d.id) & self.known.insert(&incident);
        for k in p.keys.iter().chain(&p.joins) {
            room &= self.known.insert(k);
        }
        if !room {
            self.rebuild_filter = true;
        }
        self.note_pending();
        Ok(Outcome::Indexed { new_incident })
    }

    /// The current state of an incident, pending changes included; an old id (of an incident
    /// renamed or merged into another) gives the incident it is now part of.
    pub fn incident(&self, id: &Id) -> Result<Option<IncidentRecord>> {
        let current = self.batch.resolve(*id);
        let rec = match self.batch.touched.get(&current) {
            Some(r) => Some(r.clone()),
            None => store::incident_by_id(&self.searcher, &self.fields, &current)?.map(|r| {
                self.batch
                    .touched
                    .get(&self.batch.resolve(r.incident.id))
                    .cloned()
                    .unwrap_or(r)
            }),
        };
        Ok(rec.map(|mut r| {
            r.refold(&self.options.policy);
            r
        }))
    }

    /// Writes the touched incidents, applies retention when due, and commits with the consumed
    /// offsets in the payload. Blocking (fsync): run it off async worker threads.
    pub fn commit(&mut self) -> Result<CommitStats> {
        let started = Instant::now();
        let mut stats = CommitStats {
            detections: self.pending_detections.len(),
            incidents: self.batch.touched.len(),
            retention_dropped: 0,
        };
        if let Some(r) = self.retention {
            if self.last_retention.is_none_or(|t| t.elapsed() >= r.every) {
                stats.retention_dropped = self.delete_older_than(r.months, Utc::now())?;
                self.last_retention = Some(Instant::now());
                self.metrics
                    .retention_dropped
                    .inc_by(stats.retention_dropped as u64);
            }
        }
        let flushed = self.batch.flush(
            &self.writer,
            &self.searcher,
            &self.fields,
            &self.options.policy,
        )?;
        if flushed.renamed > 0 {
            tracing::debug!(
                renamed = flushed.renamed,
                detections = flushed.rewritten_detections,
                "incidents renamed or merged"
            );
        }
        let mut offsets = self.committed.clone();
        for (topic, parts) in std::mem::take(&mut self.pending_offsets) {
            let t = offsets.entry(topic).or_default();
            for (p, next) in parts {
                let e = t.entry(p).or_insert(0);
                *e = (*e).max(next);
            }
        }
        let payload = serde_json::to_string(&Payload {
            schema: SCHEMA_VERSION,
            offsets: offsets.clone(),
        })
        .map_err(|e| IndexError::Payload(e.to_string()))?;
        let mut prepared = self
            .writer
            .prepare_commit()
            .map_err(IndexError::tantivy("prepare commit"))?;
        prepared.set_payload(&payload);
        prepared.commit().map_err(IndexError::tantivy("commit"))?;
        self.reader
            .reload()
            .map_err(IndexError::tantivy("reload reader"))?;
        self.searcher = self.reader.searcher();
        if self.rebuild_filter {
            self.known = IdFilter::build(&self.searcher, &self.fields)?;
            self.rebuild_filter = false;
        }
        *self
            .shared_offsets
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = offsets.clone();
        self.committed = offsets;
        self.pending_detections.clear();
        self.pending_ops = 0;
        self.first_pending = None;
        self.metrics.pending.set(0);
        self.metrics.commits.inc();
        self.metrics
            .commit_seconds
            .observe(started.elapsed().as_secs_f64());
        tracing::debug!(
            detections = stats.detections,
            incidents = stats.incidents,
            ms = started.elapsed().as_millis() as u64,
            "index committed"
        );
        Ok(stats)
    }

    /// Waits for background merges to finish and releases the writer lock.
    pub fn close(self) -> Result<()> {
        self.writer
            .wait_merging_threads()
            .map_err(IndexError::tantivy("wait for merges"))
    }
}

/// Parses a detection, or says why it is not one (metric label, detail).
pub fn parse(payload: &[u8]) -> std::result::Result<Detection, (&'static str, String)> {
    #[derive(Deserialize)]
    struct Version {
        v: Option<serde_json::Value>,
    }
    match serde_json::from_slice::<Detection>(payload) {
        Ok(d) if d.schema != DETECTION_SCHEMA_VERSION => Err((
            "schema_version",
            format!(
                "unsupported detection schema version {} (this build reads {DETECTION_SCHEMA_VERSION})",
                d.schema
            ),
        )),
        Ok(d) if d.agency.is_empty() => Err(("invalid", "detection without agency".into())),
        Ok(d) => Ok(d),
        Err(e) => match serde_json::from_slice::<Version>(payload) {
            Ok(Version { v: Some(v) }) if v.as_u64() != Some(u64::from(DETECTION_SCHEMA_VERSION)) => Err((
                "schema_version",
                format!("unsupported detection schema version {v} (this build reads {DETECTION_SCHEMA_VERSION})"),
            )),
            _ => Err(("json", format!("not a detection: {e}"))),
        },
    }
}

/// Whether a payload that is not a detection is a lifecycle record (a top-level `"action"`).
fn is_record(payload: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Probe {
        action: Option<serde::de::IgnoredAny>,
    }
    serde_json::from_slice::<Probe>(payload).is_ok_and(|p| p.action.is_some())
}
