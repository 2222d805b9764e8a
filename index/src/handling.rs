//! The read side of the lifecycle ([`crate::lifecycle`]): suppressions with their state and
//! counts, the alert keys of an incident, the incident of a detection, and the incidents the
//! statistics leave out (closed as false positive or duplicate).

use std::collections::{BTreeSet, HashSet};
use std::ops::Bound;

use canhgac_core::lifecycle::{Action, CloseReason, IncidentEvent, Suppression};
use canhgac_core::Id;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tantivy::collector::{Count, DocSetCollector};
use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery};
use tantivy::schema::Value;
use tantivy::{Searcher, TantivyDocument, Term};

use crate::error::{IndexError, Result};
use crate::incident::IncidentRecord;
use crate::model::Lang;
use crate::schema::{KIND_DETECTION, KIND_INCIDENT, KIND_RECORD};
use crate::search::{scope_clause, term_query, IncidentIndex, Scope};
use crate::store;

/// Where a suppression stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SuppressionState {
    Active,
    Expired,
    /// An `unsuppress` record revoked it.
    Revoked,
}

/// A suppression as listed: its state and how many detections it marked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SuppressionView {
    #[serde(flatten)]
    pub suppression: Suppression,
    pub state: SuppressionState,
    /// Detections in the index marked with it.
    pub suppressed: u64,
    /// The incident whose closing created it (the one holding the record's anchor), if indexed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident: Option<Id>,
}

/// Incidents of a period the statistics leave out, by close reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Excluded {
    pub false_positive: u64,
    pub duplicate: u64,
}

impl Excluded {
    /// Whether no incident left the counts.
    pub fn is_none(&self) -> bool {
        self.false_positive + self.duplicate == 0
    }

    /// The report's sentence ("3 incidents closed as false positive and 1 as duplicate are
    /// not counted"), or `None` when none left.
    pub fn sentence(&self, lang: Lang) -> Option<String> {
        let (fp, dup) = (self.false_positive, self.duplicate);
        if fp + dup == 0 {
            return None;
        }
        let vi = lang == Lang::Vi;
        let parts: Vec<String> = match (fp, dup, vi) {
            (f, 0, true) => vec![format!("{f} sự cố đóng do cảnh báo sai")],
            (0, d, true) => vec![format!("{d} sự cố đóng do trùng lặp")],
            (f, d, true) => vec![
                format!("{f} sự cố đóng do cảnh báo sai"),
                format!("{d} do trùng lặp"),
            ],
            (f, 0, false) => vec![format!("{f} {} closed as false positive", noun(f))],
            (0, d, false) => vec![format!("{d} {} closed as duplicate", noun(d))],
            (f, d, false) => vec![
                format!("{f} {} closed as false positive", noun(f)),
                format!("{d} as duplicate"),
            ],
        };
        Some(if vi {
            format!("{} không được tính", parts.join(" và "))
        } else {
            let verb = if fp + dup == 1 { "is" } else { "are" };
            format!("{} {verb} not counted", parts.join(" and "))
        })
    }
}

fn noun(n: u64) -> &'static str {
    if n == 1 {
        "incident"
    } else {
        "incidents"
    }
}

fn corrupt(what: &str) -> impl Fn(String) -> IndexError + '_ {
    move |message| IndexError::Corrupt {
        id: what.to_string(),
        message,
    }
}

/// The incident id stored on a detection document (`None`: a suppressed detection).
fn stored_incident(searcher: &Searcher, f: &crate::schema::Fields, id: &Id) -> Result<Option<Id>> {
    let Some(addr) = store::find(searcher, &f.id_term(id))? else {
        return Ok(None);
    };
    let doc: TantivyDocument = searcher
        .doc(addr)
        .map_err(IndexError::tantivy("read stored document"))?;
    Ok(doc
        .get_first(f.incident_id)
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse().ok()))
}

impl IncidentIndex {
    /// The suppressions of `scope` (created by `suppress` records), with their state at `now`,
    /// oldest first.
    pub fn suppressions(&self, scope: &Scope, now: DateTime<Utc>) -> Result<Vec<SuppressionView>> {
        let f = &self.fields;
        let searcher = self.searcher();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![
            (
                Occur::Must,
                term_query(Term::from_field_text(f.kind, KIND_RECORD)),
            ),
            (
                Occur::Must,
                Box::new(BooleanQuery::new(
                    ["suppress", "unsuppress"]
                        .iter()
                        .map(|a| {
                            (
                                Occur::Should,
                                term_query(Term::from_field_text(f.action, a)),
                            )
                        })
                        .collect(),
                )),
            ),
        ];
        clauses.extend(scope_clause(f, scope));
        let docs = searcher
            .search(&BooleanQuery::new(clauses), &DocSetCollector)
            .map_err(IndexError::tantivy("list suppressions"))?;
        let mut created: Vec<IncidentEvent> = Vec::new();
        let mut revoked: HashSet<Id> = HashSet::new();
        for addr in docs {
            let json = store::source(&searcher, f, addr)?;
            let e = IncidentEvent::from_json(&json).map_err(corrupt("a suppression record"))?;
            match &e.action {
                Action::Unsuppress { suppression } => {
                    revoked.insert(*suppression);
                }
                Action::Suppress { .. } => created.push(e),
                _ => {}
            }
        }
        created.sort_by_key(|e| (e.at, e.id));
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for e in created {
            let Action::Suppress { suppression } = e.action else {
                continue;
            };
            if !seen.insert(suppression.id) {
                continue;
            }
            let state = if revoked.contains(&suppression.id) {
                SuppressionState::Revoked
            } else if suppression.active_at(now) {
                SuppressionState::Active
            } else {
                SuppressionState::Expired
            };
            let marked = Term::from_field_text(f.suppressed, &suppression.id.to_hex());
            let suppressed = searcher
                .search(&*term_query(marked), &Count)
                .map_err(IndexError::tantivy("count suppressed detections"))?
                as u64;
            let incident = self
                .incident_of_detection(scope, &e.anchor)?
                .map(|r| r.incident.id);
            out.push(SuppressionView {
                suppression,
                state,
                suppressed,
                incident,
            });
        }
        Ok(out)
    }

    /// The distinct provisional incident ids (`Detection::incident_id`, what alerts are
    /// grouped by) of an incident's detections. [`IndexError::NotFound`] outside `scope`.
    pub fn alert_keys(&self, scope: &Scope, id: &Id) -> Result<Vec<Id>> {
        #[derive(Deserialize)]
        struct Provisional {
            incident_id: Id,
        }
        let f = &self.fields;
        let searcher = self.searcher();
        let not_found = || IndexError::NotFound { id: id.to_hex() };
        let rec = store::incident_by_id(&searcher, f, id)?.ok_or_else(not_found)?;
        if !scope.allows(&rec.incident.agency) {
            return Err(not_found());
        }
        let q = BooleanQuery::new(vec![
            (
                Occur::Must,
                term_query(Term::from_field_text(f.kind, KIND_DETECTION)),
            ),
            (Occur::Must, term_query(f.incident_term(&rec.incident.id))),
        ]);
        let docs = searcher
            .search(&q, &DocSetCollector)
            .map_err(IndexError::tantivy("find an incident's detections"))?;
        let mut keys = BTreeSet::new();
        for addr in docs {
            let json = store::source(&searcher, f, addr)?;
            let p: Provisional =
                serde_json::from_slice(&json).map_err(|e| corrupt("a detection")(e.to_string()))?;
            keys.insert(p.incident_id);
        }
        Ok(keys.into_iter().collect())
    }

    /// The incident holding a detection (for an acknowledge link), if it is indexed, in an
    /// incident, and in `scope`.
    pub fn incident_of_detection(
        &self,
        scope: &Scope,
        detection: &Id,
    ) -> Result<Option<IncidentRecord>> {
        let searcher = self.searcher();
        let Some(inc) = stored_incident(&searcher, &self.fields, detection)? else {
            return Ok(None);
        };
        Ok(store::incident_by_id(&searcher, &self.fields, &inc)?
            .filter(|r| scope.allows(&r.incident.agency)))
    }

    /// The incidents of the months `first..=last` (yyyymm) in `scope` that the statistics
    /// leave out: closed as false positive or as duplicate.
    pub fn excluded(&self, scope: &Scope, first: u32, last: u32) -> Result<Excluded> {
        let f = &self.fields;
        let searcher = self.searcher();
        let count = |reason: CloseReason| -> Result<u64> {
            let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![
                (
                    Occur::Must,
                    term_query(Term::from_field_text(f.kind, KIND_INCIDENT)),
                ),
                (Occur::Must, term_query(Term::from_field_u64(f.counted, 0))),
                (
                    Occur::Must,
                    term_query(Term::from_field_text(f.close_reason, reason.as_str())),
                ),
                (
                    Occur::Must,
                    Box::new(RangeQuery::new(
                        Bound::Included(Term::from_field_u64(f.month, u64::from(first))),
                        Bound::Included(Term::from_field_u64(f.month, u64::from(last))),
                    )),
                ),
            ];
            clauses.extend(scope_clause(f, scope));
            Ok(searcher
                .search(&BooleanQuery::new(clauses), &Count)
                .map_err(IndexError::tantivy("count excluded incidents"))? as u64)
        };
        Ok(Excluded {
            false_positive: count(CloseReason::FalsePositive)?,
            duplicate: count(CloseReason::Duplicate)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sentence_names_each_reason_in_both_languages() {
        let e = |false_positive, duplicate| Excluded {
            false_positive,
            duplicate,
        };
        assert_eq!(e(0, 0).sentence(Lang::En), None);
        assert_eq!(
            e(3, 1).sentence(Lang::En).unwrap(),
            "3 incidents closed as false positive and 1 as duplicate are not counted"
        );
        assert_eq!(
            e(1, 0).sentence(Lang::En).unwrap(),
            "1 incident closed as false positive is not counted"
        );
        assert_eq!(
            e(0, 2).sentence(Lang::En).unwrap(),
            "2 incidents closed as duplicate are not counted"
        );
        assert_eq!(
            e(3, 1).sentence(Lang::Vi).unwrap(),
            "3 sự cố đóng do cảnh báo sai và 1 do trùng lặp không được tính"
        );
    }
}
