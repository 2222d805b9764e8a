//! The server's integration tests, in one test binary (a module per subject). The browser test
//! is heavy and takes `canhgac_testsupport::heavy()` first.

mod support;

mod api;
mod browser;
mod browser_lifecycle;
mod lifecycle;
mod report_golden;
mod tls;
