//! canhgac-kafka: the Kafka implementation of the transport traits of `canhgac-core`
//! (brief §6).
//!
//! - [`KafkaPublisher`]: idempotent producer (`enable.idempotence=true`), compressed batches,
//!   backpressure when librdkafka's queue is full, deliveries that resolve on the broker's ack,
//!   topic creation when the broker allows it.
//! - [`KafkaSubscription`]: a consumer in a group with `enable.auto.offset.store=false`; offsets
//!   are stored only when every earlier message of the partition was acked; on revoke it drains
//!   in-flight messages of the revoked partitions, then commits synchronously. The librdkafka
//!   consumer lives on its own OS thread, so blocking calls (poll, commit sync, close) never run
//!   on a tokio worker. A stage that keeps its own state learns of assignments
//!   ([`StartOffsets`], which also says where each partition starts) and revocations
//!   ([`Revoked`]).
//! - [`follow_topic`]: every record of a topic from its beginning, for one process (a view
//!   kept in memory: suppressions, incident states).
//! - [`read_latest`]: the latest record of given keys in a compacted state topic.
//!
//! Any librdkafka property passes through ([`ClientSettings::properties`], the `-X key=value`
//! of the command line) and wins over our defaults.

mod consumer;
mod follow;
mod producer;
mod state;

pub use consumer::{KafkaSubscription, Revoked, StartOffsets, SubscribeTo, SubscriptionOptions};
pub use follow::{end_offsets, follow_topic, follower_group, Progress, Tracked};
pub use producer::KafkaPublisher;
pub use state::read_latest;

use rdkafka::ClientConfig;

/// Connection settings shared by producers and consumers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    /// `host:port[,host:port…]`
    pub brokers: String,
    /// librdkafka properties, applied after our defaults.
    pub properties: Vec<(String, String)>,
}

impl ClientSettings {
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            properties: Vec::new(),
        }
    }

    /// A client config with `defaults` overridden by the user's properties.
    pub(crate) fn client_config(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut cfg = ClientConfig::new();
        cfg.set("bootstrap.servers", &self.brokers);
        for (k, v) in defaults {
            cfg.set(*k, *v);
        }
        for (k, v) in &self.properties {
            cfg.set(k, v);
        }
        cfg
    }
}

/// Parses a `key=value` librdkafka property (the `-X` option).
pub fn parse_property(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

pub(crate) fn kafka_err(context: &str, e: rdkafka::error::KafkaError) -> canhgac_core::CoreError {
    canhgac_core::CoreError::Transport(format!("{context}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_parse_and_override_defaults() {
        assert_eq!(
            parse_property("a.b=c=d").unwrap(),
            ("a.b".into(), "c=d".into())
        );
        assert!(parse_property("novalue").is_err());
        assert!(parse_property("=x").is_err());
        let mut s = ClientSettings::new("127.0.0.1:1");
        s.properties.push(("linger.ms".into(), "50".into()));
        let cfg = s.client_config(&[("linger.ms", "5"), ("acks", "all")]);
        assert_eq!(cfg.get("linger.ms"), Some("50"));
        assert_eq!(cfg.get("acks"), Some("all"));
    }
}
