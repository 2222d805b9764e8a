//! The channels an alert goes out on: the agency's Kafka topic, a signed webhook, e-mail.

mod email;
mod webhook;

use std::collections::HashMap;
use std::time::Duration;

use canhgac_core::registry::{ChannelConfig, Registry};
use canhgac_core::topics::Topics;
use canhgac_core::transport::{Message, Publisher};

pub use email::{IdempotencyKeyHeader, SmtpSettings};

use crate::error::{NotifyError, Result};
use crate::store::Delivery;

/// The result of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Worth trying again later (network error, timeout, 5xx, 429, SMTP 4xx).
    Retry(String),
    /// Will not succeed as configured (4xx, SMTP 5xx, bad address): dead-lettered at once.
    Permanent(String),
}

/// Everything needed to deliver: the HTTP client, the SMTP transport, the Kafka publisher and
/// the webhook secrets (read from the environment once, at start).
pub struct Channels<P> {
    publisher: P,
    topics: Topics,
    http: reqwest::Client,
    smtp: Option<email::Smtp>,
    secrets: HashMap<String, Vec<u8>>,
}

impl<P: Publisher> Channels<P> {
    /// Checks that every webhook secret is set and e-mail channels have an SMTP server (unless
    /// `smtp` is `None` and `allow_no_email`, which leaves e-mail deliveries pending).
    pub fn new(
        publisher: P,
        topics: Topics,
        registry: &Registry,
        smtp: Option<SmtpSettings>,
        http_timeout: Duration,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let mut secrets = HashMap::new();
        let mut wants_email = false;
        for a in registry.agencies() {
            for ch in &a.channels {
                match ch {
                    ChannelConfig::Webhook { secret_env, .. } => {
                        let s = env(secret_env).filter(|s| !s.is_empty()).ok_or_else(|| {
                            NotifyError::Config {
                                key: format!("agency {} webhook secret", a.id),
                                message: format!("environment variable {secret_env} is not set"),
                            }
                        })?;
                        secrets.insert(secret_env.clone(), s.into_bytes());
                    }
                    ChannelConfig::Email { .. } => wants_email = true,
                    ChannelConfig::Kafka {} => {}
                }
            }
        }
        if wants_email && smtp.is_none() {
            return Err(NotifyError::Config {
                key: "smtp".into(),
                message: "the registry has e-mail channels; give an SMTP server (--smtp-url)"
                    .into(),
            });
        }
        let http = reqwest::Client::builder()
            .timeout(http_timeout)
            .user_agent(concat!("canhgac-notify/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NotifyError::Config {
                key: "http client".into(),
                message: e.to_string(),
            })?;
        let smtp = smtp
            .map(|s| email::Smtp::new(s, http_timeout))
            .transpose()?;
        Ok(Channels {
            publisher,
            topics,
            http,
            smtp,
            secrets,
        })
    }

    pub fn topics(&self) -> &Topics {
        &self.topics
    }

    pub fn publisher(&self) -> &P {
        &self.publisher
    }

    /// One attempt to deliver `d`.
    pub async fn deliver(&self, d: &Delivery) -> Outcome {
        match &d.target {
            ChannelConfig::Kafka {} => {
                let msg = Message {
                    topic: self.topics.alerts(&d.agency),
                    key: Some(d.alert.incident_id.to_hex().into_bytes()),
                    payload: d.alert.to_json(),
                    headers: vec![
                        (
                            "idempotency-key".into(),
                            d.alert.idempotency_key.clone().into_bytes(),
                        ),
                        ("revision".into(), d.alert.revision.to_string().into_bytes()),
                    ],
                };
                send_and_wait(&self.publisher, msg).await
            }
            ChannelConfig::Webhook { url, secret_env } => match self.secrets.get(secret_env) {
                Some(secret) => webhook::post(&self.http, url, secret, d).await,
                None => Outcome::Permanent(format!("no secret for {secret_env}")),
            },
            ChannelConfig::Email { to, lang } => match &self.smtp {
                Some(smtp) => smtp.send(to, lang, &d.alert).await,
                None => Outcome::Retry("no SMTP server configured".into()),
            },
        }
    }

    /// Dead-letters `d` to `<prefix>.alerts.dlq` with the reason; `Err` if the broker did not
    /// take it (the delivery then stays pending).
    pub async fn dead_letter(&self, d: &Delivery, reason: &str) -> std::result::Result<(), String> {
        let msg = Message {
            topic: self.topics.alerts("dlq"),
            key: Some(d.key.clone().into_bytes()),
            payload: d.alert.to_json(),
            headers: vec![
                ("reason".into(), reason.as_bytes().to_vec()),
                ("agency".into(), d.agency.clone().into_bytes()),
                ("channel".into(), d.channel.clone().into_bytes()),
                (
                    "idempotency-key".into(),
                    d.alert.idempotency_key.clone().into_bytes(),
                ),
                ("attempts".into(), d.attempts.to_string().into_bytes()),
            ],
        };
        match send_and_wait(&self.publisher, msg).await {
            Outcome::Delivered => Ok(()),
            Outcome::Retry(e) | Outcome::Permanent(e) => Err(e),
        }
    }
}

async fn send_and_wait<P: Publisher>(publisher: &P, msg: Message) -> Outcome {
    match publisher.send(msg).await {
        Ok(delivery) => match delivery.await {
            Ok(_) => Outcome::Delivered,
            Err(e) => Outcome::Retry(format!("broker: {e}")),
        },
        Err(e) => Outcome::Retry(format!("broker: {e}")),
    }
}
