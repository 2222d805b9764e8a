//! The index crate's error type: one enum, with the context needed to act on it.

use std::path::PathBuf;

/// Errors of the incident index.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// tantivy failed while doing `context`.
    #[error("{context}: {source}")]
    Tantivy {
        context: String,
        #[source]
        source: tantivy::TantivyError,
    },

    /// The index directory cannot be used.
    #[error("index directory {path}: {message}")]
    Directory { path: PathBuf, message: String },

    /// The index was built with another schema version than this binary's.
    #[error("index at {path} has schema version {found}, this build writes version {expected}: run `canhgac index upgrade --index {path}` (it publishes the old statuses and notes as incident events), then rebuild the index from the topics")]
    SchemaVersion {
        path: PathBuf,
        found: String,
        expected: u32,
    },

    /// A search query did not parse. `position` is a 0-based character offset into `query`.
    #[error("invalid query at character {position}: {message}\n  {query}\n  {caret}", caret = caret(*.position))]
    Query {
        query: String,
        position: usize,
        message: String,
    },

    /// A request parameter is invalid (a bad cursor, CIDR, month, …).
    #[error("invalid {what}: {message}")]
    Invalid { what: &'static str, message: String },

    /// An incident id that is not in the index (or not in the caller's scope).
    #[error("incident {id} not found")]
    NotFound { id: String },

    /// A stored document could not be decoded (the index is corrupt or from an incompatible
    /// build).
    #[error("stored document {id}: {message}")]
    Corrupt { id: String, message: String },

    /// The commit payload (consumed offsets) could not be read.
    #[error("commit payload: {0}")]
    Payload(String),

    /// An issued report snapshot could not be written or read (`path`: the snapshot file).
    #[error("report snapshot {path}: {message}")]
    Snapshot { path: PathBuf, message: String },
}

fn caret(position: usize) -> String {
    format!("{}^", " ".repeat(position))
}

impl IndexError {
    pub(crate) fn tantivy(
        context: impl Into<String>,
    ) -> impl FnOnce(tantivy::TantivyError) -> Self {
        let context = context.into();
        move |source| IndexError::Tantivy { context, source }
    }

    pub(crate) fn invalid(what: &'static str, message: impl Into<String>) -> Self {
        IndexError::Invalid {
            what,
            message: message.into(),
        }
    }
}

pub type Result<T, E = IndexError> = std::result::Result<T, E>;
