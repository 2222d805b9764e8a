//! Retention: drop the incidents older than the last N calendar months, with their detections.
//!
//! "The last N months" are the current calendar month in Asia/Ho_Chi_Minh and the N−1 before
//! it: with `--retention-months 12` in April 2025, incidents with `month` 2024-05 … 2025-04
//! stay, and an incident whose first detection was in April 2024 or earlier goes, together
//! with every detection document of that incident (whatever the detection's own time). The
//! statistics of a dropped month read 0 afterwards: keep N above the reporting horizon.

use canhgac_core::detection::month_of;
use chrono::{DateTime, Utc};
use std::ops::Bound;
use tantivy::collector::DocSetCollector;
use tantivy::query::{BooleanQuery, Occur, RangeQuery};
use tantivy::Term;

use crate::error::{IndexError, Result};
use crate::schema::KIND_INCIDENT;
use crate::search::term_query;
use crate::writer::Indexer;

/// The oldest month (yyyymm) kept when keeping `months` months at `now`.
pub fn cutoff_month(months: u32, now: DateTime<Utc>) -> u32 {
    let m = month_of(now);
    let index = (m / 100) * 12 + (m % 100 - 1);
    let first = index.saturating_sub(months.max(1) - 1);
    (first / 12) * 100 + first % 12 + 1
}

impl Indexer {
    /// Deletes, in the pending batch, the incidents older than the last `months` months and
    /// their detections; they are gone at the next commit. Returns how many incidents.
    pub fn delete_older_than(&mut self, months: u32, now: DateTime<Utc>) -> Result<usize> {
        let cutoff = cutoff_month(months, now);
        let f = self.fields.clone();
        let old = BooleanQuery::new(vec![
            (
                Occur::Must,
                term_query(Term::from_field_text(f.kind, KIND_INCIDENT)),
            ),
            (
                Occur::Must,
                Box::new(RangeQuery::new(
                    Bound::Unbounded,
                    Bound::Excluded(Term::from_field_u64(f.month, u64::from(cutoff))),
                )),
            ),
        ]);
        let docs = self
            .searcher
            .search(&old, &DocSetCollector)
            .map_err(IndexError::tantivy("find old incidents"))?;
        let mut ids = Vec::with_capacity(docs.len());
        for addr in docs {
            let seg = self.searcher.segment_reader(addr.segment_ord);
            let col = seg
                .fast_fields()
                .str("id")
                .map_err(IndexError::tantivy("read ids"))?;
            if let Some(col) = col {
                let mut s = String::new();
                if let Some(ord) = col.term_ords(addr.doc_id).next() {
                    if col.ord_to_str(ord, &mut s).unwrap_or(false) {
                        ids.push(s);
                    }
                }
            }
        }
        // Incidents touched in this batch: the old ones are dropped too (a late detection of
        // an expired incident does not bring it back).
        let touched_old: Vec<_> = self
            .batch
            .touched
            .iter()
            .filter(|(_, r)| r.incident.month < cutoff)
            .map(|(id, _)| *id)
            .collect();
        for id in &touched_old {
            self.batch.drop_incident(id);
            ids.push(id.to_hex());
        }
        ids.sort();
        ids.dedup();
        for id in &ids {
            self.writer
                .delete_term(Term::from_field_text(f.incident_id, id));
        }
        if !ids.is_empty() {
            tracing::info!(
                incidents = ids.len(),
                cutoff,
                "retention: dropping old incidents"
            );
        }
        Ok(ids.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutoff_counts_the_current_month() {
        let now = "2025-04-15T00:00:00Z".parse().unwrap();
        assert_eq!(cutoff_month(12, now), 202405);
        assert_eq!(cutoff_month(1, now), 202504);
        assert_eq!(cutoff_month(4, now), 202501);
        assert_eq!(cutoff_month(5, now), 202412);
    }
}
