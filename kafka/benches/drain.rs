//! How fast the broker hands out a topic's events, with no processing: the ceiling of any
//! worker on it. Reads `N` messages of the topics matching a pattern from the earliest offset,
//! in a fresh consumer group, and prints messages/s from the first message to the last.
//!
//! ```text
//! cargo bench -p canhgac-kafka --bench drain -- BROKERS PATTERN N [raw|ours]
//! ```
//!
//! - `raw`: librdkafka's `BaseConsumer` polled in a loop, the payload only touched;
//! - `ours` (default): [`KafkaSubscription`] (its consumer thread, offset tracking and bounded
//!   channel, as the detect worker reads) on a tokio runtime, each message acked on arrival.
//!
//! `scripts/bench-detect.sh` runs both on its topic before the worker. It needs a broker: a bare
//! `cargo bench`, which gives no arguments, only prints the usage.

use std::time::{Duration, Instant};

use canhgac_core::transport::Subscription;
use canhgac_kafka::{ClientSettings, KafkaSubscription, SubscribeTo};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::ClientConfig;

fn report(mode: &str, n: u64, bytes: u64, first: Option<Instant>) {
    let Some(first) = first else {
        println!("drain {mode}: no message");
        return;
    };
    let secs = first.elapsed().as_secs_f64();
    println!(
        "drain {mode}: {n} messages, {:.1} MB in {secs:.2} s from the first = {:.0} messages/s",
        bytes as f64 / 1e6,
        (n.saturating_sub(1)) as f64 / secs
    );
}

fn raw(brokers: &str, pattern: &str, want: u64) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("drain-raw-{}", std::process::id()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[pattern]).expect("subscribe");
    let (mut n, mut bytes, mut first) = (0u64, 0u64, None);
    let deadline = Instant::now() + Duration::from_secs(120);
    while n < want && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            first.get_or_insert_with(Instant::now);
            bytes += m.payload().map_or(0, |p| p.len()) as u64;
            n += 1;
        }
    }
    report("raw", n, bytes, first);
}

fn ours(brokers: &str, pattern: &str, want: u64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let group = format!("drain-ours-{}", std::process::id());
        let to = SubscribeTo::Pattern(pattern.to_string());
        let mut sub = KafkaSubscription::new(&ClientSettings::new(brokers), &group, to, 4096)
            .expect("subscription");
        let (mut n, mut bytes, mut first) = (0u64, 0u64, None);
        while n < want {
            match tokio::time::timeout(Duration::from_secs(120), sub.recv()).await {
                Ok(Some(Ok(m))) => {
                    first.get_or_insert_with(Instant::now);
                    bytes += m.payload.len() as u64;
                    n += 1;
                    m.ack.ack();
                }
                Ok(Some(Err(e))) => eprintln!("transport error: {e}"),
                Ok(None) | Err(_) => break,
            }
        }
        report("ours", n, bytes, first);
    });
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` adds `--bench`; with nothing else it is a bare `cargo bench` of every target.
    let by_cargo_bench = args.iter().any(|a| a == "--bench");
    args.retain(|a| a != "--bench");
    let [brokers, pattern, n, rest @ ..] = &args[..] else {
        eprintln!("usage: drain BROKERS PATTERN N [raw|ours]");
        std::process::exit(if by_cargo_bench && args.is_empty() {
            0
        } else {
            2
        });
    };
    let want: u64 = n.parse().expect("N: a number of messages");
    match rest.first().map(String::as_str) {
        Some("raw") => raw(brokers, pattern, want),
        None | Some("ours") => ours(brokers, pattern, want),
        Some(other) => {
            eprintln!("unknown mode {other:?}: raw or ours");
            std::process::exit(2);
        }
    }
}
