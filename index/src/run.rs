//! Feeding an [`Indexer`] from a transport: Kafka in `canhgac index`, the in-process bus in
//! `canhgac run`. Messages are acked only after the tantivy commit that contains them.
//!
//! The loop commits when the [`crate::CommitPolicy`] says so and once more on shutdown. Changes
//! to incidents arrive like detections, as lifecycle records on the subscription
//! (`<prefix>.incident-events`), never through a side channel. A commit failure stops the loop
//! with the error; the messages of the failed batch are not acked, so they are read again
//! after a restart.

use std::time::Duration;

use canhgac_core::transport::{Ack, Subscription};
use tokio_util::sync::CancellationToken;

use crate::error::{IndexError, Result};
use crate::writer::{Indexer, Outcome, Position};

/// Settings of [`run`].
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Record (topic, partition, offset) in the commit payload and skip what it covers. On for
    /// Kafka; off for transports whose offsets do not survive a restart (the in-process bus).
    pub track_offsets: bool,
}

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunSummary {
    pub messages: u64,
    pub indexed: u64,
    pub duplicates: u64,
    pub skipped: u64,
    pub rejected: u64,
    /// Lifecycle records kept (applied or waiting for their anchor).
    pub records: u64,
    pub commits: u64,
}

async fn commit(
    indexer: Indexer,
    acks: &mut Vec<Ack>,
    summary: &mut RunSummary,
) -> Result<Indexer> {
    let (indexer, result) = tokio::task::spawn_blocking(move || {
        let mut indexer = indexer;
        let r = indexer.commit();
        (indexer, r)
    })
    .await
    .map_err(|e| IndexError::Payload(format!("commit task failed: {e}")))?;
    result?;
    summary.commits += 1;
    for a in acks.drain(..) {
        a.ack();
    }
    Ok(indexer)
}

/// Consumes `subscription` into `indexer` until `cancel` fires or the subscription ends, then
/// commits what is pending and returns the indexer.
pub async fn run<S: Subscription>(
    mut indexer: Indexer,
    mut subscription: S,
    options: RunOptions,
    cancel: CancellationToken,
) -> Result<(Indexer, RunSummary)> {
    let mut summary = RunSummary::default();
    let mut acks: Vec<Ack> = Vec::new();
    loop {
        let due = indexer.commit_due();
        let sleep = async {
            match due {
                Some(t) => tokio::time::sleep_until(t.into()).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            _ = sleep => {
                indexer = commit(indexer, &mut acks, &mut summary).await?;
            }
            msg = subscription.recv() => {
                let Some(msg) = msg else { break };
                let msg = match msg {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(error = %e, "transport error");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                summary.messages += 1;
                let pos = options.track_offsets.then(|| Position {
                    topic: msg.topic.clone(),
                    partition: msg.partition,
                    offset: msg.offset,
                });
                match indexer.process(&msg.payload, pos.as_ref())? {
                    Outcome::Indexed { .. } => summary.indexed += 1,
                    Outcome::Duplicate => summary.duplicates += 1,
                    Outcome::Skipped => summary.skipped += 1,
                    Outcome::Rejected { .. } => summary.rejected += 1,
                    Outcome::Recorded { .. } => summary.records += 1,
                }
                acks.push(msg.ack);
                if indexer.should_commit() {
                    indexer = commit(indexer, &mut acks, &mut summary).await?;
                }
            }
        }
    }
    if indexer.pending() > 0 || !acks.is_empty() {
        indexer = commit(indexer, &mut acks, &mut summary).await?;
    }
    Ok((indexer, summary))
}
