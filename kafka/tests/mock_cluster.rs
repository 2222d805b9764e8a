//! The Kafka transport against librdkafka's own mock broker (`MockCluster`): publish with
//! acks, consume in a group, store offsets only behind acked messages, resume after a restart.

use std::collections::BTreeSet;
use std::time::Duration;

use canhgac_core::transport::{Message, Publisher, Received, Subscription};
use canhgac_kafka::{ClientSettings, KafkaPublisher, KafkaSubscription, SubscribeTo};
use rdkafka::mocking::MockCluster;

fn msg(topic: &str, i: usize) -> Message {
    Message {
        topic: topic.into(),
        key: Some(format!("k{}", i % 7).into_bytes()),
        payload: format!("payload-{i}").into_bytes(),
        headers: vec![("n".into(), i.to_string().into_bytes())],
    }
}

async fn publish(p: &KafkaPublisher, topic: &str, range: std::ops::Range<usize>) {
    let mut deliveries = Vec::new();
    for i in range {
        deliveries.push(p.send(msg(topic, i)).await.unwrap());
    }
    for d in deliveries {
        d.await.unwrap();
    }
}

async fn recv_timeout(sub: &mut KafkaSubscription, secs: u64) -> Option<Received> {
    match tokio::time::timeout(Duration::from_secs(secs), sub.recv()).await {
        Ok(Some(Ok(r))) => Some(r),
        Ok(Some(Err(e))) => panic!("consumer error: {e}"),
        _ => None,
    }
}

fn number(r: &Received) -> usize {
    std::str::from_utf8(r.header("n").unwrap())
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_consume_ack_and_resume() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("t", 3, 1).unwrap();
    let settings = ClientSettings::new(cluster.bootstrap_servers());
    let p = KafkaPublisher::new(&settings).unwrap();
    publish(&p, "t", 0..300).await;

    // First consumer acks everything except the first 10 it sees, then closes.
    let mut sub =
        KafkaSubscription::new(&settings, "g1", SubscribeTo::Topics(vec!["t".into()]), 64).unwrap();
    let mut seen = BTreeSet::new();
    let mut held = Vec::new();
    while let Some(r) = recv_timeout(&mut sub, 15).await {
        assert_eq!(r.topic, "t");
        assert!(seen.insert(number(&r)), "no duplicates within a run");
        if held.len() < 10 {
            held.push(number(&r));
            drop(r.ack); // never acked
        } else {
            r.ack.ack();
        }
        if seen.len() == 300 {
            break;
        }
    }
    assert_eq!(seen.len(), 300);
    sub.close().await;

    // A new consumer of the same group sees again at least the un-acked messages, and never a
    // message before the first un-acked one of its partition.
    let mut sub =
        KafkaSubscription::new(&settings, "g1", SubscribeTo::Topics(vec!["t".into()]), 64).unwrap();
    let mut again = BTreeSet::new();
    let mut wait = 30; // joining the group again takes a few seconds
    while let Some(r) = recv_timeout(&mut sub, wait).await {
        wait = 5;
        again.insert(number(&r));
        r.ack.ack();
    }
    for h in &held {
        assert!(
            again.contains(h),
            "un-acked message {h} is redelivered (held {held:?}, again {} messages)",
            again.len()
        );
    }
    assert!(
        again.len() < 300,
        "acked messages behind the watermark are not redelivered ({})",
        again.len()
    );
    sub.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_consumers_share_partitions_without_loss() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("canhgac.events.byt", 4, 1).unwrap();
    cluster.create_topic("canhgac.events.btc", 2, 1).unwrap();
    let settings = ClientSettings::new(cluster.bootstrap_servers());
    let p = KafkaPublisher::new(&settings).unwrap();
    publish(&p, "canhgac.events.byt", 0..200).await;
    publish(&p, "canhgac.events.btc", 200..300).await;

    let pattern = SubscribeTo::Pattern("^canhgac\\.events\\..*".into());
    let mut a = KafkaSubscription::new(&settings, "g2", pattern.clone(), 16).unwrap();
    let mut b = KafkaSubscription::new(&settings, "g2", pattern, 16).unwrap();
    let mut from_a = BTreeSet::new();
    let mut from_b = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while from_a.len() + from_b.len() < 300 && tokio::time::Instant::now() < deadline {
        tokio::select! {
            Some(Ok(r)) = a.recv() => { from_a.insert(number(&r)); r.ack.ack(); }
            Some(Ok(r)) = b.recv() => { from_b.insert(number(&r)); r.ack.ack(); }
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
    let all: BTreeSet<usize> = from_a.union(&from_b).copied().collect();
    assert_eq!(all.len(), 300, "every message reached one of the workers");
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_offsets_override_the_committed_position() {
    use canhgac_kafka::SubscriptionOptions;
    use std::sync::Arc;
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("d", 1, 1).unwrap();
    let settings = ClientSettings::new(cluster.bootstrap_servers());
    let p = KafkaPublisher::new(&settings).unwrap();
    publish(&p, "d", 0..100).await;
    // The stage's own store says offsets below 60 are done.
    let options = SubscriptionOptions {
        buffer: 16,
        start_offsets: Some(Arc::new(|parts: &[(String, i32)]| {
            parts.iter().map(|(t, p)| (t.clone(), *p, 60)).collect()
        })),
        ..Default::default()
    };
    let mut sub = KafkaSubscription::with_options(
        &settings,
        "g3",
        SubscribeTo::Topics(vec!["d".into()]),
        options,
    )
    .unwrap();
    let first = recv_timeout(&mut sub, 30).await.expect("a message");
    assert_eq!(first.offset, 60);
    assert_eq!(number(&first), 60);
    first.ack.ack();
    sub.close().await;
}
