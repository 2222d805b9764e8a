//! The detect worker's metrics (prefix `canhgac_`).

use canhgac_core::telemetry::register;
use canhgac_core::CoreError;
use prometheus::{
    CounterVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

#[derive(Clone)]
pub struct DetectMetrics {
    pub events: IntCounter,
    pub detections: IntCounterVec,
    pub eval_seconds: Histogram,
    pub consumer_lag: IntGauge,
    pub dlq: IntCounterVec,
    pub reloads: IntCounterVec,
    pub rules_loaded: IntGauge,
    pub delivery_errors: IntCounter,
    /// IOC detections by list and kind.
    pub ioc_hits: IntCounterVec,
    /// Indicators loaded, by list.
    pub ioc_indicators: IntGaugeVec,
    /// IOC matches an allowlist suppressed.
    pub ioc_suppressed: IntCounter,
    /// Correlation detections emitted, contributions dropped as late, keys held.
    pub correlation_matches: IntCounter,
    pub correlation_late: IntGauge,
    pub correlation_keys: IntGauge,
    /// Where the time goes: wall seconds of the stage loop by phase (`receive`, `evaluate`,
    /// `publish`, `backpressure`) and CPU seconds inside evaluation (`decode`, `sigma`, `ioc`,
    /// `correlate`), summed over threads.
    pub stage_seconds: CounterVec,
    /// From the sensor reading a record (`Event::received`) to the worker acking it.
    pub end_to_end_seconds: Histogram,
    pub cpu_seconds: CounterVec,
    /// Detections marked suppressed, by suppression id (`worker::suppress`).
    pub suppressed: IntCounterVec,
    /// Suppressions in force.
    pub suppressions_active: IntGauge,
}

impl DetectMetrics {
    pub fn new(registry: &Registry) -> Result<Self, CoreError> {
        Ok(Self {
            events: register(
                registry,
                IntCounter::new("detect_events_total", "events evaluated").unwrap(),
            )?,
            detections: register(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "detect_detections_total",
                        "detections produced, by category and rule",
                    ),
                    &["category", "rule"],
                )
                .unwrap(),
            )?,
            eval_seconds: register(
                registry,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "detect_eval_seconds",
                        "time to evaluate one event against every rule and IOC list",
                    )
                    .buckets(vec![
                        1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2,
                    ]),
                )
                .unwrap(),
            )?,
            consumer_lag: register(
                registry,
                IntGauge::new(
                    "detect_consumer_lag",
                    "messages behind the end of the events topics",
                )
                .unwrap(),
            )?,
            dlq: register(
                registry,
                IntCounterVec::new(
                    Opts::new("detect_dlq_total", "events sent to the DLQ, by reason"),
                    &["reason"],
                )
                .unwrap(),
            )?,
            reloads: register(
                registry,
                IntCounterVec::new(
                    Opts::new("detect_reloads_total", "rule set reloads, by outcome"),
                    &["outcome"],
                )
                .unwrap(),
            )?,
            rules_loaded: register(
                registry,
                IntGauge::new("detect_rules_loaded", "Sigma rules in the current rule set")
                    .unwrap(),
            )?,
            delivery_errors: register(
                registry,
                IntCounter::new(
                    "detect_delivery_errors_total",
                    "detections the transport failed to deliver",
                )
                .unwrap(),
            )?,
            ioc_hits: register(
                registry,
                IntCounterVec::new(
                    Opts::new("detect_ioc_hits_total", "IOC detections, by list and kind"),
                    &["list", "kind"],
                )
                .unwrap(),
            )?,
            ioc_indicators: register(
                registry,
                IntGaugeVec::new(
                    Opts::new("detect_ioc_indicators", "indicators loaded, by list"),
                    &["list"],
                )
                .unwrap(),
            )?,
            ioc_suppressed: register(
                registry,
                IntCounter::new(
                    "detect_ioc_suppressed_total",
                    "IOC matches suppressed by an allowlist (warninglist)",
                )
                .unwrap(),
            )?,
            correlation_matches: register(
                registry,
                IntCounter::new(
                    "detect_correlation_matches_total",
                    "correlation detections emitted",
                )
                .unwrap(),
            )?,
            correlation_late: register(
                registry,
                IntGauge::new(
                    "detect_correlation_late_dropped",
                    "correlation contributions dropped as later than the allowed lateness",
                )
                .unwrap(),
            )?,
            correlation_keys: register(
                registry,
                IntGauge::new("detect_correlation_keys", "correlation group keys held").unwrap(),
            )?,
            stage_seconds: register(
                registry,
                CounterVec::new(
                    Opts::new(
                        "detect_stage_seconds_total",
                        "wall time of the stage loop, by phase",
                    ),
                    &["phase"],
                )
                .unwrap(),
            )?,
            end_to_end_seconds: register(
                registry,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "detect_end_to_end_seconds",
                        "from the sensor reading an event to the worker acking it (every \
                         detection delivered)",
                    )
                    .buckets(vec![
                        0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5,
                        2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0,
                    ]),
                )
                .unwrap(),
            )?,
            cpu_seconds: register(
                registry,
                CounterVec::new(
                    Opts::new(
                        "detect_cpu_seconds_total",
                        "CPU time inside evaluation, by phase, summed over threads",
                    ),
                    &["phase"],
                )
                .unwrap(),
            )?,
            suppressed: register(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "detect_suppressed_total",
                        "detections marked suppressed (kept, no incident, no alert), by \
                         suppression id",
                    ),
                    &["suppression"],
                )
                .unwrap(),
            )?,
            suppressions_active: register(
                registry,
                IntGauge::new(
                    "detect_suppressions_active",
                    "suppressions in force (rule x agency x entity, until their expiry)",
                )
                .unwrap(),
            )?,
        })
    }

    /// Counts and logs a reload attempt (`detect_reloads_total{outcome}`); after a successful
    /// one the gauges follow the new set.
    pub fn reloaded(&self, outcome: &super::Reload, handle: &super::RulesHandle) {
        match outcome {
            super::Reload::Loaded {
                generation,
                rules,
                indicators,
            } => {
                self.reloads.with_label_values(&["loaded"]).inc();
                self.loaded(&handle.current());
                tracing::info!(generation, rules, indicators, "rules reloaded");
            }
            super::Reload::Kept { reason } => {
                self.reloads.with_label_values(&["kept_previous"]).inc();
                tracing::error!("reload failed, keeping the previous rules: {reason}");
            }
        }
    }

    /// Sets the per-list gauges from a (re)loaded ruleset.
    pub fn loaded(&self, rules: &super::Ruleset) {
        self.rules_loaded.set(rules.engine.len() as i64);
        self.ioc_indicators.reset();
        for r in &rules.ioc_reports {
            self.ioc_indicators
                .with_label_values(&[r.id.as_str()])
                .set(r.distinct as i64);
        }
    }
}
