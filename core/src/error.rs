//! Errors of the core crate.

use std::path::PathBuf;

/// Everything that can go wrong in the shared model: loading and validating configuration and
/// the agency registry, ids, and transports.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("invalid {kind} {id:?}: {reason}")]
    InvalidId {
        kind: &'static str,
        id: String,
        reason: &'static str,
    },

    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },

    /// A configuration or registry value that parsed but does not make sense. `key` is the
    /// dotted path of the offending value (`agencies[2].systems[0].level`).
    #[error("{origin}: {key}: {message}")]
    Invalid {
        origin: String,
        key: String,
        message: String,
    },

    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },

    #[error("transport closed: {0}")]
    Closed(String),

    #[error("transport error: {0}")]
    Transport(String),

    #[error("telemetry: {0}")]
    Telemetry(String),
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;
