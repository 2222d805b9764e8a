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
        found: "unknown (the fields differ)".into(),
        expected: crate::schema::SCHEMA_VERSION,
    })?;
    analyzer::register(&index);
    Ok((index, fields))
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

pub fn load_detection(searcher: &Searcher, fields: &Fields, addr: DocAddress) -> Result<Detection> {
    let bytes = source(searcher, fields, addr)?;
    serde_json::from_slice(&bytes).map_err(|e| IndexError::Corrupt {
        id: format!("{addr:?}"),
        message: e.to_string(),
    })
}

/// The incident with this id, if indexed.
pub fn incident_by_id(
    searcher: &Searcher,
    fields: &Fields,
    id: &Id,
) -> Result<Option<IncidentRecord>> {
    match find(searcher, &fields.id_term(id))? {
        Some(addr) => Ok(Some(load_incident(searcher, fields, addr)?)),
        None => Ok(None),
    }
}
