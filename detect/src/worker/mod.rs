//! The detect worker (`canhgac detect`, and the detect stage of `canhgac run`): events in,
//! classified detections out, at least once.
//!
//! The stage reads events from a [`Subscription`](canhgac_core::transport::Subscription) — a
//! Kafka pattern subscription to every `<prefix>.events.<agency>` topic, or the in-process bus —
//! takes the agency from the topic name (never from the payload), evaluates the Sigma engine,
//! builds [`Detection`](canhgac_core::Detection)s with their category, priority and incident id
//! ([`detector`], from the taxonomy and the agency registry), publishes them to
//! `<prefix>.detections`, and acks the event only once every detection it produced was
//! delivered. An event that cannot be read goes to `<prefix>.dlq.<agency>` with the reason, and
//! is acked once the DLQ record is delivered. Detection ids are hash(event id, rule id), so a
//! redelivered event yields the same detections and the index counts them once.
//!
//! Evaluation runs in batches on the blocking pool, in parallel across cores; the async side
//! only moves messages. The rule set is swapped whole on reload ([`ruleset`]).
//!
//! Every event is also checked against the IOC lists (one detection per list and indicator,
//! category from the list's kind through the taxonomy), and base-rule matches feed the Sigma
//! correlation rules, one engine per events partition ([`correlate`]), whose state is saved
//! with the offsets it covers and restored on start and on assignment ([`state`]); a base rule
//! referenced by a correlation without `generate: true` gives no detection of its own.
//!
//! Suppressions ([`suppress`]) come from the lifecycle records on `<prefix>.incident-events`:
//! a detection one covers is published marked `suppressed` and counted.

pub mod correlate;
pub mod detector;
mod evaluate;
pub mod metrics;
pub mod ruleset;
pub mod stage;
pub mod state;
pub mod suppress;

pub use metrics::DetectMetrics;
pub use ruleset::{reload, watch, PooledScratch, Reload, RulesHandle, Ruleset, RulesetSpec};
pub use stage::{DetectStage, StageOptions, StageStats};
pub use state::{Assignments, PartitionState, StateBackend, StateMetrics, StateOptions};
pub use suppress::{follow_suppressions, Suppressions, SuppressionsHandle};

use std::path::PathBuf;

/// Errors of the detect worker.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("correlation state {what}: {reason}")]
    State { what: String, reason: String },
    #[error(transparent)]
    Sigma(#[from] canhgac_sigma::SigmaError),
    #[error(transparent)]
    Taxonomy(#[from] crate::taxonomy::TaxonomyError),
    #[error(transparent)]
    Ioc(#[from] crate::ioc::IocError),
    #[error(transparent)]
    Core(#[from] canhgac_core::CoreError),
}
