//! Per-key window state and the aggregate each correlation type computes over a window.

use std::collections::VecDeque;

use canhgac_core::Id;
use rustc_hash::FxHashSet;
use serde::{Deserialize, Serialize};

use super::parse::CorrelationType;
use super::set::CorrelationRule;

/// What an entry carries besides its time: nothing (counting and temporal types), a hash of
/// the `value_count` field value(s) (distinctness is all that is needed, and a hash bounds
/// memory whatever the value's length), or the number a `value_*` metric aggregates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EntryValue {
    #[default]
    None,
    Hash(Id),
    Num(f64),
}

/// One contribution to a key's window: a base-rule (or inner correlation) match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Event time, milliseconds since the Unix epoch.
    pub t: i64,
    /// The event's id (or the inner correlation match's id).
    pub id: Id,
    /// Index of the source (referenced rule) in the correlation.
    pub src: u32,
    #[serde(default, skip_serializing_if = "is_none")]
    pub value: EntryValue,
}

fn is_none(v: &EntryValue) -> bool {
    matches!(v, EntryValue::None)
}

/// The state of one (correlation, group key): its entries in event-time order (ties in
/// arrival order) and the end times of the windows already reported.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyState {
    pub group: Vec<String>,
    pub entries: VecDeque<Entry>,
    pub fired: Vec<i64>,
    /// LRU position (larger is more recent).
    pub touch: u64,
}

impl KeyState {
    /// Index range of the entries with `lo <= t <= hi`.
    pub fn range(&self, lo: i64, hi: i64) -> (usize, usize) {
        (
            self.entries.partition_point(|e| e.t < lo),
            self.entries.partition_point(|e| e.t <= hi),
        )
    }

    /// Drops entries and reported windows that no window still to be evaluated can reach
    /// (older than `horizon`). Returns how many entries went.
    pub fn expire(&mut self, horizon: i64, timespan: i64) -> usize {
        let n = self.entries.partition_point(|e| e.t < horizon);
        self.entries.drain(..n);
        self.fired.retain(|f| *f >= horizon - timespan);
        n
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.fired.is_empty()
    }
}

/// The number the condition is tested on for a window: event count, distinct values, number
/// of referenced rules seen (in order for `temporal_ordered`), sum, average or percentile.
/// `None` when the window holds nothing to aggregate.
pub(crate) fn aggregate<'a>(
    rule: &CorrelationRule,
    window: impl Iterator<Item = &'a Entry>,
) -> Option<f64> {
    match rule.kind {
        CorrelationType::EventCount => {
            let n = window.count();
            (n > 0).then_some(n as f64)
        }
        CorrelationType::ValueCount => {
            let mut seen: FxHashSet<Id> = FxHashSet::default();
            for e in window {
                if let EntryValue::Hash(h) = e.value {
                    seen.insert(h);
                }
            }
            (!seen.is_empty()).then_some(seen.len() as f64)
        }
        CorrelationType::Temporal => {
            let mut seen = vec![false; rule.sources.len()];
            for e in window {
                if let Some(s) = seen.get_mut(e.src as usize) {
                    *s = true;
                }
            }
            let n = seen.iter().filter(|s| **s).count();
            (n > 0).then_some(n as f64)
        }
        CorrelationType::TemporalOrdered => {
            // Greedy earliest match of `rules` as a subsequence: the longest prefix of the
            // written order that the window's events follow.
            let mut k = 0usize;
            for e in window {
                if k < rule.order.len() && rule.order[k] == e.src {
                    k += 1;
                }
            }
            (k > 0).then_some(k as f64)
        }
        CorrelationType::ValueSum | CorrelationType::ValueAvg => {
            let (mut sum, mut n) = (0.0f64, 0usize);
            for e in window {
                if let EntryValue::Num(x) = e.value {
                    sum += x;
                    n += 1;
                }
            }
            match (n, rule.kind) {
                (0, _) => None,
                (_, CorrelationType::ValueSum) => Some(sum),
                _ => Some(sum / n as f64),
            }
        }
        CorrelationType::ValuePercentile | CorrelationType::ValueMedian => {
            let mut xs: Vec<f64> = window
                .filter_map(|e| match e.value {
                    EntryValue::Num(x) => Some(x),
                    _ => None,
                })
                .collect();
            let p = match rule.kind {
                CorrelationType::ValueMedian => 50.0,
                _ => rule.condition.percentile.unwrap_or(50.0),
            };
            percentile(&mut xs, p)
        }
    }
}

/// The `p`-th percentile (0–100) by linear interpolation between the closest ranks (the
/// "linear" method of NumPy and of Excel's PERCENTILE.INC): rank `p/100 · (n − 1)`.
pub(crate) fn percentile(xs: &mut [f64], p: f64) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let rank = (p / 100.0).clamp(0.0, 1.0) * (xs.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    Some(xs[lo] + (xs[hi] - xs[lo]) * (rank - lo as f64))
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentile_interpolates() {
        assert_eq!(percentile(&mut [], 50.0), None);
        assert_eq!(percentile(&mut [7.0], 90.0), Some(7.0));
        assert_eq!(percentile(&mut [4.0, 1.0, 3.0, 2.0], 50.0), Some(2.5));
        assert_eq!(
            percentile(&mut [10.0, 20.0, 30.0, 40.0, 50.0], 0.0),
            Some(10.0)
        );
        assert_eq!(
            percentile(&mut [10.0, 20.0, 30.0, 40.0, 50.0], 100.0),
            Some(50.0)
        );
        assert_eq!(
            percentile(&mut [10.0, 20.0, 30.0, 40.0, 50.0], 90.0),
            Some(46.0)
        );
    }
}
