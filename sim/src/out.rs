//! Writing simulated records to files, and pacing them.
//!
//! Layout under the output directory: `<agency>/<file>` per stream (`access.log`,
//! `windows.jsonl`, `eve.json`, `dns.json`, `syslog.log`), `<agency>/mail/<n>.eml` one message
//! per file, and `truth.jsonl` (one [`TruthIncident`] per line). These are the files and names
//! `canhgac sensor` and `canhgac hunt` read (formats are detected per file).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{SimError, SimRecord, Stream, TruthIncident};

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SimError + '_ {
    move |source| SimError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes records to one file per agency and stream.
pub struct FileSink {
    dir: PathBuf,
    files: HashMap<(String, Stream), BufWriter<File>>,
    mails: HashMap<String, u64>,
    pub records: u64,
    pub bytes: u64,
}

impl FileSink {
    /// Creates `dir` if needed. Existing files of the same names are replaced.
    pub fn new(dir: &Path) -> Result<Self, SimError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        Ok(FileSink {
            dir: dir.to_path_buf(),
            files: HashMap::new(),
            mails: HashMap::new(),
            records: 0,
            bytes: 0,
        })
    }

    pub fn write(&mut self, r: &SimRecord) -> Result<(), SimError> {
        self.records += 1;
        self.bytes += r.bytes.len() as u64;
        if r.stream == Stream::Mail {
            let n = self.mails.entry(r.agency.clone()).or_insert(0);
            *n += 1;
            let dir = self.dir.join(&r.agency).join("mail");
            if *n == 1 {
                std::fs::create_dir_all(&dir).map_err(io(&dir))?;
            }
            let path = dir.join(format!("{:07}.eml", n));
            return std::fs::write(&path, &r.bytes).map_err(io(&path));
        }
        let key = (r.agency.clone(), r.stream);
        if !self.files.contains_key(&key) {
            let dir = self.dir.join(&r.agency);
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
            let path = dir.join(r.stream.file_name());
            let f = File::create(&path).map_err(io(&path))?;
            self.files
                .insert(key.clone(), BufWriter::with_capacity(64 * 1024, f));
        }
        let w = self.files.get_mut(&key).expect("inserted");
        let path = self.dir.join(&r.agency).join(r.stream.file_name());
        w.write_all(&r.bytes).map_err(io(&path))?;
        w.write_all(b"\n").map_err(io(&path))
    }

    /// Flushes and syncs every file.
    pub fn finish(mut self) -> Result<(), SimError> {
        for ((agency, stream), mut w) in self.files.drain() {
            let path = self.dir.join(agency).join(stream.file_name());
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
