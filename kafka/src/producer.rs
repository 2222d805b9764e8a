//! The idempotent publisher.

use std::time::Duration;

use canhgac_core::transport::{Delivered, Delivery, Message, Publisher};
use canhgac_core::CoreError;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;

use crate::{kafka_err, ClientSettings};

/// Producer defaults (brief §6). The user's `-X` properties override them.
const PRODUCER_DEFAULTS: &[(&str, &str)] = &[
    ("enable.idempotence", "true"),
    ("acks", "all"),
    ("compression.type", "lz4"),
    ("linger.ms", "5"),
    ("batch.num.messages", "10000"),
    ("queue.buffering.max.messages", "200000"),
    // Never give up on a record: the sensor waits (and does not checkpoint) while the broker is
    // away, rather than dropping what it read.
    ("message.timeout.ms", "0"),
];

/// Publishes to Kafka. Cheap to clone.
#[derive(Clone)]
pub struct KafkaPublisher {
    producer: FutureProducer,
    settings: ClientSettings,
    partitions: i32,
    replication: i32,
}

impl KafkaPublisher {
    pub fn new(settings: &ClientSettings) -> Result<Self, CoreError> {
        let producer: FutureProducer = settings
            .client_config(PRODUCER_DEFAULTS)
            .create()
            .map_err(|e| kafka_err("cannot create producer", e))?;
        Ok(Self {
            producer,
            settings: settings.clone(),
            partitions: 3,
            replication: 1,
        })
    }

    /// Partitions and replication factor of topics this publisher creates.
    pub fn with_topic_layout(mut self, partitions: i32, replication: i32) -> Self {
        self.partitions = partitions.max(1);
        self.replication = replication.max(1);
        self
    }

    /// Waits until every queued message is delivered or `timeout` passes. Runs librdkafka's
    /// blocking flush on a blocking thread.
    pub async fn flush(&self, timeout: Duration) -> Result<(), CoreError> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || producer.flush(Timeout::After(timeout)))
            .await
            .map_err(|e| CoreError::Transport(format!("flush task: {e}")))?
            .map_err(|e| kafka_err("flush", e))
    }

    /// Creates a stage's state topic if it does not exist: one partition, compacted (the latest
    /// record of each key is what counts; see [`crate::read_latest`]).
    pub async fn ensure_state_topic(&self, topic: &str) -> Result<(), CoreError> {
        let admin: AdminClient<DefaultClientContext> = self
            .settings
            .client_config(&[])
            .create()
            .map_err(|e| kafka_err("cannot create admin client", e))?;
        let new = NewTopic::new(topic, 1, TopicReplication::Fixed(self.replication))
            .set("cleanup.policy", "compact");
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let results = admin
            .create_topics([&new], &opts)
            .await
            .map_err(|e| kafka_err("create state topic", e))?;
        for r in results {
            match r {
                Ok(t) => tracing::info!(topic = %t, "created state topic"),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((t, code)) => {
                    // A broker that does not take the topic setting: one partition, its
                    // default retention (the reader finds the latest record of a key either way).
                    tracing::warn!(topic = %t, error = %code, "state topic not created as compacted; creating it without settings");
                    let plain = NewTopic::new(topic, 1, TopicReplication::Fixed(self.replication));
                    if let Err(e) = admin.create_topics([&plain], &opts).await {
                        tracing::warn!(topic, error = %e, "could not create state topic");
                    }
                }
            }
        }
        tokio::task::spawn_blocking(move || drop(admin)).await.ok();
        Ok(())
    }

    /// Messages queued in librdkafka and not yet acked.
    pub fn in_flight(&self) -> i32 {
        self.producer.in_flight_count()
    }
}

impl Publisher for KafkaPublisher {
    async fn send(&self, message: Message) -> Result<Delivery, CoreError> {
        let mut headers = OwnedHeaders::new_with_capacity(message.headers.len());
        for (k, v) in &message.headers {
            headers = headers.insert(Header {
                key: k,
                value: Some(v.as_slice()),
            });
        }
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&message.topic)
            .payload(message.payload.as_slice())
            .headers(headers);
        if let Some(key) = &message.key {
            record = record.key(key.as_slice());
        }
        let mut backoff = Duration::from_millis(1);
        loop {
            match self.producer.send_result(record) {
                Ok(future) => {
                    let topic = message.topic.clone();
                    return Ok(Box::pin(async move {
                        match future.await {
                            Ok(Ok(d)) => Ok(Delivered {
                                partition: d.partition,
                                offset: d.offset,
                            }),
                            Ok(Err((e, _))) => Err(kafka_err(&format!("delivery to {topic}"), e)),
                            Err(_) => Err(CoreError::Closed(format!(
                                "producer dropped a message for {topic}"
                            ))),
                        }
                    }));
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), rec)) => {
                    // Backpressure: librdkafka's queue is full until the broker acks.
                    record = rec;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(50));
                }
                Err((e, _)) => return Err(kafka_err(&format!("send to {}", message.topic), e)),
            }
        }
    }

    async fn ensure_topics(&self, topics: &[String]) -> Result<(), CoreError> {
        let admin: AdminClient<DefaultClientContext> = self
            .settings
            .client_config(&[])
            .create()
            .map_err(|e| kafka_err("cannot create admin client", e))?;
        let new: Vec<NewTopic<'_>> = topics
            .iter()
            .map(|t| {
                NewTopic::new(
                    t,
                    self.partitions,
                    TopicReplication::Fixed(self.replication),
                )
            })
            .collect();
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let results = admin
            .create_topics(new.iter(), &opts)
            .await
            .map_err(|e| kafka_err("create topics", e))?;
        for r in results {
            match r {
                Ok(t) => tracing::info!(topic = %t, "created topic"),
                Err((t, RDKafkaErrorCode::TopicAlreadyExists)) => {
                    tracing::debug!(topic = %t, "topic exists")
                }
                Err((t, code)) => {
                    // Not fatal: the broker may forbid creation but the topic may exist or be
                    // created by an operator; producing will tell.
                    tracing::warn!(topic = %t, error = %code, "could not create topic")
                }
            }
        }
        // Dropping the admin client joins librdkafka threads: not on a tokio worker.
        tokio::task::spawn_blocking(move || drop(admin)).await.ok();
        Ok(())
    }
}
