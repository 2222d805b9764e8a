//! The stage loop.

use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use tokio_util::sync::CancellationToken;

use canhgac_core::detection::Detection;
use canhgac_core::event::{Event, EVENT_SCHEMA_VERSION};
use canhgac_core::topics::Topics;
use canhgac_core::transport::{Ack, Delivery, Message, Publisher, Received, Subscription};
use canhgac_core::CoreError;

use super::detector::sigma_detections;
use super::{DetectMetrics, RulesHandle, WorkerError};

/// Settings of the stage.
#[derive(Debug, Clone)]
pub struct StageOptions {
    /// Most events evaluated together.
    pub batch: usize,
    /// Most events whose outputs are being delivered at once.
    pub max_in_flight: usize,
}

impl Default for StageOptions {
    fn default() -> Self {
        Self {
            batch: 512,
            max_in_flight: 20_000,
        }
    }
}

/// What a run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StageStats {
    pub events: u64,
    pub detections: u64,
    pub dlq: u64,
    pub acked: u64,
}

/// The detect stage over any transport.
pub struct DetectStage<P: Publisher> {
    publisher: P,
    topics: Topics,
    rules: RulesHandle,
    metrics: DetectMetrics,
    options: StageOptions,
}

/// What evaluation made of one message.
enum Outcome {
    Detections(Vec<Detection>),
    /// Not an event we can read: (reason, message).
    Invalid(&'static str, String),
}

impl<P: Publisher> DetectStage<P> {
    pub fn new(
        publisher: P,
        topics: Topics,
        rules: RulesHandle,
        metrics: DetectMetrics,
        options: StageOptions,
    ) -> Self {
        Self {
            publisher,
            topics,
            rules,
            metrics,
            options,
        }
    }

    /// Makes sure the detections topic exists.
    pub async fn prepare(&self) -> Result<(), WorkerError> {
        self.publisher
            .ensure_topics(&[self.topics.detections()])
            .await?;
        Ok(())
    }

    /// Runs until the subscription ends or `cancel` fires; then stops reading, delivers what is
    /// in flight and acks it.
    pub async fn run<S: Subscription>(
        &self,
        sub: &mut S,
        cancel: CancellationToken,
    ) -> Result<StageStats, WorkerError> {
        let mut stats = StageStats::default();
        let mut inflight = FuturesUnordered::new();
        let mut failure: Option<CoreError> = None;
        'outer: loop {
            let first = tokio::select! {
                biased;
                Some(done) = inflight.next(), if !inflight.is_empty() => {
                    settle(done, &mut stats, &self.metrics, &mut failure);
                    continue;
                }
                _ = cancel.cancelled() => break,
                m = sub.recv() => m,
            };
            let mut batch = Vec::with_capacity(self.options.batch);
            match first {
                None => break,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "transport error");
                    continue;
                }
                Some(Ok(m)) => batch.push(m),
            }
            while batch.len() < self.options.batch {
                match sub.recv().now_or_never() {
                    Some(Some(Ok(m))) => batch.push(m),
                    Some(Some(Err(e))) => tracing::warn!(error = %e, "transport error"),
                    Some(None) | None => break,
                }
            }
            let outcomes = self.evaluate(&mut batch).await;
            for (received, outcome) in batch.into_iter().zip(outcomes) {
                let agency = self
                    .topics
                    .agency_of_events_topic(&received.topic)
                    .unwrap_or("unknown")
                    .to_string();
                let deliveries = match self.publish(&agency, &received, outcome, &mut stats).await {
                    Ok(d) => d,
                    Err(e) => {
                        failure.get_or_insert(e);
                        break 'outer;
                    }
                };
                inflight.push(async move {
                    (futures::future::join_all(deliveries).await, received.ack)
                });
                while inflight.len() >= self.options.max_in_flight {
                    if let Some(done) = inflight.next().await {
                        settle(done, &mut stats, &self.metrics, &mut failure);
                    }
                }
            }
            if failure.is_some() {
                break;
            }
        }
        while let Some(done) = inflight.next().await {
            settle(done, &mut stats, &self.metrics, &mut failure);
        }
        match failure {
            Some(e) => Err(e.into()),
            None => Ok(stats),
        }
    }

    /// Parses and evaluates a batch on the blocking pool, in parallel.
    async fn evaluate(&self, batch: &mut [Received]) -> Vec<Outcome> {
        let rules = self.rules.current();
        let items: Vec<(Option<String>, Vec<u8>)> = batch
            .iter_mut()
            .map(|r| {
                (
                    self.topics
                        .agency_of_events_topic(&r.topic)
                        .map(str::to_string),
                    std::mem::take(&mut r.payload),
                )
            })
            .collect();
        let metrics = self.metrics.clone();
        let work = move || {
            use rayon::prelude::*;
            items
                .into_par_iter()
                .map_init(
                    || (rules.engine.scratch(), Vec::new()),
                    |(scratch, matched), (agency, payload)| {
                        let Some(agency) = agency else {
                            return Outcome::Invalid(
                                "not_an_events_topic",
                                "the topic is not <prefix>.events.<agency>".into(),
                            );
                        };
                        let mut event: Event = match serde_json::from_slice(&payload) {
                            Ok(e) => e,
                            Err(e) => {
                                return Outcome::Invalid(
                                    "invalid_event",
                                    format!("not an event: {e}"),
                                )
                            }
                        };
                        if event.schema != EVENT_SCHEMA_VERSION {
                            return Outcome::Invalid(
                                "schema_version",
                                format!(
                                    "event schema {} (this worker reads {EVENT_SCHEMA_VERSION})",
                                    event.schema
                                ),
                            );
                        }
                        // The agency is the topic's, whatever the payload claims.
                        event.agency = agency.clone();
                        let start = Instant::now();
                        let mut out = Vec::new();
                        sigma_detections(&rules, &agency, &event, scratch, matched, &mut out);
                        metrics.eval_seconds.observe(start.elapsed().as_secs_f64());
                        Outcome::Detections(out)
                    },
                )
                .collect::<Vec<_>>()
        };
        tokio::task::spawn_blocking(work).await.unwrap_or_default()
    }

    /// Sends a message's outputs; returns their deliveries.
    async fn publish(
        &self,
        agency: &str,
        received: &Received,
        outcome: Outcome,
        stats: &mut StageStats,
    ) -> Result<Vec<Delivery>, CoreError> {
        let mut deliveries = Vec::new();
        match outcome {
            Outcome::Detections(list) => {
                stats.events += 1;
                self.metrics.events.inc();
                for d in list {
                    stats.detections += 1;
                    self.metrics
                        .detections
                        .with_label_values(&[d.category.as_str(), &d.rule.id])
                        .inc();
                    let payload = serde_json::to_vec(&d).expect("detections serialise");
                    let message = Message {
                        topic: self.topics.detections(),
                        key: Some(d.incident_id.to_string().into_bytes()),
                        payload,
                        headers: Vec::new(),
                    };
                    deliveries.push(self.publisher.send(message).await?);
                }
            }
            Outcome::Invalid(reason, why) => {
                stats.dlq += 1;
                self.metrics.dlq.with_label_values(&[reason]).inc();
                tracing::debug!(topic = %received.topic, partition = received.partition, offset = received.offset, reason, "event rejected: {why}");
                let headers = vec![
                    ("reason".to_string(), reason.as_bytes().to_vec()),
                    ("message".to_string(), why.into_bytes()),
                    (
                        "source".to_string(),
                        format!(
                            "{}/{}@{}",
                            received.topic, received.partition, received.offset
                        )
                        .into_bytes(),
                    ),
                    (
                        "offset".to_string(),
                        received.offset.to_string().into_bytes(),
                    ),
                    ("stage".to_string(), b"detect".to_vec()),
                ];
                let message = Message {
                    topic: self.topics.dlq(agency),
                    key: received.key.clone(),
                    payload: Vec::new(),
                    headers,
                };
                deliveries.push(self.publisher.send(message).await?);
            }
        }
        Ok(deliveries)
    }
}

fn settle(
    done: (
        Vec<Result<canhgac_core::transport::Delivered, CoreError>>,
        Ack,
    ),
    stats: &mut StageStats,
    metrics: &DetectMetrics,
    failure: &mut Option<CoreError>,
) {
    let (results, ack) = done;
    match results.into_iter().find_map(Result::err) {
        None => {
            ack.ack();
            stats.acked += 1;
        }
        Some(e) => {
            // Not acked: the event is read again after a restart (same detection ids).
            metrics.delivery_errors.inc();
            tracing::error!(error = %e, "delivery failed");
            failure.get_or_insert(e);
        }
    }
}

/// How long to wait between lag samples (the binary samples the Kafka consumer).
pub const LAG_INTERVAL: Duration = Duration::from_secs(5);
