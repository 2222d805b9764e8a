//! canhgac-core: the model every stage shares.
//!
//! - [`event`]: the Event of brief §4, its deterministic id over the raw record, and the one
//!   constructor from a decoded record;
//! - [`wire`]: the names an event serializes under (its members and ECS fields);
//! - [`detection`]: detections, incidents, categories, levels and priorities;
//! - [`id`]: deterministic 128-bit ids for events, detections and incidents;
//! - [`journal`]: a durable local log of records (`canhgac run`'s incident events);
//! - [`lifecycle`]: an incident's handling as records (acknowledge, assign, comment, resolve,
//!   merge, split, suppress) and the policy that says who may do what;
//! - [`registry`]: agencies, their information systems (security level 1–5) and alert channels;
//! - [`config`]: the configuration file, validated in two steps, with `CANHGAC_*` overrides;
//! - [`transport`]: the publisher/subscription abstraction with acknowledgements, and the
//!   in-process [`transport::Bus`] used by `canhgac run` (Kafka lives in `canhgac-kafka`);
//! - [`acklink`]: signed acknowledge links in alerts (notify signs, serve verifies);
//! - [`ack`]: ordered acknowledgement tracking for checkpoints;
//! - [`topics`]: Kafka topic names and agency id rules;
//! - [`telemetry`]: tracing setup and the Prometheus registry.

pub mod ack;
pub mod acklink;
pub mod config;
pub mod detection;
pub mod error;
pub mod event;
pub mod id;
pub mod journal;
pub mod lifecycle;
pub mod registry;
pub mod runconfig;
#[cfg(feature = "runtime")]
pub mod telemetry;
pub mod topics;
#[cfg(feature = "runtime")]
pub mod transport;
pub mod wire;

pub use detection::{Category, Detection, Incident, Level, Priority, Status};
pub use error::CoreError;
pub use event::{
    event_id, Attachment, Dataset, Decoded, Ecs, Event, RawRecord, Related, SourceKind, SourceRef,
};
pub use id::{Id, IdHasher};
