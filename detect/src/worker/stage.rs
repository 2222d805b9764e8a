//! The stage loop.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use tokio_util::sync::CancellationToken;

use canhgac_core::detection::Detection;
use canhgac_core::event::{Event, EVENT_SCHEMA_VERSION};
use canhgac_core::topics::Topics;
use canhgac_core::transport::{Ack, Delivery, Message, Publisher, Received, Subscription};
use canhgac_core::CoreError;

use super::correlate::{Correlator, SharedCorrelator};
use super::detector::{correlation_detection, detections_of};
use super::{DetectMetrics, RulesHandle, WorkerError};
use crate::input::PayloadHead;
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
}

/// What evaluation made of one message.
enum Outcome {
    /// The detections of a readable event, and when its sensor read it (`Event::received`).
    Detections(Vec<Detection>, chrono::DateTime<chrono::Utc>),
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
        let mut inflight: FuturesUnordered<InFlight> = FuturesUnordered::new();
        let mut failure: Option<CoreError> = None;
        let phase = |name: &str, since: Instant| {
            self.metrics
                .stage_seconds
                .with_label_values(&[name])
                .inc_by(since.elapsed().as_secs_f64())
        };
        let mut waiting = Instant::now();
        // The batch being evaluated on the blocking pool while the previous one is published
        // and the next one received.
        let mut pending: Option<(Vec<Received>, Evaluation)> = None;
        'outer: loop {
            // Acks of deliveries that completed meanwhile.
            while let Some(Some(done)) = inflight.next().now_or_never() {
                settle(done, &mut stats, &self.metrics, &mut failure);
            }
            let first = if pending.is_some() {
                match sub.try_recv() {
                    Some(m) => m,
                    None => {
                        // Nothing more waiting: deliver the batch under evaluation.
                        let (batch, eval) = pending.take().expect("checked");
                        let outcomes = self.finish(eval).await;
                        self.deliver(batch, outcomes, &mut stats, &mut inflight, &mut failure)
                            .await;
                        waiting = Instant::now();
                        if failure.is_some() {
                            break 'outer;
                        }
                        continue;
                    }
                }
            } else {
                tokio::select! {
                    biased;
                    Some(done) = inflight.next(), if !inflight.is_empty() => {
                        settle(done, &mut stats, &self.metrics, &mut failure);
                        continue;
                    }
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
            while batch.len() < self.options.batch {
                match sub.try_recv() {
                    Some(Some(Ok(m))) => batch.push(m),
                    Some(Some(Err(e))) => tracing::warn!(error = %e, "transport error"),
                    Some(None) | None => break,
                }
            }
            phase("receive", waiting);
            let eval = self.start_evaluation(&mut batch);
            if let Some((prev, prev_eval)) = pending.replace((batch, eval)) {
                let outcomes = self.finish(prev_eval).await;
                self.deliver(prev, outcomes, &mut stats, &mut inflight, &mut failure)
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
                self.deliver(batch, outcomes, &mut stats, &mut inflight, &mut failure)
                    .await;
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

    /// Starts parsing and evaluating a batch on the blocking pool, in parallel; then the
    /// correlation engines are fed in delivery order (sequentially: their state is per topic),
    /// after those of the batches started before (a ticket orders them).
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
        let topics: Vec<String> = if correlating {
            batch.iter().map(|r| r.topic.clone()).collect()
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
                .zip(topics)
                .map(|((mut outcome, ev), topic)| {
                    if let (Outcome::Detections(list, _), Some(ev)) = (&mut outcome, ev) {
                        for m in corr.observe(&rules, &topic, &ev.event, &ev.matched, &mut scratch)
                        {
                            metrics.correlation_matches.inc();
                            list.push(correlation_detection(&rules, &ev.agency, &ev.event, &m));
                        }
                    }
                    outcome
                })
                .collect();
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
        }
    }

    /// Waits for a batch's evaluation; counts the wait as the `evaluate` phase.
    async fn finish(&self, eval: Evaluation) -> Vec<Outcome> {
        let waited = Instant::now();
        let out = eval.task.await.unwrap_or_default();
        self.metrics
            .stage_seconds
            .with_label_values(&["evaluate"])
            .inc_by(waited.elapsed().as_secs_f64());
        out
    }

    /// Publishes a batch's outputs in order; their acknowledgements join `inflight`.
    async fn deliver(
        &self,
        batch: Vec<Received>,
        outcomes: Vec<Outcome>,
        stats: &mut StageStats,
        inflight: &mut FuturesUnordered<InFlight>,
        failure: &mut Option<CoreError>,
    ) {
        let publishing = Instant::now();
        let mut blocked = Duration::ZERO;
        for (received, outcome) in batch.into_iter().zip(outcomes) {
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
                (
                    futures::future::join_all(deliveries).await,
                    received.ack,
                    read_at,
                )
            }));
            if inflight.len() >= self.options.max_in_flight {
                let t = Instant::now();
                while inflight.len() >= self.options.max_in_flight {
                    if let Some(done) = inflight.next().await {
                        settle(done, stats, &self.metrics, failure);
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
                for d in list {
                    stats.detections += 1;
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

/// A batch under evaluation on the blocking pool.
struct Evaluation {
    task: tokio::task::JoinHandle<Vec<Outcome>>,
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

/// An event whose base-rule matches feed a correlation.
struct Evaluated {
    agency: String,
    event: Event,
    matched: Vec<canhgac_sigma::RuleIdx>,
}

/// CPU time per evaluation phase of one rayon job, added to the metrics when it ends (the
/// latency histogram too: two threads observing one shared histogram per event fight over its
/// cache lines).
struct Clock<'a> {
    metrics: &'a DetectMetrics,
    eval_seconds: prometheus::local::LocalHistogram,
    decode: f64,
    sigma: f64,
    ioc: f64,
    suppressed: u64,
}

impl<'a> Clock<'a> {
    fn new(metrics: &'a DetectMetrics) -> Self {
        Self {
            metrics,
            eval_seconds: metrics.eval_seconds.local(),
            decode: 0.0,
            sigma: 0.0,
            ioc: 0.0,
            suppressed: 0,
        }
    }
}

impl Drop for Clock<'_> {
    fn drop(&mut self) {
        self.eval_seconds.flush();
        let c = &self.metrics.cpu_seconds;
        c.with_label_values(&["decode"]).inc_by(self.decode);
        c.with_label_values(&["sigma"]).inc_by(self.sigma);
        c.with_label_values(&["ioc"]).inc_by(self.ioc);
        self.metrics.ioc_suppressed.inc_by(self.suppressed);
    }
}

/// Runs one event's evaluation. A panic (a bug the event's content triggers) becomes that
/// event's DLQ record, with the panic's message, instead of failing its batch, which would be
/// read again and fail again after every restart. The job's scratch memory, which the panic may
/// have left half updated, is replaced by `fresh`.
fn guarded(
    scratch: &mut canhgac_sigma::Scratch,
    fresh: impl FnOnce() -> canhgac_sigma::Scratch,
    eval: impl FnOnce(&mut canhgac_sigma::Scratch) -> (Outcome, Option<Evaluated>),
) -> (Outcome, Option<Evaluated>) {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| eval(scratch))) {
        Ok(done) => done,
        Err(panic) => {
            *scratch = fresh();
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            tracing::error!(panic = %what, "evaluating an event panicked; it goes to the DLQ");
            let why = format!("evaluating the event panicked: {what}");
            (Outcome::Invalid("evaluation_panicked", why), None)
        }
    }
}

/// Decodes one payload and runs the Sigma engine and the IOC lists on it.
#[allow(clippy::too_many_arguments)]
fn evaluate_one(
    rules: &super::Ruleset,
    scratch: &mut canhgac_sigma::Scratch,
    matched: &mut Vec<canhgac_sigma::RuleIdx>,
    hits: &mut Vec<crate::IocMatch>,
    clock: &mut Clock<'_>,
    agency: Option<String>,
    payload: &[u8],
    correlating: bool,
) -> (Outcome, Option<Evaluated>) {
    let Some(agency) = agency else {
        return (
            Outcome::Invalid(
                "not_an_events_topic",
                "the topic is not <prefix>.events.<agency>".into(),
            ),
            None,
        );
    };
    let t0 = Instant::now();
    // The record itself stays JSON text: most events match nothing and never need a `Value`.
    let mut head = match PayloadHead::read(payload) {
        Ok(h) => h,
        Err(e) => {
            return (
                Outcome::Invalid("invalid_event", format!("not an event: {e}")),
                None,
            )
        }
    };
    if head.schema() != EVENT_SCHEMA_VERSION {
        let why = format!(
            "event schema {} (this worker reads {EVENT_SCHEMA_VERSION})",
            head.schema()
        );
        return (Outcome::Invalid("schema_version", why), None);
    }
    let t1 = Instant::now();
    matched.clear();
    if let Err(e) = head.eval(&rules.engine, scratch, matched) {
        let why = format!("original record: {e}");
        return (Outcome::Invalid("invalid_event", why), None);
    }
    let t2 = Instant::now();
    hits.clear();
    if !rules.ioc.is_empty() {
        match head.ioc_fields(&mut None) {
            Ok(f) => clock.suppressed += rules.ioc.matches_fields(&f, hits) as u64,
            Err(e) => {
                let why = format!("not an event: ecs: {e}");
                return (Outcome::Invalid("invalid_event", why), None);
            }
        }
    }
    let t3 = Instant::now();
    clock.sigma += (t2 - t1).as_secs_f64();
    clock.ioc += (t3 - t2).as_secs_f64();
    clock.eval_seconds.observe((t3 - t1).as_secs_f64());
    let received = head.received();
    if matched.is_empty() && hits.is_empty() {
        clock.decode += (t1 - t0).as_secs_f64();
        return (Outcome::Detections(Vec::new(), received), None);
    }
    // Something matched: the detections carry the whole event.
    let t4 = Instant::now();
    let mut event = match head.event() {
        Ok(e) => e,
        Err(e) => {
            let why = format!("not an event: {e}");
            return (Outcome::Invalid("invalid_event", why), None);
        }
    };
    clock.decode += (t1 - t0).as_secs_f64() + t4.elapsed().as_secs_f64();
    // The agency is the topic's, whatever the payload claims.
    event.agency = agency.clone();
    let mut out = Vec::new();
    let feeds = correlating && matched.iter().any(|r| rules.correlations.feeds(*r));
    if !feeds {
        // Nothing needs the event after its detections: the last one takes it.
        detections_of(rules, &agency, Cow::Owned(event), matched, hits, &mut out);
        return (Outcome::Detections(out, received), None);
    }
    detections_of(
        rules,
        &agency,
        Cow::Borrowed(&event),
        matched,
        hits,
        &mut out,
    );
    let ev = Evaluated {
        agency,
        event,
        matched: matched.clone(),
    };
    (Outcome::Detections(out, received), Some(ev))
}

type Done = (
    Vec<Result<canhgac_core::transport::Delivered, CoreError>>,
    Ack,
    Option<chrono::DateTime<chrono::Utc>>,
);

fn settle(
    done: Done,
    stats: &mut StageStats,
    metrics: &DetectMetrics,
    failure: &mut Option<CoreError>,
) {
    let (results, ack, read_at) = done;
    match results.into_iter().find_map(Result::err) {
        None => {
            ack.ack();
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
            metrics.delivery_errors.inc();
            tracing::error!(error = %e, "delivery failed");
            failure.get_or_insert(e);
        }
    }
}

/// How long to wait between lag samples (the binary samples the Kafka consumer).
pub const LAG_INTERVAL: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_event_becomes_its_own_dlq_record_and_the_scratch_is_replaced() {
        let engine = canhgac_sigma::EngineBuilder::new(canhgac_sigma::Mappings::builtin())
            .build()
            .0;
        let mut scratch = engine.scratch();
        for (panics, message) in [
            (
                Box::new(|| panic!("bad input")) as Box<dyn Fn()>,
                "bad input",
            ),
            (
                Box::new(|| panic!("index {} out of range", 7)),
                "index 7 out of range",
            ),
        ] {
            let mut replaced = false;
            let fresh = || {
                replaced = true;
                engine.scratch()
            };
            let (outcome, evaluated) = guarded(&mut scratch, fresh, |_| {
                panics();
                unreachable!()
            });
            assert!(replaced, "the scratch memory is replaced after a panic");
            assert!(evaluated.is_none());
            match outcome {
                Outcome::Invalid(reason, why) => {
                    assert_eq!(reason, "evaluation_panicked");
                    assert!(why.contains(message), "{why}");
                }
                Outcome::Detections(..) => panic!("a panic must become a DLQ record"),
            }
        }
        // Without a panic the evaluation's own outcome passes through and the scratch stays.
        let (outcome, _) = guarded(
            &mut scratch,
            || unreachable!("no panic, no new scratch"),
            |_| (Outcome::Detections(Vec::new(), chrono::Utc::now()), None),
        );
        assert!(matches!(outcome, Outcome::Detections(..)));
    }
}
