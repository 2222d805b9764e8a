//! One module per subcommand: argument parsing and wiring only; the work is in the crates.
//! Every role starts the same way, through [`start`]: its shared option groups and start-up.

pub mod detect;
pub mod hunt;
pub mod index;
pub mod notify;
pub mod report;
pub mod rules;
pub mod run;
pub mod search;
pub mod sensor;
pub mod serve;
pub mod simulate;
pub mod start;
pub mod stats;

/// Exit codes (see `canhgac --help`).
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_PARTIAL: u8 = 3;

/// An error in what the user asked for (bad option combination, invalid configuration): exit
/// code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
