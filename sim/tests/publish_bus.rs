//! Publishing simulated records as sensor events through the in-process bus (the path
//! `canhgac run` takes): every record arrives once, as an Event on its agency's topic, acked.

use std::sync::Arc;

use canhgac_core::registry::Registry;
use canhgac_core::topics::Topics;
use canhgac_core::transport::{Bus, Subscription, TopicFilter};
use canhgac_core::Event;
use canhgac_sim::{SimConfig, Simulator};
use canhgac_testsupport::repo;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_arrives_as_an_event_on_its_agency_topic() {
    let registry = Registry::load(&repo("rules/agencies.example.toml")).unwrap();
    let m = "2026-11".parse().unwrap();
    let mut cfg = SimConfig::new(registry, m, m);
    cfg.events_per_day = 12;
    let sim = Arc::new(Simulator::new(cfg).unwrap());
    let expected = sim.records().count() as u64;

    let bus = Bus::new(64);
    let mut sub = bus.subscribe(TopicFilter::Matching(Arc::new(|t: &str| {
        t.starts_with("canhgac.")
    })));
    let consumer = tokio::spawn(async move {
        let (mut n, mut workstation_events) = (0u64, 0u64);
        let mut last = None;
        while let Some(r) = sub.recv().await {
            let r = r.unwrap();
            let agency = r
                .topic
                .strip_prefix("canhgac.events.")
                .expect("events topic");
            let e: Event = serde_json::from_slice(&r.payload).unwrap();
            assert_eq!(e.agency, agency);
            if e.ecs
                .host_name
                .as_deref()
                .is_some_and(|h| h.contains("-PC"))
            {
                workstation_events += 1;
            }
            // Sensor order is preserved per topic.
            if last.as_ref().is_some_and(|(a, _)| a == agency) {
                assert!(last.as_ref().unwrap().1 <= e.received);
            }
            last = Some((agency.to_string(), e.received));
            r.ack.ack();
            n += 1;
        }
        (n, workstation_events)
    });
    let stats = canhgac_sim::publish::publish(
        sim,
        bus.publisher(),
        Topics::new("canhgac").unwrap(),
        None,
        256,
        CancellationToken::new(),
    )
    .await
    .unwrap();
    bus.close();
    let (received, workstation_events) = consumer.await.unwrap();
    assert_eq!(stats.records, expected);
    assert_eq!(stats.dlq, 0);
    assert_eq!(stats.delivered, expected);
    assert_eq!(received, expected);
    assert!(workstation_events > 0);
}
