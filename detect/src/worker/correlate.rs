//! Sigma correlation rules in the worker: one [`CorrelationEngine`] per events topic.
//!
//! Each agency has its own topic and its own watermark (brief §6), so correlation state is kept
//! per topic: an agency's late or far-future events cannot make another agency's events late,
//! and no window ever mixes two agencies. Base-rule matches are fed in the order the
//! subscription delivered them (offset order within a partition); events of a topic's other
//! partitions interleave within the engine's allowed lateness.
//!
//! On a rule reload the engines are carried over to the new correlation set through
//! snapshot/restore: windows of unchanged correlations continue, those of changed or removed
//! ones are dropped (counted in the log).
//!
//! State lives in memory only. A restarted worker (or one that takes over a partition after a
//! rebalance) starts with empty windows; see `ARCHITECTURE.md` ("Correlation state") for what
//! that loses.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;

use canhgac_core::Event;

use canhgac_sigma::{
    CorrelationConfig, CorrelationEngine, CorrelationMatch, CorrelationStats, RuleIdx, Scratch,
};

use super::ruleset::Ruleset;

/// Correlation engines per events topic, following the current ruleset.
pub struct Correlator {
    config: CorrelationConfig,
    generation: u64,
    engines: HashMap<String, CorrelationEngine>,
}

impl Correlator {
    pub fn new(config: CorrelationConfig) -> Self {
        Self {
            config,
            generation: 0,
            engines: HashMap::new(),
        }
    }

    /// Moves every engine onto `rules`' correlation set if it was reloaded, and sets the clock
    /// (the worker's "now", which bounds how far the watermark may run ahead).
    pub fn prepare(&mut self, rules: &Ruleset) {
        if self.generation != rules.generation {
            let set = rules.correlations.clone();
            let old = std::mem::take(&mut self.engines);
            for (topic, engine) in old {
                if set.is_empty() {
                    break;
                }
                match CorrelationEngine::restore(
                    set.clone(),
                    self.config.clone(),
                    engine.snapshot(),
                ) {
                    Ok((e, report)) => {
                        if report.keys_unknown_rule + report.keys_changed_rule > 0 {
                            tracing::info!(
                                topic,
                                restored = report.keys_restored,
                                dropped_removed = report.keys_unknown_rule,
                                dropped_changed = report.keys_changed_rule,
                                "correlation windows carried over the reload"
                            );
                        }
                        self.engines.insert(topic, e);
                    }
                    Err(e) => {
                        tracing::warn!(topic, error = %e, "correlation state dropped on reload")
                    }
                }
            }
            self.generation = rules.generation;
        }
        let now = Utc::now();
        for e in self.engines.values_mut() {
            e.set_clock(now);
        }
    }

    /// Feeds one event's base-rule matches to its topic's engine; returns the matches to report.
    pub fn observe(
        &mut self,
        rules: &Ruleset,
        topic: &str,
        event: &Event,
        matched: &[RuleIdx],
        scratch: &mut Scratch,
    ) -> Vec<CorrelationMatch> {
        if rules.correlations.is_empty() || !matched.iter().any(|r| rules.correlations.feeds(*r)) {
            return Vec::new();
        }
        let engine = self.engines.entry(topic.to_string()).or_insert_with(|| {
            let mut e = CorrelationEngine::new(rules.correlations.clone(), self.config.clone());
            e.set_clock(Utc::now());
            e
        });
        let mut out = engine.observe(&rules.engine, scratch, event, matched);
        out.retain(|m| m.emit);
        out
    }

    /// Counters summed over every topic's engine.
    pub fn stats(&self) -> CorrelationStats {
        let mut t = CorrelationStats::default();
        for e in self.engines.values() {
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

    /// Topics with correlation state.
    pub fn topics(&self) -> usize {
        self.engines.len()
    }
}

/// Shared between the stage and its blocking evaluation.
pub type SharedCorrelator = Arc<std::sync::Mutex<Correlator>>;
