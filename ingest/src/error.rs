//! Errors of the ingest crate.
//!
//! Two levels: a [`DecodeError`] is about one record (it goes to the DLQ with the reason, the
//! source and the offset, and reading goes on with the next record); an [`IngestError`] is
//! about a whole source (it cannot be opened, read or recognised).

use std::fmt;
use std::path::PathBuf;

/// Short machine-readable reason why a record was not decoded. [`ErrorKind::as_str`] gives the
/// name used in DLQ records and metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Not valid JSON (or not the JSON object the format expects).
    InvalidJson,
    /// Bytes that are not UTF-8 where text is required.
    InvalidUtf8,
    /// A record longer than the configured maximum.
    TooLong,
    /// A record cut short (end of input inside a JSON value, a line missing its fields).
    Truncated,
    /// A syslog `<PRI>` that is not a number from 0 to 191.
    BadPriority,
    /// A timestamp that does not parse.
    BadTimestamp,
    /// A record that does not have the shape of its format.
    Malformed,
    /// A corrupt chunk of an `.evtx` file (the records of the other chunks are still read).
    CorruptChunk,
    /// A corrupt record inside an otherwise readable `.evtx` chunk.
    CorruptRecord,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidJson => "invalid_json",
            ErrorKind::InvalidUtf8 => "invalid_utf8",
            ErrorKind::TooLong => "too_long",
            ErrorKind::Truncated => "truncated",
            ErrorKind::BadPriority => "bad_priority",
            ErrorKind::BadTimestamp => "bad_timestamp",
            ErrorKind::Malformed => "malformed",
            ErrorKind::CorruptChunk => "corrupt_chunk",
            ErrorKind::CorruptRecord => "corrupt_record",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why one record could not be decoded: a [`kind`](ErrorKind) for machines and a message for
/// people. The caller knows the file, line and offset and adds them (see [`render_error`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct DecodeError {
    pub kind: ErrorKind,
    pub message: String,
}

impl DecodeError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        DecodeError {
            kind,
            message: message.into(),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub(crate) fn json(err: &serde_json::Error) -> Self {
        let kind = if err.is_eof() {
            ErrorKind::Truncated
        } else if err.to_string().contains("unicode") {
            ErrorKind::InvalidUtf8
        } else {
            ErrorKind::InvalidJson
        };
        DecodeError::new(kind, format!("invalid JSON: {err}"))
    }

    pub(crate) fn malformed(message: impl Into<String>) -> Self {
        DecodeError::new(ErrorKind::Malformed, message)
    }
}

/// Renders a record error the way compilers do: `FILE:LINE: kind: message`.
pub fn render_error(file: &str, line: u64, error: &DecodeError) -> String {
    format!("{file}:{line}: {error}")
}

/// Errors about a whole source. Per-record problems are [`DecodeError`]s instead.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    /// Auto-detection found no format for the file.
    #[error("{path}: cannot detect the format: {reason}")]
    Detect { path: PathBuf, reason: String },

    /// The `.evtx` file header is unreadable, so no chunk can be located.
    #[error("{path}: not a readable .evtx file: {message}")]
    Evtx { path: PathBuf, message: String },

    #[error(
        "unknown format {0:?} (expected auto|windows|evtx|suricata|zeek|syslog|cef|web|json|eml)"
    )]
    UnknownFormat(String),

    /// A format that is not decoded record by record (`auto`, `evtx`) was asked for a record
    /// decoder.
    #[error("format {0} has no record decoder")]
    NoRecordDecoder(&'static str),
}

pub type Result<T, E = IngestError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_names_file_line_and_kind() {
        let e = DecodeError::new(ErrorKind::BadPriority, "priority 999 is above 191");
        assert_eq!(
            render_error("/var/log/x.log", 12, &e),
            "/var/log/x.log:12: bad_priority: priority 999 is above 191"
        );
    }

    #[test]
    fn json_errors_are_classified() {
        let eof = serde_json::from_str::<serde_json::Value>("{\"a\": ").unwrap_err();
        assert_eq!(DecodeError::json(&eof).kind, ErrorKind::Truncated);
        let bad = serde_json::from_str::<serde_json::Value>("{a}").unwrap_err();
        assert_eq!(DecodeError::json(&bad).kind, ErrorKind::InvalidJson);
    }
}
