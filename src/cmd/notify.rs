//! `canhgac notify`: alert delivery to the agencies.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use canhgac_core::registry::Registry;
use canhgac_core::transport::Publisher;
use canhgac_kafka::{KafkaPublisher, KafkaSubscription, SubscribeTo, SubscriptionOptions};
use canhgac_notify::{
    follow_lifecycle, AckLinks, Backoff, Channels, LifecycleHandle, Notifier, NotifyMetrics,
    NotifyOptions, SmtpSettings, Store,
};
use clap::Args;

use super::start::{self, KafkaRoleArgs, Role, RoleContext};
use super::UsageError;

const EXAMPLES: &str = "\
Examples:
  export CANHGAC_WEBHOOK_SECRET_BYT=...   # each webhook's secret_env from the registry
  canhgac notify --brokers 127.0.0.1:9092 --registry /etc/canhgac/agencies.toml \\
      --state /var/lib/canhgac/notify --smtp-url 'smtp://mail.example.gov.vn:587?tls=required' \\
      --smtp-from 'Canh gac <canhgac@example.gov.vn>' --metrics-listen 127.0.0.1:9466

What is sent: one alert when an incident is first detected, and one more each time it
escalates (its priority rises, or its count of distinct detections reaches a --threshold).
Each alert goes to every channel of the agency in the registry: the Kafka topic
<prefix>.alerts.<agency>; webhooks (POST of the alert JSON with X-Canhgac-Signature:
sha256=<hex HMAC-SHA256 of the body> and Idempotency-Key: <incident id>:<revision>); e-mail in
the channel's language (vi or en).

Delivery: decisions and pending deliveries are written to the store (--state) before the
detections are acknowledged to Kafka, and deliveries run from the store. After a crash (even
kill -9) nothing is lost; an alert that was being sent at that moment is sent again with the
same idempotency key, so receivers can drop the repeat. Failed deliveries are retried with
exponential backoff and jitter; after --max-attempts (or at once for a permanent failure such
as HTTP 4xx) the alert goes to <prefix>.alerts.dlq with the reason. Each agency may receive at
most --throttle-per-minute alerts a minute after a burst of --throttle-burst; the rest wait in
the store (queued, never dropped).

SMTP URLs: smtp://host:25 (plain), smtp://host:587?tls=required (STARTTLS),
smtps://host:465 (TLS); credentials as smtp://user:password@host.";

/// Options of `canhgac notify`.
#[derive(Debug, Args)]
#[command(after_long_help = EXAMPLES)]
pub struct NotifyArgs {
    /// Agency registry (TOML) with each agency's alert channels [config: registry.path]
    #[arg(long, value_name = "FILE")]
    registry: Option<PathBuf>,

    /// Directory of the delivery store (created when missing)
    #[arg(long, value_name = "DIR", default_value = "notify-state")]
    state: PathBuf,

    /// Consumer group id
    #[arg(long, value_name = "ID", default_value = "canhgac-notify")]
    group: String,

    /// SMTP server for e-mail channels (see below)
    #[arg(long, value_name = "URL")]
    smtp_url: Option<String>,

    /// Sender of alert e-mails
    #[arg(
        long,
        value_name = "MAILBOX",
        default_value = "canhgac <canhgac@localhost>"
    )]
    smtp_from: String,

    /// Detection counts that make an escalation alert (comma separated)
    #[arg(
        long,
        value_name = "N,...",
        value_delimiter = ',',
        default_value = "10,100,1000"
    )]
    threshold: Vec<u64>,

    /// Attempts per delivery before it goes to the dead-letter topic
    #[arg(long, value_name = "N", default_value_t = 8)]
    max_attempts: u32,

    /// First retry delay; it doubles with each attempt (with jitter), up to --retry-max-ms
    #[arg(long, value_name = "MS", default_value_t = 500)]
    retry_base_ms: u64,

    /// Longest retry delay
    #[arg(long, value_name = "MS", default_value_t = 300_000)]
    retry_max_ms: u64,

    /// Alerts per minute per agency; 0 disables throttling
    #[arg(long, value_name = "N", default_value_t = 60)]
    throttle_per_minute: u32,

    /// Alerts an agency may receive at once before throttling starts
    #[arg(long, value_name = "N", default_value_t = 20)]
    throttle_burst: u32,

    /// Deliveries in flight at once
    #[arg(long, value_name = "N", default_value_t = 16)]
    concurrency: usize,

    /// Timeout of one webhook request or SMTP session
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    timeout_ms: u64,

    /// Public address of the web UI (`canhgac serve`), e.g. https://soc.example.vn: each alert
    /// carries a link there to acknowledge its incident, signed with CANHGAC_ACK_SECRET (the
    /// same secret `serve` has). Without both, alerts carry no link
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,

    #[command(flatten)]
    common: KafkaRoleArgs,
}

pub fn run(args: NotifyArgs) -> anyhow::Result<ExitCode> {
    let cfg = args.common.configure(|raw| {
        start::override_registry(raw, args.registry.as_deref());
    })?;
    let registry_path = cfg
        .registry_path
        .clone()
        .ok_or_else(|| UsageError("--registry is required (the agencies' channels)".into()))?;
    let registry = Registry::load(&registry_path).map_err(|e| UsageError(e.to_string()))?;
    if args.max_attempts == 0 || args.concurrency == 0 {
        return Err(
            UsageError("--max-attempts and --concurrency must be at least 1".into()).into(),
        );
    }
    let role = Role::configured(&cfg.telemetry)?;
    let options = NotifyOptions {
        thresholds: args.threshold.clone(),
        max_attempts: args.max_attempts,
        backoff: Backoff {
            base: Duration::from_millis(args.retry_base_ms.max(1)),
            max: Duration::from_millis(args.retry_max_ms.max(args.retry_base_ms)),
        },
        throttle_per_minute: args.throttle_per_minute,
        throttle_burst: args.throttle_burst,
        concurrency: args.concurrency,
        ack_links: AckLinks::from_settings(args.public_url.as_deref(), |k| std::env::var(k).ok())
            .map_err(|e| UsageError(e.to_string()))?,
        ..Default::default()
    };
    let settings = start::client_settings(&cfg.kafka);
    let topics = cfg.kafka.topics.clone();
    let smtp = args.smtp_url.clone().map(|url| SmtpSettings {
        url,
        from: args.smtp_from.clone(),
    });
    role.run(
        |RoleContext {
             cancel,
             registry: prom,
         }| async move {
            let metrics = NotifyMetrics::new(&prom)?;
            let publisher = KafkaPublisher::new(&settings)?;
            let mut alert_topics: Vec<String> =
                registry.agencies().map(|a| topics.alerts(&a.id)).collect();
            alert_topics.push(topics.alerts("dlq"));
            publisher.ensure_topics(&alert_topics).await?;
            let channels = Channels::new(
                publisher.clone(),
                topics.clone(),
                &registry,
                smtp,
                Duration::from_millis(args.timeout_ms.max(1)),
                |k| std::env::var(k).ok(),
            )
            .map_err(|e| UsageError(e.to_string()))?;
            let dir = args.state.clone();
            let store = tokio::task::spawn_blocking(move || Store::open(&dir))
                .await?
                .with_context(|| {
                    format!("cannot open the delivery store in {}", args.state.display())
                })?;
            let detections = topics.detections();
            tracing::info!(
                topic = detections,
                state = %store.path().display(),
                agencies = registry.len(),
                "notifier starting"
            );
            let mut subscription = KafkaSubscription::with_options(
                &settings,
                &args.group,
                SubscribeTo::Topics(vec![detections]),
                SubscriptionOptions::default(),
            )?;
            // The incidents' handling: the whole lifecycle topic, from its beginning.
            start::ensure_lifecycle_topic(&publisher, &topics).await?;
            let lifecycle = LifecycleHandle::new(canhgac_core::lifecycle::Policy::default());
            let (follow, caught_up) =
                start::follow_lifecycle_topic(&settings, &topics, "canhgac-notify-lifecycle")
                    .await?;
            tokio::spawn(follow_lifecycle(follow, lifecycle.clone(), cancel.clone()));
            caught_up.await;
            let notifier = Notifier::new(
                Arc::new(store),
                Arc::new(registry),
                channels,
                options,
                metrics,
            )
            .with_lifecycle(lifecycle);
            let summary = notifier.run(&mut subscription, cancel).await;
            subscription.close().await;
            let _ = publisher.flush(Duration::from_secs(10)).await;
            let summary = summary.context("notifier stopped")?;
            tracing::info!(
                messages = summary.messages,
                alerts = summary.alerts,
                duplicates = summary.duplicates,
                rejected = summary.rejected,
                "notifier finished"
            );
            Ok(ExitCode::SUCCESS)
        },
    )
}
