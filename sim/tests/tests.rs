//! The simulator's integration tests, in one test binary (a module per subject).

mod accuracy;
mod linking;
mod publish_bus;
