//! The Kafka transport's integration tests, in one test binary (a module per subject).

mod mock_cluster;
