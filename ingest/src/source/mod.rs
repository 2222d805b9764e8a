//! Sources of the sensor: files (read once or followed through rotation), stdin, and network
//! listeners (syslog over UDP and TCP, NDJSON over HTTP), with checkpoints for files.
//!
//! A source turns input into [`Outgoing`] messages — an event, or a DLQ record for input that
//! does not decode — each carrying the checkpoint that becomes safe to store once it and every
//! earlier message of the source are acked.

use std::path::{Path, PathBuf};

use canhgac_core::transport::Message;

pub mod checkpoint;
pub mod file;
pub mod listen;

pub use checkpoint::{CheckpointStore, Position};

/// Errors of a whole source (a record's problem is a DLQ record, not an error).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("checkpoint store {path}: {message}")]
    Checkpoint { path: PathBuf, message: String },

    #[error(transparent)]
    Ingest(#[from] crate::decode::IngestError),

    #[error("{0}")]
    Listen(String),
}

impl SourceError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        SourceError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What a record turned into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutKind {
    Event,
    Dlq,
}

/// One message for the transport, with what to checkpoint once it is acked.
#[derive(Debug)]
pub struct Outgoing {
    pub message: Message,
    pub kind: OutKind,
    /// `(source name, position)` to store once this and every earlier message of the source
    /// are acked; `None` for sources without checkpoints.
    pub checkpoint: Option<(String, Position)>,
    /// Input bytes this record accounts for (progress and metrics).
    pub bytes: u64,
    /// Told when the record is acked or fails (the HTTP source answers its client then).
    pub notify: Option<std::sync::Arc<AckGroup>>,
}

/// Counts the acks of a group of records (one HTTP request).
#[derive(Debug, Default)]
pub struct AckGroup {
    remaining: std::sync::atomic::AtomicUsize,
    failed: std::sync::atomic::AtomicBool,
    done: tokio::sync::Notify,
}

impl AckGroup {
    /// Adds a record to the group before it is sent.
    pub fn add(&self) {
        self.remaining
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// One record of the group was acked (`ok`) or failed.
    pub fn settle(&self, ok: bool) {
        if !ok {
            self.failed.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        if self
            .remaining
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst)
            == 1
        {
            self.done.notify_waiters();
            self.done.notify_one();
        }
    }

    /// Waits until every record added so far settled; `true` if all were acked.
    pub async fn wait(&self) -> bool {
        while self.remaining.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            let notified = self.done.notified();
            if self.remaining.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                break;
            }
            notified.await;
        }
        !self.failed.load(std::sync::atomic::Ordering::SeqCst)
    }
}
