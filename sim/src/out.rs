//! Writing simulated records to files, and pacing them.
//!
//! Layout under the output directory: `<agency>/<file>` per stream (`access.log`,
//! `windows.jsonl`, `eve.json`, `dns.json`, `syslog.log`), `<agency>/mail/<n>.eml` one message
//! per file, and `truth.jsonl` (one [`TruthIncident`] per line). These are the files and names
//! `canhgac sensor` and `canhgac hunt` read (formats are detected per file).
//!
//! [`Layout`] places every record in those files as a sensor reading them sees it (file
//! fingerprint, byte offset, line), so that the simulator's events carry the ids the sensor
//! gives the same records of the written files, whether or not the files are written.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use canhgac_core::event::{first_line, source_fingerprint, Decoded, RawRecord};
use canhgac_core::event::{Event, SourceKind, SourceRef};
use canhgac_core::Id;

use crate::{SimError, SimRecord, Stream, TruthIncident};

/// Where one record lands in the output files, as a sensor reading them sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The file, relative to the output directory: `<agency>/<file>`, or
    /// `<agency>/mail/<n>.eml` for a mail.
    pub path: PathBuf,
    /// The file's fingerprint: a hash of its first line, as the sensor computes it.
    pub fingerprint: Id,
    /// Byte offset of the record's first byte in the file.
    pub offset: u64,
    /// 1-based line of the record's first byte.
    pub line: u64,
}

impl Placement {
    /// The event of a decoded record at this place: what the sensor reading the file makes of
    /// it (same id), received at the record's time. The source is named `sim/<path>`.
    pub fn event(&self, rec: &SimRecord, decoded: Decoded) -> Event {
        let raw = RawRecord {
            agency: &rec.agency,
            sensor: rec.sensor(),
            source_fingerprint: self.fingerprint.as_bytes(),
            offset: self.offset,
            bytes: &rec.bytes,
        };
        Event::from_decoded(&raw, decoded, self.source(), rec.time)
    }

    /// The source of a record at this place.
    pub fn source(&self) -> SourceRef {
        SourceRef {
            kind: SourceKind::File,
            name: format!("sim/{}", self.path.display()),
            offset: Some(self.offset),
            line: Some(self.line),
        }
    }
}

/// Places records, in the order they are written, in the files [`FileSink`] writes: one file
/// per agency and stream, each record followed by a newline, and one file per mail.
#[derive(Debug, Default)]
pub struct Layout {
    /// Per agency and stream: the file's fingerprint, and the next record's offset and line.
    files: HashMap<(String, Stream), (Id, u64, u64)>,
    mails: HashMap<String, u64>,
}

impl Layout {
    pub fn new() -> Self {
        Layout::default()
    }

    /// The place of the next record.
    pub fn place(&mut self, r: &SimRecord) -> Placement {
        if r.stream == Stream::Mail {
            let n = self.mails.entry(r.agency.clone()).or_insert(0);
            *n += 1;
            return Placement {
                path: Path::new(&r.agency)
                    .join("mail")
                    .join(format!("{:07}.eml", n)),
                fingerprint: source_fingerprint(first_line(&r.bytes)),
                offset: 0,
                line: 1,
            };
        }
        let (fingerprint, offset, line) = self
            .files
            .entry((r.agency.clone(), r.stream))
            .or_insert_with(|| (source_fingerprint(first_line(&r.bytes)), 0, 1));
        let place = Placement {
            path: Path::new(&r.agency).join(r.stream.file_name()),
            fingerprint: *fingerprint,
            offset: *offset,
            line: *line,
        };
        *offset += r.bytes.len() as u64 + 1;
        *line += 1 + newlines(&r.bytes);
        place
    }
}

fn newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|b| **b == b'\n').count() as u64
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SimError + '_ {
    move |source| SimError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes records to one file per agency and stream, where [`Layout`] places them.
pub struct FileSink {
    dir: PathBuf,
    layout: Layout,
    files: HashMap<PathBuf, BufWriter<File>>,
    mail_dirs: HashSet<PathBuf>,
    pub records: u64,
    pub bytes: u64,
}

impl FileSink {
    /// Creates `dir` if needed. Existing files of the same names are replaced.
    pub fn new(dir: &Path) -> Result<Self, SimError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        Ok(FileSink {
            dir: dir.to_path_buf(),
            layout: Layout::new(),
            files: HashMap::new(),
            mail_dirs: HashSet::new(),
            records: 0,
            bytes: 0,
        })
    }

    pub fn write(&mut self, r: &SimRecord) -> Result<(), SimError> {
        self.records += 1;
        self.bytes += r.bytes.len() as u64;
        let place = self.layout.place(r);
        let path = self.dir.join(&place.path);
        if r.stream == Stream::Mail {
            let dir = path.parent().expect("a mail directory");
            if self.mail_dirs.insert(dir.to_path_buf()) {
                std::fs::create_dir_all(dir).map_err(io(dir))?;
            }
            return std::fs::write(&path, &r.bytes).map_err(io(&path));
        }
        if !self.files.contains_key(&place.path) {
            let dir = path.parent().expect("an agency directory");
            std::fs::create_dir_all(dir).map_err(io(dir))?;
            let f = File::create(&path).map_err(io(&path))?;
            self.files
                .insert(place.path.clone(), BufWriter::with_capacity(64 * 1024, f));
        }
        let w = self.files.get_mut(&place.path).expect("inserted");
        w.write_all(&r.bytes).map_err(io(&path))?;
        w.write_all(b"\n").map_err(io(&path))
    }

    /// Flushes and syncs every file.
    pub fn finish(mut self) -> Result<(), SimError> {
        for (rel, mut w) in self.files.drain() {
            let path = self.dir.join(rel);
            w.flush().map_err(io(&path))?;
            w.get_ref().sync_all().map_err(io(&path))?;
        }
        Ok(())
    }
}

/// Writes the ground truth as JSON lines.
pub fn write_truth(path: &Path, truth: &[TruthIncident]) -> Result<(), SimError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let mut w = BufWriter::new(File::create(path).map_err(io(path))?);
    for t in truth {
        serde_json::to_writer(&mut w, t).expect("truth serialises");
        w.write_all(b"\n").map_err(io(path))?;
    }
    w.flush().map_err(io(path))
}

/// Paces a stream of records at a fixed rate (records per second); `None` is as fast as
/// possible. Sleeps only when ahead of schedule, so a slow consumer is never made slower.
pub struct Pacer {
    rate: Option<f64>,
    start: Instant,
    sent: u64,
}

impl Pacer {
    pub fn new(rate: Option<f64>) -> Self {
        Pacer {
            rate: rate.filter(|r| *r > 0.0),
            start: Instant::now(),
            sent: 0,
        }
    }

    /// How long to wait before the next record may go.
    pub fn delay(&mut self) -> Duration {
        self.sent += 1;
        match self.rate {
            None => Duration::ZERO,
            Some(rate) => {
                let due = self.start + Duration::from_secs_f64((self.sent - 1) as f64 / rate);
                due.saturating_duration_since(Instant::now())
            }
        }
    }

    /// Blocks until the next record may go (synchronous callers).
    pub fn wait(&mut self) {
        let d = self.delay();
        if !d.is_zero() {
            std::thread::sleep(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(agency: &str, stream: Stream, bytes: &[u8]) -> SimRecord {
        SimRecord {
            agency: agency.into(),
            stream,
            time: "2026-10-01T00:00:00Z".parse().unwrap(),
            bytes: bytes.to_vec(),
            truth_id: None,
        }
    }

    #[test]
    fn layout_places_records_at_their_byte_offsets() {
        let mut l = Layout::new();
        let a = l.place(&rec("byt", Stream::Syslog, b"first"));
        let b = l.place(&rec("byt", Stream::Syslog, b"second"));
        let other = l.place(&rec("moh", Stream::Syslog, b"x"));
        let c = l.place(&rec("byt", Stream::Syslog, b"third"));
        assert_eq!((a.offset, a.line), (0, 1));
        assert_eq!((b.offset, b.line), (6, 2));
        assert_eq!((c.offset, c.line), (13, 3));
        assert_eq!(other.offset, 0);
        assert_eq!(a.path, Path::new("byt/syslog.log"));
        // The file's fingerprint is its first line's, for every record of the file.
        assert_eq!(a.fingerprint, source_fingerprint(b"first"));
        assert_eq!(c.fingerprint, a.fingerprint);
        assert_ne!(other.fingerprint, a.fingerprint);
        let m1 = l.place(&rec("byt", Stream::Mail, b"From: a\r\nTo: b\r\n\r\nhi"));
        let m2 = l.place(&rec("byt", Stream::Mail, b"From: c\r\n"));
        assert_eq!(m1.path, Path::new("byt/mail/0000001.eml"));
        assert_eq!(m2.path, Path::new("byt/mail/0000002.eml"));
        assert_eq!(
            (m2.offset, m1.fingerprint),
            (0, source_fingerprint(b"From: a"))
        );
    }

    #[test]
    fn pacer_holds_the_rate() {
        let mut p = Pacer::new(Some(200.0));
        let t = Instant::now();
        for _ in 0..41 {
            p.wait();
        }
        let e = t.elapsed();
        assert!(
            e >= Duration::from_millis(190) && e < Duration::from_millis(600),
            "{e:?}"
        );
        let mut fast = Pacer::new(None);
        assert!((0..1000).all(|_| fast.delay().is_zero()));
    }
}
