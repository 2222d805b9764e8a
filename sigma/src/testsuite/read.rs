//! A minimal event reader for tests and benchmarks: JSON records (one per line, or
//! concatenated pretty-printed documents such as `evtx_dump` output), serialized [`Event`]s,
//! and raw text lines (syslog). Gzip is not handled here; callers decompress. The product reads
//! records with the ingest crate's decoders; this reader only needs to give the engine events.

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
