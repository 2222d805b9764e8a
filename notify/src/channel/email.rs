//! E-mail over SMTP (lettre): plain SMTP, STARTTLS or TLS as the URL says; Vietnamese or
//! English text from [`crate::alert::Alert::email`].

use std::time::Duration;

use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::alert::Alert;
use crate::error::{NotifyError, Result};

use super::Outcome;

/// Where e-mail goes out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    /// `smtp://host:port` (plain), `smtp://host:port?tls=required` (STARTTLS),
    /// `smtps://host:port` (TLS); credentials as `smtp://user:pass@host`.
    pub url: String,
    /// The sender (`Canh gac <alerts@example.gov.vn>`).
    pub from: String,
}

/// `X-Canhgac-Idempotency-Key`: the alert's idempotency key, also in the Message-ID.
#[derive(Debug, Clone)]
pub struct IdempotencyKeyHeader(pub String);

impl Header for IdempotencyKeyHeader {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Canhgac-Idempotency-Key")
    }

    fn parse(s: &str) -> std::result::Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_string()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

pub(super) struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Smtp {
    pub(super) fn new(s: SmtpSettings, timeout: Duration) -> Result<Self> {
        let cfg = |key: &str, message: String| NotifyError::Config {
            key: key.into(),
            message,
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&s.url)
            .map_err(|e| cfg("smtp url", format!("{}: {e}", s.url)))?
            .timeout(Some(timeout))
            .build();
        let from = s
            .from
            .parse()
            .map_err(|e| cfg("smtp from", format!("{:?}: {e}", s.from)))?;
        Ok(Smtp { transport, from })
    }

    pub(super) async fn send(&self, to: &[String], lang: &str, alert: &Alert) -> Outcome {
        let (subject, body) = alert.email(lang);
        let mut b = Message::builder()
            .from(self.from.clone())
            .subject(subject)
            .message_id(Some(format!(
                "<{}.{}@canhgac>",
                alert.incident_id, alert.revision
            )))
            .header(IdempotencyKeyHeader(alert.idempotency_key.clone()))
            .header(ContentType::TEXT_PLAIN);
        for t in to {
            match t.parse::<Mailbox>() {
                Ok(m) => b = b.to(m),
                Err(e) => return Outcome::Permanent(format!("address {t:?}: {e}")),
            }
        }
        let message = match b.body(body) {
            Ok(m) => m,
            Err(e) => return Outcome::Permanent(format!("e-mail: {e}")),
        };
        match self.transport.send(message).await {
            Ok(_) => Outcome::Delivered,
            Err(e) if e.is_permanent() => Outcome::Permanent(format!("smtp: {e}")),
            Err(e) => Outcome::Retry(format!("smtp: {e}")),
        }
    }
}
