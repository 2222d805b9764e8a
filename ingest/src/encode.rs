//! Turning decoded records and bad records into transport messages: events for
//! `<prefix>.events.<agency>` and DLQ records for `<prefix>.dlq.<agency>`.

use chrono::{DateTime, Utc};

use canhgac_core::event::{Event, RawRecord, SourceRef};
use canhgac_core::topics::Topics;
use canhgac_core::transport::Message;
use canhgac_core::Id;

use crate::decode::{DecodeError, Decoded};
use crate::format::Format;

/// Who is publishing: fixed for the life of a sensor.
#[derive(Debug, Clone)]
pub struct Identity {
    pub agency: String,
    pub sensor: String,
    pub topics: Topics,
}

/// DLQ payloads keep at most this much of a bad record (the broker's default message limit is
/// 1 MB; a 10 MB line must still reach the DLQ).
pub const DLQ_SAMPLE_LEN: usize = 64 * 1024;

impl Identity {
    /// The event message for a decoded record: `fingerprint` is the source's
    /// ([`source_fingerprint`](canhgac_core::event::source_fingerprint)), `raw` the record's
    /// bytes; the id is [`RawRecord::event_id`] over them and `source.offset`.
    pub fn event_message(
        &self,
        source: SourceRef,
        fingerprint: &[u8],
        raw: &[u8],
        decoded: Decoded,
        received: DateTime<Utc>,
    ) -> (Id, Message) {
        let record = RawRecord {
            agency: &self.agency,
            sensor: &self.sensor,
            source_fingerprint: fingerprint,
            offset: source.offset.unwrap_or(0),
            bytes: raw,
        };
        let event = Event::from_decoded(&record, decoded, source, received);
        (event.id, self.message(&event))
    }

    /// The message of an event of this sensor: to the agency's events topic, keyed by host
    /// name, else source address, else sensor (so one host's events stay in order).
    pub fn message(&self, event: &Event) -> Message {
        let key = event
            .ecs
            .host_name
            .clone()
            .or_else(|| event.ecs.source_ip.map(|ip| ip.to_string()))
            .unwrap_or_else(|| self.sensor.clone());
        Message {
            topic: self.topics.events(&self.agency),
            key: Some(key.into_bytes()),
            payload: serde_json::to_vec(event).expect("events serialise"),
            headers: Vec::new(),
        }
    }

    /// The DLQ message for a record that could not be decoded: the record's first bytes as the
    /// payload, and headers naming the reason, the source and the position.
    pub fn dlq_message(
        &self,
        source: &SourceRef,
        format: Option<Format>,
        error: &DecodeError,
        sample: &[u8],
    ) -> Message {
        let mut headers = vec![
            (
                "reason".to_string(),
                error.kind.as_str().as_bytes().to_vec(),
            ),
            ("message".to_string(), error.message.as_bytes().to_vec()),
            ("source".to_string(), source.name.as_bytes().to_vec()),
            ("sensor".to_string(), self.sensor.as_bytes().to_vec()),
        ];
        if let Some(offset) = source.offset {
            headers.push(("offset".into(), offset.to_string().into_bytes()));
        }
        if let Some(line) = source.line {
            headers.push(("line".into(), line.to_string().into_bytes()));
        }
        if let Some(f) = format {
            headers.push(("format".into(), f.name().as_bytes().to_vec()));
        }
        let payload = &sample[..sample.len().min(DLQ_SAMPLE_LEN)];
        if payload.len() < sample.len() {
            headers.push(("truncated".into(), sample.len().to_string().into_bytes()));
        }
        Message {
            topic: self.topics.dlq(&self.agency),
            key: Some(source.name.as_bytes().to_vec()),
            payload: payload.to_vec(),
            headers,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::ErrorKind;
    use canhgac_core::{Dataset, Ecs, SourceKind};

    fn ident() -> Identity {
        Identity {
            agency: "byt".into(),
            sensor: "s1".into(),
            topics: Topics::new("canhgac").unwrap(),
        }
    }

    fn src(offset: u64) -> SourceRef {
        SourceRef {
            kind: SourceKind::File,
            name: "/x.log".into(),
            offset: Some(offset),
            line: Some(1),
        }
    }

    #[test]
    fn events_are_deterministic_and_go_to_the_agency_topic() {
        let decoded = Decoded {
            dataset: Dataset::new("json"),
            timestamp: None,
            ecs: Ecs::default(),
            original: serde_json::json!({"a":1}),
        };
        let now = Utc::now();
        let (id1, m1) = ident().event_message(src(0), b"fp", b"{\"a\":1}", decoded.clone(), now);
        let (id2, _) = ident().event_message(
            src(0),
            b"fp",
            b"{\"a\":1}",
            decoded.clone(),
            now + chrono::Duration::seconds(5),
        );
        let (id3, _) = ident().event_message(src(9), b"fp", b"{\"a\":1}", decoded, now);
        assert_eq!(
            id1, id2,
            "the id does not depend on when the record was read"
        );
        assert_ne!(id1, id3);
        assert_eq!(m1.topic, "canhgac.events.byt");
        assert_eq!(m1.key.as_deref(), Some(&b"s1"[..]));
        let ev: Event = serde_json::from_slice(&m1.payload).unwrap();
        assert_eq!(
            ev.timestamp, now,
            "no event time: the received time stands in"
        );
    }

    #[test]
    fn dlq_carries_reason_and_position_and_truncates() {
        let err = DecodeError::new(ErrorKind::TooLong, "line 3 exceeds 1048576 bytes");
        let big = vec![b'x'; DLQ_SAMPLE_LEN + 10];
        let m = ident().dlq_message(&src(77), Some(Format::Json), &err, &big);
        assert_eq!(m.topic, "canhgac.dlq.byt");
        assert_eq!(m.payload.len(), DLQ_SAMPLE_LEN);
        let h = |k: &str| {
            m.headers
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| String::from_utf8(v.clone()).unwrap())
        };
        assert_eq!(h("reason").as_deref(), Some("too_long"));
        assert_eq!(h("offset").as_deref(), Some("77"));
        assert_eq!(h("source").as_deref(), Some("/x.log"));
        assert_eq!(
            h("truncated").as_deref(),
            Some(&*(DLQ_SAMPLE_LEN + 10).to_string())
        );
    }
}
