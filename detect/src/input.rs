//! The detect worker's payload: a serialized [`Event`] read as far as evaluation needs.

use canhgac_core::{Event, SourceRef};
use chrono::{DateTime, Utc};

/// A serialized [`Event`] (the detect worker's Kafka payload) read as far as evaluation
/// needs: its dataset, schema version and receive time, with the `original` record and the
/// `ecs` fields left as JSON text. The engine reads the record's text directly
/// ([`canhgac_sigma::Engine::eval_json`]); the whole `Event` is decoded only for events that produce a
/// detection ([`PayloadHead::event`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PayloadHead<'a> {
    payload: &'a [u8],
    head: crate::envelope::Head<'a>,
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
            if let Ok(head) = crate::envelope::read(text) {
                return Ok(PayloadHead { payload, head });
            }
        }
        Self::read_with_serde(payload)
    }

    fn read_with_serde(payload: &'a [u8]) -> Result<Self, serde_json::Error> {
        let h: SerdeHead<'a> = serde_json::from_slice(payload)?;
        let head = crate::envelope::Head {
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

    /// Evaluates the record ([`canhgac_sigma::Engine::eval_json`]). When the envelope reader took
    /// `original` as the rest of the payload and that text is not one JSON value (a member
    /// followed it), the payload is read again with serde_json, whose verdict stands.
    pub fn eval(
        &mut self,
        engine: &canhgac_sigma::Engine,
        s: &mut canhgac_sigma::Scratch,
        out: &mut Vec<canhgac_sigma::RuleIdx>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use canhgac_core::event::EVENT_SCHEMA_VERSION;
    use canhgac_sigma::testsuite::record_to_event;
    use serde_json::Value;

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
        let fast = crate::envelope::read(payload).ok().filter(|f| {
            !f.unchecked || serde_json::from_str::<serde::de::IgnoredAny>(f.original).is_ok()
        });
        let engine = canhgac_sigma::EngineBuilder::new(canhgac_sigma::Mappings::builtin())
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
            assert!(crate::envelope::read(payload).is_ok(), "{payload}");
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
