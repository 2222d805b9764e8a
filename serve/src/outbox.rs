//! Where `serve` writes: every change to an incident is an [`IncidentEvent`] published on
//! `<prefix>.incident-events` through an [`Outbox`]. The index, notify and the detect worker
//! read the topic; `serve` itself never writes the index, so a status change works when it runs
//! apart from the indexer (`canhgac serve --brokers …`).
//!
//! [`PublisherOutbox`] wraps any [`Publisher`] (Kafka, or the in-process bus of `canhgac run`);
//! the binary may put a durable local log around it.

use canhgac_core::lifecycle::IncidentEvent;
use canhgac_core::topics::Topics;
use canhgac_core::transport::{Message, Publisher};
use futures::future::BoxFuture;

/// Publishes lifecycle records. `publish` resolves when the record is durable (the broker's ack,
/// or the consumer's on the in-process bus); the error is a message for the operator.
pub trait Outbox: Send + Sync {
    fn publish(&self, record: IncidentEvent) -> BoxFuture<'static, Result<(), String>>;
}

/// An [`Outbox`] over a transport's publisher: topic `<prefix>.incident-events`, key = the
/// record's id in hex, payload = its JSON.
#[derive(Clone)]
pub struct PublisherOutbox<P: Publisher> {
    publisher: P,
    topic: String,
}

impl<P: Publisher> PublisherOutbox<P> {
    pub fn new(publisher: P, topics: &Topics) -> Self {
        PublisherOutbox {
            publisher,
            topic: topics.incident_events(),
        }
    }

    /// The topic it publishes on.
    pub fn topic(&self) -> &str {
        &self.topic
    }
}

impl<P: Publisher> Outbox for PublisherOutbox<P> {
    fn publish(&self, record: IncidentEvent) -> BoxFuture<'static, Result<(), String>> {
        let publisher = self.publisher.clone();
        let message = Message {
            topic: self.topic.clone(),
            key: Some(record.id.to_hex().into_bytes()),
            payload: record.to_json(),
            headers: Vec::new(),
        };
        Box::pin(async move {
            let topic = message.topic.clone();
            let delivery = publisher
                .send(message)
                .await
                .map_err(|e| format!("publish to {topic}: {e}"))?;
            delivery
                .await
                .map_err(|e| format!("delivery to {topic}: {e}"))?;
            Ok(())
        })
    }
}
