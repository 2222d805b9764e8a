//! The detect worker's metrics (prefix `canhgac_`).

use canhgac_core::telemetry::register;
use canhgac_core::CoreError;
use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

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
        })
    }
}
