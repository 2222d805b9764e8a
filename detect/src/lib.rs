//! canhgac-detect: the detect worker — events in, detections out.
//!
//! The Sigma engine itself is `canhgac-sigma`; this crate adds what turns its matches into the
//! pipeline's detections:
//!
//! - [`input`] and `envelope`: the worker's Kafka payload (a serialized `canhgac_core::Event`)
//!   read as far as evaluation needs, its `original` record left as text for
//!   `canhgac_sigma::Engine::eval_json` and its ECS fields taken as a borrowed
//!   [`ioc::IocFields`] view on the way (with `canhgac_sigma::flat::scan`, the engine's pull
//!   parser); the whole `Event` is decoded only for an event that matched;
//! - [`ioc`]: IOC lists (plain, maltrail, MISP, warninglists as allowlists) as first-class
//!   rules;
//! - [`taxonomy`]: category, priority and incident grouping from `rules/taxonomy.yaml`;
//! - [`worker`]: the rule set (Sigma rules, correlations, IOC lists, taxonomy, registry) with
//!   hot reload, the stage that evaluates batches in parallel and publishes detections with
//!   their acknowledgements, correlation state per events partition (saved with the offsets it
//!   covers), and [`worker::detector`], the small API that turns matches into `Detection`s (the
//!   simulator scores through it).

pub mod envelope;
pub mod grouping;
pub mod input;
pub mod ioc;
pub mod taxonomy;
pub mod worker;

pub use ioc::{IocError, IocLoader, IocMatch, IocSet};
pub use worker::detector::Detector;
pub use worker::{Ruleset, RulesetSpec, WorkerError};
