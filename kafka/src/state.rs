//! A stage's state topic (`<prefix>.state.<stage>`, compacted): one record per key, the latest
//! wins. [`read_latest`] finds the latest record of each wanted key by reading the topic
//! backwards in chunks from its end, so its cost is bounded by how recently the keys were
//! written, not by the topic's length (a broker that never compacts keeps every record).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use canhgac_core::CoreError;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::{kafka_err, ClientSettings};

/// Records read per step backwards.
const CHUNK: i64 = 512;

/// The latest payload of each of `keys` in `topic` (every partition), as of the call. Keys
/// without a record are absent from the map; a missing topic is an empty map. Blocking: call
/// it from a thread that may block (the consumer's rebalance callback, `spawn_blocking`).
pub fn read_latest(
    settings: &ClientSettings,
    topic: &str,
    keys: &[String],
    timeout: Duration,
) -> Result<HashMap<String, Vec<u8>>, CoreError> {
    let mut out = HashMap::new();
    if keys.is_empty() {
        return Ok(out);
    }
    let consumer: BaseConsumer = settings
        .client_config(&[
            ("group.id", "canhgac-state-reader"),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("fetch.wait.max.ms", "50"),
        ])
        .create()
        .map_err(|e| kafka_err("cannot create state reader", e))?;
    let deadline = Instant::now() + timeout;
    let left = |d: Instant| d.saturating_duration_since(Instant::now());
    let meta = consumer
        .fetch_metadata(Some(topic), left(deadline))
        .map_err(|e| kafka_err(&format!("metadata of {topic}"), e))?;
    let partitions: Vec<i32> = match meta.topics().first() {
        Some(t) if t.error().is_none() => t.partitions().iter().map(|p| p.id()).collect(),
        _ => return Ok(out),
    };
    let mut wanted: HashSet<&str> = keys.iter().map(String::as_str).collect();
    for p in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, left(deadline))
            .map_err(|e| kafka_err(&format!("watermarks of {topic}/{p}"), e))?;
        let mut end = high;
        while end > low && !wanted.is_empty() {
            let start = (end - CHUNK).max(low);
            // Within a chunk the later record of a key wins; a key found in a later chunk
            // (read earlier) is no longer wanted.
            let mut found: HashMap<String, (i64, Vec<u8>)> = HashMap::new();
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(topic, p, Offset::Offset(start))
                .map_err(|e| kafka_err("state reader offset", e))?;
            consumer
                .assign(&tpl)
                .map_err(|e| kafka_err("state reader assign", e))?;
            let mut next = start;
            while next < end {
                if Instant::now() >= deadline {
                    return Err(CoreError::Transport(format!(
                        "reading {topic}/{p}: timed out at offset {next} of {low}..{high}"
                    )));
                }
                match consumer.poll(Duration::from_millis(200)) {
                    Some(Ok(m)) => {
                        next = m.offset() + 1;
                        if m.offset() >= end {
                            break;
                        }
                        let Some(key) = m.key().and_then(|k| std::str::from_utf8(k).ok()) else {
                            continue;
                        };
                        if wanted.contains(key) {
                            let payload = m.payload().unwrap_or_default().to_vec();
                            found.insert(key.to_string(), (m.offset(), payload));
                        }
                    }
                    Some(Err(e)) => return Err(kafka_err(&format!("reading {topic}/{p}"), e)),
                    None => {}
                }
            }
            for (k, (_, payload)) in found {
                wanted.remove(k.as_str());
                out.insert(k, payload);
            }
            end = start;
        }
    }
    Ok(out)
}
