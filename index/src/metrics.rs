//! Prometheus metrics of the indexer, registered in a registry the caller passes (no global
//! state).

use canhgac_core::telemetry::register;
use canhgac_core::CoreError;
use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// The indexer's metrics.
#[derive(Clone)]
pub struct IndexMetrics {
    /// Detections by outcome: `indexed`, `duplicate`, `skipped` (before the committed offset).
    pub detections: IntCounterVec,
    /// Rejected messages by reason: `json`, `schema_version`, `invalid`.
    pub rejected: IntCounterVec,
    pub commits: IntCounter,
    pub commit_seconds: Histogram,
    /// Documents waiting for the next commit.
    pub pending: IntGauge,
    /// Incidents dropped by retention.
    pub retention_dropped: IntCounter,
}

impl IndexMetrics {
    pub fn new(registry: &Registry) -> Result<Self, CoreError> {
        let m = Self::unregistered();
        register(registry, m.detections.clone())?;
        register(registry, m.rejected.clone())?;
        register(registry, m.commits.clone())?;
        register(registry, m.commit_seconds.clone())?;
        register(registry, m.pending.clone())?;
        register(registry, m.retention_dropped.clone())?;
        Ok(m)
    }

    /// Metrics that are counted but not exported (tests, benchmarks).
    pub fn unregistered() -> Self {
        IndexMetrics {
            detections: IntCounterVec::new(
                Opts::new("index_detections_total", "detections consumed, by outcome"),
                &["outcome"],
            )
            .expect("valid metric"),
            rejected: IntCounterVec::new(
                Opts::new(
                    "index_rejected_total",
                    "messages of the detections topic that are not a valid detection, by reason",
                ),
                &["reason"],
            )
            .expect("valid metric"),
            commits: IntCounter::new("index_commits_total", "tantivy commits").expect("valid"),
            commit_seconds: Histogram::with_opts(
                HistogramOpts::new("index_commit_seconds", "time of one tantivy commit").buckets(
                    vec![
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    ],
                ),
            )
            .expect("valid metric"),
            pending: IntGauge::new(
                "index_pending_docs",
                "documents waiting for the next commit",
            )
            .expect("valid metric"),
            retention_dropped: IntCounter::new(
                "index_retention_dropped_total",
                "incidents dropped by retention",
            )
            .expect("valid metric"),
        }
    }
}
