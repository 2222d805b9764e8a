//! The sensor's metrics, recorded from typed events of the pipeline.

use canhgac_core::telemetry::register;
use canhgac_core::CoreError;
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// Counters exported on `/metrics` (prefix `canhgac_`).
#[derive(Clone)]
pub struct SensorMetrics {
    pub records_read: IntCounter,
    pub records_published: IntCounter,
    pub records_rejected: IntCounterVec,
    pub bytes_read: IntCounter,
    pub records_acked: IntCounter,
    pub in_flight: IntGauge,
    pub delivery_errors: IntCounter,
}

impl SensorMetrics {
    pub fn new(registry: &Registry) -> Result<Self, CoreError> {
        Ok(Self {
            records_read: register(
                registry,
                IntCounter::new(
                    "sensor_records_read_total",
                    "records read from sources (events and rejected)",
                )
                .unwrap(),
            )?,
            records_published: register(
                registry,
                IntCounter::new(
                    "sensor_records_published_total",
                    "events handed to the transport",
                )
                .unwrap(),
            )?,
            records_rejected: register(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "sensor_records_rejected_total",
                        "records sent to the DLQ, by reason",
                    ),
                    &["reason"],
                )
                .unwrap(),
            )?,
            bytes_read: register(
                registry,
                IntCounter::new("sensor_bytes_read_total", "input bytes read").unwrap(),
            )?,
            records_acked: register(
                registry,
                IntCounter::new(
                    "sensor_records_acked_total",
                    "records (events and DLQ) acked by the transport",
                )
                .unwrap(),
            )?,
            in_flight: register(
                registry,
                IntGauge::new("sensor_in_flight", "records sent and not yet acked").unwrap(),
            )?,
            delivery_errors: register(
                registry,
                IntCounter::new(
                    "sensor_delivery_errors_total",
                    "records the transport failed to deliver",
                )
                .unwrap(),
            )?,
        })
    }
}
