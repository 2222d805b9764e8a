//! Errors and warnings of IOC list loading.

use std::path::PathBuf;

/// A problem that stops a list from loading. A bad line or attribute is not one: it is skipped
/// and counted as a [`LoadWarning`]; a list that yields nothing at all is.
#[derive(Debug, thiserror::Error)]
pub enum IocError {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The list definition (YAML) is malformed or inconsistent.
    #[error("{path}: {message}")]
    Definition { path: PathBuf, message: String },
    /// `${NAME}` in a definition's `path` is neither given to the loader nor in the environment.
    #[error("{path}: path: variable {name} is not set (export it or pass it to the loader)")]
    Variable { path: PathBuf, name: String },
    /// A whole file could not be parsed (JSON syntax, CSV header, warninglist shape).
    #[error("{path}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Parse {
        path: PathBuf,
        line: Option<u64>,
        message: String,
    },
    /// A list whose files produced no indicator.
    #[error("{path}: list {id} yields no indicator ({skipped} lines or attributes skipped)")]
    Empty {
        path: PathBuf,
        id: String,
        skipped: u64,
    },
    #[error("{path}: list id {id} already loaded from {first}")]
    DuplicateId {
        path: PathBuf,
        id: String,
        first: PathBuf,
    },
    /// A raw file whose format could not be detected.
    #[error("{path}: cannot tell the list format ({message})")]
    UnknownFormat { path: PathBuf, message: String },
}

/// One skipped line or attribute: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadWarning {
    pub path: PathBuf,
    /// `line 12`, `attribute 5eb0775e-…`, `row 7`, `entry 3`.
    pub location: String,
    pub message: String,
}

impl std::fmt::Display for LoadWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}: {}",
            self.path.display(),
            self.location,
            self.message
        )
    }
}
