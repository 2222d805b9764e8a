//! The at-least-once consumer.
//!
//! A dedicated OS thread owns the librdkafka consumer: it polls, hands messages to the async
//! side through a bounded channel, and runs the rebalance callbacks. Each message is registered
//! in a per-partition [`OrderedAcks`]; its [`Ack`] stores the partition's offset once every
//! earlier message of that partition was acked, and librdkafka's auto-commit commits stored
//! offsets. On revoke the thread waits (bounded) until the revoked partitions have nothing in
//! flight, then commits synchronously; on close it does the same for every partition.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use canhgac_core::ack::OrderedAcks;
use canhgac_core::transport::{Ack, Received, Subscription};
use canhgac_core::CoreError;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Headers, Message};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::mpsc;

use crate::{kafka_err, ClientSettings};

const CONSUMER_DEFAULTS: &[(&str, &str)] = &[
    ("enable.auto.offset.store", "false"),
    ("enable.auto.commit", "true"),
    ("auto.commit.interval.ms", "1000"),
    ("auto.offset.reset", "earliest"),
    ("partition.assignment.strategy", "cooperative-sticky"),
    // Pattern subscriptions pick up a new agency's topic within seconds.
    ("topic.metadata.refresh.interval.ms", "5000"),
    ("session.timeout.ms", "10000"),
    ("heartbeat.interval.ms", "1000"),
    // Statistics feed the consumer-lag gauge.
    ("statistics.interval.ms", "5000"),
    // An idle partition's fetch returns within 100 ms (librdkafka's default is 500 ms): each
    // hop of the pipeline would otherwise add up to half a second to the time from event to
    // searchable incident. With data waiting, fetches return at once either way.
    ("fetch.wait.max.ms", "100"),
    // Once librdkafka's prefetch queue is over its threshold (64 MB by default), it waits this
    // long before fetching that partition again. At librdkafka's default of 1000 ms a stage that
    // drains the queue in less than a second then finds nothing to read: a detect worker
    // draining a full topic stalled 0.66 s every 80k events (55.8k events/s; 77.2k with 10 ms).
    ("fetch.queue.backoff.ms", "10"),
];

/// What to subscribe to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscribeTo {
    Topics(Vec<String>),
    /// A regex (librdkafka subscribes by pattern when a topic name starts with `^`).
    Pattern(String),
}

type PartKey = (String, i32);

struct PartState {
    generation: u64,
    acks: OrderedAcks<i64>,
}

#[derive(Default)]
struct Tracking {
    parts: HashMap<PartKey, PartState>,
    next_generation: u64,
}

struct Shared {
    tracking: Mutex<Tracking>,
    drained: Condvar,
    drain_timeout: Duration,
}

impl Shared {
    /// Waits until none of `parts` (all, if `None`) has a message in flight, or the timeout.
    fn wait_drained(&self, parts: Option<&[PartKey]>) -> bool {
        let deadline = Instant::now() + self.drain_timeout;
        let mut t = self.tracking.lock().expect("tracking lock");
        loop {
            let busy = t
                .parts
                .iter()
                .any(|(k, p)| p.acks.in_flight() > 0 && parts.is_none_or(|ps| ps.contains(k)));
            if !busy {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            t = self
                .drained
                .wait_timeout(t, deadline - now)
                .expect("tracking lock")
                .0;
        }
    }
}

/// Chooses where newly assigned partitions start: `(topic, partition, next offset)` for the
/// partitions it knows; the others start from the group's committed offset. The indexer uses
/// it to resume from the offsets stored in its own commit (the Kafka commit is then a hint).
pub type StartOffsets = Arc<dyn Fn(&[(String, i32)]) -> Vec<(String, i32, i64)> + Send + Sync>;

/// Told which partitions were revoked, after their in-flight messages were acked (or the
/// drain timed out) and their offsets committed, before they are unassigned. A stage that keeps
/// state per partition drops it here: the partition's next owner restores its own.
pub type Revoked = Arc<dyn Fn(&[(String, i32)]) + Send + Sync>;

/// Settings of a [`KafkaSubscription`].
#[derive(Clone)]
pub struct SubscriptionOptions {
    /// Messages handed over but not yet received by the stage.
    pub buffer: usize,
    /// How long a revoke or close waits for in-flight messages to be acked.
    pub drain_timeout: Duration,
    pub start_offsets: Option<StartOffsets>,
    /// Called on revoke (see [`Revoked`]).
    pub revoked: Option<Revoked>,
    /// A member that has held no partition this long leaves and rejoins the group (then
    /// waits twice as long before the next time, up to ten minutes). Some coordinators (Tansu)
    /// keep a SIGKILLed member's partitions after its session expired and never rebalance
    /// again, so its restarted successor would wait forever; on Kafka this only costs a
    /// rebalance now and then for a member that has nothing to do. `None` disables it.
    pub rejoin_when_idle: Option<Duration>,
}

impl Default for SubscriptionOptions {
    fn default() -> Self {
        Self {
            buffer: 1024,
            drain_timeout: Duration::from_secs(30),
            start_offsets: None,
            revoked: None,
            rejoin_when_idle: Some(Duration::from_secs(30)),
        }
    }
}

/// When to rejoin the group while no partition is assigned (see
/// [`SubscriptionOptions::rejoin_when_idle`]).
struct Rejoin {
    after: Option<Duration>,
    idle_since: Option<Instant>,
    last_check: Instant,
}

impl Rejoin {
    const MAX: Duration = Duration::from_secs(600);

    fn check(&mut self, consumer: &BaseConsumer<Ctx>, topics: &[&str]) {
        let Some(after) = self.after else { return };
        if self.last_check.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last_check = Instant::now();
        let idle = consumer
            .assignment()
            .map(|a| a.count() == 0)
            .unwrap_or(false);
        if !idle {
            self.idle_since = None;
            return;
        }
        let since = *self.idle_since.get_or_insert_with(Instant::now);
        if since.elapsed() < after {
            return;
        }
        tracing::info!(
            idle_s = since.elapsed().as_secs(),
            "no partition assigned: leaving and rejoining the consumer group"
        );
        consumer.unsubscribe();
        if let Err(e) = consumer.subscribe(topics) {
            tracing::error!(error = %e, "resubscribe failed");
        }
        self.idle_since = None;
        self.after = Some((after * 2).min(Self::MAX));
    }
}

struct Ctx {
    shared: Arc<Shared>,
    start_offsets: Option<StartOffsets>,
    revoked: Option<Revoked>,
    lag: Arc<AtomicI64>,
}

impl ClientContext for Ctx {
    /// librdkafka statistics (every `statistics.interval.ms`): total consumer lag over the
    /// assigned partitions.
    fn stats(&self, statistics: rdkafka::Statistics) {
        let lag: i64 = statistics
            .topics
            .values()
            .flat_map(|t| t.partitions.values())
            .filter(|p| p.partition >= 0 && p.consumer_lag >= 0)
            .map(|p| p.consumer_lag)
            .sum();
        self.lag.store(lag, Ordering::Relaxed);
    }
}

impl ConsumerContext for Ctx {
    /// Runs on the consumer's own thread, inside `poll`. Revoke: wait (bounded) for in-flight
    /// messages of the revoked partitions, commit synchronously, unassign. Assign: start
    /// tracking, apply stored start offsets to the list, assign.
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        let parts: Vec<PartKey> = tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_string(), e.partition()))
            .collect();
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                if !self.shared.wait_drained(Some(&parts)) {
                    tracing::warn!(
                        partitions = parts.len(),
                        "revoke: in-flight messages not acked in time, they will be redelivered"
                    );
                }
                commit_sync(consumer, "revoke");
                if let Some(revoked) = &self.revoked {
                    revoked(&parts);
                }
                {
                    let mut t = self.shared.tracking.lock().expect("tracking lock");
                    for k in &parts {
                        t.parts.remove(k);
                    }
                }
                let result = if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                };
                if let Err(e) = result {
                    tracing::error!(error = %e, "unassign failed");
                }
                tracing::info!(partitions = parts.len(), "partitions revoked");
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                {
                    let mut t = self.shared.tracking.lock().expect("tracking lock");
                    for k in &parts {
                        let generation = t.next_generation;
                        t.next_generation += 1;
                        t.parts.insert(
                            k.clone(),
                            PartState {
                                generation,
                                acks: OrderedAcks::new(),
                            },
                        );
                    }
                }
                if let Some(choose) = &self.start_offsets {
                    let starts = choose(&parts);
                    for (topic, partition, offset) in &starts {
                        if let Err(e) =
                            tpl.set_partition_offset(topic, *partition, Offset::Offset(*offset))
                        {
                            tracing::warn!(error = %e, topic, partition, "bad start offset");
                        }
                    }
                    if !starts.is_empty() {
                        tracing::info!(partitions = starts.len(), "resuming from stored offsets");
                    }
                }
                let result = if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                };
                if let Err(e) = result {
                    tracing::error!(error = %e, "assign failed");
                }
                tracing::info!(partitions = parts.len(), "partitions assigned");
            }
            other => {
                tracing::error!(error = ?other, "rebalance error");
                let _ = consumer.unassign();
            }
        }
    }
}

fn commit_sync(consumer: &BaseConsumer<Ctx>, why: &str) {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) => {}
        Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
        Err(e) => tracing::warn!(error = %e, "{why}: commit failed"),
    }
}

/// A consumer-group subscription on Kafka. Drop it or call [`KafkaSubscription::close`] to
/// leave the group; `close` waits until in-flight messages are acked and offsets committed.
pub struct KafkaSubscription {
    lag: Arc<AtomicI64>,
    rx: mpsc::Receiver<Result<Received, CoreError>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl KafkaSubscription {
    /// Joins `group` and subscribes. `buffer` bounds the messages handed over but not yet
    /// received by the stage.
    pub fn new(
        settings: &ClientSettings,
        group: &str,
        to: SubscribeTo,
        buffer: usize,
    ) -> Result<Self, CoreError> {
        let options = SubscriptionOptions {
            buffer,
            ..Default::default()
        };
        Self::with_options(settings, group, to, options)
    }

    /// Joins `group` and subscribes, with the given options.
    pub fn with_options(
        settings: &ClientSettings,
        group: &str,
        to: SubscribeTo,
        options: SubscriptionOptions,
    ) -> Result<Self, CoreError> {
        let buffer = options.buffer;
        let lag = Arc::new(AtomicI64::new(0));
        let mut defaults = CONSUMER_DEFAULTS.to_vec();
        defaults.push(("group.id", group));
        let shared = Arc::new(Shared {
            tracking: Mutex::new(Tracking::default()),
            drained: Condvar::new(),
            drain_timeout: options.drain_timeout,
        });
        let consumer: BaseConsumer<Ctx> = settings
            .client_config(&defaults)
            .create_with_context(Ctx {
                shared: shared.clone(),
                start_offsets: options.start_offsets,
                revoked: options.revoked,
                lag: lag.clone(),
            })
            .map_err(|e| kafka_err("cannot create consumer", e))?;
        let topics: Vec<String> = match to {
            SubscribeTo::Topics(t) => t,
            SubscribeTo::Pattern(p) => vec![if p.starts_with('^') {
                p
            } else {
                format!("^{p}")
            }],
        };
        let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&refs)
            .map_err(|e| kafka_err("subscribe", e))?;
        let consumer = Arc::new(consumer);
        let (tx, rx) = mpsc::channel(buffer.max(1));
        let stop = Arc::new(AtomicBool::new(false));
        let rejoin = Rejoin {
            after: options.rejoin_when_idle,
            idle_since: None,
            last_check: Instant::now(),
        };
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("kafka-consumer".into())
                .spawn(move || poll_loop(consumer, shared, tx, stop, topics, rejoin))
                .map_err(|e| CoreError::Transport(format!("cannot start consumer thread: {e}")))?
        };
        Ok(Self {
            lag,
            rx,
            stop,
            thread: Some(thread),
        })
    }

    /// Messages behind the end of the assigned partitions, from librdkafka's statistics
    /// (updated every 5 s).
    pub fn lag(&self) -> Arc<AtomicI64> {
        self.lag.clone()
    }

    /// Stops fetching, waits (bounded) until every message handed out was acked, commits, and
    /// leaves the group. Ack what you hold before calling it.
    pub async fn close(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.rx.close();
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

impl Drop for KafkaSubscription {
    fn drop(&mut self) {
        // The thread drains, commits and closes the consumer on its own; never join here, we
        // may be on a tokio worker.
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl Subscription for KafkaSubscription {
    async fn recv(&mut self) -> Option<Result<Received, CoreError>> {
        self.rx.recv().await
    }
}

fn poll_loop(
    consumer: Arc<BaseConsumer<Ctx>>,
    shared: Arc<Shared>,
    tx: mpsc::Sender<Result<Received, CoreError>>,
    stop: Arc<AtomicBool>,
    topics: Vec<String>,
    mut rejoin: Rejoin,
) {
    let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
    'outer: while !stop.load(Ordering::SeqCst) {
        rejoin.check(&consumer, &topics);
        let received = match consumer.poll(Duration::from_millis(100)) {
            None => continue,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "consumer error");
                continue;
            }
            Some(Ok(m)) => {
                let topic = m.topic().to_string();
                let partition = m.partition();
                let offset = m.offset();
                let key = (topic.clone(), partition);
                let registered = {
                    let mut t = shared.tracking.lock().expect("tracking lock");
                    let next = t.next_generation;
                    let p = t.parts.entry(key.clone()).or_insert_with(|| PartState {
                        generation: next,
                        acks: OrderedAcks::new(),
                    });
                    if p.generation == next {
                        t.next_generation += 1;
                    }
                    let p = t.parts.get_mut(&key).expect("just inserted");
                    (p.generation, p.acks.push(offset + 1))
                };
                let (generation, ticket) = registered;
                let ack = {
                    let shared = shared.clone();
                    let consumer = consumer.clone();
                    Ack::new(move |acked| {
                        let mut t = shared.tracking.lock().expect("tracking lock");
                        if let Some(p) = t.parts.get_mut(&key) {
                            if p.generation == generation && !acked {
                                p.acks.abandon(ticket);
                            } else if p.generation == generation {
                                if let Some(next) = p.acks.complete(ticket) {
                                    let mut tpl = TopicPartitionList::new();
                                    if tpl
                                        .add_partition_offset(&key.0, key.1, Offset::Offset(next))
                                        .is_ok()
                                    {
                                        if let Err(e) = consumer.store_offsets(&tpl) {
                                            tracing::debug!(error = %e, topic = %key.0, partition = key.1, "offset not stored");
                                        }
                                    }
                                }
                            }
                        }
                        drop(t);
                        shared.drained.notify_all();
                    })
                };
                let headers = m
                    .headers()
                    .map(|hs| {
                        hs.iter()
                            .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                            .collect()
                    })
                    .unwrap_or_default();
                Received {
                    topic,
                    partition,
                    offset,
                    key: m.key().map(<[u8]>::to_vec),
                    payload: m.payload().unwrap_or_default().to_vec(),
                    headers,
                    ack,
                }
            }
        };
        let mut item = Ok(received);
        loop {
            match tx.try_send(item) {
                Ok(()) => break,
                Err(mpsc::error::TrySendError::Full(back)) => {
                    if stop.load(Ordering::SeqCst) {
                        break 'outer;
                    }
                    item = back;
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(mpsc::error::TrySendError::Closed(_)) => break 'outer,
            }
        }
    }
    if !shared.wait_drained(None) {
        tracing::warn!("close: in-flight messages not acked in time, they will be redelivered");
    }
    commit_sync(&consumer, "close");
    // Dropping the last handle closes the consumer (leaves the group) on this thread. Ack
    // closures still held elsewhere keep it alive until they are dropped.
    drop(consumer);
}
