//! The audit log: one JSON line per API request — who, when, which route, what they asked,
//! the answer's status, and for a status change which incident became what.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::{Result, ServeError};

/// One audit record.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    pub at: DateTime<Utc>,
    /// The token's name (`-` when no valid token was presented).
    pub who: String,
    pub role: String,
    pub method: String,
    /// The route pattern (`/api/v1/incidents/{id}`).
    pub route: String,
    /// The request path and query string as sent.
    pub uri: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident: Option<String>,
    /// For a status change: `{status, note}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<serde_json::Value>,
}

/// Where audit records go: a JSON-lines file (appended), or nowhere.
#[derive(Clone, Default)]
pub struct AuditLog {
    file: Option<Arc<Mutex<(std::fs::File, PathBuf)>>>,
}

impl AuditLog {
    /// Appends to `path` (created if missing).
    pub fn open(path: &Path) -> Result<AuditLog> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| ServeError::Audit {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(AuditLog {
            file: Some(Arc::new(Mutex::new((file, path.to_path_buf())))),
        })
    }

    /// Records nothing (the request log still has the requests).
    pub fn disabled() -> AuditLog {
        AuditLog::default()
    }

    pub fn is_enabled(&self) -> bool {
        self.file.is_some()
    }

    /// Writes one record as one line (a single append, so lines never interleave).
    pub fn record(&self, rec: &AuditRecord) {
        let Some(f) = &self.file else { return };
        let mut line = match serde_json::to_vec(rec) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "audit record not serialisable");
                return;
            }
        };
        line.push(b'\n');
        let mut g = f.lock().unwrap_or_else(|p| p.into_inner());
        let (file, path) = &mut *g;
        if let Err(e) = file.write_all(&line) {
            tracing::error!(path = %path.display(), error = %e, "audit log write failed");
        }
    }
}
