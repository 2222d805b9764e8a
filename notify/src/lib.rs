//! canhgac-notify: alert delivery (brief §1, the agency's view; issue 6 part 4).
//!
//! `canhgac notify` consumes `<prefix>.detections` in its own consumer group and decides per
//! incident ([`decision`]): an alert on the first detection, then one per escalation (priority
//! rises, or the count of distinct detections crosses 10/100/1000). Each alert goes to every
//! channel the agency registry lists for the agency ([`channel`]): the Kafka topic
//! `<prefix>.alerts.<agency>`, an HTTP(S) webhook signed with HMAC-SHA256
//! (`X-Canhgac-Signature: sha256=<hex>`, `Idempotency-Key: <incident id>:<revision>`), and
//! e-mail over SMTP in Vietnamese or English.
//!
//! Delivery state lives in an embedded redb store ([`store`]), one record per
//! (incident, revision, channel): pending, delivered or dead. Kafka messages are acknowledged
//! only after their decisions and pending deliveries are committed; deliveries run from the
//! store ([`run`]) with exponential backoff and jitter, per-agency token buckets that queue
//! rather than drop ([`policy`]), and a dead-letter topic `<prefix>.alerts.dlq` after the last
//! attempt. A restart loses nothing; an alert repeats only when the process died between
//! sending it and recording it, and the repeat carries the same idempotency key.
//!
//! notify follows the incidents' handling ([`lifecycle`]: the records of
//! `<prefix>.incident-events`, per alert key): a closed incident gets no escalation, a reopened
//! one escalates again; a detection under a suppression gets no alert. Every alert carries a
//! signed acknowledge link ([`ack`]) when a public URL and `CANHGAC_ACK_SECRET` are set.

pub mod ack;
pub mod alert;
pub mod channel;
pub mod decision;
pub mod error;
pub mod lifecycle;
pub mod metrics;
pub mod policy;
pub mod run;
pub mod store;

pub use ack::{AckLinks, ACK_SECRET_ENV};
pub use alert::Alert;
pub use channel::{Channels, Outcome, SmtpSettings};
pub use decision::{decide, IncidentState, Reason, DEFAULT_THRESHOLDS};
pub use error::NotifyError;
pub use lifecycle::{follow_lifecycle, Lifecycle, LifecycleHandle};
pub use metrics::NotifyMetrics;
pub use policy::{signature, Backoff, Throttle};
pub use run::{Notifier, NotifyOptions, Summary};
pub use store::{Deciding, Delivery, DeliveryStatus, Recorded, Store};
