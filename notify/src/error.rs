//! Errors of the notify crate.

use std::path::PathBuf;

/// What can go wrong deciding and delivering alerts.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("delivery store {path}: {message}")]
    Store { path: PathBuf, message: String },

    #[error("delivery store: {0}")]
    StoreOp(String),

    #[error("invalid notify setting {key}: {message}")]
    Config { key: String, message: String },

    #[error(transparent)]
    Core(#[from] canhgac_core::CoreError),

    #[error("background task failed: {0}")]
    Task(String),
}

impl NotifyError {
    pub(crate) fn store(e: impl std::fmt::Display) -> Self {
        NotifyError::StoreOp(e.to_string())
    }
}

pub type Result<T, E = NotifyError> = std::result::Result<T, E>;
