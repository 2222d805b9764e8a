//! The transport between stages (brief §2): Kafka for the distributed deployment (crate
//! `canhgac-kafka`), bounded in-process channels for `canhgac run` ([`Bus`]). Stage code is
//! generic over [`Publisher`] and [`Subscription`] and does not know which one it runs on.
//!
//! Acknowledgement is part of the contract. [`Publisher::send`] returns once the message is
//! queued (waiting while the transport is full: backpressure) and yields a [`Delivery`] that
//! resolves when the message is durable downstream — acked by the broker for Kafka, acked by the
//! consuming stage for the in-process bus. A consumer acks a [`Received`] message only after
//! everything it produced from it was delivered; on the bus that ack is what resolves the
//! upstream producer's delivery, so acknowledgement runs end to end through `run`.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use crate::error::CoreError;

/// A message to publish.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    pub topic: String,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
}

/// Where a delivered message landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
}

/// Resolves when a sent message is durable downstream.
pub type Delivery = Pin<Box<dyn Future<Output = Result<Delivered, CoreError>> + Send>>;

/// The producing half of a transport.
pub trait Publisher: Clone + Send + Sync + 'static {
    /// Queues a message, waiting while the transport is full.
    fn send(&self, message: Message) -> impl Future<Output = Result<Delivery, CoreError>> + Send;

    /// Makes sure these topics exist (creating them where the transport allows it).
    fn ensure_topics(
        &self,
        topics: &[String],
    ) -> impl Future<Output = Result<(), CoreError>> + Send;
}

/// A received message. Call [`Ack::ack`] once whatever it produced is durable.
pub struct Received {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub ack: Ack,
}

impl std::fmt::Debug for Received {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Received")
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("offset", &self.offset)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// The acknowledgement of one received message. Dropping it without [`Ack::ack`] abandons the
/// message: it is not checkpointed (it will be seen again after a restart), and nobody waits for
/// it any longer.
pub struct Ack(Option<Box<dyn FnOnce(bool) + Send + Sync>>);

impl Ack {
    /// `f(true)` runs on ack, `f(false)` when the ack is dropped un-acked.
    pub fn new(f: impl FnOnce(bool) + Send + Sync + 'static) -> Self {
        Ack(Some(Box::new(f)))
    }

    /// An ack that does nothing (for sources without checkpoints).
    pub fn none() -> Self {
        Ack(None)
    }

    pub fn ack(mut self) {
        if let Some(f) = self.0.take() {
            f(true)
        }
    }
}

impl Drop for Ack {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f(false)
        }
    }
}

/// The consuming half of a transport.
pub trait Subscription: Send {
    /// The next message; `None` when the transport is closed.
    fn recv(&mut self) -> impl Future<Output = Option<Result<Received, CoreError>>> + Send;

    /// A message that is already waiting, without waiting for one: `None` when none is ready
    /// now, `Some(None)` when the transport is closed. Batching loops take their batches with
    /// it. Polling `recv` once instead would count against tokio's cooperative budget, which
    /// makes a full channel look empty after 128 receives in one turn of the task (the detect
    /// stage's batches were capped at 127 events that way).
    fn try_recv(&mut self) -> Option<Option<Result<Received, CoreError>>> {
        use futures::FutureExt;
        tokio::task::unconstrained(self.recv()).now_or_never()
    }

    /// Moves the messages already waiting into `batch` until it holds `max`, without waiting
    /// (see [`Subscription::try_recv`]). A transport error met on the way goes to `on_error`
    /// and the next message is taken.
    fn take_ready(
        &mut self,
        batch: &mut Vec<Received>,
        max: usize,
        mut on_error: impl FnMut(CoreError),
    ) where
        Self: Sized,
    {
        while batch.len() < max {
            match self.try_recv() {
                Some(Some(Ok(m))) => batch.push(m),
                Some(Some(Err(e))) => on_error(e),
                Some(None) | None => break,
            }
        }
    }
}

/// Which topics a subscription takes.
#[derive(Clone)]
pub enum TopicFilter {
    Exact(Vec<String>),
    /// Topics for which the predicate holds (the in-process twin of a regex subscription).
    Matching(Arc<dyn Fn(&str) -> bool + Send + Sync>),
}

impl TopicFilter {
    pub fn matches(&self, topic: &str) -> bool {
        match self {
            TopicFilter::Exact(list) => list.iter().any(|t| t == topic),
            TopicFilter::Matching(f) => f(topic),
        }
    }
}

struct BusMessage {
    message: Message,
    partition_offset: i64,
    done: oneshot::Sender<()>,
}

struct BusRoute {
    filter: TopicFilter,
    tx: mpsc::Sender<BusMessage>,
}

#[derive(Default)]
struct BusState {
    routes: Vec<BusRoute>,
    offsets: HashMap<String, i64>,
}

/// In-process transport: bounded channels between stages of one process. Every topic goes to
/// the one subscription whose filter matches it; a message sent to a topic nobody subscribed is
/// an error, not a silent drop.
#[derive(Clone)]
pub struct Bus {
    state: Arc<Mutex<BusState>>,
    capacity: usize,
}

impl Bus {
    /// A bus whose subscriptions each buffer up to `capacity` messages.
    pub fn new(capacity: usize) -> Self {
        Bus {
            state: Arc::default(),
            capacity: capacity.max(1),
        }
    }

    pub fn publisher(&self) -> BusPublisher {
        BusPublisher { bus: self.clone() }
    }

    pub fn subscribe(&self, filter: TopicFilter) -> BusSubscription {
        let (tx, rx) = mpsc::channel(self.capacity);
        self.state
            .lock()
            .expect("bus lock")
            .routes
            .push(BusRoute { filter, tx });
        BusSubscription { rx }
    }

    /// Closes every subscription once its buffered messages are read.
    pub fn close(&self) {
        self.state.lock().expect("bus lock").routes.clear();
    }
}

/// Publishes onto a [`Bus`].
#[derive(Clone)]
pub struct BusPublisher {
    bus: Bus,
}

impl Publisher for BusPublisher {
    async fn send(&self, message: Message) -> Result<Delivery, CoreError> {
        let (tx, offset) = {
            let mut state = self.bus.state.lock().expect("bus lock");
            let tx = state
                .routes
                .iter()
                .find(|r| r.filter.matches(&message.topic))
                .map(|r| r.tx.clone())
                .ok_or_else(|| {
                    CoreError::Transport(format!(
                        "no in-process subscriber for topic {}",
                        message.topic
                    ))
                })?;
            let next = state.offsets.entry(message.topic.clone()).or_insert(0);
            let offset = *next;
            *next += 1;
            (tx, offset)
        };
        let (done, acked) = oneshot::channel();
        let topic = message.topic.clone();
        tx.send(BusMessage {
            message,
            partition_offset: offset,
            done,
        })
        .await
        .map_err(|_| CoreError::Closed(format!("subscriber of {topic} is gone")))?;
        Ok(Box::pin(async move {
            acked.await.map_err(|_| {
                CoreError::Closed(format!(
                    "message {topic}@{offset} was dropped without an ack"
                ))
            })?;
            Ok(Delivered {
                partition: 0,
                offset,
            })
        }))
    }

    async fn ensure_topics(&self, _topics: &[String]) -> Result<(), CoreError> {
        Ok(())
    }
}

/// Receives from a [`Bus`].
pub struct BusSubscription {
    rx: mpsc::Receiver<BusMessage>,
}

impl Subscription for BusSubscription {
    async fn recv(&mut self) -> Option<Result<Received, CoreError>> {
        let m = self.rx.recv().await?;
        let done = m.done;
        Some(Ok(Received {
            topic: m.message.topic,
            partition: 0,
            offset: m.partition_offset,
            key: m.message.key,
            payload: m.message.payload,
            headers: m.message.headers,
            ack: Ack::new(move |acked| {
                if acked {
                    let _ = done.send(());
                }
            }),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(topic: &str, payload: &str) -> Message {
        Message {
            topic: topic.into(),
            payload: payload.as_bytes().to_vec(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn delivery_resolves_only_after_the_consumer_acks() {
        let bus = Bus::new(8);
        let mut sub = bus.subscribe(TopicFilter::Exact(vec!["t".into()]));
        let publisher = bus.publisher();
        let mut delivery = publisher.send(msg("t", "a")).await.unwrap();
        let got = sub.recv().await.unwrap().unwrap();
        assert_eq!(got.payload, b"a");
        // Not acked yet: the delivery is still pending.
        assert!(futures::poll!(&mut delivery).is_pending());
        got.ack.ack();
        let d = delivery.await.unwrap();
        assert_eq!(d.offset, 0);
    }

    #[tokio::test]
    async fn dropped_without_ack_is_an_error_and_unknown_topics_are_refused() {
        let bus = Bus::new(8);
        let mut sub = bus.subscribe(TopicFilter::Matching(Arc::new(|t: &str| {
            t.starts_with("x.")
        })));
        let publisher = bus.publisher();
        let delivery = publisher.send(msg("x.1", "a")).await.unwrap();
        drop(sub.recv().await.unwrap().unwrap());
        assert!(delivery.await.is_err());
        assert!(publisher.send(msg("y", "b")).await.is_err());
    }

    #[tokio::test]
    async fn try_recv_takes_every_waiting_message_in_one_turn() {
        let bus = Bus::new(1000);
        let mut sub = bus.subscribe(TopicFilter::Exact(vec!["t".into()]));
        let publisher = bus.publisher();
        let mut deliveries = Vec::new();
        for i in 0..600 {
            deliveries.push(publisher.send(msg("t", &i.to_string())).await.unwrap());
        }
        // One task turn, no await in between: tokio's budget would stop a plain poll at 128.
        let mut got = Vec::new();
        while let Some(m) = sub.try_recv() {
            got.push(m.expect("open").expect("a message"));
        }
        assert_eq!(got.len(), 600, "every waiting message, none left behind");
        assert_eq!(got[599].payload, b"599");
        got.into_iter().for_each(|m| m.ack.ack());
        for d in deliveries {
            d.await.unwrap();
        }
        bus.close();
        assert!(matches!(sub.try_recv(), Some(None)), "closed: Some(None)");
    }

    #[tokio::test]
    async fn bounded_channel_applies_backpressure() {
        let bus = Bus::new(1);
        let mut sub = bus.subscribe(TopicFilter::Exact(vec!["t".into()]));
        let publisher = bus.publisher();
        let _d1 = publisher.send(msg("t", "1")).await.unwrap();
        let second = publisher.send(msg("t", "2"));
        tokio::pin!(second);
        assert!(
            futures::poll!(&mut second).is_pending(),
            "the second send waits for room"
        );
        let first = sub.recv().await.unwrap().unwrap();
        first.ack.ack();
        let _d2 = second.await.unwrap();
        assert_eq!(sub.recv().await.unwrap().unwrap().offset, 1);
    }
}
