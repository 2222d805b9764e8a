//! Following a whole topic from one process: every record from the topic's beginning, then
//! what comes, for a stage that keeps a view of the topic in memory (the detect workers'
//! suppressions, notify's incident states, both from `<prefix>.incident-events`).
//!
//! Each process has a consumer group of its own (`<role>.<host>.<pid>.<start time>`), so
//! every process gets every partition; every partition starts at its beginning on every
//! start (the view is rebuilt, nothing is committed that matters).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use canhgac_core::transport::{Ack, Received, Subscription};
use canhgac_core::CoreError;

use crate::{ClientSettings, KafkaSubscription, SubscribeTo, SubscriptionOptions};

/// The group id of a follower of `role` in this process.
pub fn follower_group(role: &str) -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{role}.{host}.{}.{nanos}", std::process::id())
}

/// Every record of `topic`, from its beginning, for this process alone.
pub fn follow_topic(
    settings: &ClientSettings,
    role: &str,
    topic: &str,
) -> Result<KafkaSubscription, CoreError> {
    let options = SubscriptionOptions {
        buffer: 256,
        start_offsets: Some(Arc::new(|parts: &[(String, i32)]| {
            parts.iter().map(|(t, p)| (t.clone(), *p, 0)).collect()
        })),
        ..Default::default()
    };
    KafkaSubscription::with_options(
        settings,
        &follower_group(role),
        SubscribeTo::Topics(vec![topic.to_string()]),
        options,
    )
}

/// The end offset (high watermark) of each partition of `topic` now: what a follower must have
/// processed to have caught up with the topic as it was. A missing topic has none. Blocking.
pub fn end_offsets(
    settings: &ClientSettings,
    topic: &str,
    timeout: std::time::Duration,
) -> Result<HashMap<i32, i64>, CoreError> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = settings
        .client_config(&[("group.id", "canhgac-end-offsets")])
        .create()
        .map_err(|e| crate::kafka_err("cannot create a watermark reader", e))?;
    let meta = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| crate::kafka_err(&format!("metadata of {topic}"), e))?;
    let mut out = HashMap::new();
    let Some(t) = meta.topics().first().filter(|t| t.error().is_none()) else {
        return Ok(out);
    };
    for p in t.partitions() {
        let (_, high) = consumer
            .fetch_watermarks(topic, p.id(), timeout)
            .map_err(|e| crate::kafka_err(&format!("watermarks of {topic}/{}", p.id()), e))?;
        out.insert(p.id(), high);
    }
    Ok(out)
}

/// A subscription that notes, per partition, the offset after the last message its consumer
/// acked: with [`end_offsets`], a stage waits until its follower has applied everything the
/// topic held when it started ([`Progress::caught_up`]).
pub struct Tracked<S> {
    inner: S,
    progress: Progress,
}

/// What a [`Tracked`] subscription's consumer has acked.
#[derive(Clone, Default)]
pub struct Progress(Arc<Mutex<HashMap<i32, i64>>>);

impl Progress {
    /// Whether every partition of `ends` is acked up to its end offset.
    pub fn reached(&self, ends: &HashMap<i32, i64>) -> bool {
        let done = self.0.lock().unwrap_or_else(|p| p.into_inner());
        ends.iter()
            .all(|(p, end)| *end <= 0 || done.get(p).is_some_and(|next| next >= end))
    }

    /// Waits until [`Progress::reached`] holds, at most `timeout`; returns whether it did.
    pub async fn caught_up(&self, ends: &HashMap<i32, i64>, timeout: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.reached(ends) {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        true
    }
}

impl<S: Subscription> Tracked<S> {
    pub fn new(inner: S) -> Tracked<S> {
        Tracked {
            inner,
            progress: Progress::default(),
        }
    }

    pub fn progress(&self) -> Progress {
        self.progress.clone()
    }
}

impl<S: Subscription> Subscription for Tracked<S> {
    async fn recv(&mut self) -> Option<Result<Received, CoreError>> {
        let mut m = self.inner.recv().await;
        if let Some(Ok(r)) = &mut m {
            let inner = std::mem::replace(&mut r.ack, Ack::none());
            let (partition, next) = (r.partition, r.offset + 1);
            let progress = self.progress.0.clone();
            r.ack = Ack::new(move |acked| {
                if acked {
                    inner.ack();
                    let mut done = progress.lock().unwrap_or_else(|p| p.into_inner());
                    let e = done.entry(partition).or_insert(0);
                    *e = (*e).max(next);
                }
            });
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use canhgac_core::transport::{Bus, Message, Publisher, TopicFilter};

    #[tokio::test]
    async fn progress_counts_only_acked_messages() {
        let bus = Bus::new(8);
        let mut sub = Tracked::new(bus.subscribe(TopicFilter::Exact(vec!["t".into()])));
        let progress = sub.progress();
        let p = bus.publisher();
        let mut deliveries = Vec::new();
        for _ in 0..2 {
            deliveries.push(
                p.send(Message {
                    topic: "t".into(),
                    ..Default::default()
                })
                .await
                .unwrap(),
            );
        }
        let ends = HashMap::from([(0, 2)]);
        let first = sub.recv().await.unwrap().unwrap();
        assert!(!progress.reached(&ends));
        first.ack.ack();
        assert!(!progress.reached(&ends), "one of two");
        let second = sub.recv().await.unwrap().unwrap();
        drop(second.ack);
        assert!(!progress.reached(&ends), "dropped un-acked");
        assert!(progress.reached(&HashMap::from([(0, 1)])));
        assert!(progress.reached(&HashMap::new()), "an empty topic");
        drop(deliveries);
    }
}
