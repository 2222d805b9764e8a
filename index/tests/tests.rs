//! The index's integration tests, in one test binary (a module per subject).

mod support;

mod grouping;
mod indexer;
mod lifecycle;
mod report;
mod search;
