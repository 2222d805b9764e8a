//! The indexer's pending batch: detections grouped into attacks since the last commit.
//!
//! [`Batch::assign`] finds the incidents a detection links to ([`crate::group`]) — among the
//! incidents touched by this batch and those of the last commit (found by their link-key
//! terms) — and adds the detection to one of them, merging the incidents it bridges; a merge or
//! an earlier first detection renames an incident. [`Batch::flush`] writes everything in one
//! go before the commit: the touched incidents, an alias document for every committed incident
//! that was renamed (its old id keeps pointing at the attack), the committed detection
//! documents of renamed incidents again under their new incident, and the pending detections
//! under their final incident. Nothing reaches the writer before that, so a crash before the
//! commit leaves the index as it was and the replay groups the same detections again.

use std::collections::{HashMap, HashSet};

use canhgac_core::detection::Detection;
use canhgac_core::Id;
use tantivy::collector::DocSetCollector;
use tantivy::query::{BooleanQuery, Occur};
use tantivy::{IndexWriter, Searcher, TantivyDocument, Term};

use crate::error::{IndexError, Result};
use crate::group;
use crate::idfilter::IdFilter;
use crate::incident::IncidentRecord;
use crate::schema::{self, Fields, KIND_DETECTION};
use crate::search::term_query;
use crate::store;

/// Detections and incidents waiting for the next commit.
#[derive(Default)]
pub(crate) struct Batch {
    /// Incidents changed by this batch, by their current id.
    pub touched: HashMap<Id, IncidentRecord>,
    /// Ids of touched incidents that exist as incident documents in the last commit.
    from_commit: HashSet<Id>,
    /// Old id → new id of incidents renamed or merged in this batch.
    renames: HashMap<Id, Id>,
    /// Touched incidents by link key (ids may have been renamed since: resolve them).
    by_key: HashMap<Id, Vec<Id>>,
    /// Committed incidents holding a link key, looked up once per batch.
    committed_by_key: HashMap<Id, Vec<Id>>,
    /// Committed incidents read by this batch and not (yet) touched.
    committed_cache: HashMap<Id, IncidentRecord>,
    /// Pending detections: their document without its incident, and the incident they were
    /// added to (renames are resolved when the batch is written).
    pub detections: Vec<(TantivyDocument, Id)>,
}

/// Follows `renames` from `id` to the incident's current id.
fn resolve(renames: &HashMap<Id, Id>, mut id: Id) -> Id {
    while let Some(next) = renames.get(&id) {
        id = *next;
    }
    id
}

/// What a flush wrote.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Flushed {
    pub incidents: usize,
    pub renamed: usize,
    pub rewritten_detections: usize,
}

impl Batch {
    /// The current id of an incident that may have been renamed in this batch.
    pub fn resolve(&self, id: Id) -> Id {
        resolve(&self.renames, id)
    }

    /// Drops a touched incident and its pending detections (retention).
    pub fn drop_incident(&mut self, id: &Id) {
        self.touched.remove(id);
        let renames = &self.renames;
        self.detections
            .retain(|(_, inc)| resolve(renames, *inc) != *id);
    }

    /// Puts a committed incident into the touched set (it will be rewritten at the commit).
    pub fn touch_committed(&mut self, rec: IncidentRecord) {
        let id = rec.incident.id;
        self.committed_cache.remove(&id);
        self.from_commit.insert(id);
        self.touched.insert(id, rec);
    }

    fn committed_ids(&mut self, searcher: &Searcher, fields: &Fields, key: &Id) -> Result<Vec<Id>> {
        if let Some(ids) = self.committed_by_key.get(key) {
            return Ok(ids.clone());
        }
        let mut ids = Vec::new();
        for addr in store::find_all(searcher, &schema::link_term(fields, key))? {
            let rec = store::load_incident(searcher, fields, addr)?;
            let id = rec.incident.id;
            ids.push(id);
            if !self.touched.contains_key(&id) && !self.renames.contains_key(&id) {
                self.committed_cache.entry(id).or_insert(rec);
            }
        }
        self.committed_by_key.insert(*key, ids.clone());
        Ok(ids)
    }

    /// Adds a distinct detection to the attack it links to (or a new one). Returns its incident,
    /// whether that incident is new, and the detection's link keys.
    pub fn assign(
        &mut self,
        searcher: &Searcher,
        fields: &Fields,
        known: &IdFilter,
        d: &Detection,
        json: &[u8],
    ) -> Result<(Id, bool, Vec<Id>)> {
        let (keys, gap) = group::link_keys(d);
        let t = d.timestamp.timestamp();
        let mut linked: Vec<Id> = Vec::new();
        for k in &keys {
            let key = std::slice::from_ref(k);
            if let Some(ids) = self.by_key.get(k) {
                for id in ids.clone() {
                    let id = self.resolve(id);
                    if !linked.contains(&id)
                        && self
                            .touched
                            .get(&id)
                            .is_some_and(|r| r.links_to(key, t, gap))
                    {
                        linked.push(id);
                    }
                }
            }
            if !known.may_contain(k) {
                continue;
            }
            for cid in self.committed_ids(searcher, fields, k)? {
                let id = self.resolve(cid);
                if linked.contains(&id) {
                    continue;
                }
                if let Some(r) = self.touched.get(&id) {
                    if r.links_to(key, t, gap) {
                        linked.push(id);
                    }
                } else if self
                    .committed_cache
                    .get(&id)
                    .is_some_and(|r| r.links_to(key, t, gap))
                {
                    let rec = self.committed_cache.remove(&id).expect("checked above");
                    self.touch_committed(rec);
                    linked.push(id);
                }
            }
        }
        let (id, new) = if linked.is_empty() {
            let rec = IncidentRecord::from_linked(d, &keys, gap);
            let id = rec.incident.id;
            self.touched.insert(id, rec);
            (id, true)
        } else {
            let mut recs = linked.iter().map(|id| {
                self.touched
                    .remove(id)
                    .expect("linked incidents are touched")
            });
            let mut rec = recs.next().expect("at least one linked incident");
            for other in recs {
                rec.absorb(other);
            }
            rec.merge_linked(d, &keys, gap);
            let id = rec.incident.id;
            for old in &linked {
                if *old != id {
                    self.renames.insert(*old, id);
                }
            }
            self.touched.insert(id, rec);
            (id, false)
        };
        for k in &keys {
            let ids = self.by_key.entry(*k).or_default();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        self.detections
            .push((schema::detection_doc_unassigned(fields, d, json), id));
        Ok((id, new, keys))
    }

    /// Writes the batch (see the module docs) and empties it.
    pub fn flush(
        &mut self,
        writer: &IndexWriter,
        searcher: &Searcher,
        fields: &Fields,
    ) -> Result<Flushed> {
        let mut out = Flushed::default();
        // Committed incidents renamed or merged: their document goes, an alias takes its id,
        // and their committed detections move to the new incident.
        let renamed: Vec<(Id, Id)> = self
            .renames
            .keys()
            .filter(|old| self.from_commit.contains(old))
            .map(|old| (*old, self.resolve(*old)))
            .filter(|(_, new)| self.touched.contains_key(new))
            .collect();
        for (old, new) in renamed {
            out.renamed += 1;
            let q = BooleanQuery::new(vec![
                (
                    Occur::Must,
                    term_query(Term::from_field_text(fields.kind, KIND_DETECTION)),
                ),
                (Occur::Must, term_query(fields.incident_term(&old))),
            ]);
            let docs = searcher
                .search(&q, &DocSetCollector)
                .map_err(IndexError::tantivy(
                    "find the detections of a renamed incident",
                ))?;
            for addr in docs {
                let json = store::source(searcher, fields, addr)?;
                let d: Detection =
                    serde_json::from_slice(&json).map_err(|e| IndexError::Corrupt {
                        id: format!("{addr:?}"),
                        message: e.to_string(),
                    })?;
                writer.delete_term(fields.id_term(&d.id));
                writer
                    .add_document(schema::detection_doc(fields, &d, &new, &json))
                    .map_err(IndexError::tantivy("add detection"))?;
                out.rewritten_detections += 1;
            }
            writer.delete_term(fields.id_term(&old));
            writer
                .add_document(schema::alias_doc(fields, &old, &new))
                .map_err(IndexError::tantivy("add alias"))?;
        }
        for (id, rec) in self.touched.drain() {
            let json = serde_json::to_vec(&rec).map_err(|e| IndexError::Corrupt {
                id: id.to_hex(),
                message: e.to_string(),
            })?;
            writer.delete_term(fields.id_term(&id));
            writer
                .add_document(schema::incident_doc(fields, &rec, &json))
                .map_err(IndexError::tantivy("add incident"))?;
            out.incidents += 1;
        }
        for (mut doc, incident) in std::mem::take(&mut self.detections) {
            doc.add_text(fields.incident_id, self.resolve(incident).to_hex());
            writer
                .add_document(doc)
                .map_err(IndexError::tantivy("add detection"))?;
        }
        *self = Batch::default();
        Ok(out)
    }
}
