//! The stage loop.

use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use tokio_util::sync::CancellationToken;

use canhgac_core::topics::Topics;
use canhgac_core::transport::{Ack, Delivery, Message, Publisher, Received, Subscription};
use canhgac_core::CoreError;

use super::correlate::{Correlator, SharedCorrelator};
use super::detector::correlation_detection;
use super::evaluate::{evaluate_one, guarded, Clock, Evaluated, Outcome};
use super::state::{self, Gate, StateBackend, StateOptions};
use super::suppress::SuppressionsHandle;
use super::{DetectMetrics, RulesHandle, WorkerError};
use canhgac_sigma::CorrelationConfig;

/// Settings of the stage.
#[derive(Debug, Clone)]
pub struct StageOptions {
    /// Most events evaluated together.
    pub batch: usize,
    /// Most events whose outputs are being delivered at once.
    pub max_in_flight: usize,
    /// Correlation engine bounds (lateness, keys, entries).
    pub correlation: CorrelationConfig,
}

impl Default for StageOptions {
    fn default() -> Self {
        Self {
            batch: 512,
            max_in_flight: 20_000,
            correlation: CorrelationConfig::default(),
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
    correlator: SharedCorrelator,
    order: std::sync::Arc<Order>,
    /// Where correlation state is saved; `None`: in memory only.
    state: Option<StateOptions>,
    /// Sequence numbers of events, in delivery order.
    next_seq: std::sync::atomic::AtomicU64,
    /// Suppressions from the lifecycle records; `None`: none applied.
    suppressions: Option<SuppressionsHandle>,
}

impl<P: Publisher> DetectStage<P> {
    pub fn new(
        publisher: P,
        topics: Topics,
        rules: RulesHandle,
        metrics: DetectMetrics,
        options: StageOptions,
    ) -> Self {
        let correlator = std::sync::Arc::new(std::sync::Mutex::new(Correlator::new(
            options.correlation.clone(),
        )));
        Self {
            publisher,
            topics,
            rules,
            metrics,
            options,
            correlator,
            order: std::sync::Arc::default(),
            state: None,
            next_seq: Default::default(),
            suppressions: None,
        }
    }

    /// Marks the detections a suppression covers (`worker::suppress`; the handle is fed by
    /// [`super::follow_suppressions`]) and counts them; the handle reports the suppressions in
    /// force to `detect_suppressions_active`.
    pub fn with_suppressions(mut self, handle: SuppressionsHandle) -> Self {
        handle.report_to(self.metrics.suppressions_active.clone());
        self.suppressions = Some(handle);
        self
    }

    /// Saves correlation state (`state` module): the acks of correlated events wait until a
    /// durable state covers them. A file backend's saved state is restored here; a topic
    /// backend's arrives through `state.assignments` when partitions are assigned.
    pub fn with_state(mut self, state: StateOptions) -> Result<Self, WorkerError> {
        let track_offsets = match &state.backend {
            StateBackend::Topic(_) => true,
            StateBackend::File(path) => {
                for saved in state::load_file(path)? {
                    let key = (saved.topic.clone(), saved.partition);
                    state.assignments.assigned(key, Some(saved));
                }
                false
            }
        };
        let correlator = Correlator::new(self.options.correlation.clone()).with_state(
            state.assignments.clone(),
            track_offsets,
            state.metrics.clone(),
        );
        self.correlator = std::sync::Arc::new(std::sync::Mutex::new(correlator));
        self.state = Some(state);
        Ok(self)
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
        let mut inflight: FuturesUnordered<InFlight> = FuturesUnordered::new();
        let mut failure: Option<CoreError> = None;
        let phase = |name: &str, since: Instant| {
            self.metrics
                .stage_seconds
                .with_label_values(&[name])
                .inc_by(since.elapsed().as_secs_f64())
        };
        let mut waiting = Instant::now();
        let mut gate = self.state.as_ref().map(|s| Gate::new(s.interval));
        // The batch being evaluated on the blocking pool while the previous one is published
        // and the next one received.
        let mut pending: Option<(Vec<Received>, Evaluation)> = None;
        'outer: loop {
            // Acks of deliveries that completed meanwhile.
            while let Some(Some(done)) = inflight.next().now_or_never() {
                settle(done, &mut stats, &self.metrics, &mut failure, gate.as_mut());
            }
            self.tend(&mut gate, false, &mut failure).await;
            if failure.is_some() {
                break;
            }
            let first = if pending.is_some() {
                match sub.try_recv() {
                    Some(m) => m,
                    None => {
                        // Nothing more waiting: deliver the batch under evaluation.
                        let (batch, eval) = pending.take().expect("checked");
                        let outcomes = self.finish(eval).await;
                        self.deliver(
                            batch,
                            outcomes,
                            &mut stats,
                            &mut inflight,
                            &mut failure,
                            &mut gate,
                        )
                        .await;
                        waiting = Instant::now();
                        if failure.is_some() {
                            break 'outer;
                        }
                        continue;
                    }
                }
            } else {
                let writing = gate.as_ref().is_some_and(Gate::writing);
                let held = gate.as_ref().is_some_and(Gate::busy);
                let interval = self.state.as_ref().map_or(Duration::MAX, |s| s.interval);
                tokio::select! {
                    biased;
                    Some(done) = inflight.next(), if !inflight.is_empty() => {
                        settle(done, &mut stats, &self.metrics, &mut failure, gate.as_mut());
                        continue;
                    }
                    r = written(&mut gate), if writing => {
                        self.wrote(&mut gate, r, &mut failure);
                        continue;
                    }
                    _ = tokio::time::sleep(interval), if held && !writing => continue,
                    _ = cancel.cancelled() => break,
                    m = sub.recv() => m,
                }
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
            sub.take_ready(
                &mut batch,
                self.options.batch,
                |e| tracing::warn!(error = %e, "transport error"),
            );
            phase("receive", waiting);
            let eval = self.start_evaluation(&mut batch);
            if let Some(g) = gate.as_mut() {
                g.numbered(eval.first, batch.len() as u64);
            }
            if let Some((prev, prev_eval)) = pending.replace((batch, eval)) {
                let outcomes = self.finish(prev_eval).await;
                self.deliver(
                    prev,
                    outcomes,
                    &mut stats,
                    &mut inflight,
                    &mut failure,
                    &mut gate,
                )
                .await;
            }
            waiting = Instant::now();
            if failure.is_some() || cancel.is_cancelled() {
                break;
            }
        }
        if let Some((batch, eval)) = pending.take() {
            let outcomes = self.finish(eval).await;
            if failure.is_none() {
                self.deliver(
                    batch,
                    outcomes,
                    &mut stats,
                    &mut inflight,
                    &mut failure,
                    &mut gate,
                )
                .await;
            }
        }
        while let Some(done) = inflight.next().await {
            settle(done, &mut stats, &self.metrics, &mut failure, gate.as_mut());
        }
        // The last state, covering everything delivered: then every ack can go.
        while failure.is_none() && gate.as_ref().is_some_and(Gate::busy) {
            self.tend(&mut gate, true, &mut failure).await;
            if gate.as_ref().is_some_and(Gate::writing) {
                let r = written(&mut gate).await;
                self.wrote(&mut gate, r, &mut failure);
            }
        }
        match failure {
            Some(e) => Err(e.into()),
            None => Ok(stats),
        }
    }

    /// Starts parsing and evaluating a batch on the blocking pool, in parallel; then the
    /// correlation engines are fed in delivery order (sequentially: their state is per
    /// partition), after those of the batches started before (a ticket orders them). The batch's
    /// events take the next sequence numbers.
    fn start_evaluation(&self, batch: &mut [Received]) -> Evaluation {
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
        let correlating = !rules.correlations.is_empty();
        let first = self
            .next_seq
            .fetch_add(batch.len() as u64, std::sync::atomic::Ordering::SeqCst);
        let end = first + batch.len() as u64;
        let places: Vec<(String, i32, i64)> = if correlating {
            batch
                .iter()
                .map(|r| (r.topic.clone(), r.partition, r.offset))
                .collect()
        } else {
            Vec::new()
        };
        let metrics = self.metrics.clone();
        let correlator = self.correlator.clone();
        let order = self.order.clone();
        let ticket = order.take_ticket();
        let work = move || {
            use rayon::prelude::*;
            let parallel = std::panic::AssertUnwindSafe(|| {
                items
                    .into_par_iter()
                    .map_init(
                        || {
                            let clock = Clock::new(&metrics);
                            (rules.scratch(), Vec::new(), Vec::new(), clock)
                        },
                        |(scratch, matched, hits, clock), (agency, payload)| {
                            guarded(
                                scratch,
                                || rules.engine.scratch(),
                                |scratch| {
                                    evaluate_one(
                                        &rules,
                                        scratch,
                                        matched,
                                        hits,
                                        clock,
                                        agency,
                                        &payload,
                                        correlating,
                                    )
                                },
                            )
                        },
                    )
                    .collect::<Vec<(Outcome, Option<Evaluated>)>>()
            });
            // Even a panicking batch takes its turn, or the batches after it would wait forever.
            let evaluated = std::panic::catch_unwind(parallel);
            let _turn = order.wait_turn(ticket);
            let evaluated = match evaluated {
                Ok(v) => v,
                Err(panic) => std::panic::resume_unwind(panic),
            };
            if !correlating {
                return evaluated.into_iter().map(|(o, _)| o).collect();
            }
            let t = Instant::now();
            let mut corr = correlator.lock().unwrap_or_else(|p| p.into_inner());
            corr.prepare(&rules);
            let mut scratch = rules.scratch();
            let out = evaluated
                .into_iter()
                .zip(places)
                .map(|((mut outcome, ev), (topic, partition, offset))| {
                    let fed = ev.as_ref().map(|e| (&e.event, &e.matched[..]));
                    let place = (topic.as_str(), partition);
                    let matches = corr.observe(&rules, place, offset, fed, &mut scratch);
                    if let (Outcome::Detections(list, _), Some(ev)) = (&mut outcome, &ev) {
                        for m in matches {
                            metrics.correlation_matches.inc();
                            list.push(correlation_detection(&rules, &ev.agency, &ev.event, &m));
                        }
                    }
                    outcome
                })
                .collect();
            corr.set_covered(end);
            let s = corr.stats();
            metrics.correlation_keys.set(s.keys as i64);
            metrics.correlation_late.set(s.late_dropped as i64);
            metrics
                .cpu_seconds
                .with_label_values(&["correlate"])
                .inc_by(t.elapsed().as_secs_f64());
            out
        };
        Evaluation {
            task: tokio::task::spawn_blocking(work),
            first,
            hold: correlating && self.state.is_some(),
        }
    }

    /// Waits for a batch's evaluation; counts the wait as the `evaluate` phase.
    async fn finish(&self, eval: Evaluation) -> Finished {
        let waited = Instant::now();
        let outcomes = eval.task.await.unwrap_or_default();
        self.metrics
            .stage_seconds
            .with_label_values(&["evaluate"])
            .inc_by(waited.elapsed().as_secs_f64());
        Finished {
            outcomes,
            first: eval.first,
            hold: eval.hold,
        }
    }

    /// Takes a state when one is due (or `now`), and starts writing it once what it covers
    /// is delivered; takes note of a write that completed.
    async fn tend(&self, gate: &mut Option<Gate>, now: bool, failure: &mut Option<CoreError>) {
        let (Some(g), Some(st)) = (gate.as_mut(), self.state.as_ref()) else {
            return;
        };
        if g.writing() {
            if let Some(r) = g.written().now_or_never() {
                self.wrote(gate, r, failure);
            }
            return;
        }
        if g.due(now) {
            let correlator = self.correlator.clone();
            let backend = st.backend.clone();
            let all = matches!(backend, StateBackend::File(_));
            let taken = tokio::task::spawn_blocking(move || {
                let (parts, covered) = {
                    let mut corr = correlator.lock().unwrap_or_else(|p| p.into_inner());
                    (corr.to_save(all), corr.covered())
                };
                let n = parts.len() as u64;
                (covered, n, state::encode(&backend, parts))
            })
            .await;
            match taken {
                Ok((covered, n, records)) => g.taken(covered, n, records),
                Err(e) => {
                    failure.get_or_insert(CoreError::Transport(format!(
                        "taking the correlation state failed: {e}"
                    )));
                    return;
                }
            }
        }
        g.start(&st.backend, &self.publisher);
    }

    /// A state write completed: its acks go, or the stage stops (the events are read again).
    fn wrote(
        &self,
        gate: &mut Option<Gate>,
        r: Result<(u64, u64, u64), CoreError>,
        failure: &mut Option<CoreError>,
    ) {
        let (Some(g), Some(st)) = (gate.as_mut(), self.state.as_ref()) else {
            return;
        };
        match r {
            Ok((covered, parts, bytes)) => {
                st.metrics.written.inc_by(parts);
                st.metrics.bytes.inc_by(bytes);
                g.done(covered);
            }
            Err(e) => {
                tracing::error!(error = %e, "correlation state not saved");
                failure.get_or_insert(e);
            }
        }
    }

    /// Publishes a batch's outputs in order; their acknowledgements join `inflight`.
    async fn deliver(
        &self,
        batch: Vec<Received>,
        done: Finished,
        stats: &mut StageStats,
        inflight: &mut FuturesUnordered<InFlight>,
        failure: &mut Option<CoreError>,
        gate: &mut Option<Gate>,
    ) {
        let publishing = Instant::now();
        let mut blocked = Duration::ZERO;
        let Finished {
            outcomes,
            first,
            hold,
        } = done;
        let n = outcomes.len();
        if let Some(g) = gate.as_mut() {
            // Events without an outcome (their evaluation panicked) are not acked.
            for seq in first + n as u64..first + batch.len() as u64 {
                g.settled(seq, None, false);
            }
        }
        for (seq, (received, outcome)) in (first..).zip(batch.into_iter().zip(outcomes)) {
            let agency = self
                .topics
                .agency_of_events_topic(&received.topic)
                .unwrap_or("unknown")
                .to_string();
            let read_at = match &outcome {
                Outcome::Detections(_, t) => Some(*t),
                Outcome::Invalid(..) => None,
            };
            let deliveries = match self.publish(&agency, &received, outcome, stats).await {
                Ok(d) => d,
                Err(e) => {
                    failure.get_or_insert(e);
                    break;
                }
            };
            inflight.push(Box::pin(async move {
                Done {
                    results: futures::future::join_all(deliveries).await,
                    ack: received.ack,
                    read_at,
                    seq,
                    hold,
                }
            }));
            if inflight.len() >= self.options.max_in_flight {
                let t = Instant::now();
                while inflight.len() >= self.options.max_in_flight {
                    if let Some(done) = inflight.next().await {
                        settle(done, stats, &self.metrics, failure, gate.as_mut());
                    }
                }
                blocked += t.elapsed();
            }
        }
        let total = publishing.elapsed();
        self.metrics
            .stage_seconds
            .with_label_values(&["publish"])
            .inc_by(total.saturating_sub(blocked).as_secs_f64());
        self.metrics
            .stage_seconds
            .with_label_values(&["backpressure"])
            .inc_by(blocked.as_secs_f64());
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
            Outcome::Detections(list, _) => {
                stats.events += 1;
                self.metrics.events.inc();
                let suppressions = self.suppressions.as_ref().map(|h| h.current());
                let now = tokio::time::Instant::now();
                for mut d in list {
                    stats.detections += 1;
                    if let Some(id) = suppressions.as_ref().and_then(|s| s.mark(&mut d, now)) {
                        self.metrics
                            .suppressed
                            .with_label_values(&[&id.to_hex()])
                            .inc();
                    }
                    self.metrics
                        .detections
                        .with_label_values(&[d.category.as_str(), &d.rule.id])
                        .inc();
                    if let Some(hit) = &d.ioc {
                        self.metrics
                            .ioc_hits
                            .with_label_values(&[&d.rule.id, &hit.list_kind])
                            .inc();
                    }
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

/// A batch under evaluation on the blocking pool: its events are numbered from `first`; with
/// `hold` their acks wait for a saved correlation state.
struct Evaluation {
    task: tokio::task::JoinHandle<Vec<Outcome>>,
    first: u64,
    hold: bool,
}

/// A batch's evaluation, done.
struct Finished {
    outcomes: Vec<Outcome>,
    first: u64,
    hold: bool,
}

/// The write of a saved state in flight, if any (pending forever otherwise).
async fn written(gate: &mut Option<Gate>) -> Result<(u64, u64, u64), CoreError> {
    match gate.as_mut() {
        Some(g) => g.written().await,
        None => std::future::pending().await,
    }
}

/// The deliveries of one message, with its ack.
type InFlight = std::pin::Pin<Box<dyn std::future::Future<Output = Done> + Send>>;

/// Orders the correlation step of batches evaluated concurrently: tickets in start order, each
/// batch waits until the batches before it are done.
#[derive(Default)]
pub(super) struct Order {
    next_ticket: std::sync::atomic::AtomicU64,
    serving: std::sync::Mutex<u64>,
    turn: std::sync::Condvar,
}

/// A batch's turn; the next batch's comes when it is dropped.
struct Turn<'a>(&'a Order);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut s = self.0.serving.lock().unwrap_or_else(|p| p.into_inner());
        *s += 1;
        self.0.turn.notify_all();
    }
}

impl Order {
    fn take_ticket(&self) -> u64 {
        self.next_ticket
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    }

    fn wait_turn(&self, ticket: u64) -> Turn<'_> {
        let mut s = self.serving.lock().unwrap_or_else(|p| p.into_inner());
        while *s != ticket {
            s = self.turn.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        Turn(self)
    }
}

/// One event's deliveries, done.
struct Done {
    results: Vec<Result<canhgac_core::transport::Delivered, CoreError>>,
    ack: Ack,
    read_at: Option<chrono::DateTime<chrono::Utc>>,
    seq: u64,
    hold: bool,
}

/// An event's deliveries completed: it is acked (through the gate when correlation state is
/// saved), or the stage stops.
fn settle(
    done: Done,
    stats: &mut StageStats,
    metrics: &DetectMetrics,
    failure: &mut Option<CoreError>,
    gate: Option<&mut Gate>,
) {
    let Done {
        results,
        ack,
        read_at,
        seq,
        hold,
    } = done;
    match results.into_iter().find_map(Result::err) {
        None => {
            match gate {
                Some(g) => g.settled(seq, Some(ack), hold),
                None => ack.ack(),
            }
            stats.acked += 1;
            if let Some(t) = read_at {
                let ms = (chrono::Utc::now() - t)
                    .num_microseconds()
                    .unwrap_or(i64::MAX);
                metrics.end_to_end_seconds.observe(ms.max(0) as f64 / 1e6);
            }
        }
        Some(e) => {
            // Not acked: the event is read again after a restart (same detection ids).
            if let Some(g) = gate {
                g.settled(seq, None, false);
            }
            metrics.delivery_errors.inc();
            tracing::error!(error = %e, "delivery failed");
            failure.get_or_insert(e);
        }
    }
}

/// How long to wait between lag samples (the binary samples the Kafka consumer).
pub const LAG_INTERVAL: Duration = Duration::from_secs(5);
