//! The ingest crate's integration tests, in one test binary (a module per subject).

mod support;

mod evtx;
mod framing;
mod malformed;
mod real_data;
