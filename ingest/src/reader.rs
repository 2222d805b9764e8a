//! Reading a whole file: open (gunzip), detect, frame and decode, one [`Item`] at a time.
//!
//! This is the simple path for batch reads and tests. A tailing sensor can use the
//! [`Framer`](crate::framing::Framer) and a [`Decoder`] directly, with its own reader and
//! checkpoints.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use canhgac_core::event::{first_line, source_fingerprint, FINGERPRINT_LEN};
use canhgac_core::Id;

use crate::decode::{
    decoder, DecodeError, Decoded, Decoder, DecoderOptions, EvtxItem, EvtxOptions, EvtxReader,
    IngestError,
};
use crate::detect;
use crate::format::Format;
use crate::framing::{
    Frame, Framer, FramerConfig, Framing, DEFAULT_MAX_RECORD_LEN, DEFAULT_MAX_WHOLE_LEN,
};

/// Settings of a [`FileReader`].
#[derive(Debug, Clone, PartialEq)]
pub struct ReadOptions {
    /// `auto` detects per file.
    pub format: Format,
    /// Longest line or JSON value; whole-file records (`.eml`) use `max_whole_len`.
    pub max_record_len: usize,
    pub max_whole_len: usize,
    pub decoder: DecoderOptions,
    pub evtx: EvtxOptions,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            format: Format::Auto,
            max_record_len: DEFAULT_MAX_RECORD_LEN,
            max_whole_len: DEFAULT_MAX_WHOLE_LEN,
            decoder: DecoderOptions::default(),
            evtx: EvtxOptions::default(),
        }
    }
}

impl ReadOptions {
    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }
}

/// One record of a file: decoded, or the reason it was not.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Event {
        /// Byte offset (`EventRecordID` for `.evtx`).
        offset: u64,
        /// 1-based line (record ordinal for `.evtx`).
        line: u64,
        /// The record's bytes (empty for `.evtx`): the content part of the event id.
        raw: Vec<u8>,
        decoded: Box<Decoded>,
    },
    Error {
        /// Byte offset; for `.evtx`, the offset of the chunk (4096 + 65536 × chunk number).
        offset: u64,
        line: u64,
        error: DecodeError,
        /// The first bytes of the bad record, for the DLQ.
        sample: Vec<u8>,
    },
}

const EVTX_HEADER: u64 = 4096;
const EVTX_CHUNK: u64 = 65536;

enum Inner {
    Framed {
        framer: Framer<Box<dyn BufRead + Send>>,
        decoder: Box<dyn Decoder>,
    },
    Evtx(Box<EvtxReader>),
}

/// Reads every record of one file.
pub struct FileReader {
    inner: Inner,
    path: PathBuf,
    format: Format,
    decoder_opts: DecoderOptions,
}

/// The fingerprint of a file read once to its end, as the sensor computes it:
/// [`source_fingerprint`] of its first line (of the decompressed stream for gzip), or of its
/// first record's `original` as JSON for `.evtx`. It is the
/// [`RawRecord::source_fingerprint`](canhgac_core::RawRecord) of the file's events.
pub fn file_fingerprint(
    path: &Path,
    format: Format,
    decoder: &DecoderOptions,
) -> Result<Id, IngestError> {
    let first = if format == Format::Evtx {
        EvtxReader::open(path, EvtxOptions::default(), decoder)?
            .find_map(|item| match item {
                EvtxItem::Record { decoded, .. } => serde_json::to_vec(&decoded.original).ok(),
                _ => None,
            })
            .unwrap_or_default()
    } else {
        read_first_line(&mut detect::open(path)?, usize::MAX)
            .map_err(|source| IngestError::Read {
                path: path.to_path_buf(),
                source,
            })?
            .unwrap_or_default()
    };
    Ok(source_fingerprint(&first))
}

/// The [`first_line`] of a stream. Without a newline in the first [`FINGERPRINT_LEN`] bytes:
/// those bytes if there are at least `limit` of them, else everything when `limit` is
/// unbounded, else `None` (the line is still being written).
pub(crate) fn read_first_line(r: &mut dyn Read, limit: usize) -> std::io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::new();
    r.take(FINGERPRINT_LEN as u64).read_to_end(&mut buf)?;
    let line = first_line(&buf);
    if line.len() < buf.len() || buf.len() >= FINGERPRINT_LEN.min(limit) {
        return Ok(Some(line.to_vec()));
    }
    if limit == usize::MAX && !buf.is_empty() {
        return Ok(Some(buf));
    }
    Ok(None)
}

/// Opens a file, gunzipping it if needed (see [`detect::open`]).
pub fn open_file(path: &Path) -> Result<Box<dyn BufRead + Send>, IngestError> {
    detect::open(path)
}

impl FileReader {
    /// Opens `path` and prepares the framer and decoder for its format (detected when
    /// `opts.format` is `auto`).
    pub fn open(path: &Path, opts: &ReadOptions) -> Result<Self, IngestError> {
        let (format, framing) = match opts.format {
            Format::Auto => {
                let d = detect::detect(path)?;
                (d.format, d.framing)
            }
            Format::Evtx => (Format::Evtx, None),
            f if f.is_json() => {
                let d = detect::detect(path)
                    .ok()
                    .filter(|d| d.framing == Some(Framing::JsonValues));
                (f, d.and(Some(Framing::JsonValues)).or(f.default_framing()))
            }
            f => (f, f.default_framing()),
        };
        let mut decoder_opts = opts.decoder.clone();
        if decoder_opts.file_name.is_none() {
            decoder_opts.file_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        }
        let inner = match (format, framing) {
            (Format::Evtx, _) | (_, None) => {
                Inner::Evtx(Box::new(EvtxReader::open(path, opts.evtx, &decoder_opts)?))
            }
            (format, Some(framing)) => {
                let max = if framing == Framing::Whole {
                    opts.max_whole_len
                } else {
                    opts.max_record_len
                };
                let cfg = FramerConfig::new(framing)
                    .max_record_len(max)
                    .utf8(format.utf8_policy());
                Inner::Framed {
                    framer: Framer::new(detect::open(path)?, cfg),
                    decoder: decoder(format, &decoder_opts)?,
                }
            }
        };
        Ok(FileReader {
            inner,
            path: path.to_path_buf(),
            format,
            decoder_opts,
        })
    }

    /// The format being read (never `auto`).
    pub fn format(&self) -> Format {
        self.format
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's fingerprint as the sensor computes it (see [`file_fingerprint`]): with the
    /// items' offsets and raw bytes, what makes the sensor's event ids. Reads the file's start
    /// again.
    pub fn fingerprint(&self) -> Result<Id, IngestError> {
        file_fingerprint(&self.path, self.format, &self.decoder_opts)
    }

    /// The next item; `Ok(None)` at the end of the file.
    pub fn next_item(&mut self) -> Result<Option<Item>, IngestError> {
        match &mut self.inner {
            Inner::Evtx(reader) => Ok(reader.next().map(|item| match item {
                EvtxItem::Record {
                    record_id,
                    ordinal,
                    decoded,
                } => Item::Event {
                    offset: record_id,
                    line: ordinal,
                    raw: Vec::new(),
                    decoded,
                },
                EvtxItem::Error {
                    chunk,
                    ordinal,
                    error,
                } => Item::Error {
                    offset: EVTX_HEADER + chunk * EVTX_CHUNK,
                    line: ordinal,
                    error,
                    sample: Vec::new(),
                },
            })),
            Inner::Framed { framer, decoder } => loop {
                let frame = framer.next_frame().map_err(|source| IngestError::Read {
                    path: self.path.clone(),
                    source,
                })?;
                let Some(frame) = frame else { return Ok(None) };
                match frame {
                    Frame::Error(e) => {
                        return Ok(Some(Item::Error {
                            offset: e.offset,
                            line: e.line,
                            error: e.error,
                            sample: e.sample,
                        }))
                    }
                    Frame::Record(r) => match decoder.decode(r.bytes) {
                        Ok(Some(decoded)) => {
                            return Ok(Some(Item::Event {
                                offset: r.offset,
                                line: r.line,
                                raw: r.bytes.to_vec(),
                                decoded: Box::new(decoded),
                            }))
                        }
                        Ok(None) => continue,
                        Err(error) => {
                            let sample = r.bytes
                                [..r.bytes.len().min(crate::framing::ERROR_SAMPLE_LEN)]
                                .to_vec();
                            return Ok(Some(Item::Error {
                                offset: r.offset,
                                line: r.line,
                                error,
                                sample,
                            }));
                        }
                    },
                }
            },
        }
    }
}
