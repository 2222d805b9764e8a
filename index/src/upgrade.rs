//! Upgrading an index of the previous schema (version 2): its statuses and notes lived only in
//! the incident documents. [`legacy_records`] turns them into lifecycle records
//! ([`IncidentEvent`]) that `canhgac index upgrade` publishes on `<prefix>.incident-events`
//! before the index is rebuilt from the topics, so no status or note is lost.

use std::path::Path;

use canhgac_core::detection::Status;
use canhgac_core::lifecycle::{Action, Actor, CloseReason, IncidentEvent};
use canhgac_core::Id;
use serde::Deserialize;
use tantivy::collector::DocSetCollector;
use tantivy::query::TermQuery;
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{Index, TantivyDocument, Term};

use crate::error::{IndexError, Result};
use crate::schema::KIND_INCIDENT;

/// One status change as version 2 stored it in an incident's `history`.
#[derive(Deserialize)]
struct StatusChange {
    status: Status,
    #[serde(default)]
    note: String,
    #[serde(default)]
    by: Option<String>,
    at: chrono::DateTime<chrono::Utc>,
}

/// The part of a version-2 incident document the upgrade reads.
#[derive(Deserialize)]
struct Legacy {
    id: Id,
    agency: String,
    first_detection: Id,
    #[serde(default)]
    history: Vec<StatusChange>,
}

/// The lifecycle records equivalent to the status changes of the index in `dir` (a version-2
/// index, or any index whose incident documents carry `history`): acknowledge, resolve
/// (handled) or reopen, by the person the change named (`unknown` when none), role `national`,
/// at its time, anchored at the incident's first detection. Sorted by (time, id). Ids are
/// deterministic: running the upgrade twice publishes the same records, counted once.
pub fn legacy_records(dir: &Path) -> Result<Vec<IncidentEvent>> {
    let index = Index::open_in_dir(dir)
        .map_err(IndexError::tantivy(format!("open index {}", dir.display())))?;
    let schema = index.schema();
    let field = |name: &str| {
        schema.get_field(name).map_err(|_| IndexError::Directory {
            path: dir.to_path_buf(),
            message: format!("not a canhgac index: no field {name:?}"),
        })
    };
    let (kind, source) = (field("kind")?, field("source")?);
    let reader = index
        .reader()
        .map_err(IndexError::tantivy("open index reader"))?;
    let searcher = reader.searcher();
    let q = TermQuery::new(
        Term::from_field_text(kind, KIND_INCIDENT),
        IndexRecordOption::Basic,
    );
    let docs = searcher
        .search(&q, &DocSetCollector)
        .map_err(IndexError::tantivy("list incidents"))?;
    let mut out = Vec::new();
    for addr in docs {
        let doc: TantivyDocument = searcher
            .doc(addr)
            .map_err(IndexError::tantivy("read stored document"))?;
        let bytes = doc
            .get_first(source)
            .and_then(|v| v.as_bytes())
            .ok_or_else(|| IndexError::Corrupt {
                id: format!("{addr:?}"),
                message: "no stored source".into(),
            })?;
        let rec: Legacy = serde_json::from_slice(bytes).map_err(|e| IndexError::Corrupt {
            id: format!("{addr:?}"),
            message: format!("not an incident of schema version 2: {e}"),
        })?;
        for c in rec.history {
            let note = c.note;
            let action = match c.status {
                Status::Acknowledged => Action::Acknowledge { note },
                Status::Resolved => Action::Resolve {
                    reason: CloseReason::Handled,
                    note,
                    duplicate_of: None,
                },
                Status::New => Action::Reopen { note },
            };
            let by = Actor {
                name: c.by.unwrap_or_else(|| "unknown".into()),
                role: "national".into(),
            };
            out.push(IncidentEvent::new(
                rec.id,
                rec.first_detection,
                &rec.agency,
                c.at,
                by,
                action,
                None,
            ));
        }
    }
    out.sort_by_key(|e| (e.at, e.id));
    Ok(out)
}
