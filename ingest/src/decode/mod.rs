//! Decoders: one record's bytes in, a [`Decoded`] (dataset, event time, ECS fields, original
//! record) out.
//!
//! One module per format. Each decoder fills the ECS fields it can (named by
//! [`canhgac_core::wire::ecs`]), calls [`Ecs::fill_related`](canhgac_core::Ecs::fill_related)
//! last, and keeps the record's fields as the source named them in `original`, so that Sigma
//! rules match them. Decoders may be stateful (IIS reads its
//! `#Fields:` header): use one decoder per source.

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::Value;

/// A decoded record; defined in core, which turns it into an event
/// ([`Event::from_decoded`](canhgac_core::Event::from_decoded)).
pub use canhgac_core::event::Decoded;

use crate::format::Format;

mod cef;
mod eml;

mod evtx;
mod json;
mod sshd;
mod suricata;
mod syslog;
mod util;
mod web;
mod windows;
mod zeek;

pub use crate::error::{render_error, DecodeError, ErrorKind, IngestError, Result};
pub use cef::CefDecoder;
pub use eml::EmlDecoder;
pub use evtx::{EvtxItem, EvtxOptions, EvtxReader};
pub use json::JsonDecoder;
pub use suricata::SuricataDecoder;
pub use syslog::SyslogDecoder;
pub use web::WebDecoder;
pub use windows::WindowsDecoder;
pub use zeek::ZeekDecoder;

pub(crate) use syslog::looks_like_syslog;
pub(crate) use web::looks_like_access_log;

/// Turns one framed record into a [`Decoded`].
pub trait Decoder: Send {
    /// The format this decoder reads.
    fn format(&self) -> Format;

    /// Decodes one record. `Ok(None)`: the record is not an event (a blank line, an IIS `#`
    /// directive or comment). `Err`: the record is bad; the caller sends it to the DLQ with
    /// its position and goes on with the next one.
    fn decode(&mut self, record: &[u8]) -> Result<Option<Decoded>, DecodeError>;
}

/// What decoders need to know beyond the record.
#[derive(Debug, Clone, PartialEq)]
pub struct DecoderOptions {
    /// Name of the file being read (without `.gz`): Zeek takes the log name from it when the
    /// records carry neither `_path` nor `@stream` (`dns.json` → `zeek.dns`).
    pub file_name: Option<String>,
    /// Reference time for year-less syslog timestamps: the year chosen is the one that puts
    /// the time not after `now` (plus one day of clock skew). `None`: the current time.
    pub now: Option<DateTime<Utc>>,
    /// Offset of timestamps that state no zone: RFC 3164 syslog, Apache error log, RFC 5424
    /// and ISO timestamps written without one, CEF `rt`/`start`/`end`, NXLog `EventTime`, a
    /// JSON/ECS `@timestamp` or EVE/Zeek `ts` without a zone, an access log or mail `Date`
    /// without one. Default: [`canhgac_core::config::default_local_offset`] (+07:00,
    /// Asia/Ho_Chi_Minh), the one default of every role that decodes. Times that a format
    /// defines as UTC (Windows `SystemTime`, IIS W3C `date`/`time`) stay UTC.
    pub local_offset: FixedOffset,
}

impl Default for DecoderOptions {
    fn default() -> Self {
        DecoderOptions {
            file_name: None,
            now: None,
            local_offset: canhgac_core::config::default_local_offset(),
        }
    }
}

impl DecoderOptions {
    pub fn file_name(mut self, name: impl Into<String>) -> Self {
        self.file_name = Some(name.into());
        self
    }

    pub fn now(mut self, now: DateTime<Utc>) -> Self {
        self.now = Some(now);
        self
    }

    pub fn local_offset(mut self, offset: FixedOffset) -> Self {
        self.local_offset = offset;
        self
    }
}

/// A record decoder for `format`. `auto` must be resolved first (see
/// [`crate::detect::detect`]); `evtx` is read by [`EvtxReader`], not record by record.
pub fn decoder(format: Format, opts: &DecoderOptions) -> Result<Box<dyn Decoder>, IngestError> {
    Ok(match format {
        Format::Windows => Box::new(WindowsDecoder::new(opts)),
        Format::Suricata => Box::new(SuricataDecoder::new(opts)),
        Format::Zeek => Box::new(ZeekDecoder::new(opts)),
        Format::Syslog => Box::new(SyslogDecoder::new(opts)),
        Format::Cef => Box::new(CefDecoder::new(opts)),
        Format::Web => Box::new(WebDecoder::new(opts)),
        Format::Json => Box::new(JsonDecoder::new(opts)),
        Format::Eml => Box::new(EmlDecoder::new(opts)),
        Format::Auto | Format::Evtx => return Err(IngestError::NoRecordDecoder(format.name())),
    })
}

/// Parses a JSON record into an object value, with `Ok(None)` for a blank record.
pub(crate) fn parse_object(record: &[u8]) -> Result<Option<Value>, DecodeError> {
    if record.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let value: Value = serde_json::from_slice(record).map_err(|e| DecodeError::json(&e))?;
    if !value.is_object() {
        return Err(DecodeError::new(
            ErrorKind::InvalidJson,
            "expected a JSON object",
        ));
    }
    Ok(Some(value))
}
