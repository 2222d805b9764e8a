//! The notifier's metrics (prefix `canhgac_`).

use canhgac_core::telemetry::register;
use canhgac_core::CoreError;
use prometheus::{IntCounterVec, IntGauge, Opts, Registry};

#[derive(Clone)]
pub struct NotifyMetrics {
    /// Detections read, by outcome (`alert`, `quiet`, `duplicate`, `rejected`, `suppressed`: under
    /// a suppression, never alerted).
    pub detections: IntCounterVec,
    /// Alerts decided, by reason (`new`, `priority-raised`, `count-crossed`).
    pub decided: IntCounterVec,
    /// Deliveries, by channel kind.
    pub delivered: IntCounterVec,
    pub retried: IntCounterVec,
    pub dead_lettered: IntCounterVec,
    /// Delivery attempts postponed by the per-agency throttle.
    pub throttled: IntCounterVec,
    pub pending: IntGauge,
}

impl NotifyMetrics {
    pub fn new(registry: &Registry) -> Result<Self, CoreError> {
        let vec = |name: &str, help: &str, label: &str| {
            IntCounterVec::new(Opts::new(name, help), &[label]).expect("valid metric")
        };
        Ok(Self {
            detections: register(
                registry,
                vec(
                    "notify_detections_total",
                    "detections read by the notifier, by outcome",
                    "outcome",
                ),
            )?,
            decided: register(
                registry,
                vec(
                    "notify_alerts_decided_total",
                    "alerts decided, by reason",
                    "reason",
                ),
            )?,
            delivered: register(
                registry,
                vec(
                    "notify_alerts_delivered_total",
                    "alerts delivered, by channel",
                    "channel",
                ),
            )?,
            retried: register(
                registry,
                vec(
                    "notify_alerts_retried_total",
                    "failed delivery attempts that will be retried, by channel",
                    "channel",
                ),
            )?,
            dead_lettered: register(
                registry,
                vec(
                    "notify_alerts_dead_lettered_total",
                    "alerts given up and written to the alerts DLQ, by channel",
                    "channel",
                ),
            )?,
            throttled: register(
                registry,
                vec(
                    "notify_alerts_throttled_total",
                    "delivery attempts postponed by the per-agency throttle, by agency",
                    "agency",
                ),
            )?,
            pending: register(
                registry,
                IntGauge::new(
                    "notify_deliveries_pending",
                    "deliveries waiting in the store",
                )
                .expect("valid metric"),
            )?,
        })
    }

    /// Metrics on a private registry (tests, or when nobody scrapes).
    pub fn unregistered() -> Self {
        Self::new(&Registry::new()).expect("fresh registry")
    }
}
