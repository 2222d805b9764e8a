//! Following a whole topic from one process: every record from the topic's beginning, then
//! what comes, for a stage that keeps a view of the topic in memory (the detect workers'
//! suppressions, notify's incident states, both from `<prefix>.incident-events`).
//!
//! Each process has a consumer group of its own (`<role>.<host>.<pid>.<start time>`), so
//! every process gets every partition; every partition starts at its beginning on every
//! start (the view is rebuilt, nothing is committed that matters).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use canhgac_core::CoreError;

use crate::{ClientSettings, KafkaSubscription, SubscribeTo, SubscriptionOptions};

/// The group id of a follower of `role` in this process.
pub fn follower_group(role: &str) -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{role}.{host}.{}.{nanos}", std::process::id())
}

/// Every record of `topic`, from its beginning, for this process alone.
pub fn follow_topic(
    settings: &ClientSettings,
    role: &str,
    topic: &str,
) -> Result<KafkaSubscription, CoreError> {
    let options = SubscriptionOptions {
        buffer: 256,
        start_offsets: Some(Arc::new(|parts: &[(String, i32)]| {
            parts.iter().map(|(t, p)| (t.clone(), *p, 0)).collect()
        })),
        ..Default::default()
    };
    KafkaSubscription::with_options(
        settings,
        &follower_group(role),
        SubscribeTo::Topics(vec![topic.to_string()]),
        options,
    )
}
