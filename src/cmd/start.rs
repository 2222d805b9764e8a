//! How a role starts: the option groups every role shares (`#[command(flatten)]`) and the one
//! start-up path they all take.
//!
//! ```text
//! configure: --config file → CANHGAC_* environment → --brokers/-X/… and the role's own flags
//!            → validate (errors are usage errors, exit code 2)
//! Role::start: tracing → tokio runtime
//! Role::run:   SIGINT/SIGTERM → cancellation token, a fresh Prometheus registry, /metrics
//!              when telemetry.metrics_listen is set → the role's own work
//! ```

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use canhgac_core::config::{Config, KafkaSettings, LogFormat, RawConfig, TelemetrySettings};
use canhgac_kafka::{parse_property, ClientSettings};
use clap::Args;
use tokio_util::sync::CancellationToken;

use super::UsageError;

/// `--config`: the configuration file every configurable role reads.
#[derive(Debug, Default, Args)]
pub struct ConfigArgs {
    /// Configuration file (TOML; its sections are shown in `canhgac run --help`)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// The Kafka connection: `--brokers`, `--topic-prefix`, `-X`.
#[derive(Debug, Default, Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap brokers [config: kafka.brokers]
    #[arg(long, value_name = "HOST:PORT[,...]")]
    pub brokers: Option<String>,

    /// Prefix of every topic name [config: kafka.topic_prefix] [default: canhgac]
    #[arg(long, value_name = "PREFIX")]
    pub topic_prefix: Option<String>,

    /// librdkafka property, passed through as is (repeatable), as kcat does: e.g.
    /// -X security.protocol=SASL_SSL -X sasl.mechanism=SCRAM-SHA-512 [config: kafka.properties]
    #[arg(short = 'X', value_name = "KEY=VALUE", value_parser = parse_property)]
    pub properties: Vec<(String, String)>,
}

impl KafkaArgs {
    /// Applies the options over the configuration file's; `-X` properties add to the file's.
    fn apply(&self, raw: &mut RawConfig) {
        if let Some(b) = &self.brokers {
            raw.kafka.brokers = b.clone();
        }
        if let Some(p) = &self.topic_prefix {
            raw.kafka.topic_prefix = p.clone();
        }
        raw.kafka.properties.extend(self.properties.iter().cloned());
    }
}

/// Telemetry: `--metrics-listen`, `--log-format`.
#[derive(Debug, Default, Args)]
pub struct TelemetryArgs {
    /// Serve Prometheus metrics at http://ADDR/metrics [config: telemetry.metrics_listen]
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,

    /// Log format on stderr [config: telemetry.log_format]
    #[arg(long, value_name = "human|json")]
    pub log_format: Option<String>,
}

impl TelemetryArgs {
    fn apply(&self, raw: &mut RawConfig) {
        if let Some(m) = self.metrics_listen {
            raw.telemetry.metrics_listen = m.to_string();
        }
        if let Some(f) = &self.log_format {
            raw.telemetry.log_format = f.clone();
        }
    }
}

/// The options of a role that talks to Kafka: [`KafkaArgs`], [`TelemetryArgs`], [`ConfigArgs`].
#[derive(Debug, Default, Args)]
pub struct KafkaRoleArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,

    #[command(flatten)]
    pub telemetry: TelemetryArgs,

    #[command(flatten)]
    pub config: ConfigArgs,
}

impl KafkaRoleArgs {
    /// [`configure`] with all three groups.
    pub fn configure(&self, role: impl FnOnce(&mut RawConfig)) -> anyhow::Result<Config> {
        configure(&self.config, Some(&self.kafka), Some(&self.telemetry), role)
    }
}

/// `--registry FILE` over `registry.path`.
pub fn override_registry(raw: &mut RawConfig, registry: Option<&Path>) {
    if let Some(r) = registry {
        raw.registry.path = r.display().to_string();
    }
}

/// Loads the configuration (file, then `CANHGAC_*` environment overrides), applies the shared
/// option groups and then the role's own options (`role`), and validates the result. Errors
/// name the file the configuration came from (or "command line") and are usage errors (exit
/// code 2).
pub fn configure(
    config: &ConfigArgs,
    kafka: Option<&KafkaArgs>,
    telemetry: Option<&TelemetryArgs>,
    role: impl FnOnce(&mut RawConfig),
) -> anyhow::Result<Config> {
    let path = config.config.as_deref();
    let mut raw = RawConfig::load(path, std::env::vars()).map_err(|e| UsageError(e.to_string()))?;
    if let Some(k) = kafka {
        k.apply(&mut raw);
    }
    if let Some(t) = telemetry {
        t.apply(&mut raw);
    }
    role(&mut raw);
    let origin = path
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "command line".into());
    raw.validate(&origin)
        .map_err(|e| UsageError(e.to_string()).into())
}

/// librdkafka's client settings from the checked Kafka section.
pub fn client_settings(kafka: &KafkaSettings) -> ClientSettings {
    ClientSettings {
        brokers: kafka.brokers.clone(),
        properties: kafka.properties.clone(),
    }
}

/// A role whose logging is set up and whose runtime is built; [`Role::run`] runs its work.
pub struct Role {
    runtime: tokio::runtime::Runtime,
    metrics_listen: Option<SocketAddr>,
}

/// What every role's work gets: the shutdown signal and the registry its metrics go to (served
/// at `/metrics` when `telemetry.metrics_listen` is set).
pub struct RoleContext {
    pub cancel: CancellationToken,
    pub registry: prometheus::Registry,
}

impl Role {
    /// Sets up tracing (in `log_format`, which a role may force to `human`, e.g. under a
    /// progress bar) and builds the multi-threaded runtime.
    pub fn start(telemetry: &TelemetrySettings, log_format: LogFormat) -> anyhow::Result<Role> {
        canhgac_core::telemetry::init_tracing(log_format, &telemetry.log_level)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        Ok(Role {
            runtime,
            metrics_listen: telemetry.metrics_listen,
        })
    }

    /// Like [`Role::start`] in the configured log format.
    pub fn configured(telemetry: &TelemetrySettings) -> anyhow::Result<Role> {
        Self::start(telemetry, telemetry.log_format)
    }

    /// Runs `work` on the runtime, after installing the signal handlers (SIGINT/SIGTERM cancel
    /// [`RoleContext::cancel`]; a second one exits at once) and serving `/metrics`.
    pub fn run<F, Fut>(self, work: F) -> anyhow::Result<ExitCode>
    where
        F: FnOnce(RoleContext) -> Fut,
        Fut: Future<Output = anyhow::Result<ExitCode>>,
    {
        let metrics_listen = self.metrics_listen;
        self.runtime.block_on(async move {
            let cancel = shutdown_on_signals();
            let registry = canhgac_core::telemetry::new_registry();
            if let Some(addr) = metrics_listen {
                crate::metrics_http::serve(addr, registry.clone(), cancel.clone()).await?;
            }
            work(RoleContext { cancel, registry }).await
        })
    }
}

/// A cancellation token fired by SIGINT or SIGTERM. A second signal exits at once.
fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        for i in 0..2 {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            if i == 0 {
                tracing::info!(
                    "shutting down: draining in-flight records (signal again to stop at once)"
                );
                t.cancel();
            } else {
                tracing::warn!("second signal: stopping without draining");
                std::process::exit(130);
            }
        }
    });
    token
}

/// Makes sure `<p>.incident-events` exists, kept: compacted, one partition (each record has a
/// key of its own, so compaction drops nothing). Every role that reads or writes it calls this
/// first; a broker that refuses the settings gets a plain topic (see
/// `KafkaPublisher::ensure_state_topic`).
pub async fn ensure_lifecycle_topic(
    publisher: &canhgac_kafka::KafkaPublisher,
    topics: &canhgac_core::topics::Topics,
) -> anyhow::Result<()> {
    publisher
        .ensure_state_topic(&topics.incident_events())
        .await?;
    Ok(())
}

/// Whether a broker was asked for (for roles that work without Kafka, like `serve`): `--brokers`,
/// `CANHGAC_KAFKA__BROKERS`, or a `kafka.brokers` in the configuration file other than the
/// default (`127.0.0.1:9092`, which such a role does not assume).
pub fn brokers_given(kafka: &KafkaArgs, cfg: &Config) -> bool {
    kafka.brokers.is_some()
        || std::env::var_os("CANHGAC_KAFKA__BROKERS").is_some()
        || cfg.kafka.brokers != canhgac_core::config::RawKafka::default().brokers
}

/// Follows `<p>.incident-events` from its beginning for this process (`role` names its group)
/// and returns the subscription with a wait that returns once the follower has applied every
/// record the topic held when this was called (at most a minute; then the role starts anyway,
/// with a warning). A stage that follows the topic waits for it before it starts, so a
/// suppression or a closed incident made before the start applies from its first message.
pub async fn follow_lifecycle_topic(
    settings: &ClientSettings,
    topics: &canhgac_core::topics::Topics,
    role: &str,
) -> anyhow::Result<(
    canhgac_kafka::Tracked<canhgac_kafka::KafkaSubscription>,
    impl Future<Output = ()>,
)> {
    let topic = topics.incident_events();
    let follow = canhgac_kafka::Tracked::new(canhgac_kafka::follow_topic(settings, role, &topic)?);
    let progress = follow.progress();
    let (s, t) = (settings.clone(), topic.clone());
    let ends = tokio::task::spawn_blocking(move || {
        canhgac_kafka::end_offsets(&s, &t, std::time::Duration::from_secs(20))
    })
    .await?;
    let wait = async move {
        let ends = match ends {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, topic, "cannot read the end of the lifecycle topic; not waiting for it");
                return;
            }
        };
        let records: i64 = ends.values().sum();
        if progress
            .caught_up(&ends, std::time::Duration::from_secs(60))
            .await
        {
            tracing::info!(topic, records, "lifecycle records applied");
        } else {
            tracing::warn!(
                topic,
                records,
                "lifecycle records not all applied after a minute; starting anyway"
            );
        }
    };
    Ok((follow, wait))
}
