//! Saving and restoring correlation state across restarts (see the crate docs, "Restarts").

use std::collections::BTreeMap;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::error::CorrelationError;
use super::runtime::{
    encode_key, CorrelationConfig, CorrelationEngine, CorrelationSnapshot, KeySnapshot,
};
use super::set::CorrelationSet;
use super::window::KeyState;

/// Snapshot format version this build writes and reads.
pub const SNAPSHOT_VERSION: u32 = 1;

/// What [`CorrelationEngine::restore`] kept and dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreReport {
    pub keys_restored: usize,
    /// Keys of correlations no longer loaded.
    pub keys_unknown_rule: usize,
    /// Keys of correlations whose definition changed since the snapshot (their windows
    /// would not mean the same thing).
    pub keys_changed_rule: usize,
    /// Keys beyond `max_keys` or with entries naming a source the rule does not have.
    pub keys_invalid: usize,
}

impl CorrelationEngine {
    /// The engine's whole state: watermark, clock, counters and every key's window (least
    /// recently updated first). Deterministic for a given input sequence.
    pub fn snapshot(&self) -> CorrelationSnapshot {
        let keys = self
            .lru
            .values()
            .filter_map(|k| {
                let s = self.keys.get(k)?;
                let rule = self.set.rules.get(k.0 as usize)?;
                Some(KeySnapshot {
                    correlation: rule.meta.id.clone(),
                    fingerprint: rule.fingerprint.clone(),
                    group: s.group.clone(),
                    entries: s.entries.iter().cloned().collect(),
                    fired: s.fired.clone(),
                })
            })
            .collect();
        CorrelationSnapshot {
            version: SNAPSHOT_VERSION,
            watermark_ms: self.watermark,
            clock_ms: self.clock,
            last_sweep_ms: self.last_sweep,
            stats: self.stats.clone(),
            keys,
        }
    }

    /// [`snapshot`](Self::snapshot) as JSON.
    pub fn snapshot_json(&self) -> Result<String, CorrelationError> {
        Ok(serde_json::to_string(&self.snapshot())?)
    }

    /// An engine continuing from a snapshot, against the currently loaded rules. Keys of
    /// rules that are gone or changed are dropped and counted; continuing gives the same
    /// matches as a run that never stopped.
    pub fn restore(
        set: Arc<CorrelationSet>,
        config: CorrelationConfig,
        snap: CorrelationSnapshot,
    ) -> Result<(CorrelationEngine, RestoreReport), CorrelationError> {
        if snap.version != SNAPSHOT_VERSION {
            return Err(CorrelationError::SnapshotVersion {
                found: snap.version,
                expected: SNAPSHOT_VERSION,
            });
        }
        let by_id: FxHashMap<&str, u32> = set
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| (r.meta.id.as_str(), i as u32))
            .collect();
        let mut report = RestoreReport::default();
        let mut keys = FxHashMap::default();
        let mut lru = BTreeMap::new();
        let mut tick = 0u64;
        let mut entries = 0u64;
        for k in snap.keys {
            let Some(&ci) = by_id.get(k.correlation.as_str()) else {
                report.keys_unknown_rule += 1;
                continue;
            };
            let rule = &set.rules[ci as usize];
            if rule.fingerprint != k.fingerprint {
                report.keys_changed_rule += 1;
                continue;
            }
            let sorted = k.entries.windows(2).all(|w| w[0].t <= w[1].t);
            if !sorted
                || k.group.len() != rule.group_by.len()
                || k.entries
                    .iter()
                    .any(|e| e.src as usize >= rule.sources.len())
                || keys.len() >= config.max_keys.max(1)
            {
                report.keys_invalid += 1;
                continue;
            }
            tick += 1;
            let key = (ci, encode_key(&k.group));
            entries += k.entries.len() as u64;
            lru.insert(tick, key.clone());
            keys.insert(
                key,
                KeyState {
                    group: k.group,
                    entries: k.entries.into(),
                    fired: k.fired,
                    touch: tick,
                },
            );
            report.keys_restored += 1;
        }
        let mut stats = snap.stats;
        stats.entries = entries;
        let mut engine = CorrelationEngine::new(set, config);
        engine.keys = keys;
        engine.lru = lru;
        engine.tick = tick;
        engine.watermark = snap.watermark_ms;
        engine.clock = snap.clock_ms;
        engine.last_sweep = snap.last_sweep_ms;
        engine.stats = stats;
        Ok((engine, report))
    }

    /// [`restore`](Self::restore) from JSON.
    pub fn restore_json(
        set: Arc<CorrelationSet>,
        config: CorrelationConfig,
        json: &str,
    ) -> Result<(CorrelationEngine, RestoreReport), CorrelationError> {
        Self::restore(set, config, serde_json::from_str(json)?)
    }
}
