//! canhgac-ingest: turning input files into decoded events.
//!
//! - [`format`]: the input formats (`--format auto|windows|evtx|suricata|zeek|syslog|cef|web|json|eml`)
//!   and per-file auto-detection (gzip is transparent);
//! - [`framing`]: splitting a byte stream into records (lines, concatenated JSON values, whole
//!   file) with offsets and line numbers, bounded memory and per-record errors;
//! - [`decode`]: one decoder per format, producing a [`Decoded`] (dataset, event time, ECS
//!   fields, original record), plus [`EvtxReader`] for raw `.evtx` files and [`FileReader`]
//!   that does all of it for one file.
//!
//! Bad input never stops a read: a record that cannot be framed or decoded becomes an error
//! item with a machine-readable [`ErrorKind`], a message, and its offset and line, and reading
//! goes on with the next record.

pub mod decode;
pub mod detect;
pub mod encode;
mod error;
pub mod format;
pub mod framing;
pub mod reader;
pub mod sensor;
pub mod source;

pub use decode::{
    decoder, render_error, DecodeError, Decoded, Decoder, DecoderOptions, ErrorKind, EvtxItem,
    EvtxOptions, EvtxReader, IngestError,
};
pub use detect::{detect, sniff, Detected};
pub use format::Format;
pub use framing::{Frame, FrameError, Framer, FramerConfig, Framing, Record, Utf8Policy};
pub use reader::{file_fingerprint, open_file, FileReader, Item, ReadOptions};
