//! Everything a detect worker matches and classifies with, loaded together and swapped whole.
//!
//! A [`Ruleset`] holds the compiled Sigma engine, its correlation rules, the IOC lists, the
//! taxonomy and the agency registry. It is
//! built from a [`RulesetSpec`] (paths) and published through a [`RulesHandle`]; workers take
//! the current one per batch, so a reload never changes the rules in the middle of an event.
//! [`watch`] reloads on SIGHUP (a message on its channel) or when a watched file changes. A
//! reload that fails — a file that does not parse, or rules that are newly rejected — keeps the
//! previous set and logs why.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use canhgac_core::registry::Registry;

use crate::ioc::{IocLoader, IocSet, ListReport};
use crate::taxonomy::Taxonomy;
use canhgac_sigma::{CorrelationSet, Engine, EngineBuilder, LoadReport, Mappings, Placeholders};

use super::WorkerError;

/// Where a ruleset comes from.
#[derive(Debug, Clone, Default)]
pub struct RulesetSpec {
    /// Sigma rule files or trees.
    pub rules: Vec<PathBuf>,
    /// A directory of mapping files; the built-in mappings when `None`.
    pub mappings: Option<PathBuf>,
    /// Values for `expand` placeholders (YAML).
    pub placeholders: Option<PathBuf>,
    /// The taxonomy; the built-in `rules/taxonomy.yaml` when `None`.
    pub taxonomy: Option<PathBuf>,
    /// The agency registry (TOML); none means no event is attributed to a system.
    pub registry: Option<PathBuf>,
    /// IOC list definitions (`rules/ioc/*.yaml`), directories of them, or raw list files.
    pub ioc: Vec<PathBuf>,
    /// `${NAME}` values for IOC definition paths (e.g. `CANHGAC_DATA`); the environment
    /// otherwise.
    pub ioc_vars: Vec<(String, String)>,
}

/// A loaded, checked ruleset.
pub struct Ruleset {
    pub engine: Engine,
    /// Correlation rules over the engine's rules (empty when the rule trees hold none).
    pub correlations: Arc<CorrelationSet>,
    pub report: LoadReport,
    /// Every IOC list (empty when no `--ioc` was given).
    pub ioc: IocSet,
    pub ioc_reports: Vec<ListReport>,
    pub taxonomy: Taxonomy,
    pub registry: Registry,
    /// Increases with every successful (re)load.
    pub generation: u64,
    /// Warm working memory of the engine (route caches filled, buffers grown), taken by each
    /// evaluation job and given back when it ends.
    scratch: std::sync::Mutex<Vec<canhgac_sigma::Scratch>>,
}

impl RulesetSpec {
    /// Loads everything. Rule rejections are reported in [`Ruleset::report`], not errors; a
    /// missing path or an invalid taxonomy, registry, mapping or placeholder file is an error.
    pub fn load(&self, generation: u64) -> Result<Ruleset, WorkerError> {
        let mappings = match &self.mappings {
            Some(dir) => Mappings::from_dir(dir)?,
            None => Mappings::builtin(),
        };
        let mut builder = EngineBuilder::new(mappings);
        if let Some(p) = &self.placeholders {
            let text = std::fs::read_to_string(p).map_err(|source| WorkerError::Read {
                path: p.clone(),
                source,
            })?;
            builder =
                builder.placeholders(Placeholders::from_yaml(&text, &p.display().to_string())?);
        }
        for p in &self.rules {
            builder.add_path(p)?;
        }
        let (engine, correlations, report) = builder.build_with_correlations();
        let mut loader = IocLoader::new();
        for (k, v) in &self.ioc_vars {
            loader = loader.var(k.clone(), v.clone());
        }
        for p in &self.ioc {
            loader.add_path(p)?;
        }
        let (ioc, ioc_reports) = loader.build();
        let taxonomy = match &self.taxonomy {
            Some(p) => Taxonomy::load(p)?,
            None => Taxonomy::builtin(),
        };
        let registry = match &self.registry {
            Some(p) => Registry::load(p)?,
            None => Registry::default(),
        };
        Ok(Ruleset {
            engine,
            correlations: Arc::new(correlations),
            report,
            ioc,
            ioc_reports,
            taxonomy,
            registry,
            generation,
            scratch: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// Every file the ruleset is read from, with its modification time and size: a change in
    /// this list triggers a reload. `extra` adds paths found while loading (the data files IOC
    /// definitions point to: [`Ruleset::ioc_paths`]).
    pub fn fingerprint(&self, extra: &[PathBuf]) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
        let mut out = Vec::new();
        let roots = self
            .rules
            .iter()
            .chain(&self.mappings)
            .chain(&self.placeholders)
            .chain(&self.taxonomy)
            .chain(&self.registry)
            .chain(&self.ioc)
            .chain(extra);
        for root in roots {
            walk(root, &mut out);
        }
        out.sort();
        out
    }
}

impl Ruleset {
    /// Working memory for one evaluation job: a warm one from an earlier job when there is
    /// one; it returns to this ruleset when dropped.
    pub fn scratch(&self) -> PooledScratch<'_> {
        let s = self
            .scratch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_else(|| self.engine.scratch());
        PooledScratch {
            pool: &self.scratch,
            scratch: Some(s),
        }
    }

    /// The files and directories the loaded IOC lists were read from.
    pub fn ioc_paths(&self) -> Vec<PathBuf> {
        self.ioc.lists().iter().map(|l| l.path.clone()).collect()
    }
}

fn walk(path: &Path, out: &mut Vec<(PathBuf, Option<SystemTime>, u64)>) {
    let Ok(meta) = std::fs::metadata(path) else {
        out.push((path.to_path_buf(), None, 0));
        return;
    };
    if meta.is_dir() {
        if let Ok(entries) = std::fs::read_dir(path) {
            for e in entries.flatten() {
                walk(&e.path(), out);
            }
        }
    } else {
        out.push((path.to_path_buf(), meta.modified().ok(), meta.len()));
    }
}

/// The current ruleset, shared by the workers of a process.
#[derive(Clone)]
pub struct RulesHandle(Arc<ArcSwap<Ruleset>>);

impl RulesHandle {
    pub fn new(rules: Ruleset) -> Self {
        RulesHandle(Arc::new(ArcSwap::from_pointee(rules)))
    }

    pub fn current(&self) -> Arc<Ruleset> {
        self.0.load_full()
    }

    fn replace(&self, rules: Ruleset) {
        self.0.store(Arc::new(rules));
    }
}

/// What a reload attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    Loaded {
        generation: u64,
        rules: usize,
        /// IOC indicators loaded.
        indicators: usize,
    },
    /// The previous set stays; the reason names the file and problem.
    Kept { reason: String },
}

/// Loads the spec again and swaps it in, unless it fails or rejects rules the current set did
/// not (a file broken in the editor must not silently drop its rules).
pub fn reload(spec: &RulesetSpec, handle: &RulesHandle) -> Reload {
    let current = handle.current();
    match spec.load(current.generation + 1) {
        Err(e) => Reload::Kept {
            reason: e.to_string(),
        },
        Ok(next) => {
            let known: std::collections::HashSet<_> = current
                .report
                .rejections
                .iter()
                .map(|r| (r.path.clone(), r.document))
                .collect();
            let fresh: Vec<String> = next
                .report
                .rejections
                .iter()
                .filter(|r| !known.contains(&(r.path.clone(), r.document)))
                .map(|r| r.to_string())
                .collect();
            if !fresh.is_empty() {
                return Reload::Kept {
                    reason: format!(
                        "{} newly rejected rule(s): {}",
                        fresh.len(),
                        fresh.join("; ")
                    ),
                };
            }
            let generation = next.generation;
            let rules = next.engine.len();
            let indicators = next.ioc.stats().indicators;
            handle.replace(next);
            Reload::Loaded {
                generation,
                rules,
                indicators,
            }
        }
    }
}

/// Reloads on a SIGHUP (a message on `sighup`) or when a watched file changes (checked every
/// `every`), until `cancel`. `on_reload` is told each outcome (logs and metrics).
pub async fn watch(
    spec: RulesetSpec,
    handle: RulesHandle,
    every: Duration,
    mut sighup: mpsc::Receiver<()>,
    on_reload: impl Fn(&Reload) + Send + 'static,
    cancel: CancellationToken,
) {
    let spec = Arc::new(spec);
    let mut seen = {
        let (s, extra) = (spec.clone(), handle.current().ioc_paths());
        tokio::task::spawn_blocking(move || s.fingerprint(&extra))
            .await
            .unwrap_or_default()
    };
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        let forced = tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => false,
            Some(()) = sighup.recv() => true,
        };
        let (s, extra) = (spec.clone(), handle.current().ioc_paths());
        let now = tokio::task::spawn_blocking(move || s.fingerprint(&extra))
            .await
            .unwrap_or_default();
        if !forced && now == seen {
            continue;
        }
        seen = now;
        let (s, h) = (spec.clone(), handle.clone());
        if let Ok(outcome) = tokio::task::spawn_blocking(move || reload(&s, &h)).await {
            on_reload(&outcome);
        }
    }
}

/// A [`canhgac_sigma::Scratch`] borrowed from a [`Ruleset`] (see [`Ruleset::scratch`]).
pub struct PooledScratch<'a> {
    pool: &'a std::sync::Mutex<Vec<canhgac_sigma::Scratch>>,
    scratch: Option<canhgac_sigma::Scratch>,
}

impl std::ops::Deref for PooledScratch<'_> {
    type Target = canhgac_sigma::Scratch;
    fn deref(&self) -> &canhgac_sigma::Scratch {
        self.scratch.as_ref().expect("present until dropped")
    }
}

impl std::ops::DerefMut for PooledScratch<'_> {
    fn deref_mut(&mut self) -> &mut canhgac_sigma::Scratch {
        self.scratch.as_mut().expect("present until dropped")
    }
}

impl Drop for PooledScratch<'_> {
    fn drop(&mut self) {
        if let Some(s) = self.scratch.take() {
            self.pool.lock().unwrap_or_else(|p| p.into_inner()).push(s);
        }
    }
}
