//! canhgac-index: the incident index (tantivy) — what analysts search and managers count.
//!
//! # Design
//!
//! One tantivy index holds two kinds of documents ([`schema`]): one per **detection** (upsert
//! key: the detection id; the stored source is the detection JSON with its whole event) and one
//! per **incident** (upsert key: the incident id; the stored source is the
//! [`IncidentRecord`] aggregate). One index means one commit covers both, together with the
//! consumed offsets.
//!
//! - [`writer::Indexer`] is the single writer: [`Indexer::process`] a message,
//!   [`Indexer::commit`] on a size/time policy. It is transport-agnostic; [`run::run`] drives it
//!   from any [`canhgac_core::transport::Subscription`] (Kafka in `canhgac index`, the
//!   in-process bus in `canhgac run`) and acks messages after the commit that contains them.
//! - [`incident`] aggregates distinct detections into incidents, independently of arrival
//!   order; [`analyzer`] makes Vietnamese searchable with or without diacritics, NFC or NFD.
//! - [`search::IncidentIndex`] is the read side: [`search`](search::IncidentIndex::search) with
//!   typed filters, facets and a search-after cursor; [`incident`](search::IncidentIndex::incident)
//!   detail; [`monthly`](search::IncidentIndex::monthly) statistics ([`stats`]). Every read
//!   takes a [`search::Scope`]: an agency-scoped request never sees another agency's data.
//! - [`lifecycle`] applies the records of `<prefix>.incident-events` (acknowledge, assign,
//!   comment, resolve with a close reason, merge, split, suppress) to the incidents holding
//!   their anchors; [`handling`] reads suppressions, alert keys and the incidents statistics
//!   leave out; [`upgrade`] turns a version-2 index's statuses into records.
//! - [`retention`] drops incidents older than N months with their detections;
//!   [`writer::merge_policy`] documents the merge policy.
//!
//! # Exactly-once effect (crash semantics)
//!
//! Each commit's payload holds, per topic and partition, the next offset to read. On partition
//! assignment the Kafka consumer starts from those offsets ([`Indexer::start_offsets`]); the
//! group's own committed offsets are only a hint (they trail the payload, since messages are
//! acked after the tantivy commit). A crash — kill -9 at any moment — loses at most the batch
//! since the last commit: nothing of it is in the index and nothing of it was acked, so it is
//! read again. Replayed detections are upserted by id: a detection id already in the index is
//! a duplicate and changes nothing, so counts stay exact. Incidents touched by a batch are
//! rebuilt from the committed index plus the batch, so an incident's count is always the number
//! of distinct detection ids in the index.
//!
//! # Counting rule
//!
//! An incident counts once, in the calendar month (Asia/Ho_Chi_Minh) of its *first* detection,
//! in its category and agency; a month without incidents counts 0; a change from 0 is "n/a".
//! See [`stats`].
//!
//! # Status
//!
//! An incident's status, assignee and close reason are the fold of its lifecycle records
//! (`<prefix>.incident-events`, [`lifecycle`]), which the indexer consumes with the detections
//! ([`Indexer::process`], [`Indexer::apply`]); nothing else changes them.
//! Detections never change the status: a detection arriving for a resolved incident raises
//! its count and `last_seen` and leaves it resolved (see [`incident`]).
//!
//! One process writes an index (tantivy's writer lock); scale search out with Quickwit reading
//! the same topic (brief §2).

pub mod analyzer;
mod batch;
pub mod campaign;
// The bulletin-shaped corpus of the report's tests: only with the `testsuite` feature.
#[cfg(any(test, feature = "testsuite"))]
pub mod bulletin;
pub mod cells;
pub mod error;
pub mod group;
pub mod handling;
mod idfilter;
pub mod incident;
pub mod lifecycle;
pub mod metrics;
pub mod model;
pub mod monthly;
pub mod period;
pub mod report;
pub mod retention;
pub mod run;
pub mod schema;
pub mod search;
pub mod snapshot;
pub mod stats;
pub mod store;
pub mod upgrade;
// Test fixtures: only with the `testsuite` feature (tests and benchmarks), not in the API.
#[cfg(any(test, feature = "testsuite"))]
pub mod synth;
pub mod writer;

pub use campaign::CampaignPeer;
pub use error::{IndexError, Result};
pub use handling::{Excluded, SuppressionState, SuppressionView};
pub use incident::IncidentRecord;
pub use metrics::IndexMetrics;
pub use model::{Agencies, Lang, Report, ReportRequest};
pub use period::Period;
pub use run::{RunOptions, RunSummary};
pub use search::{
    Facets, Hit, IncidentDetail, IncidentIndex, Kind, Record, Scope, SearchRequest, SearchResponse,
    Sort,
};
pub use stats::{MonthStats, MonthlyReport, StatsRequest};
pub use writer::{
    CommitPolicy, CommitStats, Indexer, IndexerOptions, Offsets, Outcome, Position, Retention,
    StartOffsetsFn,
};
