//! canhgac-sigma's integration tests, one binary with a module per area (ripgrep's layout);
//! the fixtures they share are `canhgac_sigma::testsuite` (feature `testsuite`).

mod corpus;
mod correlation;
mod field_schema;
mod modifiers;
mod regression;
