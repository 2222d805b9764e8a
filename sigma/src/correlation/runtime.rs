//! The correlation engine: state per (correlation rule, group key), fed with base-rule
//! matches, driven by event time only (see the crate docs, "Correlation rules").

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use canhgac_core::id::IdHasher;
use canhgac_core::{Event, Id};

use super::parse::CorrelationType;
use super::set::{CorrIdx, CorrelationRule, CorrelationSet};
use super::window::{aggregate, Entry, EntryValue, KeyState};
use crate::engine::{Engine, RuleIdx, Scratch};
use crate::rule::RuleMeta;

/// Tuning of a [`CorrelationEngine`]. Every bound is counted in [`CorrelationStats`] when it
/// bites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorrelationConfig {
    /// How far behind the watermark (the latest event time seen) an event may be and still be
    /// evaluated. Older events are dropped (`late_dropped`). Default 60 s.
    pub allowed_lateness: Duration,
    /// Entries kept per (correlation, group key); beyond it the oldest go
    /// (`entries_capped`). Default 10 000.
    pub max_entries_per_key: usize,
    /// Group keys kept over all correlations; beyond it the least recently updated key goes
    /// (`keys_evicted`). Default 100 000.
    pub max_keys: usize,
    /// Contributing event ids a match lists (the earliest and latest halves when the window
    /// holds more). Default 32.
    pub max_event_ids: usize,
    /// With a clock set ([`CorrelationEngine::set_clock`]), the watermark never passes
    /// `clock + max_future_skew`: one event stamped far in the future cannot make every
    /// later event late. Default 5 min.
    pub max_future_skew: Duration,
    /// Event time between sweeps that drop expired keys. Default 60 s.
    pub sweep_interval: Duration,
}

impl Default for CorrelationConfig {
    fn default() -> Self {
        CorrelationConfig {
            allowed_lateness: Duration::from_secs(60),
            max_entries_per_key: 10_000,
            max_keys: 100_000,
            max_event_ids: 32,
            max_future_skew: Duration::from_secs(300),
            sweep_interval: Duration::from_secs(60),
        }
    }
}

/// Counters (monotonic) and gauges (`keys`, `entries`, `watermark_ms`), metric-friendly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorrelationStats {
    /// Contributions accepted into a window.
    pub hits: u64,
    pub matches: u64,
    /// Contributions older than watermark − allowed lateness.
    pub late_dropped: u64,
    /// Contributions whose event id the key's window already held (replays).
    pub duplicates: u64,
    /// Entries dropped because a key reached `max_entries_per_key`.
    pub entries_capped: u64,
    /// Keys dropped because `max_keys` was reached (least recently updated first).
    pub keys_evicted: u64,
    /// Keys dropped because the watermark passed everything they held.
    pub keys_expired: u64,
    /// Base matches that lacked a group-by field (they do not contribute).
    pub missing_group_field: u64,
    /// Base matches that lacked the `condition.field` of a `value_*` correlation.
    pub missing_value: u64,
    /// Base matches whose `condition.field` was not a number (numeric `value_*` types).
    pub non_numeric: u64,
    pub keys: u64,
    pub entries: u64,
    pub watermark_ms: Option<i64>,
}

/// What one base-rule match contributes to one correlation: owned and serialisable, so it
/// can be buffered and sorted by time before [`CorrelationEngine::feed`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub correlation: CorrIdx,
    /// Index of the referenced rule in the correlation's sources.
    pub source: u32,
    /// Group-by values, in `group-by` order.
    pub key: Vec<String>,
    /// `condition.field` value(s) for `value_*` types (several joined by U+001F).
    pub value: Option<String>,
    pub event_id: Id,
    pub time: DateTime<Utc>,
}

/// A correlation that fired: the rule, the group, the window, what contributed.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrelationMatch {
    /// hash(correlation id, group key, window end, closing contribution's id): a replay of the
    /// same input gives the same id.
    pub id: Id,
    pub correlation: CorrIdx,
    pub rule: Arc<RuleMeta>,
    pub kind: CorrelationType,
    /// (group-by name, value) pairs.
    pub group: Vec<(String, String)>,
    /// Event time of the earliest and latest contribution in the window.
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    /// What the condition was tested on (count, distinct values, rules seen, sum, …).
    pub value: f64,
    /// Contributions in the window.
    pub events: usize,
    /// Their ids (all, or the earliest and latest `max_event_ids / 2`).
    pub event_ids: Vec<Id>,
    /// Whether to report it: `false` for an inner link of a chain (see
    /// [`CorrelationSet::emits`]).
    pub emit: bool,
}

impl CorrelationMatch {
    /// The JSON line `hunt --format jsonl` prints.
    pub fn to_json(&self) -> serde_json::Value {
        let r = &self.rule;
        let group: serde_json::Map<String, serde_json::Value> = self
            .group
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into()))
            .collect();
        serde_json::json!({
            "kind": "correlation",
            "correlation_id": self.id,
            "rule_id": r.id,
            "rule_title": r.title,
            "level": r.level,
            "author": r.author,
            "status": r.status,
            "tags": r.tags,
            "falsepositives": r.falsepositives,
            "references": r.references,
            "correlation_type": self.kind,
            "group": group,
            "value": self.value,
            "first_timestamp": self.first,
            "last_timestamp": self.last,
            "timestamp": self.last,
            "events": self.events,
            "event_ids": self.event_ids,
        })
    }
}

/// Saved state of a [`CorrelationEngine`] (serde JSON); see [`CorrelationEngine::snapshot`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorrelationSnapshot {
    pub version: u32,
    pub watermark_ms: Option<i64>,
    pub clock_ms: Option<i64>,
    pub last_sweep_ms: Option<i64>,
    pub stats: CorrelationStats,
    /// Least recently updated first.
    pub keys: Vec<KeySnapshot>,
}

/// One key's saved window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeySnapshot {
    /// The correlation rule's id.
    pub correlation: String,
    /// [`CorrelationRule::fingerprint`] when saved: state is only restored into the same
    /// definition.
    pub fingerprint: String,
    pub group: Vec<String>,
    pub entries: Vec<Entry>,
    /// End times (ms) of the windows already reported.
    pub fired: Vec<i64>,
}

/// Correlation state, fed with base-rule matches in event time. Single-threaded: run one per
/// independent event stream (for example per agency topic); the watermark is per engine.
pub struct CorrelationEngine {
    pub(crate) set: Arc<CorrelationSet>,
    pub(crate) config: CorrelationConfig,
    pub(crate) keys: FxHashMap<(u32, Box<str>), KeyState>,
    pub(crate) lru: BTreeMap<u64, (u32, Box<str>)>,
    pub(crate) tick: u64,
    pub(crate) watermark: Option<i64>,
    pub(crate) clock: Option<i64>,
    pub(crate) last_sweep: Option<i64>,
    pub(crate) stats: CorrelationStats,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

pub(crate) fn time_of(t: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(t).single().unwrap_or_default()
}

/// The map key of a group: length-prefixed values, so no value can imitate a separator.
pub(crate) fn encode_key(values: &[String]) -> Box<str> {
    let mut s = String::new();
    for v in values {
        s.push_str(&v.len().to_string());
        s.push(':');
        s.push_str(v);
    }
    s.into_boxed_str()
}

impl CorrelationEngine {
    pub fn new(set: Arc<CorrelationSet>, config: CorrelationConfig) -> Self {
        CorrelationEngine {
            set,
            config,
            keys: FxHashMap::default(),
            lru: BTreeMap::new(),
            tick: 0,
            watermark: None,
            clock: None,
            last_sweep: None,
            stats: CorrelationStats::default(),
        }
    }

    pub fn set(&self) -> &Arc<CorrelationSet> {
        &self.set
    }

    pub fn config(&self) -> &CorrelationConfig {
        &self.config
    }

    /// The latest event time seen (bounded by the clock when one is set).
    pub fn watermark(&self) -> Option<DateTime<Utc>> {
        self.watermark.map(time_of)
    }

    pub fn stats(&self) -> CorrelationStats {
        let mut s = self.stats.clone();
        s.keys = self.keys.len() as u64;
        s.watermark_ms = self.watermark;
        s
    }

    /// Sets the processing-time clock (the caller's "now"); it only bounds how far the
    /// watermark may run ahead (`max_future_skew`). Never read from the system here.
    pub fn set_clock(&mut self, now: DateTime<Utc>) {
        self.clock = Some(now.timestamp_millis());
    }

    /// Moves the watermark forward without an event (idle streams), expiring what it passes.
    pub fn advance_watermark(&mut self, t: DateTime<Utc>) {
        self.advance(t.timestamp_millis());
        self.maybe_sweep();
    }

    fn advance(&mut self, t: i64) {
        let cap = self
            .clock
            .map(|c| c.saturating_add(ms(self.config.max_future_skew)))
            .unwrap_or(i64::MAX);
        let t = t.min(cap);
        self.watermark = Some(self.watermark.map_or(t, |w| w.max(t)));
    }

    /// The contributions of one event to the correlations its matched rules feed. Group-by
    /// and value fields are read with [`Engine::field_values`] (the mapping the rule matched
    /// with); a field with several values contributes its first.
    pub fn extract(
        &mut self,
        engine: &Engine,
        scratch: &mut Scratch,
        event: &Event,
        matched: &[RuleIdx],
    ) -> Vec<Hit> {
        let set = self.set.clone();
        let mut out = Vec::new();
        let mut cache: Vec<(String, Option<String>)> = Vec::new();
        let mut read = |f: &str| -> Option<String> {
            if let Some((_, v)) = cache.iter().find(|(k, _)| k == f) {
                return v.clone();
            }
            let v = engine.field_values(event, scratch, f).into_iter().next();
            cache.push((f.to_string(), v.clone()));
            v
        };
        for r in matched {
            let Some(list) = set.by_rule.get(r) else {
                continue;
            };
            for &(c, s) in list {
                let rule = set.rule(c);
                let src = &rule.sources[s as usize];
                let key: Option<Vec<String>> = src.group_fields.iter().map(|f| read(f)).collect();
                let Some(key) = key else {
                    self.stats.missing_group_field += 1;
                    continue;
                };
                let value = if rule.kind.needs_field() {
                    let vals: Option<Vec<String>> =
                        src.value_fields.iter().map(|f| read(f)).collect();
                    match vals {
                        Some(v) => Some(v.join("\u{1f}")),
                        None => {
                            self.stats.missing_value += 1;
                            continue;
                        }
                    }
                } else {
                    None
                };
                out.push(Hit {
                    correlation: c,
                    source: s,
                    key,
                    value,
                    event_id: event.id,
                    time: event.timestamp,
                });
            }
        }
        out
    }

    /// [`extract`](Self::extract) then [`feed`](Self::feed) every contribution, at the
    /// event's own time: the streaming entry point.
    pub fn observe(
        &mut self,
        engine: &Engine,
        scratch: &mut Scratch,
        event: &Event,
        matched: &[RuleIdx],
    ) -> Vec<CorrelationMatch> {
        let mut out = Vec::new();
        for h in self.extract(engine, scratch, event, matched) {
            out.extend(self.feed(h));
        }
        out
    }

    /// Adds one contribution and returns the matches it completes, including those of
    /// correlations chained on top (inner matches first; see [`CorrelationMatch::emit`]).
    pub fn feed(&mut self, hit: Hit) -> Vec<CorrelationMatch> {
        let set = self.set.clone();
        let mut out = Vec::new();
        let mut queue = VecDeque::from([hit]);
        while let Some(h) = queue.pop_front() {
            if h.correlation.0 as usize >= set.len() {
                continue;
            }
            for m in self.feed_one(&set, h) {
                for &(outer, s) in &set.by_corr[m.correlation.0 as usize] {
                    if let Some(h) = chain_hit(&set, &m, outer, s) {
                        queue.push_back(h);
                    } else {
                        self.stats.missing_group_field += 1;
                    }
                }
                out.push(m);
            }
        }
        self.maybe_sweep();
        out
    }

    fn feed_one(&mut self, set: &CorrelationSet, h: Hit) -> Vec<CorrelationMatch> {
        let rule = set.rule(h.correlation);
        let t = h.time.timestamp_millis();
        let lateness = ms(self.config.allowed_lateness);
        if self
            .watermark
            .is_some_and(|w| t < w.saturating_sub(lateness))
        {
            self.stats.late_dropped += 1;
            return Vec::new();
        }
        self.advance(t);
        let value = match (&h.value, rule.kind) {
            (Some(v), CorrelationType::ValueCount) => {
                EntryValue::Hash(IdHasher::new("correlation-value").part(v).finish())
            }
            (Some(v), k) if k.is_numeric() => {
                match crate::modifiers::typed::parse_number(v.as_bytes()) {
                    Some(x) => EntryValue::Num(x),
                    None => {
                        self.stats.non_numeric += 1;
                        return Vec::new();
                    }
                }
            }
            _ => EntryValue::None,
        };
        let span = rule.timespan_ms;
        let horizon = self
            .watermark
            .unwrap_or(t)
            .saturating_sub(lateness)
            .saturating_sub(span);
        let key = (h.correlation.0, encode_key(&h.key));
        self.tick += 1;
        let tick = self.tick;
        if let Some(s) = self.keys.get(&key) {
            self.lru.remove(&s.touch);
        } else {
            while self.keys.len() >= self.config.max_keys.max(1) {
                let Some((_, victim)) = self.lru.pop_first() else {
                    break;
                };
                if let Some(v) = self.keys.remove(&victim) {
                    self.stats.entries = self.stats.entries.saturating_sub(v.entries.len() as u64);
                    self.stats.keys_evicted += 1;
                }
            }
        }
        let state = self.keys.entry(key.clone()).or_insert_with(|| KeyState {
            group: h.key.clone(),
            ..Default::default()
        });
        state.touch = tick;
        self.lru.insert(tick, key);
        self.stats.entries = self
            .stats
            .entries
            .saturating_sub(state.expire(horizon, span) as u64);

        let temporal = rule.kind.is_temporal();
        let (lo, hi) = state.range(t, t);
        if state
            .entries
            .range(lo..hi)
            .any(|e| e.id == h.event_id && (!temporal || e.src == h.source))
        {
            self.stats.duplicates += 1;
            return Vec::new();
        }
        state.entries.insert(
            hi,
            Entry {
                t,
                id: h.event_id,
                src: h.source,
                value,
            },
        );
        self.stats.hits += 1;
        self.stats.entries += 1;
        let mut pos = hi;
        if state.entries.len() > self.config.max_entries_per_key.max(1) {
            state.entries.pop_front();
            self.stats.entries_capped += 1;
            self.stats.entries = self.stats.entries.saturating_sub(1);
            if pos == 0 {
                return Vec::new();
            }
            pos -= 1;
        }

        // Windows ending at the new entry and at every later entry it can reach.
        let mut out = Vec::new();
        let mut j = pos;
        while j < state.entries.len() && state.entries[j].t <= t.saturating_add(span) {
            let end_t = state.entries[j].t;
            let (start, end) = state.range(end_t.saturating_sub(span), end_t);
            j = end;
            if state.fired.iter().any(|f| (end_t - f).abs() <= span) {
                continue;
            }
            let Some(x) = aggregate(rule, state.entries.range(start..end)) else {
                continue;
            };
            if !rule.condition.holds(x) {
                continue;
            }
            state.fired.push(end_t);
            self.stats.matches += 1;
            out.push(make_match(
                set,
                h.correlation,
                rule,
                state,
                (start, end),
                x,
                self.config.max_event_ids,
            ));
        }
        out
    }

    fn maybe_sweep(&mut self) {
        let Some(w) = self.watermark else {
            return;
        };
        if self
            .last_sweep
            .is_some_and(|s| w < s.saturating_add(ms(self.config.sweep_interval)))
        {
            return;
        }
        self.last_sweep = Some(w);
        let lateness = ms(self.config.allowed_lateness);
        let set = &self.set;
        let mut gone = Vec::new();
        for (k, s) in self.keys.iter_mut() {
            let span = set.rules.get(k.0 as usize).map_or(0, |r| r.timespan_ms);
            let horizon = w.saturating_sub(lateness).saturating_sub(span);
            self.stats.entries = self
                .stats
                .entries
                .saturating_sub(s.expire(horizon, span) as u64);
            if s.is_empty() {
                gone.push((k.clone(), s.touch));
            }
        }
        for (k, touch) in gone {
            self.keys.remove(&k);
            self.lru.remove(&touch);
            self.stats.keys_expired += 1;
        }
    }
}

fn make_match(
    set: &CorrelationSet,
    c: CorrIdx,
    rule: &CorrelationRule,
    state: &KeyState,
    (start, end): (usize, usize),
    value: f64,
    max_ids: usize,
) -> CorrelationMatch {
    let w = state.entries.range(start..end);
    let n = end - start;
    let event_ids: Vec<Id> = if n <= max_ids {
        w.map(|e| e.id).collect()
    } else {
        let head = max_ids / 2;
        let tail = max_ids - head;
        state
            .entries
            .range(start..start + head)
            .chain(state.entries.range(end - tail..end))
            .map(|e| e.id)
            .collect()
    };
    let last = &state.entries[end - 1];
    let mut id = IdHasher::new("correlation").part(&rule.meta.id);
    for v in &state.group {
        id.push(v.as_bytes());
    }
    let id = id.part(last.t.to_le_bytes()).part(last.id.0).finish();
    CorrelationMatch {
        id,
        correlation: c,
        rule: rule.meta.clone(),
        kind: rule.kind,
        group: rule
            .group_by
            .iter()
            .cloned()
            .zip(state.group.iter().cloned())
            .collect(),
        first: time_of(state.entries[start].t),
        last: time_of(last.t),
        value,
        events: n,
        event_ids,
        emit: set.emits(c),
    }
}

/// The contribution of an inner correlation's match to an outer one: its group values are
/// the fields the outer correlation can read.
fn chain_hit(set: &CorrelationSet, m: &CorrelationMatch, outer: CorrIdx, s: u32) -> Option<Hit> {
    let src = &set.rule(outer).sources[s as usize];
    let get = |f: &String| m.group.iter().find(|(k, _)| k == f).map(|(_, v)| v.clone());
    let key: Option<Vec<String>> = src.group_fields.iter().map(get).collect();
    let value = if set.rule(outer).kind.needs_field() {
        let v: Option<Vec<String>> = src.value_fields.iter().map(get).collect();
        Some(v?.join("\u{1f}"))
    } else {
        None
    };
    Some(Hit {
        correlation: outer,
        source: s,
        key: key?,
        value,
        event_id: m.id,
        time: m.last,
    })
}
