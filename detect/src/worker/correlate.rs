//! Sigma correlation rules in the worker: one [`CorrelationEngine`] per events partition
//! (topic, partition).
//!
//! Each agency has its own topic, so no window ever mixes two agencies, and an agency's late or
//! far-future events cannot make another agency's events late. Within a topic the state is per
//! partition: a partition is read in offset order by exactly one worker at a time, so its
//! engine's state is a function of the partition's records up to an offset, which is what makes
//! it possible to save it with that offset and continue from it elsewhere (see
//! [`super::state`] and `ARCHITECTURE.md`, "Correlation state"). The price: events of one
//! window spread over several partitions are not counted together (the sensors key events by
//! host name, else source address, so one host's events share a partition).
//!
//! On a rule reload the engines are carried over to the new correlation set through
//! snapshot/restore: windows of unchanged correlations continue, those of changed or removed
//! ones are dropped (counted in the log).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;

use canhgac_core::Event;

use canhgac_sigma::{
    CorrelationConfig, CorrelationEngine, CorrelationMatch, CorrelationStats, RuleIdx, Scratch,
};

use super::ruleset::Ruleset;
use super::state::{Assignments, Change, PartKey, PartitionState, StateMetrics, STATE_VERSION};

/// A partition's state written at most this long ago is written again when only its offset
/// moved (bounds what a restart replays).
const REWRITE_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

/// One partition's correlation state.
#[derive(Default)]
struct Part {
    engine: Option<CorrelationEngine>,
    /// Records below this offset are in the engine (tracked on Kafka, where offsets are
    /// durable); a redelivered one is not fed again.
    next_offset: Option<i64>,
    /// What the last saved state held: (change mark, offset, when).
    saved: Option<(Mark, Option<i64>, Instant)>,
}

/// Counters that move whenever an engine's windows change.
type Mark = (u64, u64, u64, u64, u64, Option<i64>);

fn mark(e: &CorrelationEngine) -> Mark {
    let s = e.stats();
    (
        s.hits,
        s.matches,
        s.keys_expired,
        s.keys_evicted,
        s.entries_capped,
        s.watermark_ms,
    )
}

/// Correlation engines per events partition, following the current ruleset.
pub struct Correlator {
    config: CorrelationConfig,
    generation: u64,
    parts: HashMap<PartKey, Part>,
    /// Whether offsets are durable (Kafka) and so tracked per partition.
    track_offsets: bool,
    /// Assignments and revocations to apply before the next batch.
    assignments: Option<Arc<Assignments>>,
    metrics: Option<StateMetrics>,
    /// Events fed so far, counted in delivery order (the stage's sequence numbers).
    covered: u64,
}

impl Correlator {
    pub fn new(config: CorrelationConfig) -> Self {
        Self {
            config,
            generation: 0,
            parts: HashMap::new(),
            track_offsets: false,
            assignments: None,
            metrics: None,
            covered: 0,
        }
    }

    /// Takes assignments (restored states, revocations) from `assignments`; with
    /// `track_offsets`, redelivered records below a partition's saved offset are not fed again.
    pub fn with_state(
        mut self,
        assignments: Arc<Assignments>,
        track_offsets: bool,
        metrics: StateMetrics,
    ) -> Self {
        self.assignments = Some(assignments);
        self.track_offsets = track_offsets;
        self.metrics = Some(metrics);
        self
    }

    /// Applies pending assignments, moves every engine onto `rules`' correlation set if it was
    /// reloaded, and sets the clock (the worker's "now", which bounds how far the watermark may
    /// run ahead).
    pub fn prepare(&mut self, rules: &Ruleset) {
        if let Some(a) = self.assignments.clone() {
            for change in a.take() {
                self.apply(rules, change);
            }
        }
        if self.generation != rules.generation {
            let set = rules.correlations.clone();
            for (key, part) in self.parts.iter_mut() {
                let Some(engine) = part.engine.take() else {
                    continue;
                };
                if set.is_empty() {
                    continue;
                }
                match CorrelationEngine::restore(
                    set.clone(),
                    self.config.clone(),
                    engine.snapshot(),
                ) {
                    Ok((e, report)) => {
                        if report.keys_unknown_rule + report.keys_changed_rule > 0 {
                            tracing::info!(
                                topic = %key.0,
                                partition = key.1,
                                restored = report.keys_restored,
                                dropped_removed = report.keys_unknown_rule,
                                dropped_changed = report.keys_changed_rule,
                                "correlation windows carried over the reload"
                            );
                        }
                        part.engine = Some(e);
                    }
                    Err(e) => {
                        tracing::warn!(topic = %key.0, partition = key.1, error = %e, "correlation state dropped on reload")
                    }
                }
            }
            self.generation = rules.generation;
        }
        let now = Utc::now();
        for e in self.parts.values_mut().filter_map(|p| p.engine.as_mut()) {
            e.set_clock(now);
        }
    }

    fn apply(&mut self, rules: &Ruleset, change: Change) {
        let metrics = self.metrics.as_ref();
        match change {
            Change::Revoked(key) => {
                self.parts.remove(&key);
            }
            Change::Assigned(key, None) => {
                // No saved state: nothing read before the start offset ever entered a window.
                self.parts.insert(key, Part::default());
                if let Some(m) = metrics {
                    m.restored.with_label_values(&["none"]).inc();
                }
            }
            Change::Unreadable(key) => {
                self.parts.insert(key, Part::default());
                if let Some(m) = metrics {
                    m.restored.with_label_values(&["failed"]).inc();
                }
            }
            Change::Assigned(key, Some(saved)) => {
                let next_offset = if self.track_offsets {
                    saved.next_offset
                } else {
                    None
                };
                let restored = if rules.correlations.is_empty() {
                    Ok(None)
                } else {
                    CorrelationEngine::restore(
                        rules.correlations.clone(),
                        self.config.clone(),
                        saved.snapshot,
                    )
                    .map(|(e, report)| {
                        tracing::info!(
                            topic = %key.0,
                            partition = key.1,
                            next_offset,
                            keys = report.keys_restored,
                            dropped_removed = report.keys_unknown_rule,
                            dropped_changed = report.keys_changed_rule,
                            dropped_invalid = report.keys_invalid,
                            "correlation windows restored"
                        );
                        Some(e)
                    })
                };
                let (engine, outcome) = match restored {
                    Ok(e) => (e, "restored"),
                    Err(e) => {
                        tracing::error!(topic = %key.0, partition = key.1, error = %e, "saved correlation state not restored; its windows start empty");
                        (None, "failed")
                    }
                };
                if let Some(m) = metrics {
                    m.restored.with_label_values(&[outcome]).inc();
                }
                let saved = engine
                    .as_ref()
                    .map(|e| (mark(e), next_offset, Instant::now()));
                self.parts.insert(
                    key,
                    Part {
                        engine,
                        next_offset,
                        saved,
                    },
                );
            }
        }
    }

    /// Takes one event of a partition, in delivery order: its base-rule matches (if any) go to
    /// the partition's engine; returns the matches to report. A record below the partition's
    /// saved offset was counted before the state was saved and is not fed again.
    pub fn observe(
        &mut self,
        rules: &Ruleset,
        key: (&str, i32),
        offset: i64,
        event: Option<(&Event, &[RuleIdx])>,
        scratch: &mut Scratch,
    ) -> Vec<CorrelationMatch> {
        let part = self.parts.entry((key.0.to_string(), key.1)).or_default();
        if let Some(next) = part.next_offset {
            if offset < next {
                if let Some(m) = &self.metrics {
                    m.replay_skipped.inc();
                }
                return Vec::new();
            }
        }
        if self.track_offsets {
            part.next_offset = Some(offset + 1);
        }
        let Some((event, matched)) = event else {
            return Vec::new();
        };
        if rules.correlations.is_empty() || !matched.iter().any(|r| rules.correlations.feeds(*r)) {
            return Vec::new();
        }
        let engine = part.engine.get_or_insert_with(|| {
            let mut e = CorrelationEngine::new(rules.correlations.clone(), self.config.clone());
            e.set_clock(Utc::now());
            e
        });
        let mut out = engine.observe(&rules.engine, scratch, event, matched);
        out.retain(|m| m.emit);
        out
    }

    /// The stage's sequence numbers below this are in the engines (set after each batch).
    pub fn covered(&self) -> u64 {
        self.covered
    }

    pub fn set_covered(&mut self, covered: u64) {
        self.covered = covered;
    }

    /// The states to save now: those whose windows changed since they were last saved, and
    /// those whose offset moved when they were saved longer ago than 30 s; with `all` (a file
    /// holds every partition), every partition that has an engine once one is due. Marks them
    /// saved.
    pub fn to_save(&mut self, all: bool) -> Vec<PartitionState> {
        let now = Instant::now();
        let due = |part: &Part, engine: &CorrelationEngine| match &part.saved {
            None => true,
            Some((saved, offset, at)) => {
                *saved != mark(engine)
                    || (*offset != part.next_offset && now.duration_since(*at) > REWRITE_AFTER)
            }
        };
        let any = self
            .parts
            .values()
            .any(|p| p.engine.as_ref().is_some_and(|e| due(p, e)));
        if !any {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (key, part) in self.parts.iter_mut() {
            let Some(engine) = &part.engine else {
                continue;
            };
            let m = mark(engine);
            if !(all || due(part, engine)) {
                continue;
            }
            part.saved = Some((m, part.next_offset, now));
            out.push(PartitionState {
                version: STATE_VERSION,
                topic: key.0.clone(),
                partition: key.1,
                next_offset: part.next_offset,
                snapshot: engine.snapshot(),
            });
        }
        out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        out
    }

    /// Counters summed over every partition's engine.
    pub fn stats(&self) -> CorrelationStats {
        let mut t = CorrelationStats::default();
        for e in self.parts.values().filter_map(|p| p.engine.as_ref()) {
            let s = e.stats();
            t.hits += s.hits;
            t.matches += s.matches;
            t.late_dropped += s.late_dropped;
            t.duplicates += s.duplicates;
            t.entries_capped += s.entries_capped;
            t.keys_evicted += s.keys_evicted;
            t.keys_expired += s.keys_expired;
            t.missing_group_field += s.missing_group_field;
            t.missing_value += s.missing_value;
            t.non_numeric += s.non_numeric;
            t.keys += s.keys;
            t.entries += s.entries;
        }
        t
    }

    /// Partitions with correlation state.
    pub fn partitions(&self) -> usize {
        self.parts.values().filter(|p| p.engine.is_some()).count()
    }
}

/// Shared between the stage and its blocking evaluation.
pub type SharedCorrelator = Arc<std::sync::Mutex<Correlator>>;
