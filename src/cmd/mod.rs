//! One module per subcommand: argument parsing and wiring only; the work is in the crates.

pub mod detect;
pub mod hunt;
pub mod index;
pub mod notify;
pub mod report;
pub mod rules;
pub mod run;
pub mod search;
pub mod sensor;
pub mod serve;
pub mod simulate;
pub mod stats;

/// Exit codes (see `canhgac --help`).
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_PARTIAL: u8 = 3;

/// An error in what the user asked for (bad option combination, invalid configuration): exit
/// code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Loads the configuration file (if any) with `CANHGAC_*` environment overrides.
pub fn load_config(
    path: Option<&std::path::Path>,
) -> anyhow::Result<canhgac_core::config::RawConfig> {
    canhgac_core::config::RawConfig::load(path, std::env::vars())
        .map_err(|e| UsageError(e.to_string()).into())
}

/// Applies the command line's Kafka options (`--brokers`, `--topic-prefix`, `-X`) over the
/// configuration file's; `-X` properties add to the file's.
pub fn override_kafka(
    raw: &mut canhgac_core::config::RawConfig,
    brokers: &Option<String>,
    topic_prefix: &Option<String>,
    properties: &[(String, String)],
) {
    if let Some(b) = brokers {
        raw.kafka.brokers = b.clone();
    }
    if let Some(p) = topic_prefix {
        raw.kafka.topic_prefix = p.clone();
    }
    raw.kafka.properties.extend(properties.iter().cloned());
}

/// Applies `--metrics-listen` and `--log-format` over the configuration file's.
pub fn override_telemetry(
    raw: &mut canhgac_core::config::RawConfig,
    metrics_listen: Option<std::net::SocketAddr>,
    log_format: &Option<String>,
) {
    if let Some(m) = metrics_listen {
        raw.telemetry.metrics_listen = m.to_string();
    }
    if let Some(f) = log_format {
        raw.telemetry.log_format = f.clone();
    }
}

/// Checks the configuration; errors name the file it came from (or "command line") and are
/// usage errors (exit code 2).
pub fn validate_config(
    raw: canhgac_core::config::RawConfig,
    config: Option<&std::path::Path>,
) -> anyhow::Result<canhgac_core::config::Config> {
    let origin = config
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "command line".into());
    raw.validate(&origin)
        .map_err(|e| UsageError(e.to_string()).into())
}

/// A cancellation token fired by SIGINT or SIGTERM. A second signal exits at once.
pub fn shutdown_on_signals() -> tokio_util::sync::CancellationToken {
    let token = tokio_util::sync::CancellationToken::new();
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
