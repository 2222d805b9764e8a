//! The binary's integration tests, in one test binary (each former test file is a module; one
//! binary links rdkafka and tantivy once instead of a dozen times). Tests run on parallel
//! threads: the heavy ones (a real broker, `canhgac run`, chaos) take `support::heavy()` first.
//!
//! `cargo test --test tests` runs them all; `cargo test --test tests chaos::` one module.

mod support;

mod bench_e2e;
mod chaos;
mod deploy_files;
mod detect_broker;
mod detect_correlation_state;
mod event_ids;
mod golden_month;
mod hunt_regression;
mod index_broker;
mod index_cli;
mod layout;
mod lifecycle_broker;
mod notify_broker;
mod one_clock;
mod report_cli;
mod run_lifecycle;
mod run_pipeline;
mod sensor_broker;
mod simulate_cli;
