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
use canhgac_core::lifecycle::{IncidentEvent, Policy};
use canhgac_core::Id;
use tantivy::collector::DocSetCollector;
use tantivy::query::{BooleanQuery, Occur};
use tantivy::schema::Value;
use tantivy::{IndexWriter, Searcher, TantivyDocument, Term};

use crate::error::{IndexError, Result};
use crate::idfilter::IdFilter;
use crate::incident::IncidentRecord;
use crate::lifecycle::Placement;
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
    /// Pending detection → the incident it was added to (renames not resolved).
    placed: HashMap<Id, Id>,
    /// Committed incidents taken apart by a split: their documents are deleted.
    dissolved: HashSet<Id>,
    /// Committed detections written again (deleted first).
    rewrites: Vec<Id>,
    /// Pending lifecycle records (with their JSON), by id.
    records: HashMap<Id, (IncidentEvent, Vec<u8>)>,
    /// Detection → the pending records naming it.
    refs: HashMap<Id, Vec<Id>>,
    /// Pending detections marked by a suppression.
    suppressed: Vec<TantivyDocument>,
    /// Committed incidents dissolved by a split: (old id, the detection whose incident it
    /// becomes an alias of).
    aliases: Vec<(Id, Id)>,
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
            if !self.touched.contains_key(&id)
                && !self.renames.contains_key(&id)
                && !self.dissolved.contains(&id)
            {
                self.committed_cache.entry(id).or_insert(rec);
            }
        }
        self.committed_by_key.insert(*key, ids.clone());
        Ok(ids)
    }

    /// Adds to `linked` the incidents (touched, or committed ones it then touches) holding
    /// `key` for which `links` holds. `known: None` skips the committed index (a regroup).
    #[allow(clippy::too_many_arguments)]
    fn linked_by(
        &mut self,
        searcher: &Searcher,
        fields: &Fields,
        known: Option<&IdFilter>,
        key: &Id,
        linked: &mut Vec<Id>,
        links: impl Fn(&IncidentRecord) -> bool,
    ) -> Result<()> {
        if let Some(ids) = self.by_key.get(key) {
            for id in ids.clone() {
                let id = self.resolve(id);
                if !linked.contains(&id) && self.touched.get(&id).is_some_and(&links) {
                    linked.push(id);
                }
            }
        }
        let Some(known) = known else { return Ok(()) };
        if !known.may_contain(key) {
            return Ok(());
        }
        for cid in self.committed_ids(searcher, fields, key)? {
            let id = self.resolve(cid);
            if linked.contains(&id) || self.dissolved.contains(&id) {
                continue;
            }
            if let Some(r) = self.touched.get(&id) {
                if links(r) {
                    linked.push(id);
                }
            } else if self.committed_cache.get(&id).is_some_and(&links) {
                let rec = self.committed_cache.remove(&id).expect("checked above");
                self.touch_committed(rec);
                linked.push(id);
            }
        }
        Ok(())
    }

    /// Makes the touched incidents `ids` one (the first detection's id wins), returning it
    /// out of the touched set; the others are renamed to it.
    fn unite(&mut self, ids: &[Id]) -> IncidentRecord {
        let mut recs = ids.iter().map(|id| {
            self.touched
                .remove(id)
                .expect("united incidents are touched")
        });
        let mut rec = recs.next().expect("at least one incident");
        for other in recs {
            rec.absorb(other);
        }
        rec
    }

    fn renamed_to(&mut self, ids: &[Id], to: Id) {
        for old in ids {
            if *old != to {
                self.renames.insert(*old, to);
            }
        }
    }

    fn index_keys(&mut self, id: Id, keys: &[Id]) {
        for k in keys {
            let ids = self.by_key.entry(*k).or_default();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }

    /// Adds a distinct detection to the attack it links to (or a new one), with its placement:
    /// its link keys and gap ([`crate::group::link_keys`], salted by splits), its join keys
    /// (merges) and the lifecycle records anchored at it. Returns its incident and whether it
    /// is new.
    pub fn assign(
        &mut self,
        searcher: &Searcher,
        fields: &Fields,
        known: Option<&IdFilter>,
        d: &Detection,
        json: &[u8],
        p: &Placement,
    ) -> Result<(Id, bool)> {
        let (keys, gap, joins) = (&p.keys, p.gap, &p.joins);
        let t = d.timestamp.timestamp();
        let mut linked: Vec<Id> = Vec::new();
        for k in keys {
            let key = std::slice::from_ref(k);
            self.linked_by(searcher, fields, known, k, &mut linked, |r| {
                r.links_to(key, t, gap)
            })?;
        }
        for j in joins {
            self.linked_by(searcher, fields, known, j, &mut linked, |r| {
                r.joins.binary_search(j).is_ok()
            })?;
        }
        let new = linked.is_empty();
        let mut rec = if new {
            IncidentRecord::from_linked(d, keys, gap)
        } else {
            let mut rec = self.unite(&linked);
            rec.merge_linked(d, keys, gap);
            rec
        };
        for j in joins {
            rec.add_join(*j);
        }
        for e in &p.records {
            rec.add_record(e.clone());
        }
        let id = rec.incident.id;
        self.renamed_to(&linked, id);
        self.touched.insert(id, rec);
        self.index_keys(id, keys);
        self.index_keys(id, joins);
        self.placed.insert(d.id, id);
        self.detections
            .push((schema::detection_doc_unassigned(fields, d, json), id));
        Ok((id, new))
    }

    /// The incident a pending detection was added to (its current id).
    pub fn placed(&self, detection: &Id) -> Option<Id> {
        self.placed.get(detection).map(|id| self.resolve(*id))
    }

    /// Makes the touched incidents `ids` one, holding the join key `join` (a merge record).
    /// Returns the united incident's id.
    pub fn join(&mut self, ids: &[Id], join: Id) -> Id {
        let mut rec = self.unite(ids);
        rec.add_join(join);
        let id = rec.incident.id;
        self.renamed_to(ids, id);
        self.touched.insert(id, rec);
        self.index_keys(id, &[join]);
        id
    }

    /// Takes a touched incident apart for a regroup (a split): it and the committed incidents
    /// renamed into it are deleted at the flush, and its pending detections are returned (their
    /// stored source) with the committed ids whose detections must be read again.
    pub fn dissolve(&mut self, id: Id, fields: &Fields) -> (Vec<Vec<u8>>, Vec<Id>) {
        self.touched.remove(&id);
        let mut committed: Vec<Id> = self
            .from_commit
            .iter()
            .filter(|c| resolve(&self.renames, **c) == id)
            .copied()
            .collect();
        committed.sort();
        let old: Vec<Id> = self
            .renames
            .keys()
            .filter(|o| resolve(&self.renames, **o) == id)
            .copied()
            .collect();
        for o in &old {
            self.renames.remove(o);
        }
        for c in &committed {
            self.from_commit.remove(c);
            self.dissolved.insert(*c);
        }
        self.dissolved.insert(id);
        let mut pending = Vec::new();
        let (gone, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.detections)
            .into_iter()
            .partition(|(_, inc)| *inc == id || old.contains(inc));
        self.detections = keep;
        for (doc, _) in gone {
            if let Some(b) = doc.get_first(fields.source).and_then(|v| v.as_bytes()) {
                pending.push(b.to_vec());
            }
        }
        self.placed
            .retain(|_, inc| *inc != id && !old.contains(inc));
        (pending, committed)
    }

    /// A committed incident dissolved by a regroup keeps resolving, to the incident that holds
    /// its first detection `first` (unless a new incident takes its id).
    pub fn alias(&mut self, old: Id, first: Id) {
        self.aliases.push((old, first));
    }

    /// A committed detection whose document is written again (a regroup): deleted first.
    pub fn rewrite(&mut self, detection: Id) {
        self.rewrites.push(detection);
    }

    /// A lifecycle record waiting for the commit (its document) and for the detections it names.
    pub fn add_record(&mut self, e: IncidentEvent, json: Vec<u8>) {
        for d in schema::record_refs(&e) {
            self.refs.entry(d).or_default().push(e.id);
        }
        self.records.insert(e.id, (e, json));
    }

    /// Whether a pending record names this detection.
    pub fn names(&self, detection: &Id) -> bool {
        self.refs.contains_key(detection)
    }

    pub fn has_record(&self, id: &Id) -> bool {
        self.records.contains_key(id)
    }

    /// The pending records naming a detection.
    pub fn records_naming(&self, detection: &Id) -> Vec<IncidentEvent> {
        self.refs
            .get(detection)
            .into_iter()
            .flatten()
            .filter_map(|id| self.records.get(id).map(|(e, _)| e.clone()))
            .collect()
    }

    /// A detection marked by a suppression: stored, in no incident.
    pub fn add_suppressed(&mut self, doc: TantivyDocument) {
        self.suppressed.push(doc);
    }

    /// Writes the batch (see the module docs) and empties it.
    pub fn flush(
        &mut self,
        writer: &IndexWriter,
        searcher: &Searcher,
        fields: &Fields,
        policy: &Policy,
    ) -> Result<Flushed> {
        let mut out = Flushed::default();
        for id in &self.dissolved {
            writer.delete_term(fields.id_term(id));
        }
        for id in &self.rewrites {
            writer.delete_term(fields.id_term(id));
        }
        for (e, json) in self.records.values() {
            writer
                .add_document(schema::record_doc(fields, e, json))
                .map_err(IndexError::tantivy("add lifecycle record"))?;
        }
        for (old, first) in std::mem::take(&mut self.aliases) {
            let taken = self.touched.contains_key(&old);
            if let Some(new) = self.placed(&first).filter(|new| *new != old && !taken) {
                writer
                    .add_document(schema::alias_doc(fields, &old, &new))
                    .map_err(IndexError::tantivy("add alias"))?;
            }
        }
        for doc in std::mem::take(&mut self.suppressed) {
            writer
                .add_document(doc)
                .map_err(IndexError::tantivy("add detection"))?;
        }
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
        for (id, mut rec) in self.touched.drain() {
            rec.refold(policy);
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
