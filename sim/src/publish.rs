//! Simulated records as the sensor's events: decoded by the ingest decoders and encoded exactly
//! as `canhgac sensor` encodes the files of `canhgac simulate --out` (same event ids), then
//! published through any [`Publisher`] — the Kafka publisher (`canhgac simulate --brokers`) or
//! the in-process bus of `canhgac run`.

use std::collections::HashMap;
use std::sync::Arc;

use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use canhgac_core::topics::Topics;
use canhgac_core::transport::{Message, Publisher};
use canhgac_ingest::sensor::Identity;
use canhgac_ingest::{decoder, Decoder, DecoderOptions};

use crate::out::{Layout, Pacer};
use crate::{SimError, SimRecord, Simulator, Stream};

/// Per (agency, stream): the sensor identity and its decoder.
type StreamState = (Identity, Box<dyn Decoder>);

/// Turns records into event (or DLQ) messages as one sensor per file of `canhgac simulate
/// --out` would: one decoder per agency and stream, and the file positions of [`Layout`], so
/// that the events carry the ids the sensor gives the written files' records.
pub struct Encoder {
    topics: Topics,
    streams: HashMap<(String, Stream), StreamState>,
    layout: Layout,
}

impl Encoder {
    pub fn new(topics: Topics) -> Self {
        Encoder {
            topics,
            streams: HashMap::new(),
            layout: Layout::new(),
        }
    }

    /// The message for one record: an event, a DLQ record for a record the decoder rejects,
    /// or `None` for a record that is not an event.
    pub fn encode(&mut self, rec: &SimRecord) -> Result<Option<Message>, SimError> {
        let key = (rec.agency.clone(), rec.stream);
        if !self.streams.contains_key(&key) {
            let ident = Identity {
                agency: rec.agency.clone(),
                sensor: rec.sensor().to_string(),
                topics: self.topics.clone(),
            };
            let opts = DecoderOptions::default().file_name(rec.stream.file_name());
            let dec = decoder(rec.stream.format(), &opts)?;
            self.streams.insert(key.clone(), (ident, dec));
        }
        let (ident, dec) = self.streams.get_mut(&key).expect("inserted");
        let place = self.layout.place(rec);
        Ok(match dec.decode(&rec.bytes) {
            Ok(Some(d)) => Some(ident.message(&place.event(rec, d))),
            Ok(None) => None,
            Err(e) => {
                Some(ident.dlq_message(&place.source(), Some(rec.stream.format()), &e, &rec.bytes))
            }
        })
    }
}

/// What a publish run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PublishStats {
    pub records: u64,
    pub delivered: u64,
    pub dlq: u64,
}

/// Publishes every record of `sim` as events, at `rate` records/s (`None`: as fast as the
/// transport takes them), with at most `max_in_flight` undelivered messages. Generation and
/// encoding run on a blocking thread; topics are ensured first. Stops early, after draining
/// what is in flight, when `cancel` fires.
pub async fn publish<P: Publisher>(
    sim: Arc<Simulator>,
    publisher: P,
    topics: Topics,
    rate: Option<f64>,
    max_in_flight: usize,
    cancel: CancellationToken,
) -> Result<PublishStats, SimError> {
    let mut names: Vec<String> = sim
        .agencies
        .iter()
        .flat_map(|a| [topics.events(&a.id), topics.dlq(&a.id)])
        .collect();
    names.sort();
    publisher
        .ensure_topics(&names)
        .await
        .map_err(SimError::Core)?;
    let (tx, mut rx) = mpsc::channel::<Message>(1024);
    let gen_cancel = cancel.clone();
    let enc_topics = topics.clone();
    let producer = tokio::task::spawn_blocking(move || -> Result<u64, SimError> {
        let mut enc = Encoder::new(enc_topics);
        let mut n = 0;
        for rec in sim.records() {
            if gen_cancel.is_cancelled() {
                break;
            }
            n += 1;
            if let Some(m) = enc.encode(&rec)? {
                if tx.blocking_send(m).is_err() {
                    break;
                }
            }
        }
        Ok(n)
    });
    let dlq_prefix = format!("{}.dlq.", topics.prefix());
    let mut stats = PublishStats::default();
    let mut pacer = Pacer::new(rate);
    let mut in_flight: FuturesUnordered<canhgac_core::transport::Delivery> =
        FuturesUnordered::new();
    loop {
        while in_flight.len() >= max_in_flight.max(1) {
            if let Some(r) = in_flight.next().await {
                r.map_err(SimError::Core)?;
                stats.delivered += 1;
            }
        }
        let msg = tokio::select! {
            _ = cancel.cancelled() => break,
            m = rx.recv() => match m { Some(m) => m, None => break },
        };
        let wait = pacer.delay();
        if !wait.is_zero() {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
        }
        if msg.topic.starts_with(&dlq_prefix) {
            stats.dlq += 1;
        }
        in_flight.push(publisher.send(msg).await.map_err(SimError::Core)?);
    }
    drop(rx);
    while let Some(r) = in_flight.next().await {
        r.map_err(SimError::Core)?;
        stats.delivered += 1;
    }
    stats.records = producer.await.map_err(|e| SimError::Config {
        what: "generator",
        message: e.to_string(),
    })??;
    Ok(stats)
}
