//! canhgac-detect's integration tests, one binary with a module per area (ripgrep's layout);
//! shared fixtures come from `canhgac_sigma::testsuite` (feature `testsuite`).

mod ioc_alloc;
mod ioc_data;
mod ioc_match;
mod ioc_props;
mod own_rules;
mod payload_head;
mod worker_bus;
mod worker_reload;
mod worker_suppress;
