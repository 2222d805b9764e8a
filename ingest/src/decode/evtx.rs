//! Raw `.evtx` files, read with the `evtx` crate into exactly the JSON layout of
//! `evtx_dump -o jsonl` (`{"Event":{"System":…,"EventData":…}}`), then decoded like any
//! Windows JSON event.
//!
//! Positions: an `.evtx` record has no line. [`EvtxItem::Record`] gives the record number
//! from the record's header (use it as the record's offset: it is unique and increasing within
//! a log, so a checkpoint on it survives the log being appended to; in a live log it equals
//! `System.EventRecordID`, but exported logs — all the samples here — renumber their record
//! headers from 1 while `EventRecordID` keeps the original ids) and its ordinal (1-based, in reading order: use
//! it as the line). Chunks are read in record order (oldest chunk first, as Windows does for a
//! log that has wrapped around), so error items name the chunk's number in the file.
//!
//! A chunk that cannot be read (bad magic, bad header, truncated) yields one `corrupt_chunk`
//! error and reading goes on with the next chunk; a record that cannot be rendered yields a
//! `corrupt_record` error. Checksums are not verified by default, as `evtx_dump` does not:
//! live logs often carry stale checksums on their last chunk.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use evtx::{EvtxParser, IntoIterChunks, ParserSettings};

use super::windows::decode_value;
use super::{DecodeError, Decoded, DecoderOptions, ErrorKind, IngestError};

/// Settings of an [`EvtxReader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EvtxOptions {
    /// Reject chunks whose CRC32 checksums do not match (`evtx_dump --validate-checksums`).
    pub validate_checksums: bool,
}

/// One item of an `.evtx` file.
#[derive(Debug, Clone, PartialEq)]
pub enum EvtxItem {
    Record {
        /// Record number from the record header: the record's offset for checkpoints and
        /// event ids.
        record_id: u64,
        /// 1-based position in reading order: the record's "line".
        ordinal: u64,
        decoded: Box<Decoded>,
    },
    Error {
        /// 0-based chunk number in the file.
        chunk: u64,
        /// The ordinal the next good record will have.
        ordinal: u64,
        error: DecodeError,
    },
}

enum Chunks {
    File(IntoIterChunks<File>),
    Memory(IntoIterChunks<Cursor<Vec<u8>>>),
}

impl Chunks {
    fn next(&mut self) -> Option<evtx::err::Result<evtx::EvtxChunkData>> {
        match self {
            Chunks::File(c) => c.next(),
            Chunks::Memory(c) => c.next(),
        }
    }
}

/// Iterates the records of an `.evtx` file, decoded.
pub struct EvtxReader {
    chunks: Chunks,
    settings: Arc<ParserSettings>,
    queue: VecDeque<EvtxItem>,
    ordinal: u64,
    chunk: u64,
    opts: DecoderOptions,
}

fn settings(opts: EvtxOptions) -> ParserSettings {
    ParserSettings::new()
        .num_threads(1)
        .validate_checksums(opts.validate_checksums)
}

/// An error with its chain of causes, on one line.
fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

impl EvtxReader {
    /// Opens an `.evtx` file. Fails only when the file header is unreadable.
    pub fn open(
        path: &Path,
        opts: EvtxOptions,
        decoder_opts: &DecoderOptions,
    ) -> Result<Self, IngestError> {
        let file = File::open(path).map_err(|source| IngestError::Open {
            path: path.into(),
            source,
        })?;
        let parser = EvtxParser::from_read_seek(file)
            .map_err(|e| IngestError::Evtx {
                path: path.into(),
                message: chain(&e),
            })?
            .with_configuration(settings(opts));
        Ok(Self::with_chunks(
            Chunks::File(parser.into_chunks()),
            opts,
            decoder_opts,
        ))
    }

    /// Reads an `.evtx` file held in memory.
    pub fn from_bytes(
        name: &str,
        bytes: Vec<u8>,
        opts: EvtxOptions,
        decoder_opts: &DecoderOptions,
    ) -> Result<Self, IngestError> {
        let parser = EvtxParser::from_buffer(bytes)
            .map_err(|e| IngestError::Evtx {
                path: name.into(),
                message: chain(&e),
            })?
            .with_configuration(settings(opts));
        Ok(Self::with_chunks(
            Chunks::Memory(parser.into_chunks()),
            opts,
            decoder_opts,
        ))
    }

    fn with_chunks(chunks: Chunks, opts: EvtxOptions, decoder_opts: &DecoderOptions) -> Self {
        EvtxReader {
            chunks,
            settings: Arc::new(settings(opts)),
            queue: VecDeque::new(),
            ordinal: 0,
            chunk: 0,
            opts: decoder_opts.clone(),
        }
    }

    /// Reads the next chunk into the queue.
    fn fill(&mut self, mut data: evtx::EvtxChunkData) {
        let chunk_no = data.number.unwrap_or(self.chunk);
        let mut chunk = match data.parse(Arc::clone(&self.settings)) {
            Ok(c) => c,
            Err(e) => {
                let error = DecodeError::new(
                    ErrorKind::CorruptChunk,
                    format!("chunk {chunk_no}: {}", chain(&e)),
                );
                self.queue.push_back(EvtxItem::Error {
                    chunk: chunk_no,
                    ordinal: self.ordinal + 1,
                    error,
                });
                return;
            }
        };
        for record in chunk.iter() {
            let rendered = record.and_then(|r| r.into_json_value());
            match rendered {
                Ok(r) => {
                    self.ordinal += 1;
                    let item = match decode_value(r.data, self.opts.local_offset) {
                        Ok(decoded) => EvtxItem::Record {
                            record_id: r.event_record_id,
                            ordinal: self.ordinal,
                            decoded: Box::new(decoded),
                        },
                        Err(error) => EvtxItem::Error {
                            chunk: chunk_no,
                            ordinal: self.ordinal,
                            error,
                        },
                    };
                    self.queue.push_back(item);
                }
                Err(e) => {
                    let item = EvtxItem::Error {
                        chunk: chunk_no,
                        ordinal: self.ordinal + 1,
                        error: DecodeError::new(
                            ErrorKind::CorruptRecord,
                            format!("chunk {chunk_no}: {}", chain(&e)),
                        ),
                    };
                    self.queue.push_back(item);
                }
            }
        }
    }
}

impl Iterator for EvtxReader {
    type Item = EvtxItem;

    fn next(&mut self) -> Option<EvtxItem> {
        loop {
            if let Some(item) = self.queue.pop_front() {
                return Some(item);
            }
            let next = self.chunks.next()?;
            match next {
                Ok(data) => self.fill(data),
                Err(e) => {
                    let chunk = match &e {
                        evtx::err::EvtxError::FailedToParseChunk { chunk_id, .. } => *chunk_id,
                        _ => self.chunk,
                    };
                    let error = DecodeError::new(ErrorKind::CorruptChunk, chain(&e));
                    self.queue.push_back(EvtxItem::Error {
                        chunk,
                        ordinal: self.ordinal + 1,
                        error,
                    });
                }
            }
            self.chunk += 1;
        }
    }
}
