//! `canhgac run`: every stage in one process, joined by the in-process [`Bus`] instead of
//! Kafka. Wiring only; each stage is the same code as its standalone role.
//!
//! ```text
//!  sensors ──► <p>.events.<agency> ──► detect ──► <p>.detections ──► index (tantivy) ◄── serve
//!     └──────► <p>.dlq.<agency> ◄─────────┘                                (reads, status changes)
//!                  └─► <data>/dlq.jsonl
//! ```
//!
//! Acknowledgement runs end to end: a bus delivery resolves when the consumer acks, the index
//! acks after the commit that holds a detection, detect acks an event after its detections were
//! delivered (and, for an event that fed a correlation, after `<data>/correlation-state.json`
//! covers it), and a sensor's checkpoint moves only over delivered events. So a source's
//! checkpoint never passes an event whose detections are not committed in the index; after a
//! crash the sources re-read from their checkpoints and the index upserts by id.
//!
//! Shutdown drains in stage order: sensors stop reading and wait for their in-flight events;
//! then detect finishes its batch and waits for its detections; then the index commits.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::lifecycle::{LocalLifecycle, LOCAL_LOG};
use anyhow::Context;
use canhgac_core::topics::Topics;
use canhgac_core::transport::{Bus, BusSubscription, Subscription, TopicFilter};
use canhgac_detect::worker::{
    DetectMetrics, DetectStage, RulesHandle, Ruleset, StageOptions, StateBackend, StateOptions,
};

use canhgac_detect::worker::suppress::{follow_suppressions, SuppressionsHandle};
use canhgac_index::{IncidentIndex, IndexMetrics, Indexer, IndexerOptions};
use canhgac_ingest::sensor::{Identity, Sensor, SensorMetrics, SensorOptions, Summary};
use canhgac_ingest::source::file::FileOptions;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The detect stage's correlation windows, under the data directory (replaced atomically; the
/// acks of correlated events wait until it covers them).
pub const CORRELATION_STATE_FILE: &str = "correlation-state.json";

/// One in-process sensor.
pub struct SourceSpec {
    pub ident: Identity,
    pub file: FileOptions,
    pub paths: Vec<PathBuf>,
}

/// What the pipeline is built from.
pub struct PipelineSpec {
    pub topics: Topics,
    pub data_dir: PathBuf,
    pub rules: Ruleset,
    pub commit_interval: Duration,
    pub capacity: usize,
    pub sources: Vec<SourceSpec>,
    pub checkpoint_interval: Duration,
    pub max_in_flight: usize,
    /// The incident lifecycle policy the index folds records under.
    pub policy: canhgac_core::lifecycle::Policy,
}

/// What a finished pipeline did.
#[derive(Debug, Default, Clone, Copy)]
pub struct PipelineSummary {
    pub events: u64,
    pub rejected: u64,
    pub detections: u64,
    pub indexed: u64,
    pub duplicates: u64,
    pub dlq_records: u64,
    pub failed_sources: u64,
}

/// A running pipeline.
pub struct Pipeline {
    /// Read side of the index (refreshes on its commits), for the API and UI.
    pub index: IncidentIndex,
    /// Where the API publishes changes to incidents: the local log
    /// `<data_dir>/incident-events.jsonl`, then the index and the detect stage's suppressions.
    pub outbox: Arc<dyn canhgac_serve::Outbox>,
    pub registry: prometheus::Registry,
    sensors: tokio::task::JoinSet<anyhow::Result<Summary>>,
    finished: Vec<anyhow::Result<Summary>>,
    sensors_cancel: CancellationToken,
    detect: JoinHandle<anyhow::Result<canhgac_detect::worker::StageStats>>,
    detect_cancel: CancellationToken,
    index_task: JoinHandle<anyhow::Result<canhgac_index::RunSummary>>,
    index_cancel: CancellationToken,
    dlq: JoinHandle<anyhow::Result<u64>>,
    bus: Bus,
}

impl Pipeline {
    /// Opens the index and starts every stage; their metrics go to `registry`.
    pub async fn start(
        spec: PipelineSpec,
        registry: prometheus::Registry,
    ) -> anyhow::Result<Pipeline> {
        std::fs::create_dir_all(&spec.data_dir)
            .with_context(|| format!("cannot create {}", spec.data_dir.display()))?;
        let topics = spec.topics.clone();
        let bus = Bus::new(spec.capacity);
        let events_prefix = topics.events("");
        let dlq_prefix = topics.dlq("");
        let detect_sub = bus.subscribe(TopicFilter::Matching(Arc::new(move |t: &str| {
            t.starts_with(&events_prefix)
        })));
        // The index reads detections and the lifecycle records serve publishes.
        let index_sub = bus.subscribe(TopicFilter::Exact(vec![
            topics.detections(),
            topics.incident_events(),
        ]));
        let dlq_sub = bus.subscribe(TopicFilter::Matching(Arc::new(move |t: &str| {
            t.starts_with(&dlq_prefix)
        })));

        // Index.
        let dir = spec.data_dir.join("index");
        let options = IndexerOptions {
            commit: canhgac_index::CommitPolicy {
                max_interval: spec.commit_interval,
                ..Default::default()
            },
            heap_bytes: 128 << 20,
            policy: spec.policy.clone(),
            ..Default::default()
        };
        let index_metrics = IndexMetrics::new(&registry)?;
        let indexer = tokio::task::spawn_blocking(move || Indexer::open(&dir, options))
            .await?
            .with_context(|| {
                format!(
                    "cannot open the index at {}",
                    spec.data_dir.join("index").display()
                )
            })?
            .with_metrics(index_metrics);
        let index = IncidentIndex::of(&indexer)?;
        let index_cancel = CancellationToken::new();
        let index_task = tokio::spawn(index_stage(indexer, index_sub, index_cancel.clone()));

        // DLQ file.
        let dlq = tokio::spawn(dlq_stage(dlq_sub, spec.data_dir.join("dlq.jsonl")));

        // Detect.
        let detect_metrics = DetectMetrics::new(&registry)?;
        detect_metrics
            .rules_loaded
            .set(spec.rules.engine.len() as i64);
        let stage = DetectStage::new(
            bus.publisher(),
            topics.clone(),
            RulesHandle::new(spec.rules),
            detect_metrics,
            StageOptions::default(),
        )
        .with_state(StateOptions::new(
            StateBackend::File(spec.data_dir.join(CORRELATION_STATE_FILE)),
            &registry,
        )?)
        .context("cannot restore the correlation state")?;
        // Suppressions: the lifecycle records reach the stage through a bus of their own (a bus
        // topic has one consumer, and the index consumes `<p>.incident-events` on the main one).
        let suppressions = SuppressionsHandle::new();
        let lifecycle_bus = Bus::new(64);
        let suppress_sub =
            lifecycle_bus.subscribe(TopicFilter::Exact(vec![topics.incident_events()]));
        let detect_cancel = CancellationToken::new();
        tokio::spawn(follow_suppressions(
            suppress_sub,
            suppressions.clone(),
            detect_cancel.clone(),
        ));
        let stage = stage.with_suppressions(suppressions);
        let dc = detect_cancel.clone();
        let mut detect_sub = detect_sub;
        let detect = tokio::spawn(async move {
            stage.prepare().await?;
            Ok(stage.run(&mut detect_sub, dc).await?)
        });

        // The local log of lifecycle records, replayed to the index and the suppressions before
        // any source starts (a rebuilt index gets its records back; suppressions apply from
        // the first event).
        let (lifecycle, records) = LocalLifecycle::open(
            &spec.data_dir.join(LOCAL_LOG),
            &topics,
            vec![bus.publisher(), lifecycle_bus.publisher()],
        )?;
        lifecycle.replay(records).await?;
        let outbox: Arc<dyn canhgac_serve::Outbox> = Arc::new(lifecycle);

        // Sensors.
        let sensor_metrics = SensorMetrics::new(&registry)?;
        let sensors_cancel = CancellationToken::new();
        let checkpoints = spec.data_dir.join("checkpoints");
        let mut sensors = tokio::task::JoinSet::new();
        for s in spec.sources {
            let opts = SensorOptions {
                ident: s.ident,
                file: s.file,
                checkpoint_dir: Some(checkpoints.clone()),
                checkpoint_interval: spec.checkpoint_interval,
                max_in_flight: spec.max_in_flight,
                parallel_files: 2,
            };
            let sensor = Sensor::new(opts, bus.publisher(), sensor_metrics.clone());
            let cancel = sensors_cancel.child_token();
            let paths = s.paths;
            sensors.spawn(async move { Ok(sensor.run(paths, Vec::new(), cancel).await?) });
        }

        Ok(Pipeline {
            index,
            outbox,
            registry,
            sensors,
            finished: Vec::new(),
            sensors_cancel,
            detect,
            detect_cancel,
            index_task,
            index_cancel,
            dlq,
            bus,
        })
    }

    /// A publisher onto the pipeline's bus (the simulator publishes events through it).
    pub fn publisher(&self) -> canhgac_core::transport::BusPublisher {
        self.bus.publisher()
    }

    /// Waits until every source has been read and everything it produced is committed (only
    /// returns for sources that are not followed), or until `cancel`.
    pub async fn sources_done(&mut self, cancel: &CancellationToken) {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                r = self.sensors.join_next() => match r {
                    Some(r) => self.finished.push(r.map_err(anyhow::Error::from).and_then(|r| r)),
                    None => return,
                },
            }
        }
    }

    /// Drains and stops every stage, in order.
    pub async fn shutdown(mut self) -> anyhow::Result<PipelineSummary> {
        let mut summary = PipelineSummary::default();
        self.sensors_cancel.cancel();
        while let Some(r) = self.sensors.join_next().await {
            self.finished
                .push(r.map_err(anyhow::Error::from).and_then(|r| r));
        }
        for s in self.finished {
            match s {
                Ok(sum) => {
                    summary.events += sum.events;
                    summary.rejected += sum.rejected;
                    summary.failed_sources += sum.failed_sources;
                }
                Err(e) => {
                    tracing::error!("source failed: {e:#}");
                    summary.failed_sources += 1;
                }
            }
        }
        self.detect_cancel.cancel();
        let stats = self.detect.await?.context("detect stage")?;
        summary.detections = stats.detections;
        self.index_cancel.cancel();
        let index = self.index_task.await?.context("index stage")?;
        summary.indexed = index.indexed;
        summary.duplicates = index.duplicates;
        self.bus.close();
        summary.dlq_records = self.dlq.await??;
        Ok(summary)
    }
}

async fn index_stage(
    indexer: Indexer,
    sub: BusSubscription,
    cancel: CancellationToken,
) -> anyhow::Result<canhgac_index::RunSummary> {
    let (indexer, summary) = canhgac_index::run::run(
        indexer,
        sub,
        canhgac_index::RunOptions {
            track_offsets: false,
        },
        cancel,
    )
    .await
    .context("indexer stopped")?;
    tokio::task::spawn_blocking(move || indexer.close())
        .await?
        .context("closing the index")?;
    Ok(summary)
}

/// Appends every DLQ record to `path` as a JSON line (topic, headers, payload as text) and acks
/// it once written and flushed.
async fn dlq_stage(mut sub: BusSubscription, path: PathBuf) -> anyhow::Result<u64> {
    let mut n = 0;
    let mut file: Option<std::fs::File> = None;
    while let Some(m) = sub.recv().await {
        let m = m?;
        let f = match &mut file {
            Some(f) => f,
            None => file.insert(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .with_context(|| format!("cannot open {}", path.display()))?,
            ),
        };
        let headers: serde_json::Map<String, serde_json::Value> = m
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned().into()))
            .collect();
        let line = serde_json::json!({
            "topic": m.topic,
            "headers": headers,
            "payload": String::from_utf8_lossy(&m.payload),
        });
        writeln!(f, "{line}").with_context(|| format!("cannot write {}", path.display()))?;
        f.flush()?;
        n += 1;
        if let Some(reason) = m.header("reason") {
            tracing::warn!(
                topic = %m.topic,
                reason = %String::from_utf8_lossy(reason),
                "record rejected (see {})",
                path.display()
            );
        }
        m.ack.ack();
    }
    Ok(n)
}
