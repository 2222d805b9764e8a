//! The counts behind a report: incidents per (month, category, agency, security level), read
//! from fast fields in one pass, and — for an issued snapshot — the incidents themselves (id,
//! month, category, agency, level).

use std::collections::HashMap;
use std::ops::Bound;

use serde::{Deserialize, Serialize};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery};
use tantivy::{DocId, Score, SegmentReader, Term};

use crate::error::{IndexError, Result};
use crate::search::{scope_clause, term_query, IncidentIndex, Scope};

/// One cell: a month (yyyymm), a category, an agency and a security level (0: no information
/// system attributed).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cell {
    pub month: u32,
    pub category: String,
    pub agency: String,
    pub level: u8,
}

/// One incident as a snapshot keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountedIncident {
    /// 32-hex incident id.
    pub id: String,
    /// yyyymm of its first detection.
    pub month: u32,
    pub category: String,
    pub agency: String,
    /// 1–5, or 0 when no information system is attributed.
    pub level: u8,
}

impl IncidentIndex {
    /// Incidents per cell for the months `first..=last` (yyyymm) in `scope`.
    pub fn cells(&self, scope: &Scope, first: u32, last: u32) -> Result<HashMap<Cell, u64>> {
        let (cells, _) = self.collect_cells(scope, first, last, false)?;
        Ok(cells)
    }

    /// The incidents counted in the months `first..=last`, sorted by id.
    pub fn counted_incidents(
        &self,
        scope: &Scope,
        first: u32,
        last: u32,
    ) -> Result<Vec<CountedIncident>> {
        let (_, mut rows) = self.collect_cells(scope, first, last, true)?;
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(rows)
    }

    fn collect_cells(
        &self,
        scope: &Scope,
        first: u32,
        last: u32,
        rows: bool,
    ) -> Result<(HashMap<Cell, u64>, Vec<CountedIncident>)> {
        let f = &self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![
            // Counted incidents only (not closed as false positive or duplicate).
            (Occur::Must, term_query(Term::from_field_u64(f.counted, 1))),
            (
                Occur::Must,
                Box::new(RangeQuery::new(
                    Bound::Included(Term::from_field_u64(f.month, u64::from(first))),
                    Bound::Included(Term::from_field_u64(f.month, u64::from(last))),
                )),
            ),
        ];
        clauses.extend(scope_clause(f, scope));
        let query = BooleanQuery::new(clauses);
        self.searcher()
            .search(&query, &CellCollector { rows })
            .map_err(IndexError::tantivy("report counts"))
    }
}

struct CellCollector {
    rows: bool,
}

struct CellSegment {
    month: Column<u64>,
    level: Option<Column<u64>>,
    category: Option<StrColumn>,
    agency: Option<StrColumn>,
    id: Option<StrColumn>,
    counts: HashMap<(u32, u64, u64, u8), u64>,
    rows: Option<Vec<SegmentRow>>,
}

/// One incident of a segment: (month, category ordinal, agency ordinal, level, id).
type SegmentRow = (u32, u64, u64, u8, String);

type CellFruit = (HashMap<Cell, u64>, Vec<CountedIncident>);

impl Collector for CellCollector {
    type Fruit = CellFruit;
    type Child = CellSegment;

    fn for_segment(&self, _ord: u32, seg: &SegmentReader) -> tantivy::Result<CellSegment> {
        let ff = seg.fast_fields();
        Ok(CellSegment {
            month: ff.u64("month")?,
            level: ff.u64("system_level").ok(),
            category: ff.str("category")?,
            agency: ff.str("agency")?,
            id: if self.rows { ff.str("id")? } else { None },
            counts: HashMap::new(),
            rows: self.rows.then(Vec::new),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<CellFruit>) -> tantivy::Result<CellFruit> {
        let mut out: CellFruit = Default::default();
        for (cells, rows) in fruits {
            for (k, v) in cells {
                *out.0.entry(k).or_insert(0) += v;
            }
            out.1.extend(rows);
        }
        Ok(out)
    }
}

fn first_ord(c: &Option<StrColumn>, doc: DocId) -> u64 {
    c.as_ref()
        .and_then(|c| c.term_ords(doc).next())
        .unwrap_or(u64::MAX)
}

fn ord_str(c: &Option<StrColumn>, ord: u64) -> String {
    let mut s = String::new();
    if let Some(c) = c {
        if ord != u64::MAX && c.ord_to_str(ord, &mut s).unwrap_or(false) {
            return s;
        }
    }
    String::new()
}

impl SegmentCollector for CellSegment {
    type Fruit = CellFruit;

    fn collect(&mut self, doc: DocId, _score: Score) {
        let Some(month) = self.month.first(doc) else {
            return;
        };
        let level = self
            .level
            .as_ref()
            .and_then(|c| c.first(doc))
            .filter(|l| (1..=5).contains(l))
            .unwrap_or(0) as u8;
        let key = (
            month as u32,
            first_ord(&self.category, doc),
            first_ord(&self.agency, doc),
            level,
        );
        *self.counts.entry(key).or_insert(0) += 1;
        if let Some(rows) = &mut self.rows {
            let id = ord_str(&self.id, first_ord(&self.id, doc));
            rows.push((key.0, key.1, key.2, key.3, id));
        }
    }

    fn harvest(self) -> CellFruit {
        let cells = self
            .counts
            .into_iter()
            .map(|((month, c, a, level), n)| {
                (
                    Cell {
                        month,
                        category: ord_str(&self.category, c),
                        agency: ord_str(&self.agency, a),
                        level,
                    },
                    n,
                )
            })
            .collect();
        let rows = self
            .rows
            .unwrap_or_default()
            .into_iter()
            .map(|(month, c, a, level, id)| CountedIncident {
                id,
                month,
                category: ord_str(&self.category, c),
                agency: ord_str(&self.agency, a),
                level,
            })
            .collect();
        (cells, rows)
    }
}
