//! A minimal event reader for offline hunting, tests and benchmarks, until the ingest
//! crate's decoders land: JSON records (one per line, or concatenated pretty-printed
//! documents such as `evtx_dump` output), serialized [`Event`]s, and raw text lines (syslog).
//! Gzip is not handled here; callers decompress.

use canhgac_core::event::EVENT_SCHEMA_VERSION;
use canhgac_core::{event_id, Dataset, Event, SourceKind, SourceRef};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// Guesses the dataset of a JSON record from its shape.
pub fn guess_dataset(v: &Value) -> Dataset {
    let Value::Object(m) = v else {
        return Dataset::new(Dataset::SYSLOG);
    };
    if m.contains_key("Event")
        || m.contains_key("winlog")
        || (m.contains_key("EventID") && m.contains_key("Channel"))
    {
        return Dataset::new(Dataset::WINDOWS);
    }
    if m.contains_key("event_type") && m.contains_key("src_ip") {
        return Dataset::new(Dataset::SURICATA);
    }
    if let Some(Value::String(path)) = m.get("_path").or_else(|| m.get("@stream")) {
        return Dataset::zeek(path);
    }
    if m.contains_key("cs-method") || m.contains_key("cs-uri-stem") {
        return Dataset::new(Dataset::WEB_ACCESS);
    }
    Dataset::new(Dataset::JSON)
}

fn timestamp_of(v: &Value) -> Option<DateTime<Utc>> {
    let t = v
        .pointer("/Event/System/TimeCreated/#attributes/SystemTime")
        .or_else(|| v.get("@timestamp"))
        .or_else(|| v.get("ts"))
        .or_else(|| v.get("timestamp"))?;
    match t {
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|d| d.with_timezone(&Utc)),
        Value::Number(n) => n
            .as_f64()
            .and_then(|f| DateTime::from_timestamp(f as i64, ((f.fract()) * 1e9) as u32)),
        _ => None,
    }
}

/// A serialized [`Event`] (the detect worker's Kafka payload) read as far as evaluation
/// needs: its dataset, schema version and receive time, with the `original` record and the
/// `ecs` fields left as JSON text. The engine reads the record's text directly
/// ([`crate::Engine::eval_json`]); the whole `Event` is decoded only for events that produce a
/// detection ([`PayloadHead::event`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PayloadHead<'a> {
    payload: &'a [u8],
    head: crate::flat::envelope::Head<'a>,
}

/// What serde_json reads when the envelope reader declines a payload: `Event`'s members with
/// the same names (a test serialises an `Event` and reads it back both ways).
#[derive(serde::Deserialize)]
#[allow(dead_code)] // The members only serde_json reads are checked, not kept.
struct SerdeHead<'a> {
    #[serde(rename = "v")]
    schema: u16,
    id: canhgac_core::Id,
    agency: String,
    sensor: String,
    #[serde(borrow)]
    dataset: std::borrow::Cow<'a, str>,
    #[serde(rename = "@timestamp")]
    timestamp: DateTime<Utc>,
    received: DateTime<Utc>,
    source: SourceRef,
    #[serde(default, borrow)]
    ecs: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    original: &'a serde_json::value::RawValue,
}

impl<'a> PayloadHead<'a> {
    /// Reads a payload's head with the envelope reader, or with serde_json when that reader
    /// declines it; the error is serde_json's.
    pub fn read(payload: &'a [u8]) -> Result<Self, serde_json::Error> {
        if let Ok(text) = std::str::from_utf8(payload) {
            if let Ok(head) = crate::flat::envelope::read(text) {
                return Ok(PayloadHead { payload, head });
            }
        }
        Self::read_with_serde(payload)
    }

    fn read_with_serde(payload: &'a [u8]) -> Result<Self, serde_json::Error> {
        let h: SerdeHead<'a> = serde_json::from_slice(payload)?;
        let head = crate::flat::envelope::Head {
            schema: h.schema,
            dataset: h.dataset,
            received: h.received,
            ecs: h.ecs.map(|e| e.get()),
            ioc: None,
            original: h.original.get(),
            unchecked: false,
        };
        Ok(PayloadHead { payload, head })
    }

    /// Evaluates the record ([`crate::Engine::eval_json`]). When the envelope reader took
    /// `original` as the rest of the payload and that text is not one JSON value (a member
    /// followed it), the payload is read again with serde_json, whose verdict stands.
    pub fn eval(
        &mut self,
        engine: &crate::Engine,
        s: &mut crate::Scratch,
        out: &mut Vec<crate::RuleIdx>,
    ) -> Result<(), serde_json::Error> {
        match engine.eval_json(self.dataset(), self.original(), s, out) {
            Err(_) if self.head.unchecked => {
                out.clear();
                *self = Self::read_with_serde(self.payload)?;
                engine.eval_json(self.dataset(), self.original(), s, out)
            }
            done => done,
        }
    }

    /// Payload schema version (`v`).
    pub fn schema(&self) -> u16 {
        self.head.schema
    }

    pub fn dataset(&self) -> &str {
        &self.head.dataset
    }

    /// When the sensor read the event.
    pub fn received(&self) -> DateTime<Utc> {
        self.head.received
    }

    /// The `original` record's JSON text.
    pub fn original(&self) -> &'a str {
        self.head.original
    }

    /// The ECS fields the IOC lists read, borrowed from the payload: as the envelope reader
    /// took them, else decoded from the `ecs` text (`owned` takes the decoded `Ecs` where a
    /// string cannot be borrowed).
    pub fn ioc_fields<'s>(
        &'s self,
        owned: &'s mut Option<canhgac_core::Ecs>,
    ) -> Result<std::borrow::Cow<'s, crate::ioc::IocFields<'s>>, serde_json::Error> {
        use std::borrow::Cow;
        match (&self.head.ioc, self.head.ecs) {
            (Some(fields), _) => Ok(Cow::Borrowed(fields)),
            (None, Some(text)) => crate::ioc::IocFields::decode(text, owned).map(Cow::Owned),
            (None, None) => Ok(Cow::Owned(Default::default())),
        }
    }

    /// The whole event, decoded.
    pub fn event(&self) -> Result<Event, serde_json::Error> {
        serde_json::from_slice(self.payload)
    }
}

/// Wraps a raw record into an Event (`offset` = byte offset or record number in `source`).
pub fn record_to_event(
    original: Value,
    source: &str,
    offset: u64,
    content: &[u8],
    received: DateTime<Utc>,
) -> Event {
    let dataset = guess_dataset(&original);
    let timestamp = timestamp_of(&original).unwrap_or(received);
    Event {
        schema: EVENT_SCHEMA_VERSION,
        id: event_id("local", "hunt", source.as_bytes(), offset, content),
        agency: "local".into(),
        sensor: "hunt".into(),
        dataset,
        timestamp,
        received,
        source: SourceRef {
            kind: SourceKind::File,
            name: source.to_string(),
            offset: Some(offset),
            line: None,
        },
        ecs: Default::default(),
        original,
    }
}

/// Reads every event of a text: serialized Events, JSON records (lines or concatenated
/// documents), or else one syslog event per non-empty line. Undecodable records are
/// returned as errors with their offset; reading goes on.
pub fn read_events(text: &str, source: &str) -> Vec<Result<Event, String>> {
    let received = Utc::now();
    let trimmed = text.trim_start();
    let mut out = Vec::new();
    if trimmed.starts_with('{') {
        let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
        loop {
            let start = stream.byte_offset();
            match stream.next() {
                None => break,
                Some(Ok(v)) => {
                    let end = stream.byte_offset();
                    let content = text.as_bytes()[start..end].trim_ascii();
                    if v.get("v").is_some()
                        && v.get("original").is_some()
                        && v.get("dataset").is_some()
                    {
                        match serde_json::from_value::<Event>(v) {
                            Ok(e) => out.push(Ok(e)),
                            Err(e) => out.push(Err(format!("{source}@{start}: {e}"))),
                        }
                    } else {
                        out.push(Ok(record_to_event(
                            v,
                            source,
                            start as u64,
                            content,
                            received,
                        )));
                    }
                }
                Some(Err(e)) => {
                    out.push(Err(format!("{source}@{start}: {e}")));
                    // skip to the next line and go on
                    let rest = &text[start..];
                    if let Some(nl) = rest.find('\n') {
                        {
                            let next = start + nl + 1;
                            out.extend(read_events(&text[next..], source).into_iter().map(|r| {
                                r.map(|mut e| {
                                    e.source.offset = e.source.offset.map(|o| o + next as u64);
                                    e
                                })
                            }));
                        }
                    }
                    break;
                }
            }
        }
        return out;
    }
    let mut offset = 0u64;
    for line in text.split_inclusive('\n') {
        let l = line.trim_end_matches(['\r', '\n']);
        if !l.trim().is_empty() {
            let mut e = record_to_event(
                serde_json::json!({ "message": l }),
                source,
                offset,
                l.as_bytes(),
                received,
            );
            e.dataset = Dataset::new(Dataset::SYSLOG);
            out.push(Ok(e));
        }
        offset += line.len() as u64;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Event {
        let original = serde_json::json!({"Event": {"System": {"EventID": 1}}, "n": [1.5, null]});
        let mut event = record_to_event(
            original,
            "f.jsonl",
            7,
            b"raw",
            "2024-01-01T00:00:00.25Z".parse().unwrap(),
        );
        event.ecs.event_code = Some("1".into());
        event.ecs.source_ip = Some("10.0.0.1".parse().unwrap());
        event.source.line = Some(3);
        event
    }

    /// Reads `payload` with the envelope reader and with serde_json: where the envelope reader
    /// takes it, both must agree; `PayloadHead::read` and `PayloadHead::eval` together take
    /// what serde_json takes.
    fn both_ways(payload: &str) -> Result<PayloadHead<'_>, serde_json::Error> {
        let serde = serde_json::from_str::<SerdeHead>(payload);
        // An unchecked `original` that is not one JSON value sends the payload to serde_json.
        let fast = crate::flat::envelope::read(payload).ok().filter(|f| {
            !f.unchecked || serde_json::from_str::<serde::de::IgnoredAny>(f.original).is_ok()
        });
        let engine = crate::EngineBuilder::new(crate::Mappings::builtin())
            .build()
            .0;
        let head = PayloadHead::read(payload.as_bytes()).and_then(|mut h| {
            h.eval(&engine, &mut engine.scratch(), &mut Vec::new())
                .map(|()| h)
        });
        match (&serde, &fast) {
            (Ok(h), Some(f)) => {
                assert_eq!(h.schema, f.schema, "{payload}");
                assert_eq!(h.dataset, f.dataset, "{payload}");
                assert_eq!(h.received, f.received, "{payload}");
                assert_eq!(h.ecs.map(|e| e.get()), f.ecs, "{payload}");
                assert_eq!(h.original.get(), f.original, "{payload}");
            }
            (Err(e), Some(_)) => {
                panic!("the envelope reader took what serde rejects ({e}): {payload}")
            }
            _ => {}
        }
        assert_eq!(head.is_ok(), serde.is_ok(), "{payload}");
        head
    }

    /// `SerdeHead` restates `Event`'s serde names, and both readers find the same head in a
    /// serialized event; the whole event comes back from it.
    #[test]
    fn a_serialized_event_reads_back_both_ways() {
        let event = event();
        let text = serde_json::to_string(&event).expect("serialise");
        let pretty = serde_json::to_string_pretty(&event).expect("serialise");
        for payload in [&text, &pretty] {
            let head = both_ways(payload).expect("a payload");
            assert!(crate::flat::envelope::read(payload).is_ok(), "{payload}");
            assert_eq!(head.schema(), EVENT_SCHEMA_VERSION);
            assert_eq!(head.dataset(), "windows");
            assert_eq!(head.received(), event.received);
            let ecs: canhgac_core::Ecs =
                serde_json::from_str(head.head.ecs.expect("an ecs member")).expect("ecs");
            assert_eq!(ecs, event.ecs);
            let original: Value = serde_json::from_str(head.original()).expect("original");
            assert_eq!(original, event.original);
            assert_eq!(head.event().expect("event"), event);
        }
    }

    #[test]
    fn payloads_the_envelope_reader_is_unsure_of_are_serde_json_s_to_judge() {
        let v = serde_json::to_value(event()).expect("serialise");
        let with = |f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
            let mut m = v.as_object().expect("object").clone();
            f(&mut m);
            serde_json::to_string(&m).expect("serialise")
        };
        let text = serde_json::to_string(&v).expect("serialise");
        let mut cases = vec![
            // Taken by both.
            (
                with(&|m| {
                    let o = m.remove("original").unwrap();
                    let mut n = serde_json::Map::new();
                    n.insert("original".into(), o);
                    n.append(m);
                    *m = n;
                }),
                true,
            ),
            (
                with(&|m| {
                    m.remove("ecs");
                }),
                true,
            ),
            (
                with(&|m| {
                    m.insert(
                        "extra".into(),
                        serde_json::json!({"a": [1, "bé", null, true]}),
                    );
                }),
                true,
            ),
            (
                with(&|m| {
                    m.insert("dataset".into(), "zeek.dns\n".into());
                }),
                true,
            ),
            (
                text.replace(r#""dataset":"windows""#, r#""dataset":"win\u0064ows""#),
                true,
            ),
            (
                text.replace(
                    r#""received":"2024-01-01T00:00:00.250Z""#,
                    r#""received":"2024-01-01T07:00:00.25+07:00""#,
                ),
                true,
            ),
            // Rejected by both.
            (
                with(&|m| {
                    m.remove("original");
                }),
                false,
            ),
            (
                with(&|m| {
                    m.remove("sensor");
                }),
                false,
            ),
            (
                with(&|m| {
                    m.insert("v".into(), "1".into());
                }),
                false,
            ),
            (
                with(&|m| {
                    m.insert("v".into(), serde_json::json!(1.0));
                }),
                false,
            ),
            (
                with(&|m| {
                    m.insert("v".into(), serde_json::json!(70000));
                }),
                false,
            ),
            (
                with(&|m| {
                    m.insert("agency".into(), serde_json::json!(7));
                }),
                false,
            ),
            (
                with(&|m| {
                    m.insert("source".into(), "file".into());
                }),
                false,
            ),
            (
                with(&|m| {
                    m.insert("received".into(), "yesterday".into());
                }),
                false,
            ),
            (text.replacen(r#""v":1"#, r#""v":1,"v":1"#, 1), false),
            (text.replace(r#""Event""#, r#""Ev\u0000ent""#), true),
            (text.replace(r#""Event""#, r#""Ev\u0000ent"#), false),
            (format!("{text} trailing"), false),
            (text[..text.len() - 1].to_string(), false),
            ("[]".to_string(), false),
        ];
        cases.push((text.replace(r#""Event""#, "\"Ev\tent\""), false));
        for (payload, ok) in &cases {
            assert_eq!(both_ways(payload).is_ok(), *ok, "{payload}");
        }
        assert!(PayloadHead::read(b"{\"v\":1,\xff}").is_err(), "not UTF-8");
        // A member after `original`: the head evaluated is serde_json's, with the record alone.
        let extra = format!("{}, \"extra\": [1]}}", &text[..text.len() - 1]);
        let head = both_ways(&extra).expect("taken");
        let original: Value = serde_json::from_str(head.original()).expect("one value");
        assert_eq!(original, v["original"]);
    }
}
