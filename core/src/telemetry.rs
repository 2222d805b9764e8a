//! Telemetry: logs through `tracing` (human or JSON lines on stderr) and metrics in a
//! `prometheus` registry passed explicitly to the stages that record them (no global state).
//!
//! Log messages are lowercase without a trailing period (brief §7).

use prometheus::{Encoder, Registry, TextEncoder};
use tracing_subscriber::{fmt, EnvFilter};

use crate::config::LogFormat;
use crate::error::CoreError;

/// Installs the process-wide tracing subscriber. `filter` is a tracing filter such as `info` or
/// `canhgac_ingest=debug,info`; `RUST_LOG` overrides it when set. Calling it twice is harmless.
pub fn init_tracing(format: LogFormat, filter: &str) -> Result<(), CoreError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => EnvFilter::try_new(v),
        _ => EnvFilter::try_new(filter),
    }
    .map_err(|e| CoreError::Telemetry(format!("invalid log filter {filter:?}: {e}")))?;
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Human => builder.with_target(false).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
    // Already installed (tests, or `run` wiring several roles): keep the first one.
    let _ = result;
    Ok(())
}

/// A fresh metrics registry with the process's build information.
pub fn new_registry() -> Registry {
    let registry = Registry::new_custom(Some("canhgac".into()), None).expect("valid prefix");
    let info = prometheus::IntGaugeVec::new(
        prometheus::Opts::new("build_info", "build information of the running binary"),
        &["version"],
    )
    .expect("valid metric");
    info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
    registry
        .register(Box::new(info))
        .expect("first registration");
    registry
}

/// Renders a registry in the Prometheus text exposition format.
pub fn render(registry: &Registry) -> String {
    let mut buf = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut buf)
        .expect("text encoding cannot fail");
    String::from_utf8(buf).expect("prometheus text is utf-8")
}

/// Registers a collector, turning a duplicate registration into a named error.
pub fn register<C: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    c: C,
) -> Result<C, CoreError> {
    registry
        .register(Box::new(c.clone()))
        .map_err(|e| CoreError::Telemetry(format!("metric registration: {e}")))?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_renders_with_prefix() {
        let r = new_registry();
        let c = register(
            &r,
            prometheus::IntCounter::new("things_total", "things").unwrap(),
        )
        .unwrap();
        c.inc_by(3);
        let text = render(&r);
        assert!(text.contains("canhgac_things_total 3"), "{text}");
        assert!(text.contains("canhgac_build_info"), "{text}");
        assert!(register(
            &r,
            prometheus::IntCounter::new("things_total", "things").unwrap()
        )
        .is_err());
    }
}
