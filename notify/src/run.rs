//! The notifier: an intake task that decides and records, and a delivery loop that works the
//! store.
//!
//! Intake reads detections in batches, decides them and writes the decisions and the pending
//! deliveries in one redb transaction (fsync), and only then acknowledges the Kafka messages.
//! The delivery loop takes due deliveries from the store — at most `concurrency` at a time, one
//! per key, each agency within its token bucket — and writes every outcome back: delivered,
//! retried later with exponential backoff and jitter, or dead-lettered to
//! `<prefix>.alerts.dlq` after `max_attempts` (or at once when the failure is permanent).
//! Throttled deliveries are queued (they stay pending), never dropped.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use canhgac_core::detection::DETECTION_SCHEMA_VERSION;
use canhgac_core::registry::Registry;
use canhgac_core::transport::{Publisher, Subscription};
use canhgac_core::Detection;

use crate::ack::AckLinks;
use crate::channel::{Channels, Outcome};
use crate::decision::{Reason, DEFAULT_THRESHOLDS};
use crate::error::{NotifyError, Result};
use crate::lifecycle::LifecycleHandle;
use crate::metrics::NotifyMetrics;
use crate::policy::{Backoff, Throttle};
use crate::store::{Deciding, Delivery, DeliveryStatus, Recorded, Store};

/// How the notifier decides and delivers.
#[derive(Debug, Clone)]
pub struct NotifyOptions {
    /// Detection counts that make an escalation alert.
    pub thresholds: Vec<u64>,
    /// Attempts per delivery before it is dead-lettered.
    pub max_attempts: u32,
    pub backoff: Backoff,
    /// Alerts per minute per agency (0: no throttling) and the burst allowed.
    pub throttle_per_minute: u32,
    pub throttle_burst: u32,
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// Detections decided per store transaction, at most.
    pub batch: usize,
    /// Acknowledge links in alerts (`ack`); `None`: alerts carry none.
    pub ack_links: Option<AckLinks>,
}

impl Default for NotifyOptions {
    fn default() -> Self {
        Self {
            thresholds: DEFAULT_THRESHOLDS.to_vec(),
            max_attempts: 8,
            backoff: Backoff::default(),
            throttle_per_minute: 60,
            throttle_burst: 20,
            concurrency: 16,
            batch: 256,
            ack_links: None,
        }
    }
}

/// What a run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub messages: u64,
    pub duplicates: u64,
    pub alerts: u64,
    pub rejected: u64,
    /// Detections under a suppression: no alert.
    pub suppressed: u64,
}

struct Inner<P> {
    store: Arc<Store>,
    registry: Arc<Registry>,
    channels: Channels<P>,
    options: NotifyOptions,
    metrics: NotifyMetrics,
    lifecycle: Option<LifecycleHandle>,
}

/// The alert notifier.
pub struct Notifier<P> {
    inner: Arc<Inner<P>>,
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn reason_label(r: &Reason) -> &'static str {
    match r {
        Reason::New => "new",
        Reason::PriorityRaised { .. } => "priority-raised",
        Reason::CountCrossed { .. } => "count-crossed",
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| NotifyError::Task(e.to_string()))?
}

impl<P: Publisher> Notifier<P> {
    pub fn new(
        store: Arc<Store>,
        registry: Arc<Registry>,
        channels: Channels<P>,
        options: NotifyOptions,
        metrics: NotifyMetrics,
    ) -> Self {
        Notifier {
            inner: Arc::new(Inner {
                store,
                registry,
                channels,
                options,
                metrics,
                lifecycle: None,
            }),
        }
    }

    /// Follows the incidents' handling state (fed by [`crate::follow_lifecycle`]): a closed
    /// incident gets no escalation until it is reopened.
    pub fn with_lifecycle(mut self, handle: LifecycleHandle) -> Self {
        Arc::get_mut(&mut self.inner)
            .expect("with_lifecycle is called before the notifier runs")
            .lifecycle = Some(handle);
        self
    }

    /// Runs until `cancel`: reads `subscription`, decides, records, acknowledges, and delivers
    /// from the store. When the subscription closes, delivery goes on until `cancel`. On
    /// cancel, deliveries in flight finish (each bounded by its channel's timeout); what is
    /// still pending stays in the store for the next start.
    pub async fn run<S: Subscription>(
        &self,
        subscription: &mut S,
        cancel: CancellationToken,
    ) -> Result<Summary> {
        let wake = Arc::new(Notify::new());
        let stop_delivery = cancel.child_token();
        let delivery = tokio::spawn(delivery_loop(
            self.inner.clone(),
            wake.clone(),
            stop_delivery.clone(),
        ));
        let intake = self.intake(subscription, &wake, &cancel).await;
        if intake.is_err() {
            stop_delivery.cancel();
        }
        let delivered = delivery
            .await
            .map_err(|e| NotifyError::Task(e.to_string()))?;
        let summary = intake?;
        delivered?;
        Ok(summary)
    }

    async fn intake<S: Subscription>(
        &self,
        sub: &mut S,
        wake: &Notify,
        cancel: &CancellationToken,
    ) -> Result<Summary> {
        let inner = &self.inner;
        let m = &inner.metrics;
        let mut summary = Summary::default();
        loop {
            let first = tokio::select! {
                _ = cancel.cancelled() => break,
                r = sub.recv() => r,
            };
            let Some(first) = first else { break };
            let mut batch = vec![first?];
            while batch.len() < inner.options.batch.max(1) {
                match sub.try_recv() {
                    Some(Some(r)) => batch.push(r?),
                    Some(None) | None => break,
                }
            }
            summary.messages += batch.len() as u64;
            let mut detections = Vec::with_capacity(batch.len());
            let mut acks = Vec::with_capacity(batch.len());
            for msg in batch {
                match serde_json::from_slice::<Detection>(&msg.payload) {
                    Ok(d) if d.schema == DETECTION_SCHEMA_VERSION && d.suppressed.is_some() => {
                        // Under a suppression: kept by the index, never alerted.
                        m.detections.with_label_values(&["suppressed"]).inc();
                        summary.suppressed += 1;
                        msg.ack.ack();
                    }
                    Ok(d) if d.schema == DETECTION_SCHEMA_VERSION => {
                        detections.push(d);
                        acks.push(msg.ack);
                    }
                    other => {
                        let why = match other {
                            Ok(d) => format!("schema version {}", d.schema),
                            Err(e) => e.to_string(),
                        };
                        tracing::warn!(
                            topic = msg.topic,
                            partition = msg.partition,
                            offset = msg.offset,
                            reason = why,
                            "skipping a message that is not a detection"
                        );
                        m.detections.with_label_values(&["rejected"]).inc();
                        summary.rejected += 1;
                        msg.ack.ack();
                    }
                }
            }
            if detections.is_empty() {
                continue;
            }
            let store = inner.store.clone();
            let registry = inner.registry.clone();
            let deciding = Deciding {
                thresholds: inner.options.thresholds.clone(),
                closed: match &inner.lifecycle {
                    Some(l) => l.closed(detections.iter().map(|d| &d.incident_id)),
                    None => HashSet::new(),
                },
                links: inner.options.ack_links.clone(),
            };
            let recorded =
                blocking(move || store.record(&detections, &deciding, &registry, now_ms())).await?;
            // Durable: now the broker may forget them.
            for a in acks {
                a.ack();
            }
            let mut any = false;
            for r in recorded {
                match r {
                    Recorded::Duplicate => {
                        summary.duplicates += 1;
                        m.detections.with_label_values(&["duplicate"]).inc();
                    }
                    Recorded::Quiet => m.detections.with_label_values(&["quiet"]).inc(),
                    Recorded::Alert(reasons, deliveries) => {
                        summary.alerts += 1;
                        any |= !deliveries.is_empty();
                        m.detections.with_label_values(&["alert"]).inc();
                        for r in &reasons {
                            m.decided.with_label_values(&[reason_label(r)]).inc();
                        }
                        if let Some(d) = deliveries.first() {
                            tracing::debug!(
                                key = d.alert.idempotency_key,
                                agency = d.agency,
                                channels = deliveries.len(),
                                "alert decided"
                            );
                        }
                    }
                }
            }
            if any {
                wake.notify_one();
            }
        }
        Ok(summary)
    }
}

async fn delivery_loop<P: Publisher>(
    inner: Arc<Inner<P>>,
    wake: Arc<Notify>,
    cancel: CancellationToken,
) -> Result<()> {
    let opts = &inner.options;
    let concurrency = opts.concurrency.max(1);
    let mut throttle = Throttle::new(opts.throttle_per_minute, opts.throttle_burst);
    let mut busy: HashSet<String> = HashSet::new();
    let mut inflight: JoinSet<Result<String>> = JoinSet::new();
    let mut result = Ok(());
    loop {
        let now = now_ms();
        let mut wake_at: Option<u64> = None;
        if inflight.len() < concurrency {
            let store = inner.store.clone();
            let skip = busy.clone();
            let limit = concurrency * 4;
            let (due, later) = blocking(move || store.due(now, limit, &skip)).await?;
            wake_at = later;
            for d in due {
                if inflight.len() >= concurrency {
                    break; // a finishing delivery wakes us
                }
                if let Err(wait) = throttle.take(&d.agency, now) {
                    inner
                        .metrics
                        .throttled
                        .with_label_values(&[&d.agency])
                        .inc();
                    let at = now + wait.as_millis() as u64;
                    wake_at = Some(wake_at.map_or(at, |w| w.min(at)));
                    continue;
                }
                busy.insert(d.key.clone());
                inflight.spawn(deliver_one(inner.clone(), d));
            }
        }
        let store = inner.store.clone();
        if let Ok(n) = blocking(move || store.pending_len()).await {
            inner.metrics.pending.set(n as i64);
        }
        let sleep = wake_at
            .map(|t| Duration::from_millis(t.saturating_sub(now_ms())))
            .unwrap_or(Duration::from_secs(60));
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = wake.notified() => {}
            Some(done) = inflight.join_next(), if !inflight.is_empty() => {
                match done.map_err(|e| NotifyError::Task(e.to_string())).and_then(|r| r) {
                    Ok(key) => { busy.remove(&key); }
                    Err(e) => { result = Err(e); break; }
                }
            }
            _ = tokio::time::sleep(sleep) => {}
        }
    }
    // Let deliveries in flight finish and record their outcome.
    while let Some(done) = inflight.join_next().await {
        if let Err(e) = done
            .map_err(|e| NotifyError::Task(e.to_string()))
            .and_then(|r| r)
        {
            result = Err(e);
        }
    }
    result
}

async fn deliver_one<P: Publisher>(inner: Arc<Inner<P>>, mut d: Delivery) -> Result<String> {
    let outcome = inner.channels.deliver(&d).await;
    d.attempts += 1;
    let kind = d.kind();
    let m = &inner.metrics;
    let opts = &inner.options;
    match outcome {
        Outcome::Delivered => {
            d.status = DeliveryStatus::Delivered;
            d.last_error = None;
            m.delivered.with_label_values(&[kind]).inc();
            tracing::debug!(key = d.key, attempts = d.attempts, "alert delivered");
        }
        Outcome::Retry(e) if d.attempts < opts.max_attempts => {
            let wait = opts.backoff.delay(d.attempts);
            tracing::warn!(
                key = d.key,
                attempt = d.attempts,
                retry_in_ms = wait.as_millis() as u64,
                error = e,
                "delivery failed, will retry"
            );
            d.next_at_ms = now_ms() + wait.as_millis() as u64;
            d.last_error = Some(e);
            m.retried.with_label_values(&[kind]).inc();
        }
        Outcome::Retry(e) | Outcome::Permanent(e) => {
            let reason = format!("after {} attempt(s): {e}", d.attempts);
            match inner.channels.dead_letter(&d, &reason).await {
                Ok(()) => {
                    tracing::error!(key = d.key, reason, "alert dead-lettered");
                    d.status = DeliveryStatus::Dead;
                    d.last_error = Some(reason);
                    m.dead_lettered.with_label_values(&[kind]).inc();
                }
                Err(dlq) => {
                    // Keep it pending: better late than lost.
                    let wait = opts.backoff.delay(d.attempts);
                    tracing::error!(
                        key = d.key,
                        reason,
                        error = dlq,
                        "cannot dead-letter, will retry"
                    );
                    d.next_at_ms = now_ms() + wait.as_millis() as u64;
                    d.last_error = Some(format!("{reason}; dead-letter failed: {dlq}"));
                }
            }
        }
    }
    let store = inner.store.clone();
    let key = d.key.clone();
    blocking(move || store.update(&d)).await?;
    Ok(key)
}
