//! `canhgac sensor`: read an agency's security logs and publish them as events.
//!
//! ```text
//!  files, dirs ─┐ harvester threads            pump task
//!  stdin ───────┤ (frame, decode, encode) ──► (send, ordered acks) ──► transport
//!  syslog, http ┘         bounded channel              │
//!                                                      └─► checkpoints (only behind acks)
//! ```
//!
//! Every record becomes one message: an event on `<prefix>.events.<agency>`, or, when it does
//! not decode, a DLQ record on `<prefix>.dlq.<agency>` with the reason, source and offset.
//! The pump keeps one [`OrderedAcks`] per source and stores a source's checkpoint only when
//! every earlier record of it was acked, so a crash re-reads at most the unacked tail, which
//! yields the same event ids.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use canhgac_core::ack::OrderedAcks;
use canhgac_core::transport::Publisher;
use canhgac_core::CoreError;

use crate::format::Format;
use crate::source::file::{harvest, harvest_stream, FileContext, FileOptions, HarvestStats};
use crate::source::{CheckpointStore, OutKind, Outgoing, Position, SourceError};

/// How records become event and DLQ messages (the sources use it too, so it lives below both).
pub use crate::encode;
pub mod metrics;

pub use encode::Identity;
pub use metrics::SensorMetrics;

/// Errors that stop the sensor.
#[derive(Debug, thiserror::Error)]
pub enum SensorError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Transport(#[from] CoreError),
    #[error("{path}: no such file or directory")]
    Missing { path: PathBuf },
}

/// A network listener, bound and ready: started with the pump's sender and the stop signal.
pub type Listener = Box<
    dyn FnOnce(mpsc::Sender<Outgoing>, CancellationToken) -> tokio::task::JoinHandle<()> + Send,
>;

/// How the sensor runs.
#[derive(Debug, Clone)]
pub struct SensorOptions {
    pub ident: Identity,
    pub file: FileOptions,
    pub checkpoint_dir: Option<PathBuf>,
    pub checkpoint_interval: Duration,
    pub max_in_flight: usize,
    /// Files read at the same time when not following.
    pub parallel_files: usize,
}

/// What a run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub events: u64,
    pub rejected: u64,
    pub acked: u64,
    pub files: u64,
    pub failed_sources: u64,
}

/// Where progress goes (a progress bar, or nothing).
pub trait Progress: Send + Sync {
    fn set_total(&self, _bytes: u64) {}
    fn advance(&self, _bytes: u64) {}
    fn acked(&self, _events: u64, _rejected: u64, _acked: u64) {}
    fn finish(&self) {}
}

/// No progress display.
pub struct NoProgress;
impl Progress for NoProgress {}

/// The sensor.
pub struct Sensor<P: Publisher> {
    opts: SensorOptions,
    publisher: P,
    metrics: SensorMetrics,
    progress: Arc<dyn Progress>,
}

impl<P: Publisher> Sensor<P> {
    pub fn new(opts: SensorOptions, publisher: P, metrics: SensorMetrics) -> Self {
        Self {
            opts,
            publisher,
            metrics,
            progress: Arc::new(NoProgress),
        }
    }

    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> Self {
        self.progress = progress;
        self
    }

    /// A sender for extra sources (the network listeners); they share the pump.
    fn channel(&self) -> (mpsc::Sender<Outgoing>, mpsc::Receiver<Outgoing>) {
        mpsc::channel(4096)
    }

    /// Reads `paths` (files, directories, `-` for stdin) and whatever `listeners` produce, and
    /// publishes it all. Returns when every input is read and acked (`follow` off and no
    /// listeners) or when `cancel` fires, after draining what is in flight.
    pub async fn run(
        self,
        paths: Vec<PathBuf>,
        listeners: Vec<Listener>,
        cancel: CancellationToken,
    ) -> Result<Summary, SensorError> {
        let ident = &self.opts.ident;
        for p in &paths {
            if p.as_os_str() != "-" && !p.exists() {
                return Err(SensorError::Missing { path: p.clone() });
            }
        }
        self.publisher
            .ensure_topics(&[
                ident.topics.events(&ident.agency),
                ident.topics.dlq(&ident.agency),
            ])
            .await?;
        let store = match &self.opts.checkpoint_dir {
            Some(dir) => CheckpointStore::open(dir, &ident.agency, &ident.sensor)?,
            None => CheckpointStore::in_memory(&ident.agency, &ident.sensor),
        };
        let store = Arc::new(Mutex::new(store));
        let (tx, rx) = self.channel();
        // Reading stops on `cancel`; the pump stops when every sender is gone and what was
        // sent is acked.
        let stop_reading = cancel.child_token();
        let mut readers = Vec::new();
        for l in listeners {
            readers.push(l(tx.clone(), stop_reading.clone()));
        }
        let inputs = InputSet {
            paths,
            opts: self.opts.clone(),
            store: store.clone(),
            progress: self.progress.clone(),
        };
        let files = tokio::spawn(inputs.read_all(tx, stop_reading.clone()));
        let saver = tokio::spawn(save_periodically(
            store.clone(),
            self.opts.checkpoint_interval,
            cancel.clone(),
        ));
        let pumped = pump(
            rx,
            &self.publisher,
            &store,
            &self.metrics,
            self.opts.max_in_flight,
            self.progress.as_ref(),
        )
        .await;
        stop_reading.cancel();
        let file_stats = files.await.unwrap_or_default();
        for r in readers {
            let _ = r.await;
        }
        saver.abort();
        let save =
            { tokio::task::spawn_blocking(move || store.lock().expect("store lock").save()).await };
        self.progress.finish();
        let (events, rejected, acked) = pumped?;
        save.map_err(|e| CoreError::Transport(format!("checkpoint task: {e}")))??;
        Ok(Summary {
            events,
            rejected,
            acked,
            files: file_stats.files,
            failed_sources: file_stats.failed,
        })
    }
}

async fn save_periodically(
    store: Arc<Mutex<CheckpointStore>>,
    every: Duration,
    cancel: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = cancel.cancelled() => return,
        }
        let s = store.clone();
        let res = tokio::task::spawn_blocking(move || s.lock().expect("store lock").save()).await;
        if let Ok(Err(e)) = res {
            tracing::error!(error = %e, "cannot save checkpoints");
        }
    }
}

type InFlight = std::pin::Pin<
    Box<
        dyn std::future::Future<
                Output = (
                    Result<canhgac_core::transport::Delivered, CoreError>,
                    Option<(String, canhgac_core::ack::Ticket)>,
                    Option<Arc<crate::source::AckGroup>>,
                ),
            > + Send,
    >,
>;

/// Sends every outgoing message, tracks acks per source, and advances checkpoints. Returns
/// (events, rejected, acked).
async fn pump<P: Publisher>(
    mut rx: mpsc::Receiver<Outgoing>,
    publisher: &P,
    store: &Mutex<CheckpointStore>,
    metrics: &SensorMetrics,
    max_in_flight: usize,
    progress: &dyn Progress,
) -> Result<(u64, u64, u64), SensorError> {
    let mut acks: HashMap<String, OrderedAcks<Position>> = HashMap::new();
    let mut inflight: FuturesUnordered<InFlight> = FuturesUnordered::new();
    let (mut events, mut rejected, mut acked) = (0u64, 0u64, 0u64);
    let mut open = true;
    let mut failure: Option<SensorError> = None;
    while open || !inflight.is_empty() {
        tokio::select! {
            biased;
            Some((result, ticket, notify)) = inflight.next(), if !inflight.is_empty() => {
                metrics.in_flight.dec();
                if let Some(n) = notify {
                    n.settle(result.is_ok());
                }
                match result {
                    Ok(_) => {
                        acked += 1;
                        metrics.records_acked.inc();
                        if let Some((source, ticket)) = ticket {
                            let acks = acks.get_mut(&source).expect("source tracked");
                            if let Some(pos) = acks.complete(ticket) {
                                store.lock().expect("store lock").set(&source, pos);
                            }
                        }
                        if acked % 1024 == 0 {
                            progress.acked(events, rejected, acked);
                        }
                    }
                    Err(e) => {
                        // The checkpoint stays before this record: a restart sends it again.
                        metrics.delivery_errors.inc();
                        tracing::error!(error = %e, "delivery failed");
                        failure.get_or_insert(SensorError::Transport(e));
                        open = false;
                        rx.close();
                    }
                }
            }
            out = rx.recv(), if open && inflight.len() < max_in_flight => {
                let Some(out) = out else { open = false; continue };
                metrics.records_read.inc();
                metrics.bytes_read.inc_by(out.bytes);
                match out.kind {
                    OutKind::Event => { events += 1; metrics.records_published.inc(); }
                    OutKind::Dlq => {
                        rejected += 1;
                        let reason = out.message.headers.iter().find(|(k, _)| k == "reason").map(|(_, v)| String::from_utf8_lossy(v).into_owned()).unwrap_or_default();
                        metrics.records_rejected.with_label_values(&[&reason]).inc();
                    }
                }
                let ticket = out.checkpoint.map(|(source, pos)| {
                    let t = acks.entry(source.clone()).or_default().push(pos);
                    (source, t)
                });
                let notify = out.notify;
                match publisher.send(out.message).await {
                    Ok(delivery) => {
                        metrics.in_flight.inc();
                        inflight.push(Box::pin(async move { (delivery.await, ticket, notify) }));
                    }
                    Err(e) => {
                        if let Some(n) = notify {
                            n.settle(false);
                        }
                        failure.get_or_insert(SensorError::Transport(e));
                        open = false;
                        rx.close();
                    }
                }
            }
        }
    }
    progress.acked(events, rejected, acked);
    match failure {
        Some(e) => Err(e),
        None => Ok((events, rejected, acked)),
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct FileStats {
    files: u64,
    failed: u64,
}

/// The file inputs of a run.
struct InputSet {
    paths: Vec<PathBuf>,
    opts: SensorOptions,
    store: Arc<Mutex<CheckpointStore>>,
    progress: Arc<dyn Progress>,
}

impl InputSet {
    async fn read_all(self, tx: mpsc::Sender<Outgoing>, cancel: CancellationToken) -> FileStats {
        let this = Arc::new(self);
        let follow = this.opts.file.follow;
        let limit = Arc::new(tokio::sync::Semaphore::new(if follow {
            1 << 20
        } else {
            this.opts.parallel_files.max(1)
        }));
        let mut tasks = tokio::task::JoinSet::new();
        // Path → identity of the file last read there; `running` holds paths being read. A
        // followed plain file is never restarted (its harvester handles rotation); a file read
        // whole is read again only if another file replaces it.
        let mut started: HashMap<PathBuf, (u64, u64)> = HashMap::new();
        let mut running: std::collections::HashSet<PathBuf> = Default::default();
        let mut stats = FileStats::default();
        let settle = |done: Result<(PathBuf, bool), tokio::task::JoinError>,
                      running: &mut std::collections::HashSet<PathBuf>,
                      stats: &mut FileStats| match done {
            Ok((path, ok)) => {
                running.remove(&path);
                if !ok {
                    stats.failed += 1;
                }
            }
            Err(_) => stats.failed += 1,
        };
        loop {
            let mut found = Vec::new();
            for p in &this.paths {
                if p.as_os_str() == "-" {
                    if !started.contains_key(p) {
                        found.push((p.clone(), 0));
                    }
                    continue;
                }
                list_files(p, &mut found);
            }
            let total: u64 = found.iter().map(|(_, len)| len).sum();
            if started.is_empty() {
                this.progress.set_total(total);
            }
            for (path, len) in found {
                // A path already being read (or read, unless it changed identity) is skipped.
                let identity = file_identity(&path);
                if running.contains(&path) || started.get(&path) == Some(&identity) {
                    continue;
                }
                started.insert(path.clone(), identity);
                running.insert(path.clone());
                stats.files += 1;
                let (this, tx, cancel, permit) = (
                    this.clone(),
                    tx.clone(),
                    cancel.clone(),
                    limit.clone().acquire_owned(),
                );
                tasks.spawn(async move {
                    let _permit = permit.await;
                    if cancel.is_cancelled() {
                        return (path, true);
                    }
                    let p = path.clone();
                    let ok =
                        tokio::task::spawn_blocking(move || this.read_one(&p, len, &tx, &cancel))
                            .await
                            .unwrap_or(false);
                    (path, ok)
                });
            }
            if !follow {
                break;
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(this.opts.file.poll_interval * 4) => {}
            }
            while let Some(done) = tasks.try_join_next() {
                settle(done, &mut running, &mut stats);
            }
        }
        while let Some(done) = tasks.join_next().await {
            settle(done, &mut running, &mut stats);
        }
        stats
    }

    /// Reads one input; `false` if it failed as a whole (the failure is logged and, for a file
    /// that cannot be recognised, sent to the DLQ).
    fn read_one(
        &self,
        path: &Path,
        len: u64,
        tx: &mpsc::Sender<Outgoing>,
        cancel: &CancellationToken,
    ) -> bool {
        let progress = self.progress.clone();
        let advance = move |n: u64| progress.advance(n);
        let cx = FileContext {
            ident: &self.opts.ident,
            tx,
            cancel,
            progress: &advance,
        };
        let result: Result<HarvestStats, SourceError> = if path.as_os_str() == "-" {
            harvest_stream("-", Box::new(std::io::stdin()), &self.opts.file, &cx)
        } else {
            let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
            let start = self
                .store
                .lock()
                .expect("store lock")
                .get(&canonical.display().to_string())
                .cloned();
            let r = harvest(&canonical, start, &self.opts.file, &cx);
            if is_batch(&canonical, self.opts.file.format) {
                self.progress.advance(len);
            }
            r
        };
        match result {
            Ok(stats) => {
                tracing::debug!(file = %path.display(), events = stats.events, rejected = stats.rejected, "input read");
                true
            }
            Err(e) => {
                tracing::error!(file = %path.display(), error = %e, "cannot read input");
                let error = crate::decode::DecodeError::new(
                    crate::decode::ErrorKind::Malformed,
                    e.to_string(),
                );
                let source = canonical_source(path);
                let message = self.opts.ident.dlq_message(&source, None, &error, b"");
                let _ = tx.blocking_send(Outgoing {
                    message,
                    kind: OutKind::Dlq,
                    checkpoint: None,
                    bytes: 0,
                    notify: None,
                });
                false
            }
        }
    }
}

fn canonical_source(path: &Path) -> canhgac_core::SourceRef {
    canhgac_core::SourceRef {
        kind: canhgac_core::SourceKind::File,
        name: path
            .canonicalize()
            .unwrap_or_else(|_| path.to_path_buf())
            .display()
            .to_string(),
        offset: None,
        line: None,
    }
}

/// Inputs read whole by the batch path, whose progress is counted when they finish.
fn is_batch(path: &Path, format: Format) -> bool {
    let name = path.to_string_lossy().to_ascii_lowercase();
    matches!(format, Format::Evtx | Format::Eml)
        || name.ends_with(".gz")
        || name.ends_with(".evtx")
        || name.ends_with(".eml")
}

fn file_identity(path: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path)
        .map(|m| (m.dev(), m.ino()))
        .unwrap_or_default()
}

/// Regular files under `path` (itself if it is a file), sorted, skipping hidden entries.
fn list_files(path: &Path, out: &mut Vec<(PathBuf, u64)>) {
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    if meta.is_file() {
        out.push((path.to_path_buf(), meta.len()));
        return;
    }
    if !meta.is_dir() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        tracing::warn!(dir = %path.display(), "cannot list directory");
        return;
    };
    let mut children: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    children.sort();
    for c in children {
        list_files(&c, out);
    }
}
