//! canhgac-core: the model every stage shares.
//!
//! - [`event`]: the Event of brief §4 and its deterministic id;
//! - [`id`]: deterministic 128-bit ids for events, detections and incidents;
//! - [`topics`]: Kafka topic names and agency id rules.

pub mod error;
pub mod event;
pub mod id;
pub mod topics;

pub use error::CoreError;
pub use event::{event_id, Attachment, Dataset, Ecs, Event, Related, SourceKind, SourceRef};
pub use id::{Id, IdHasher};
