//! The incident lifecycle in the index: records from `<prefix>.incident-events`
//! ([`IncidentEvent`]) applied to the incidents that hold their anchors.
//!
//! - **Kept.** Every record is a document of its own (kind `record`, found by the
//!   [`schema::record_ref`] of each detection it names), whether or not its anchor is indexed:
//!   a record that arrives before its anchor detection waits there, across commits and
//!   restarts, and joins the incident when the detection does.
//! - **Applied by anchor.** A record belongs to the incident holding its anchor detection; the
//!   incident keeps its records (`IncidentRecord::lifecycle`) and their fold
//!   (`IncidentRecord::handling`, under the indexer's [`canhgac_core::lifecycle::Policy`]).
//!   Incidents that merge unite their records; a rename keeps them.
//! - **Merge.** `merge{into_anchor}` gives both anchors a synthetic link key (the join key of
//!   the record): the incidents holding them become one, exactly as if a detection linked
//!   them, and a detection carrying the key (an anchor indexed later) links to any incident
//!   holding it, whatever its time.
//! - **Split.** The detections a split names get their link and join keys salted with the
//!   split's id (the *label* of a detection: the splits naming it), so they link only among
//!   themselves; the incidents holding them are regrouped from their detections. The result is
//!   a function of the sets of detections and records alone, in any arrival order.
//! - **Suppressed detections** (`Detection::suppressed`) are stored and searchable, with a
//!   `suppressed` term, and join no incident.

use canhgac_core::detection::Detection;
use canhgac_core::id::IdHasher;
use canhgac_core::lifecycle::{Action, IncidentEvent};
use canhgac_core::Id;
use tantivy::collector::DocSetCollector;
use tantivy::query::{BooleanQuery, Occur};
use tantivy::schema::Value;
use tantivy::{TantivyDocument, Term};

use crate::error::{IndexError, Result};
use crate::group;
use crate::schema::{self, KIND_DETECTION};
use crate::search::term_query;
use crate::store;
use crate::writer::{Indexer, Outcome};

/// The synthetic link key of a merge record.
pub fn join_key(record: &Id) -> Id {
    IdHasher::new("merge-join").part(record.as_bytes()).finish()
}

/// A key salted with a detection's label (the splits naming it); unchanged without splits.
fn salted(key: &Id, label: &[Id]) -> Id {
    if label.is_empty() {
        return *key;
    }
    let mut h = IdHasher::new("split-salt").part(key.as_bytes());
    for s in label {
        h.push(s.as_bytes());
    }
    h.finish()
}

/// Where a detection goes: its link keys and gap, its join keys, the records anchored at it.
pub(crate) struct Placement {
    pub keys: Vec<Id>,
    pub gap: u64,
    pub joins: Vec<Id>,
    pub records: Vec<IncidentEvent>,
}

impl Indexer {
    /// Applies one lifecycle record (see the module docs). It becomes durable with the next
    /// commit. A record already indexed or pending is a [`Outcome::Duplicate`]; an invalid
    /// one is [`Outcome::Rejected`].
    pub fn apply(&mut self, e: &IncidentEvent) -> Result<Outcome> {
        if e.agency.is_empty() {
            return Ok(Outcome::Rejected {
                reason: "invalid",
                message: format!("record {}: no agency", e.id),
            });
        }
        if let Err(err) = e.action.validate() {
            return Ok(Outcome::Rejected {
                reason: "invalid",
                message: format!("record {}: {err}", e.id),
            });
        }
        if self.batch.has_record(&e.id)
            || (self.known.may_contain(&e.id)
                && store::find(&self.searcher, &self.fields.id_term(&e.id))?.is_some())
        {
            return Ok(Outcome::Duplicate);
        }
        self.batch.add_record(e.clone(), e.to_json());
        let mut room = self.known.insert(&e.id);
        for d in schema::record_refs(e) {
            room &= self.known.insert(&schema::record_ref(&d));
        }
        match &e.action {
            Action::Merge { into_anchor, .. } => {
                let join = join_key(&e.id);
                let mut by_key: Vec<(Id, Vec<Id>)> = Vec::new();
                for det in [e.anchor, *into_anchor] {
                    let Some(id) = self.holding(&det)? else {
                        continue;
                    };
                    let key = salted(&join, &self.label(&det)?);
                    match by_key.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, ids)) if !ids.contains(&id) => ids.push(id),
                        Some(_) => {}
                        None => by_key.push((key, vec![id])),
                    }
                }
                for (key, ids) in by_key {
                    room &= self.known.insert(&key);
                    self.batch.join(&ids, key);
                }
            }
            Action::Split { detections } => self.regroup(detections)?,
            _ => {}
        }
        if !room {
            self.rebuild_filter = true;
        }
        let applied = match self.holding(&e.anchor)? {
            Some(id) => {
                if let Some(r) = self.batch.touched.get_mut(&id) {
                    r.add_record(e.clone());
                }
                true
            }
            None => false,
        };
        self.note_pending();
        Ok(Outcome::Recorded { applied })
    }

    /// The current id of the incident holding a detection (touching a committed one), if the
    /// detection is indexed or pending and not suppressed.
    pub(crate) fn holding(&mut self, detection: &Id) -> Result<Option<Id>> {
        if let Some(id) = self.batch.placed(detection) {
            return Ok(Some(id));
        }
        if !self.known.may_contain(detection) {
            return Ok(None);
        }
        let Some(addr) = store::find(&self.searcher, &self.fields.id_term(detection))? else {
            return Ok(None);
        };
        let doc: TantivyDocument = self
            .searcher
            .doc(addr)
            .map_err(IndexError::tantivy("read stored document"))?;
        let Some(inc) = doc
            .get_first(self.fields.incident_id)
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse::<Id>().ok())
        else {
            return Ok(None);
        };
        let current = self.batch.resolve(inc);
        if self.batch.touched.contains_key(&current) {
            return Ok(Some(current));
        }
        match store::incident_by_id(&self.searcher, &self.fields, &current)? {
            Some(r) => {
                let id = self.batch.resolve(r.incident.id);
                if !self.batch.touched.contains_key(&id) {
                    self.batch.touch_committed(r);
                }
                Ok(Some(id))
            }
            None => Ok(None),
        }
    }

    /// The records naming a detection, pending and committed, distinct.
    fn records_naming(&self, detection: &Id) -> Result<Vec<IncidentEvent>> {
        let mut out = self.batch.records_naming(detection);
        let r = schema::record_ref(detection);
        if !self.known.may_contain(&r) {
            return Ok(out);
        }
        for addr in store::find_all(&self.searcher, &schema::link_term(&self.fields, &r))? {
            let json = store::source(&self.searcher, &self.fields, addr)?;
            let e = IncidentEvent::from_json(&json).map_err(|message| IndexError::Corrupt {
                id: format!("{addr:?}"),
                message,
            })?;
            if !out.iter().any(|x| x.id == e.id) {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// A detection's label: the ids of the splits naming it, sorted.
    fn label(&self, detection: &Id) -> Result<Vec<Id>> {
        let mut label: Vec<Id> = self
            .records_naming(detection)?
            .iter()
            .filter(|e| matches!(&e.action, Action::Split { detections } if detections.contains(detection)))
            .map(|e| e.id)
            .collect();
        label.sort();
        label.dedup();
        Ok(label)
    }

    /// Where a detection goes (see [`Placement`]).
    pub(crate) fn placement(&self, d: &Detection) -> Result<Placement> {
        let (mut keys, gap) = group::link_keys(d);
        let named = if self.batch.names(&d.id) || self.known.may_contain(&schema::record_ref(&d.id))
        {
            self.records_naming(&d.id)?
        } else {
            Vec::new()
        };
        if named.is_empty() {
            return Ok(Placement {
                keys,
                gap,
                joins: Vec::new(),
                records: Vec::new(),
            });
        }
        let mut label: Vec<Id> = named
            .iter()
            .filter(
                |e| matches!(&e.action, Action::Split { detections } if detections.contains(&d.id)),
            )
            .map(|e| e.id)
            .collect();
        label.sort();
        label.dedup();
        if !label.is_empty() {
            keys = keys.iter().map(|k| salted(k, &label)).collect();
            keys.sort();
            keys.dedup();
        }
        let mut joins: Vec<Id> = named
            .iter()
            .filter_map(|e| match &e.action {
                Action::Merge { into_anchor, .. } if e.anchor == d.id || *into_anchor == d.id => {
                    Some(salted(&join_key(&e.id), &label))
                }
                _ => None,
            })
            .collect();
        joins.sort();
        joins.dedup();
        let records = named.into_iter().filter(|e| e.anchor == d.id).collect();
        Ok(Placement {
            keys,
            gap,
            joins,
            records,
        })
    }

    /// Regroups the incidents holding any of `detections` (a split arrived): they are taken
    /// apart and their detections grouped again among themselves, with their new labels.
    fn regroup(&mut self, detections: &[Id]) -> Result<()> {
        let mut affected: Vec<Id> = Vec::new();
        for det in detections {
            if let Some(id) = self.holding(det)? {
                if !affected.contains(&id) {
                    affected.push(id);
                }
            }
        }
        let mut sources: Vec<Vec<u8>> = Vec::new();
        for id in affected {
            let (pending, committed) = self.batch.dissolve(id, &self.fields);
            sources.extend(pending);
            for c in committed {
                let q = BooleanQuery::new(vec![
                    (
                        Occur::Must,
                        term_query(Term::from_field_text(self.fields.kind, KIND_DETECTION)),
                    ),
                    (Occur::Must, term_query(self.fields.incident_term(&c))),
                ]);
                let docs =
                    self.searcher
                        .search(&q, &DocSetCollector)
                        .map_err(IndexError::tantivy(
                            "find the detections of a split incident",
                        ))?;
                let mut first: Option<(chrono::DateTime<chrono::Utc>, Id)> = None;
                for addr in docs {
                    let d = store::load_detection(&self.searcher, &self.fields, addr)?;
                    let key = (d.timestamp, d.id);
                    if first.is_none_or(|f| key < f) {
                        first = Some(key);
                    }
                    sources.push(store::source(&self.searcher, &self.fields, addr)?);
                }
                if let Some((_, first)) = first {
                    self.batch.alias(c, first);
                }
            }
        }
        let mut ds: Vec<(Detection, Vec<u8>)> = Vec::with_capacity(sources.len());
        for json in sources {
            let d: Detection = serde_json::from_slice(&json).map_err(|e| IndexError::Corrupt {
                id: "a detection of a split incident".into(),
                message: e.to_string(),
            })?;
            ds.push((d, json));
        }
        ds.sort_by_key(|(d, _)| (d.timestamp, d.id));
        ds.dedup_by_key(|(d, _)| d.id);
        for (d, json) in ds {
            if !self.pending_detections.contains(&d.id) {
                self.batch.rewrite(d.id);
            }
            let p = self.placement(&d)?;
            let (incident, _) =
                self.batch
                    .assign(&self.searcher, &self.fields, None, &d, &json, &p)?;
            let mut room = self.known.insert(&incident);
            for k in p.keys.iter().chain(&p.joins) {
                room &= self.known.insert(k);
            }
            if !room {
                self.rebuild_filter = true;
            }
        }
        Ok(())
    }

    /// Stores a detection marked by a suppression: searchable, in no incident.
    pub(crate) fn add_suppressed(&mut self, d: &Detection, json: &[u8], suppression: &Id) {
        let mut doc = schema::detection_doc_unassigned(&self.fields, d, json);
        doc.add_text(self.fields.suppressed, suppression.to_hex());
        self.batch.add_suppressed(doc);
    }
}
