//! Opening the index and reading stored records by id, shared by the writer and the readers.

use std::path::Path;

use canhgac_core::{Detection, Id};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{DocAddress, DocSet, Index, Searcher, TantivyDocument, Term, TERMINATED};

use crate::analyzer;
use crate::error::{IndexError, Result};
use crate::incident::IncidentRecord;
use crate::schema::Fields;

/// Opens the index in `dir`, creating it (and the directory) when `create` is set.
pub fn open_index(dir: &Path, create: bool) -> Result<(Index, Fields)> {
    let dir_err = |message: String| IndexError::Directory {
        path: dir.to_path_buf(),
        message,
    };
    let exists = dir.join("meta.json").exists();
    let index = if exists {
        Index::open_in_dir(dir)
            .map_err(IndexError::tantivy(format!("open index {}", dir.display())))?
    } else if create {
        std::fs::create_dir_all(dir).map_err(|e| dir_err(e.to_string()))?;
        Index::create_in_dir(dir, Fields::new().schema).map_err(IndexError::tantivy(format!(
            "create index {}",
            dir.display()
        )))?
    } else {
        return Err(dir_err(
            "no index here (meta.json missing): build one with `canhgac index`".into(),
        ));
    };
    let fields = Fields::from_schema(&index.schema()).ok_or_else(|| IndexError::SchemaVersion {
        path: dir.to_path_buf(),
        found: stored_schema_version(&index)
            .map_or_else(|| "unknown (the fields differ)".into(), |v| v.to_string()),
        expected: crate::schema::SCHEMA_VERSION,
    })?;
    analyzer::register(&index);
    Ok((index, fields))
}

/// The schema version in an index's last commit payload, if it has one.
pub fn stored_schema_version(index: &Index) -> Option<u64> {
    let meta = index.load_metas().ok()?;
    let payload: serde_json::Value = serde_json::from_str(meta.payload.as_deref()?).ok()?;
    payload.get("schema")?.as_u64()
}

/// An in-memory index (tests, benchmarks).
pub fn ram_index() -> (Index, Fields) {
    let fields = Fields::new();
    let index = Index::create_in_ram(fields.schema.clone());
    analyzer::register(&index);
    (index, fields)
}

/// The live document holding `term` (an `id` term: unique), if any.
pub fn find(searcher: &Searcher, term: &Term) -> Result<Option<DocAddress>> {
    for (ord, seg) in searcher.segment_readers().iter().enumerate() {
        let inverted = seg
            .inverted_index(term.field())
            .map_err(IndexError::tantivy("open inverted index"))?;
        let postings = inverted
            .read_postings(term, IndexRecordOption::Basic)
            .map_err(|e| IndexError::tantivy("read postings")(e.into()))?;
        if let Some(mut p) = postings {
            let mut doc = p.doc();
            while doc != TERMINATED {
                if !seg.is_deleted(doc) {
                    return Ok(Some(DocAddress::new(ord as u32, doc)));
                }
                doc = p.advance();
            }
        }
    }
    Ok(None)
}

/// The stored JSON of a document.
pub fn source(searcher: &Searcher, fields: &Fields, addr: DocAddress) -> Result<Vec<u8>> {
    let doc: TantivyDocument = searcher
        .doc(addr)
        .map_err(IndexError::tantivy("read stored document"))?;
    doc.get_first(fields.source)
        .and_then(|v| v.as_bytes())
        .map(<[u8]>::to_vec)
        .ok_or_else(|| IndexError::Corrupt {
            id: format!("{addr:?}"),
            message: "no stored source".into(),
        })
}

pub fn load_incident(
    searcher: &Searcher,
    fields: &Fields,
    addr: DocAddress,
) -> Result<IncidentRecord> {
    let bytes = source(searcher, fields, addr)?;
    serde_json::from_slice(&bytes).map_err(|e| IndexError::Corrupt {
        id: format!("{addr:?}"),
        message: e.to_string(),
    })
}

/// A detection, with the incident the index grouped it into (its JSON source keeps the
/// detect worker's provisional id).
pub fn load_detection(searcher: &Searcher, fields: &Fields, addr: DocAddress) -> Result<Detection> {
    let doc: TantivyDocument = searcher
        .doc(addr)
        .map_err(IndexError::tantivy("read stored document"))?;
    let corrupt = |message: String| IndexError::Corrupt {
        id: format!("{addr:?}"),
        message,
    };
    let bytes = doc
        .get_first(fields.source)
        .and_then(|v| v.as_bytes())
        .ok_or_else(|| corrupt("no stored source".into()))?;
    let mut d: Detection = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    if let Some(id) = doc.get_first(fields.incident_id).and_then(|v| v.as_str()) {
        d.incident_id = id
            .parse()
            .map_err(|e: canhgac_core::id::ParseIdError| corrupt(e.to_string()))?;
    }
    Ok(d)
}

/// Every live document holding `term`.
pub fn find_all(searcher: &Searcher, term: &Term) -> Result<Vec<DocAddress>> {
    let mut out = Vec::new();
    for (ord, seg) in searcher.segment_readers().iter().enumerate() {
        let inverted = seg
            .inverted_index(term.field())
            .map_err(IndexError::tantivy("open inverted index"))?;
        let postings = inverted
            .read_postings(term, IndexRecordOption::Basic)
            .map_err(|e| IndexError::tantivy("read postings")(e.into()))?;
        if let Some(mut p) = postings {
            let mut doc = p.doc();
            while doc != TERMINATED {
                if !seg.is_deleted(doc) {
                    out.push(DocAddress::new(ord as u32, doc));
                }
                doc = p.advance();
            }
        }
    }
    Ok(out)
}

/// What an `id` term names: an incident, or the alias of one (renamed or merged).
enum Named {
    Incident(Box<IncidentRecord>),
    Alias(Id),
}

fn named(searcher: &Searcher, fields: &Fields, addr: DocAddress) -> Result<Named> {
    #[derive(serde::Deserialize)]
    struct Alias {
        alias_of: Id,
    }
    let bytes = source(searcher, fields, addr)?;
    if bytes.starts_with(b"{\"alias_of\"") {
        let a: Alias = serde_json::from_slice(&bytes).map_err(|e| IndexError::Corrupt {
            id: format!("{addr:?}"),
            message: e.to_string(),
        })?;
        return Ok(Named::Alias(a.alias_of));
    }
    serde_json::from_slice(&bytes)
        .map(|r| Named::Incident(Box::new(r)))
        .map_err(|e| IndexError::Corrupt {
            id: format!("{addr:?}"),
            message: e.to_string(),
        })
}

/// The incident with this id, if indexed, following aliases: an incident renamed or merged
/// into another is found under its old id too (the record carries the current id).
pub fn incident_by_id(
    searcher: &Searcher,
    fields: &Fields,
    id: &Id,
) -> Result<Option<IncidentRecord>> {
    let mut id = *id;
    for _ in 0..64 {
        match find(searcher, &fields.id_term(&id))? {
            Some(addr) => match named(searcher, fields, addr)? {
                Named::Incident(r) => return Ok(Some(*r)),
                Named::Alias(next) => id = next,
            },
            None => return Ok(None),
        }
    }
    Ok(None)
}

/// The incident document with exactly this id (no alias followed).
pub fn incident_exact(
    searcher: &Searcher,
    fields: &Fields,
    id: &Id,
) -> Result<Option<IncidentRecord>> {
    match find(searcher, &fields.id_term(id))? {
        Some(addr) => match named(searcher, fields, addr)? {
            Named::Incident(r) => Ok(Some(*r)),
            Named::Alias(_) => Ok(None),
        },
        None => Ok(None),
    }
}
