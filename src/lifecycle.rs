//! Where `canhgac run` (and `canhgac serve --writable`) keeps incident lifecycle records: the
//! durable local log `<data_dir>/incident-events.jsonl` (`canhgac_core::journal`) in place of
//! the Kafka topic, then the in-process consumers (the index; the detect stage's suppressions).
//!
//! A record is appended to the log (and on disk) before any consumer sees it, and the publish
//! resolves when every consumer acked it (the index: after its commit). On start the log is
//! replayed to the consumers before the sources start, so an index rebuilt from the sources
//! (the documented recovery: remove `<data_dir>/index` and `<data_dir>/checkpoints`) has every
//! status, assignment, comment, merge and suppression back, and the detect stage suppresses
//! what it suppressed before. The index and the suppressions count a record once, however
//! often it is replayed.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use canhgac_core::journal::Journal;
use canhgac_core::lifecycle::IncidentEvent;
use canhgac_core::topics::Topics;
use canhgac_core::transport::{BusPublisher, Message, Publisher};
use canhgac_serve::Outbox;
use futures::future::BoxFuture;

/// The local log's file name under the data directory.
pub const LOCAL_LOG: &str = "incident-events.jsonl";

/// The local log and the in-process consumers of `<p>.incident-events`.
#[derive(Clone)]
pub struct LocalLifecycle {
    journal: Arc<Journal>,
    consumers: Vec<BusPublisher>,
    topic: String,
}

impl LocalLifecycle {
    /// Opens the log at `path` and returns it with the records it holds (to replay with
    /// [`LocalLifecycle::replay`] once the consumers run). A line that does not parse is
    /// reported and skipped, never fatal.
    pub fn open(
        path: &Path,
        topics: &Topics,
        consumers: Vec<BusPublisher>,
    ) -> anyhow::Result<(LocalLifecycle, Vec<IncidentEvent>)> {
        let (journal, lines) = Journal::open(path)
            .with_context(|| format!("cannot open the incident log {}", path.display()))?;
        if journal.torn() > 0 {
            tracing::warn!(
                file = %path.display(),
                bytes = journal.torn(),
                "cut a record torn by a crash from the end of the incident log"
            );
        }
        let mut records = Vec::with_capacity(lines.len());
        for (n, line) in lines.iter().enumerate() {
            match IncidentEvent::from_json(line) {
                Ok(r) => records.push(r),
                Err(e) => tracing::error!(
                    file = %path.display(),
                    line = n + 1,
                    error = %e,
                    "incident log line skipped"
                ),
            }
        }
        Ok((
            LocalLifecycle {
                journal: Arc::new(journal),
                consumers,
                topic: topics.incident_events(),
            },
            records,
        ))
    }

    /// Sends `records` (already in the log) to the consumers and waits until each acked them.
    pub async fn replay(&self, records: Vec<IncidentEvent>) -> anyhow::Result<()> {
        let n = records.len();
        for r in records {
            self.deliver(&r).await.map_err(anyhow::Error::msg)?;
        }
        if n > 0 {
            tracing::info!(records = n, log = %self.journal.path().display(), "incident log replayed");
        }
        Ok(())
    }

    async fn deliver(&self, record: &IncidentEvent) -> Result<(), String> {
        let payload = record.to_json();
        let mut deliveries = Vec::with_capacity(self.consumers.len());
        for c in &self.consumers {
            let d = c
                .send(Message {
                    topic: self.topic.clone(),
                    key: Some(record.id.to_hex().into_bytes()),
                    payload: payload.clone(),
                    headers: Vec::new(),
                })
                .await
                .map_err(|e| format!("publish to {}: {e}", self.topic))?;
            deliveries.push(d);
        }
        for d in deliveries {
            d.await
                .map_err(|e| format!("delivery to {}: {e}", self.topic))?;
        }
        Ok(())
    }
}

impl Outbox for LocalLifecycle {
    fn publish(&self, record: IncidentEvent) -> BoxFuture<'static, Result<(), String>> {
        let this = self.clone();
        Box::pin(async move {
            let journal = this.journal.clone();
            let line = record.to_json();
            tokio::task::spawn_blocking(move || journal.append(&line))
                .await
                .map_err(|e| format!("incident log: {e}"))?
                .map_err(|e| format!("incident log: {e}"))?;
            this.deliver(&record).await
        })
    }
}
