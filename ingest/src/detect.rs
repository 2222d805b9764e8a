//! Per-file format auto-detection: a file's format from its name and its first bytes. It sits
//! above the decoders, whose own parsers tell whether a line is theirs.
//!
//! Detection looks at the file name first (`.evtx`, `.eml`; `.gz` is stripped and the
//! content is gunzipped), then sniffs the first non-empty line (or, for pretty-printed JSON,
//! the first JSON value):
//!
//! | content | format |
//! |---|---|
//! | `ElfFile\0` magic | evtx |
//! | `{"Event":…}` (evtx_dump), NXLog (`EventID` + `Channel`/`SourceName`), Winlogbeat (`winlog`) | windows |
//! | `event_type` | suricata |
//! | `_path`, `@stream`, `id.orig_h`, `id_orig_h`, `uid` + `ts` | zeek |
//! | other JSON object | json |
//! | `#Software:`, `#Version:`, `#Date:`, `#Fields:` | web (IIS) |
//! | `<PRI>` … `CEF:` or `CEF:` | cef |
//! | `<PRI>`, `Mmm dd hh:mm:ss`, ISO timestamp, `[Sun Dec 04 …]` (Apache error) | syslog |
//! | Apache/Nginx common or combined (also wrapped in quotes) | web |
//! | MIME headers (`Received:`, `From:`, `Return-Path:` …) | eml |
//! | any other text | syslog (kept whole as the message) |

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde_json::Value;

use crate::error::IngestError;
use crate::format::Format;
use crate::framing::{Frame, Framer, FramerConfig, Framing};

/// What detection found for a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detected {
    pub format: Format,
    /// `None` for `evtx`.
    pub framing: Option<Framing>,
    /// The file is gzip-compressed (read it through [`open`]).
    pub gzip: bool,
}

/// How much of a file detection reads.
pub const SNIFF_LEN: usize = 256 * 1024;

/// The file name without a `.gz` suffix, lowercased.
fn inner_name(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    name.strip_suffix(".gz").map(str::to_string).unwrap_or(name)
}

fn is_gzip(path: &Path) -> Result<bool, IngestError> {
    let mut magic = [0u8; 2];
    let mut f = File::open(path).map_err(|source| IngestError::Open {
        path: path.into(),
        source,
    })?;
    let n = f.read(&mut magic).map_err(|source| IngestError::Read {
        path: path.into(),
        source,
    })?;
    Ok(n == 2 && magic == [0x1f, 0x8b])
}

/// Opens a file for reading, gunzipping it when it is gzip-compressed (by magic bytes).
pub fn open(path: &Path) -> Result<Box<dyn BufRead + Send>, IngestError> {
    let gz = is_gzip(path)?;
    let file = File::open(path).map_err(|source| IngestError::Open {
        path: path.into(),
        source,
    })?;
    Ok(if gz {
        Box::new(BufReader::with_capacity(
            64 * 1024,
            flate2::read::MultiGzDecoder::new(BufReader::new(file)),
        ))
    } else {
        Box::new(BufReader::with_capacity(64 * 1024, file))
    })
}

/// Detects the format of a file from its name and first bytes.
pub fn detect(path: &Path) -> Result<Detected, IngestError> {
    let name = inner_name(path);
    let gzip = is_gzip(path)?;
    if name.ends_with(".evtx") && !gzip {
        return Ok(Detected {
            format: Format::Evtx,
            framing: None,
            gzip,
        });
    }
    if name.ends_with(".eml") {
        return Ok(Detected {
            format: Format::Eml,
            framing: Some(Framing::Whole),
            gzip,
        });
    }
    let mut head = Vec::with_capacity(SNIFF_LEN);
    open(path)?
        .take(SNIFF_LEN as u64)
        .read_to_end(&mut head)
        .map_err(|source| IngestError::Read {
            path: path.into(),
            source,
        })?;
    match sniff(&head) {
        Some((format, framing)) => Ok(Detected {
            format,
            framing,
            gzip,
        }),
        None => Err(IngestError::Detect {
            path: path.into(),
            reason: describe(&head),
        }),
    }
}

fn describe(head: &[u8]) -> String {
    if head.iter().all(u8::is_ascii_whitespace) {
        "the file is empty".to_string()
    } else {
        "the first bytes are binary, not a known format".to_string()
    }
}

/// Detects a format from the first bytes of a (decompressed) stream.
pub fn sniff(head: &[u8]) -> Option<(Format, Option<Framing>)> {
    if head.starts_with(b"ElfFile\0") {
        return Some((Format::Evtx, None));
    }
    let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let first = head
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .find(|l| !l.iter().all(u8::is_ascii_whitespace))?;
    let text = String::from_utf8_lossy(first);
    let line = text.trim();
    if line.starts_with('{') {
        if let Ok(v) = serde_json::from_str::<Value>(line) {
            return Some((classify_json(&v), Some(Framing::Lines)));
        }
        let format = first_json_value(head).map_or(Format::Json, |v| classify_json(&v));
        return Some((format, Some(Framing::JsonValues)));
    }
    if ["#Software:", "#Version:", "#Date:", "#Fields:", "#Remark:"]
        .iter()
        .any(|p| line.starts_with(p))
    {
        return Some((Format::Web, Some(Framing::Lines)));
    }
    let lines = Some(Framing::Lines);
    if line.starts_with("CEF:") {
        return Some((Format::Cef, lines));
    }
    if line.starts_with('<') && line[1..].find('>').is_some_and(|i| i <= 3) {
        let format = if line.contains("CEF:") {
            Format::Cef
        } else {
            Format::Syslog
        };
        return Some((format, lines));
    }
    if crate::decode::looks_like_access_log(line) {
        return Some((Format::Web, lines));
    }
    if crate::decode::looks_like_syslog(line) {
        return Some((Format::Syslog, lines));
    }
    if looks_like_mail_header(line) {
        return Some((Format::Eml, Some(Framing::Whole)));
    }
    let binary = first
        .iter()
        .filter(|b| **b < 0x09 || (**b > 0x0d && **b < 0x20))
        .count();
    if binary * 10 > first.len() {
        return None;
    }
    Some((Format::Syslog, lines))
}

/// Windows (evtx_dump, NXLog, Winlogbeat), Suricata, Zeek or plain JSON.
pub fn classify_json(v: &Value) -> Format {
    let Some(obj) = v.as_object() else {
        return Format::Json;
    };
    let has = |k: &str| obj.contains_key(k);
    if obj.get("Event").is_some_and(Value::is_object)
        || has("winlog")
        || obj.keys().any(|k| k.starts_with("winlog."))
        || (has("EventID") && (has("Channel") || has("SourceName")))
    {
        Format::Windows
    } else if has("event_type") {
        Format::Suricata
    } else if has("_path")
        || has("@stream")
        || has("id.orig_h")
        || has("id_orig_h")
        || (has("uid") && has("ts"))
    {
        Format::Zeek
    } else {
        Format::Json
    }
}

/// The first JSON value of a head that holds pretty-printed values.
fn first_json_value(head: &[u8]) -> Option<Value> {
    let mut framer = Framer::new(head, FramerConfig::new(Framing::JsonValues));
    loop {
        match framer.next_frame().ok()?? {
            Frame::Record(r) => return serde_json::from_slice(r.bytes).ok(),
            Frame::Error(_) => continue,
        }
    }
}

const MAIL_HEADERS: [&str; 16] = [
    "received",
    "from",
    "return-path",
    "delivered-to",
    "message-id",
    "mime-version",
    "date",
    "subject",
    "to",
    "reply-to",
    "dkim-signature",
    "authentication-results",
    "arc-seal",
    "x-received",
    "received-spf",
    "x-original-to",
];

fn looks_like_mail_header(line: &str) -> bool {
    let Some((name, _)) = line.split_once(':') else {
        return false;
    };
    let name = name.to_ascii_lowercase();
    MAIL_HEADERS.contains(&name.as_str()) || (name.starts_with("x-") && !name.contains(' '))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(head: &str) -> Option<(Format, Option<Framing>)> {
        sniff(head.as_bytes())
    }

    #[test]
    fn sniffing() {
        let lines = Some(Framing::Lines);
        assert_eq!(
            fmt("{\"Event\":{\"System\":{}}}\n"),
            Some((Format::Windows, lines))
        );
        assert_eq!(
            fmt("{\n  \"Event\": {\n    \"System\": {}\n  }\n}\n"),
            Some((Format::Windows, Some(Framing::JsonValues)))
        );
        assert_eq!(
            fmt("{\"EventID\":4624,\"Channel\":\"Security\"}"),
            Some((Format::Windows, lines))
        );
        assert_eq!(
            fmt("{\"winlog\":{\"event_id\":1}}"),
            Some((Format::Windows, lines))
        );
        assert_eq!(
            fmt("{\"event_type\":\"alert\"}"),
            Some((Format::Suricata, lines))
        );
        assert_eq!(
            fmt("{\"uid\":\"C1\",\"ts\":1.0}"),
            Some((Format::Zeek, lines))
        );
        assert_eq!(
            fmt("{\"id_orig_h\":\"1.2.3.4\"}"),
            Some((Format::Zeek, lines))
        );
        assert_eq!(fmt("{\"a\":1}"), Some((Format::Json, lines)));
        assert_eq!(
            fmt("\n\n#Software: Microsoft IIS\n"),
            Some((Format::Web, lines))
        );
        assert_eq!(
            fmt("<134>Feb 19 12:00:01 h CEF:0|a|b|c|d|e|1|x=y"),
            Some((Format::Cef, lines))
        );
        assert_eq!(
            fmt("<13>1 2024-01-01T00:00:00Z h a - - - m"),
            Some((Format::Syslog, lines))
        );
        assert_eq!(
            fmt("Dec 10 06:55:46 LabSZ sshd[24200]: x"),
            Some((Format::Syslog, lines))
        );
        assert_eq!(
            fmt("[Sun Dec 04 04:47:44 2005] [notice] x"),
            Some((Format::Syslog, lines))
        );
        assert_eq!(
            fmt("1.2.3.4 - - [11/Jul/2018:08:41:28 +0300] \"GET / HTTP/1.1\" 200 1"),
            Some((Format::Web, lines))
        );
        assert_eq!(
            fmt(
                "\"1.2.3.4 - - [11/Jul/2018:08:41:28 +0300] \"GET / HTTP/1.1\" 200 1 \"-\" \"x\"\""
            ),
            Some((Format::Web, lines))
        );
        assert_eq!(
            fmt("Received: from x by y\r\nFrom: a@b\r\n"),
            Some((Format::Eml, Some(Framing::Whole)))
        );
        assert_eq!(sniff(b"ElfFile\0rest"), Some((Format::Evtx, None)));
        assert_eq!(sniff(b"\x00\x01\x02\x03\x04\x05\x06garbage"), None);
        assert_eq!(sniff(b"  \n"), None);
    }
}
