//! Reading one file: once to the end, or followed as it grows and rotates.
//!
//! The harvester runs on a blocking thread. Plain text files (lines or concatenated JSON) are
//! read by seeking to the checkpoint and framing from there; followed, they are read up to the
//! last complete line, re-checked every poll interval, and handled through rotation (the old
//! file is read to its end before the new one at the same path is opened) and truncation (read
//! again from the start). Gzip, `.evtx` and whole-file (`.eml`) inputs are read once with the
//! [`FileReader`], skipping what the checkpoint covers.
//!
//! A file is identified by its fingerprint, a hash of its first line (or first record for
//! `.evtx`): a checkpoint applies only to the file it was taken on, and the fingerprint is part
//! of every event id, so a replay or a copy of the file gives the same ids.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use canhgac_core::event::{source_fingerprint, SourceKind, SourceRef, FINGERPRINT_LEN};
use canhgac_core::Id;

use super::{OutKind, Outgoing, Position, SourceError};
use crate::decode::{decoder, DecodeError, Decoded, DecoderOptions, ErrorKind, IngestError};
use crate::detect;
use crate::encode::Identity;
use crate::format::Format;
use crate::framing::{Frame, Framer, FramerConfig, Framing};
use crate::reader::{
    file_fingerprint, read_first_line as first_line, FileReader, Item, ReadOptions,
};

/// How the harvester reads.
#[derive(Debug, Clone)]
pub struct FileOptions {
    /// `auto` detects per file.
    pub format: Format,
    pub max_record_len: usize,
    /// Keep reading as the file grows (and through rotation) until cancelled.
    pub follow: bool,
    pub poll_interval: Duration,
    pub decoder: DecoderOptions,
}

/// What the harvester talks to.
pub struct FileContext<'a> {
    pub ident: &'a Identity,
    pub tx: &'a mpsc::Sender<Outgoing>,
    pub cancel: &'a CancellationToken,
    /// Called with the number of input bytes consumed, for progress bars.
    pub progress: &'a (dyn Fn(u64) + Sync),
}

/// What a harvest did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HarvestStats {
    pub events: u64,
    pub rejected: u64,
}

struct Emitter<'a, 'b> {
    cx: &'a FileContext<'b>,
    name: String,
    kind: SourceKind,
    format: Format,
    /// The source's fingerprint, and its hex form for checkpoints.
    fingerprint: Id,
    hex: String,
    stats: HarvestStats,
}

impl Emitter<'_, '_> {
    fn source(&self, offset: u64, line: u64) -> SourceRef {
        SourceRef {
            kind: self.kind,
            name: self.name.clone(),
            offset: Some(offset),
            line: Some(line),
        }
    }

    /// Sends one message; `false` when the sensor is shutting down.
    fn send(&mut self, out: Outgoing) -> bool {
        match out.kind {
            OutKind::Event => self.stats.events += 1,
            OutKind::Dlq => self.stats.rejected += 1,
        }
        (self.cx.progress)(out.bytes);
        !self.cx.cancel.is_cancelled() && self.cx.tx.blocking_send(out).is_ok()
    }

    fn event(
        &mut self,
        offset: u64,
        line: u64,
        raw: &[u8],
        decoded: Decoded,
        after: Position,
        bytes: u64,
    ) -> bool {
        let (_, message) = self.cx.ident.event_message(
            self.source(offset, line),
            self.fingerprint.as_bytes(),
            raw,
            decoded,
            Utc::now(),
        );
        let checkpoint = self.checkpoint(after);
        self.send(Outgoing {
            message,
            kind: OutKind::Event,
            checkpoint,
            bytes,
            notify: None,
        })
    }

    fn reject(
        &mut self,
        offset: u64,
        line: u64,
        error: &DecodeError,
        sample: &[u8],
        after: Position,
        bytes: u64,
    ) -> bool {
        tracing::debug!(file = %self.name, line, reason = %error.kind, "record rejected: {}", error.message);
        let message =
            self.cx
                .ident
                .dlq_message(&self.source(offset, line), Some(self.format), error, sample);
        let checkpoint = self.checkpoint(after);
        self.send(Outgoing {
            message,
            kind: OutKind::Dlq,
            checkpoint,
            bytes,
            notify: None,
        })
    }

    fn checkpoint(&self, after: Position) -> Option<(String, Position)> {
        (self.kind == SourceKind::File).then(|| (self.name.clone(), after))
    }

    fn set_fingerprint(&mut self, fingerprint: Id) {
        self.fingerprint = fingerprint;
        self.hex = fingerprint.to_string();
    }

    fn position(&self, offset: u64, line: u64) -> Position {
        Position {
            fingerprint: self.hex.clone(),
            offset,
            line,
        }
    }
}

/// Reads one file, starting after `start` when it is a checkpoint of this same file.
pub fn harvest(
    path: &Path,
    start: Option<Position>,
    opts: &FileOptions,
    cx: &FileContext<'_>,
) -> Result<HarvestStats, SourceError> {
    let name = path.display().to_string();
    let (format, framing, gzip) = match opts.format {
        Format::Auto => {
            let d = detect::detect(path)?;
            (d.format, d.framing, d.gzip)
        }
        f => {
            let gzip = detect::detect(path).map(|d| d.gzip).unwrap_or(false);
            (f, f.default_framing(), gzip)
        }
    };
    let mut dopts = opts.decoder.clone();
    if dopts.file_name.is_none() {
        dopts.file_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    }
    let mut em = Emitter {
        cx,
        name,
        kind: SourceKind::File,
        format,
        fingerprint: Id::default(),
        hex: String::new(),
        stats: HarvestStats::default(),
    };
    match framing {
        Some(framing @ (Framing::Lines | Framing::JsonValues)) if !gzip => {
            harvest_plain(path, framing, start, opts, &dopts, &mut em)?
        }
        _ => harvest_batch(path, format, start, opts, &dopts, &mut em)?,
    }
    Ok(em.stats)
}

/// Gzip, `.evtx`, `.eml`: read once, skipping what the checkpoint covers.
fn harvest_batch(
    path: &Path,
    format: Format,
    start: Option<Position>,
    opts: &FileOptions,
    dopts: &DecoderOptions,
    em: &mut Emitter<'_, '_>,
) -> Result<(), SourceError> {
    em.set_fingerprint(file_fingerprint(path, format, dopts).map_err(|e| match e {
        IngestError::Read { path, source } => SourceError::Io { path, source },
        e => e.into(),
    })?);
    let skip = start.filter(|s| s.fingerprint == em.hex);
    let ropts = ReadOptions {
        format,
        max_record_len: opts.max_record_len,
        decoder: dopts.clone(),
        ..Default::default()
    };
    let mut reader = FileReader::open(path, &ropts)?;
    let evtx = format == Format::Evtx;
    let mut last_offset = 0u64;
    while let Some(item) = reader.next_item()? {
        let (offset, line) = match &item {
            Item::Event { offset, line, .. } | Item::Error { offset, line, .. } => (*offset, *line),
        };
        // `.evtx` resumes by record ordinal (record ids need not be ordered); the others by
        // byte offset of the decompressed stream.
        let done = |s: &Position| {
            if evtx {
                line <= s.line
            } else {
                offset < s.offset
            }
        };
        let bytes = offset.saturating_sub(last_offset);
        last_offset = offset;
        if skip.as_ref().is_some_and(done) {
            (em.cx.progress)(bytes);
            continue;
        }
        let after = if evtx {
            em.position(line, line)
        } else {
            em.position(offset + 1, line)
        };
        let go_on = match item {
            Item::Event { raw, decoded, .. } => {
                em.event(offset, line, &raw, *decoded, after, bytes)
            }
            Item::Error { error, sample, .. } => {
                em.reject(offset, line, &error, &sample, after, bytes)
            }
        };
        if !go_on {
            break;
        }
    }
    Ok(())
}

/// Plain text: seek, frame, decode; follow when asked.
fn harvest_plain(
    path: &Path,
    framing: Framing,
    mut start: Option<Position>,
    opts: &FileOptions,
    dopts: &DecoderOptions,
    em: &mut Emitter<'_, '_>,
) -> Result<(), SourceError> {
    let io = |e| SourceError::io(path, e);
    let format = em.format;
    let cfg = FramerConfig::new(framing)
        .max_record_len(opts.max_record_len)
        .utf8(format.utf8_policy());
    let mut file = File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    let mut identity = (meta.dev(), meta.ino());
    let mut known = false;
    let (mut pos, mut line) = (0u64, 1u64);
    let mut dec = decoder(format, dopts)?;
    loop {
        if em.cx.cancel.is_cancelled() {
            return Ok(());
        }
        if !known {
            file.seek(SeekFrom::Start(0)).map_err(io)?;
            let limit = if opts.follow {
                FINGERPRINT_LEN
            } else {
                usize::MAX
            };
            if let Some(first) = first_line(&mut file, limit).map_err(io)? {
                em.set_fingerprint(source_fingerprint(&first));
                known = true;
                if let Some(s) = start.take().filter(|s| s.fingerprint == em.hex) {
                    (pos, line) = (s.offset, s.line);
                    if format == Format::Web {
                        prime_header(&mut file, pos, dec.as_mut()).map_err(io)?;
                    }
                }
            } else if !opts.follow {
                return Ok(()); // empty file
            }
        }
        let size = file.metadata().map_err(io)?.len();
        if known && size < pos {
            tracing::warn!(file = %em.name, size, offset = pos, "file truncated, reading it again from the start");
            (pos, line, known) = (0, 1, false);
            dec = decoder(format, dopts)?;
            continue;
        }
        if known && size > pos {
            let limit = if opts.follow {
                complete_end(&mut file, pos, size).map_err(io)?
            } else {
                size
            };
            if limit > pos {
                file.seek(SeekFrom::Start(pos)).map_err(io)?;
                let reader = BufReader::with_capacity(256 * 1024, (&mut file).take(limit - pos));
                let mut framer = Framer::new(reader, cfg).with_position(pos, line);
                match drain(&mut framer, dec.as_mut(), em, opts.follow).map_err(io)? {
                    Drained::Stopped => return Ok(()),
                    Drained::At(p, l) => (pos, line) = (p, l),
                }
            }
        }
        if !opts.follow {
            return Ok(());
        }
        // Rotation: another file now sits at the path. Finish ours first.
        match std::fs::metadata(path) {
            Ok(m)
                if (m.dev(), m.ino()) != identity && file.metadata().map_err(io)?.len() <= pos =>
            {
                tracing::info!(file = %em.name, "file rotated, following the new one");
                file = File::open(path).map_err(io)?;
                identity = (m.dev(), m.ino());
                (pos, line, known) = (0, 1, false);
                dec = decoder(format, dopts)?;
                continue;
            }
            _ => {}
        }
        if sleep_or_cancel(em.cx.cancel, opts.poll_interval) {
            return Ok(());
        }
    }
}

enum Drained {
    /// The sensor is shutting down.
    Stopped,
    /// Everything up to here was handed on.
    At(u64, u64),
}

/// Frames, decodes and sends every record of `framer`. With `wait_for_rest`, a JSON value cut
/// short at the end (still being written) is left for the next round.
fn drain<R: std::io::BufRead>(
    framer: &mut Framer<R>,
    dec: &mut dyn crate::decode::Decoder,
    em: &mut Emitter<'_, '_>,
    wait_for_rest: bool,
) -> std::io::Result<Drained> {
    let mut last = framer.position().0;
    loop {
        let Some(frame) = framer.next_frame()? else {
            let (p, l) = framer.position();
            return Ok(Drained::At(p, l));
        };
        let go_on = match frame {
            Frame::Record(r) => {
                let (o, l, raw) = (r.offset, r.line, r.bytes);
                match dec.decode(raw) {
                    Ok(Some(decoded)) => {
                        let raw = raw.to_vec();
                        let (p, pl) = framer.position();
                        let ok = em.event(o, l, &raw, decoded, em.position(p, pl), p - last);
                        last = p;
                        ok
                    }
                    Ok(None) => true,
                    Err(e) => {
                        let sample =
                            raw[..raw.len().min(crate::framing::ERROR_SAMPLE_LEN)].to_vec();
                        let (p, pl) = framer.position();
                        let ok = em.reject(o, l, &e, &sample, em.position(p, pl), p - last);
                        last = p;
                        ok
                    }
                }
            }
            Frame::Error(e) if wait_for_rest && e.error.kind == ErrorKind::Truncated => {
                return Ok(Drained::At(e.offset, e.line));
            }
            Frame::Error(e) => {
                let (p, pl) = framer.position();
                let ok = em.reject(
                    e.offset,
                    e.line,
                    &e.error,
                    &e.sample,
                    em.position(p, pl),
                    p - last,
                );
                last = p;
                ok
            }
        };
        if !go_on {
            return Ok(Drained::Stopped);
        }
    }
}

/// Reads a stream to its end (stdin): the format is given or sniffed from the first bytes;
/// nothing is checkpointed (a stream cannot be re-read), and the fingerprint of the first line
/// keeps ids deterministic for a replay of the same input.
pub fn harvest_stream(
    name: &str,
    input: Box<dyn Read + Send>,
    opts: &FileOptions,
    cx: &FileContext<'_>,
) -> Result<HarvestStats, SourceError> {
    let io = |e| SourceError::io(Path::new(name), e);
    let mut input = BufReader::with_capacity(256 * 1024, input);
    let mut head = Vec::new();
    (&mut input)
        .take(detect::SNIFF_LEN as u64)
        .read_to_end(&mut head)
        .map_err(io)?;
    let (format, framing) = match opts.format {
        Format::Auto => detect::sniff(&head).ok_or_else(|| {
            SourceError::Ingest(IngestError::Detect {
                path: name.into(),
                reason: "cannot detect the format of the stream; pass --format".into(),
            })
        })?,
        f => (f, f.default_framing()),
    };
    let Some(framing) = framing else {
        return Err(SourceError::Ingest(IngestError::NoRecordDecoder(
            format.name(),
        )));
    };
    let first = first_line(&mut &head[..], usize::MAX)
        .map_err(io)?
        .unwrap_or_default();
    let fingerprint = source_fingerprint(&first);
    let mut em = Emitter {
        cx,
        name: name.to_string(),
        kind: SourceKind::Stdin,
        format,
        fingerprint,
        hex: fingerprint.to_string(),
        stats: HarvestStats::default(),
    };
    let mut dec = decoder(format, &opts.decoder)?;
    let cfg = FramerConfig::new(framing)
        .max_record_len(opts.max_record_len)
        .utf8(format.utf8_policy());
    let reader = BufReader::new(std::io::Cursor::new(head).chain(input));
    let mut framer = Framer::new(reader, cfg);
    drain(&mut framer, dec.as_mut(), &mut em, false).map_err(io)?;
    Ok(em.stats)
}

/// Sleeps; `true` when cancelled meanwhile.
fn sleep_or_cancel(cancel: &CancellationToken, d: Duration) -> bool {
    let step = Duration::from_millis(20);
    let mut slept = Duration::ZERO;
    while slept < d {
        if cancel.is_cancelled() {
            return true;
        }
        std::thread::sleep(step);
        slept += step;
    }
    cancel.is_cancelled()
}

/// The end of the last complete line in `[pos, size)`: the offset after its newline, or `pos`
/// when there is none yet. A line longer than a framer can hold is let through whole so the
/// framer reports it.
fn complete_end(file: &mut File, pos: u64, size: u64) -> std::io::Result<u64> {
    let mut end = size;
    let mut buf = vec![0u8; 64 * 1024];
    while end > pos {
        let start = end.saturating_sub(buf.len() as u64).max(pos);
        let n = (end - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf[..n])?;
        if let Some(i) = memchr::memrchr(b'\n', &buf[..n]) {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(pos)
}

/// Feeds the `#` directives before `pos` to a decoder that keeps header state (IIS W3C
/// `#Fields:`), so that resuming in the middle of a file decodes like reading it whole.
fn prime_header(
    file: &mut File,
    pos: u64,
    dec: &mut dyn crate::decode::Decoder,
) -> std::io::Result<()> {
    file.seek(SeekFrom::Start(0))?;
    let reader = BufReader::new(file.take(pos));
    let mut framer = Framer::new(
        reader,
        FramerConfig::new(Framing::Lines).utf8(crate::framing::Utf8Policy::Lossy),
    );
    while let Some(frame) = framer.next_frame()? {
        if let Frame::Record(r) = frame {
            if r.bytes.first() == Some(&b'#') {
                let _ = dec.decode(r.bytes);
            }
        }
    }
    Ok(())
}
