//! Search: the library API shared by `canhgac search` and the HTTP API.
//!
//! A [`SearchRequest`] is tantivy's query language (`field:value`, `"phrases"`, `AND`/`OR`/`NOT`,
//! `+`/`-`, ranges `count:[5 TO *]`) over the default fields `title` and `text` (folded:
//! diacritics optional), plus typed filters, always ANDed with the request's [`Scope`]: a
//! `Scope::Agency` request cannot see another agency's documents, whatever its query says —
//! in hits, totals, facets, statistics and detail alike.
//!
//! Sorting is by time (newest or oldest first, ties broken by id) or by relevance. The cursor
//! is search-after: it encodes the last hit's sort key, and the next page takes the documents
//! strictly after it. Time order is stable while documents are added: a page never repeats a
//! document nor skips one that existed when the first page was read (new documents appear on
//! the page where their key falls). For incidents the time is `first_seen`, which new
//! detections do not move (except an out-of-order earlier one). Relevance cursors are
//! best-effort: scores change as the index grows.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::Bound;

use canhgac_core::detection::{Detection, Status};
use canhgac_core::lifecycle::CloseReason;
use canhgac_core::{Category, Id, Priority};
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::Serialize;
use tantivy::collector::{Collector, Count, SegmentCollector, TopDocs};
use tantivy::columnar::StrColumn;
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, QueryParser, RangeQuery, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{
    DocAddress, DocId, Index, IndexReader, ReloadPolicy, Score, Searcher, SegmentReader, Term,
};

use crate::campaign::CampaignPeer;
use crate::error::{IndexError, Result};
use crate::incident::IncidentRecord;
use crate::schema::{self, Fields, KIND_DETECTION, KIND_INCIDENT};
use crate::store;

/// Whose data a request may see. Built into every request: there is no unscoped search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Scope {
    /// Every agency (the national centre).
    All,
    /// One agency's documents only.
    Agency(String),
}

impl Scope {
    pub fn allows(&self, agency: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Agency(a) => a.eq_ignore_ascii_case(agency),
        }
    }
}

/// Which documents to search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    #[default]
    Incidents,
    Detections,
}

/// Result order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    /// Most recent first (incidents: `first_seen`; detections: event time), then by id.
    #[default]
    Newest,
    Oldest,
    /// BM25 score, then by id.
    Relevance,
}

/// A search. Build it with [`SearchRequest::new`]; the scope is not optional.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub scope: Scope,
    /// tantivy query language; empty or `*` matches everything.
    pub query: String,
    pub kind: Kind,
    /// Inclusive lower bound on the time (incidents: first seen).
    pub from: Option<DateTime<Utc>>,
    /// Exclusive upper bound.
    pub to: Option<DateTime<Utc>>,
    pub agencies: Vec<String>,
    pub categories: Vec<Category>,
    pub priorities: Vec<Priority>,
    pub statuses: Vec<Status>,
    /// Incidents assigned to any of these people (exact names).
    pub assignees: Vec<String>,
    /// Incidents closed for any of these reasons.
    pub close_reasons: Vec<CloseReason>,
    /// Documents with an IP in any of these networks.
    pub cidrs: Vec<IpNet>,
    pub sort: Sort,
    pub limit: usize,
    /// From a previous response's `next_cursor`.
    pub cursor: Option<String>,
    /// Count category, agency, priority and rule over the whole result set.
    pub facets: bool,
}

impl SearchRequest {
    pub fn new(scope: Scope, query: impl Into<String>) -> Self {
        SearchRequest {
            scope,
            query: query.into(),
            kind: Kind::Incidents,
            from: None,
            to: None,
            agencies: Vec::new(),
            categories: Vec::new(),
            priorities: Vec::new(),
            statuses: Vec::new(),
            assignees: Vec::new(),
            close_reasons: Vec::new(),
            cidrs: Vec::new(),
            sort: Sort::Newest,
            limit: 20,
            cursor: None,
            facets: false,
        }
    }
}

/// A hit's record.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Record {
    Incident(Box<IncidentRecord>),
    Detection(Box<Detection>),
}

#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
    #[serde(flatten)]
    pub record: Record,
}

/// Counts per value, most frequent first (ties by value).
pub type FacetCounts = Vec<(String, u64)>;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Facets {
    pub category: FacetCounts,
    pub agency: FacetCounts,
    pub priority: FacetCounts,
    pub rule: FacetCounts,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchResponse {
    /// Documents matching the request (all pages).
    pub total: u64,
    pub hits: Vec<Hit>,
    /// Pass it back for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facets: Option<Facets>,
}

/// An incident with its detections (each with its whole event).
#[derive(Debug, Clone, Serialize)]
pub struct IncidentDetail {
    pub incident: IncidentRecord,
    /// The national view only: incidents of other agencies sharing an attack entity with this
    /// one (the same campaign), at most 100, oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub campaign: Vec<CampaignPeer>,
    /// Oldest first, at most the `limit` asked for.
    pub detections: Vec<Detection>,
    /// All of its detections in the index.
    pub detections_total: u64,
}

/// The read side of the index: search, detail and statistics. Cheap to clone; it follows the
/// writer's commits.
#[derive(Clone)]
pub struct IncidentIndex {
    pub(crate) index: Index,
    pub(crate) fields: Fields,
    reader: IndexReader,
}

impl IncidentIndex {
    /// Opens an index directory for reading (another process may be writing it).
    pub fn open(dir: &std::path::Path) -> Result<Self> {
        let (index, fields) = store::open_index(dir, false)?;
        Self::from_index(index, fields)
    }

    /// Reads the index of an in-process [`crate::Indexer`].
    pub fn of(indexer: &crate::Indexer) -> Result<Self> {
        Self::from_index(indexer.index().clone(), indexer.fields().clone())
    }

    fn from_index(mut index: Index, fields: Fields) -> Result<Self> {
        // Segments are searched in parallel (one thread per core): statistics and searches
        // over a large index take a fraction of the time.
        index
            .set_default_multithread_executor()
            .map_err(IndexError::tantivy("start search threads"))?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::OnCommitWithDelay)
            .try_into()
            .map_err(IndexError::tantivy("open index reader"))?;
        Ok(IncidentIndex {
            index,
            fields,
            reader,
        })
    }

    /// Sees the latest commit now (otherwise it follows within a moment).
    pub fn reload(&self) -> Result<()> {
        self.reader
            .reload()
            .map_err(IndexError::tantivy("reload reader"))
    }

    pub fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }

    pub fn fields(&self) -> &Fields {
        &self.fields
    }

    /// Parses a user query (for validation without searching).
    pub fn parse_query(&self, query: &str) -> Result<Box<dyn Query>> {
        let q = query.trim();
        if q.is_empty() || q == "*" {
            return Ok(Box::new(AllQuery));
        }
        // Words match in `text`, which begins with the titles, so it alone decides what
        // matches. Searching `title` and `text` as alternatives made each phrase a union of
        // two phrase scorers, which tantivy advances window by window instead of seeking:
        // 250 ms for a phrase over 5 M incidents instead of 20 (BENCHMARKS.md, issue 5).
        let mut parser = QueryParser::for_index(&self.index, vec![self.fields.text]);
        parser.set_conjunction_by_default();
        let matched = match parser.parse_query(q) {
            Ok(parsed) => parsed,
            // A purely negative query (`NOT agency:x`) means "everything except": the request's
            // other clauses are positive anyway.
            Err(tantivy::query::QueryParserError::AllButQueryForbidden) => parser
                .parse_query(&format!("* AND ({q})"))
                .map_err(|e| query_error(query, q, &e))?,
            Err(e) => return Err(query_error(query, q, &e)),
        };
        // Title matches rank first: an optional clause, consulted only for documents that
        // match (it never changes the match set).
        let mut titles = QueryParser::for_index(&self.index, vec![self.fields.title]);
        titles.set_conjunction_by_default();
        Ok(match titles.parse_query(q) {
            Ok(t) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, matched),
                (Occur::Should, t),
            ])),
            Err(_) => matched,
        })
    }

    /// The request's query with its filters and scope.
    pub fn build_query(&self, req: &SearchRequest) -> Result<BooleanQuery> {
        let f = &self.fields;
        let mut must: Vec<(Occur, Box<dyn Query>)> =
            vec![(Occur::Must, self.parse_query(&req.query)?)];
        let kind = match req.kind {
            Kind::Incidents => KIND_INCIDENT,
            Kind::Detections => KIND_DETECTION,
        };
        must.push((Occur::Must, term_query(Term::from_field_text(f.kind, kind))));
        must.extend(scope_clause(f, &req.scope));
        let any = |field: Field, values: Vec<String>| -> Option<Box<dyn Query>> {
            (!values.is_empty()).then(|| {
                Box::new(BooleanQuery::new(
                    values
                        .iter()
                        .map(|v| (Occur::Should, term_query(f.keyword_term(field, v))))
                        .collect(),
                )) as Box<dyn Query>
            })
        };
        // Raw (case-kept) keywords: a person's name, a close reason.
        let exact = |field: Field, values: Vec<String>| -> Option<Box<dyn Query>> {
            (!values.is_empty()).then(|| {
                Box::new(BooleanQuery::new(
                    values
                        .iter()
                        .map(|v| (Occur::Should, term_query(Term::from_field_text(field, v))))
                        .collect(),
                )) as Box<dyn Query>
            })
        };
        let filters = [
            any(f.agency, req.agencies.clone()),
            any(
                f.category,
                req.categories
                    .iter()
                    .map(|c| c.as_str().to_string())
                    .collect(),
            ),
            any(
                f.priority,
                req.priorities
                    .iter()
                    .map(|p| p.as_str().to_string())
                    .collect(),
            ),
            any(
                f.status,
                req.statuses
                    .iter()
                    .map(|s| s.as_str().to_string())
                    .collect(),
            ),
            exact(f.assignee, req.assignees.clone()),
            exact(
                f.close_reason,
                req.close_reasons
                    .iter()
                    .map(|c| c.as_str().to_string())
                    .collect(),
            ),
        ];
        must.extend(filters.into_iter().flatten().map(|q| (Occur::Must, q)));
        if !req.cidrs.is_empty() {
            let nets = req
                .cidrs
                .iter()
                .map(|n| (Occur::Should, cidr_query(f.ip, n)))
                .collect();
            must.push((Occur::Must, Box::new(BooleanQuery::new(nets))));
        }
        if req.from.is_some() || req.to.is_some() {
            let lower = req.from.map_or(Bound::Unbounded, |t| {
                Bound::Included(Term::from_field_date_for_search(f.time, schema::date(t)))
            });
            let upper = req.to.map_or(Bound::Unbounded, |t| {
                Bound::Excluded(Term::from_field_date_for_search(f.time, schema::date(t)))
            });
            must.push((Occur::Must, Box::new(RangeQuery::new(lower, upper))));
        }
        Ok(BooleanQuery::new(must))
    }

    /// Runs a search.
    pub fn search(&self, req: &SearchRequest) -> Result<SearchResponse> {
        let query = self.build_query(req)?;
        let searcher = self.searcher();
        let limit = req.limit.clamp(1, 10_000);
        let cursor = req
            .cursor
            .as_deref()
            .map(|c| Cursor::decode(c, req.sort))
            .transpose()?;
        // One pass over the matches counts them and keeps the page (a tuple collector).
        let (total, addrs, last): (u64, Page, Option<Cursor>) = match req.sort {
            Sort::Newest | Sort::Oldest => {
                let newest = req.sort == Sort::Newest;
                let after = cursor.map(|c| c.key);
                let top = TopDocs::with_limit(limit).order_by(move |seg: &SegmentReader| {
                    let keys = SortKeys::new(seg);
                    move |doc: DocId| {
                        let k = keys.key(doc);
                        let visible = match after {
                            None => true,
                            Some(a) if newest => k < a,
                            Some(a) => k > a,
                        };
                        match (visible, newest) {
                            (false, _) => 0u128,
                            (true, true) => k,
                            (true, false) => !k,
                        }
                    }
                });
                let (total, docs) = searcher
                    .search(&query, &(Count, top))
                    .map_err(IndexError::tantivy("search"))?;
                let docs: Vec<(u128, DocAddress)> =
                    docs.into_iter().filter(|(k, _)| *k != 0).collect();
                let last = docs.last().map(|(k, _)| Cursor {
                    sort: req.sort,
                    key: if newest { *k } else { !*k },
                    score: 0.0,
                });
                (
                    total as u64,
                    docs.into_iter().map(|(_, a)| (a, None)).collect(),
                    last,
                )
            }
            Sort::Relevance => {
                let after = cursor.map(|c| (c.score, c.key as u64));
                let top = TopDocs::with_limit(limit).tweak_score(move |seg: &SegmentReader| {
                    let keys = SortKeys::new(seg);
                    move |doc: DocId, score: Score| {
                        let k = (score, keys.idkey(doc));
                        match after {
                            Some(a) if k >= a => (f32::NEG_INFINITY, 0u64),
                            _ => k,
                        }
                    }
                });
                let (total, docs) = searcher
                    .search(&query, &(Count, top))
                    .map_err(IndexError::tantivy("search"))?;
                let docs: Vec<((f32, u64), DocAddress)> = docs
                    .into_iter()
                    .filter(|((s, _), _)| *s != f32::NEG_INFINITY)
                    .collect();
                let last = docs.last().map(|((s, k), _)| Cursor {
                    sort: Sort::Relevance,
                    key: u128::from(*k),
                    score: *s,
                });
                (
                    total as u64,
                    docs.into_iter().map(|((s, _), a)| (a, Some(s))).collect(),
                    last,
                )
            }
        };
        let mut hits = Vec::with_capacity(addrs.len());
        for (addr, score) in &addrs {
            let record = match req.kind {
                Kind::Incidents => Record::Incident(Box::new(store::load_incident(
                    &searcher,
                    &self.fields,
                    *addr,
                )?)),
                Kind::Detections => Record::Detection(Box::new(store::load_detection(
                    &searcher,
                    &self.fields,
                    *addr,
                )?)),
            };
            hits.push(Hit {
                score: *score,
                record,
            });
        }
        let next_cursor = if addrs.len() == limit {
            last.map(|c| c.encode())
        } else {
            None
        };
        let facets = if req.facets {
            Some(self.facets(&searcher, &query)?)
        } else {
            None
        };
        Ok(SearchResponse {
            total,
            hits,
            next_cursor,
            facets,
        })
    }

    fn facets(&self, searcher: &Searcher, query: &dyn Query) -> Result<Facets> {
        let collector = FacetCollector {
            fields: vec!["category", "agency", "priority", "rule"],
        };
        let mut counts = searcher
            .search(query, &collector)
            .map_err(IndexError::tantivy("facets"))?;
        let mut take = |i: usize| {
            let mut v: Vec<(String, u64)> = std::mem::take(&mut counts[i]).into_iter().collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v
        };
        Ok(Facets {
            category: take(0),
            agency: take(1),
            priority: take(2),
            rule: take(3),
        })
    }

    /// An incident with its detections (oldest first, at most `limit`) and their events.
    /// [`IndexError::NotFound`] when it does not exist or lies outside `scope`.
    pub fn incident(&self, scope: &Scope, id: &Id, limit: usize) -> Result<IncidentDetail> {
        let searcher = self.searcher();
        let not_found = || IndexError::NotFound { id: id.to_hex() };
        let incident = store::incident_by_id(&searcher, &self.fields, id)
            .map_err(|_| not_found())?
            .ok_or_else(not_found)?;
        let id = &incident.incident.id;
        if !scope.allows(&incident.incident.agency) {
            return Err(not_found());
        }
        let mut req = SearchRequest::new(scope.clone(), "");
        req.kind = Kind::Detections;
        req.sort = Sort::Oldest;
        let mut q = self.build_query(&req)?;
        q = BooleanQuery::new(vec![
            (Occur::Must, Box::new(q)),
            (Occur::Must, term_query(self.fields.incident_term(id))),
        ]);
        let detections_total = searcher
            .search(&q, &Count)
            .map_err(IndexError::tantivy("count"))? as u64;
        let top = TopDocs::with_limit(limit.max(1)).order_by(move |seg: &SegmentReader| {
            let keys = SortKeys::new(seg);
            move |doc: DocId| !keys.key(doc)
        });
        let docs = searcher
            .search(&q, &top)
            .map_err(IndexError::tantivy("search"))?;
        let detections = docs
            .into_iter()
            .map(|(_, a)| store::load_detection(&searcher, &self.fields, a))
            .collect::<Result<Vec<_>>>()?;
        let campaign = match scope {
            Scope::All => self.campaign_of(&searcher, &incident)?,
            Scope::Agency(_) => Vec::new(),
        };
        Ok(IncidentDetail {
            incident,
            campaign,
            detections,
            detections_total,
        })
    }
}

pub(crate) fn term_query(term: Term) -> Box<dyn Query> {
    Box::new(TermQuery::new(term, IndexRecordOption::Basic))
}

/// The scope as a query: everything, or one agency's documents.
/// The clause that limits a query to `scope`: none for [`Scope::All`] (intersecting with
/// every document costs a step per match and selects nothing).
pub(crate) fn scope_clause(f: &Fields, scope: &Scope) -> Option<(Occur, Box<dyn Query>)> {
    match scope {
        Scope::All => None,
        Scope::Agency(a) => Some((Occur::Must, term_query(f.keyword_term(f.agency, a)))),
    }
}

/// Documents with an address in `net` (IPv4 as mapped IPv6, as tantivy stores it).
pub(crate) fn cidr_query(field: Field, net: &IpNet) -> Box<dyn Query> {
    let lo = schema::to_v6(net.network());
    let hi = schema::to_v6(net.broadcast());
    Box::new(RangeQuery::new(
        Bound::Included(Term::from_field_ip_addr(field, lo)),
        Bound::Included(Term::from_field_ip_addr(field, hi)),
    ))
}

/// Parses `a.b.c.d/nn`, an IPv6 network, or a bare address (a /32 or /128).
pub fn parse_cidr(s: &str) -> Result<IpNet> {
    let s = s.trim();
    s.parse::<IpNet>()
        .map(|n| n.trunc())
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| {
            IndexError::invalid(
                "CIDR",
                format!("{s:?} is neither a network (10.0.0.0/8) nor an address"),
            )
        })
}

/// The sort key of a document: time (monotonic u64) in the high half, the id key in the low.
struct SortKeys {
    time: std::sync::Arc<dyn tantivy::columnar::ColumnValues<tantivy::DateTime>>,
    idkey: std::sync::Arc<dyn tantivy::columnar::ColumnValues<u64>>,
}

impl SortKeys {
    fn new(seg: &SegmentReader) -> SortKeys {
        let ff = seg.fast_fields();
        let time = ff
            .date("time")
            .map(|c| c.first_or_default_col(tantivy::DateTime::from_timestamp_micros(0)))
            .unwrap_or_else(|_| {
                tantivy::columnar::Column::build_empty_column(seg.max_doc())
                    .first_or_default_col(tantivy::DateTime::from_timestamp_micros(0))
            });
        let idkey = ff
            .u64("idkey")
            .map(|c| c.first_or_default_col(0))
            .unwrap_or_else(|_| {
                tantivy::columnar::Column::build_empty_column(seg.max_doc()).first_or_default_col(0)
            });
        SortKeys { time, idkey }
    }

    fn idkey(&self, doc: DocId) -> u64 {
        self.idkey.get_val(doc)
    }

    fn key(&self, doc: DocId) -> u128 {
        let t = self.time.get_val(doc).into_timestamp_micros();
        let t = (t as u64) ^ (1 << 63);
        (u128::from(t) << 64) | u128::from(self.idkey(doc))
    }
}

/// A search-after cursor: `n<hex key>`, `o<hex key>` or `r<score bits hex>.<hex id key>`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cursor {
    sort: Sort,
    key: u128,
    score: f32,
}

impl Cursor {
    fn encode(&self) -> String {
        match self.sort {
            Sort::Newest => format!("n{:032x}", self.key),
            Sort::Oldest => format!("o{:032x}", self.key),
            Sort::Relevance => format!("r{:08x}.{:016x}", self.score.to_bits(), self.key as u64),
        }
    }

    fn decode(s: &str, sort: Sort) -> Result<Cursor> {
        let bad = || {
            IndexError::invalid("cursor", format!("{s:?} is not a cursor of this search (pass back next_cursor as given, with the same sort)"))
        };
        let (tag, rest) = s.split_at_checked(1).ok_or_else(bad)?;
        match (tag, sort) {
            ("n", Sort::Newest) | ("o", Sort::Oldest) if rest.len() == 32 => Ok(Cursor {
                sort,
                key: u128::from_str_radix(rest, 16).map_err(|_| bad())?,
                score: 0.0,
            }),
            ("r", Sort::Relevance) => {
                let (score, key) = rest.split_once('.').ok_or_else(bad)?;
                Ok(Cursor {
                    sort,
                    key: u128::from(u64::from_str_radix(key, 16).map_err(|_| bad())?),
                    score: f32::from_bits(u32::from_str_radix(score, 16).map_err(|_| bad())?),
                })
            }
            _ => Err(bad()),
        }
    }
}

/// A page of hits: addresses with their scores (relevance order only).
type Page = Vec<(DocAddress, Option<f32>)>;

/// Counts the values of keyword fast fields over the matching documents.
struct FacetCollector {
    fields: Vec<&'static str>,
}

struct FacetSegment {
    columns: Vec<Option<StrColumn>>,
    counts: Vec<Vec<u64>>,
}

impl Collector for FacetCollector {
    type Fruit = Vec<BTreeMap<String, u64>>;
    type Child = FacetSegment;

    fn for_segment(&self, _ord: u32, seg: &SegmentReader) -> tantivy::Result<FacetSegment> {
        let mut columns = Vec::new();
        let mut counts = Vec::new();
        for f in &self.fields {
            let c = seg.fast_fields().str(f)?;
            counts.push(vec![0; c.as_ref().map_or(0, |c| c.num_terms())]);
            columns.push(c);
        }
        Ok(FacetSegment { columns, counts })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(
        &self,
        fruits: Vec<Vec<BTreeMap<String, u64>>>,
    ) -> tantivy::Result<Self::Fruit> {
        let mut out = vec![BTreeMap::new(); self.fields.len()];
        for fruit in fruits {
            for (i, m) in fruit.into_iter().enumerate() {
                for (k, v) in m {
                    *out[i].entry(k).or_insert(0) += v;
                }
            }
        }
        Ok(out)
    }
}

impl SegmentCollector for FacetSegment {
    type Fruit = Vec<BTreeMap<String, u64>>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        for (c, counts) in self.columns.iter().zip(self.counts.iter_mut()) {
            if let Some(c) = c {
                for ord in c.term_ords(doc) {
                    if let Some(n) = counts.get_mut(ord as usize) {
                        *n += 1;
                    }
                }
            }
        }
    }

    fn harvest(self) -> Self::Fruit {
        let mut out = Vec::new();
        for (c, counts) in self.columns.iter().zip(self.counts) {
            let mut m = BTreeMap::new();
            if let Some(c) = c {
                let mut s = String::new();
                for (ord, n) in counts.into_iter().enumerate() {
                    if n > 0 && c.ord_to_str(ord as u64, &mut s).unwrap_or(false) {
                        m.insert(s.clone(), n);
                    }
                }
            }
            out.push(m);
        }
        out
    }
}

/// Turns a query parser error into one with a position.
fn query_error(original: &str, trimmed: &str, e: &tantivy::query::QueryParserError) -> IndexError {
    use tantivy::query::QueryParserError as E;
    let offset = original.len() - original.trim_start().len();
    let char_pos = |byte: usize| {
        original[..(offset + byte).min(original.len())]
            .chars()
            .count()
    };
    let (pos, message) = match e {
        E::SyntaxError(_) => {
            let (_, errors) = tantivy::query_grammar::parse_query_lenient(trimmed);
            match errors.first() {
                Some(le) => (le.pos, le.message.clone()),
                None => (trimmed.len(), "syntax error".to_string()),
            }
        }
        E::FieldDoesNotExist(name) => (
            trimmed.find(&format!("{name}:")).unwrap_or(0),
            format!(
                "unknown field {name:?}; fields: title, text, title_exact, text_exact, {}, ip, time, last_seen, month, count, system_level",
                schema::KEYWORD_FIELDS.join(", ")
            ),
        ),
        other => {
            let at = match other {
                E::ExpectedInt(_) | E::ExpectedFloat(_) | E::ExpectedBool(_) | E::DateFormatError(_) | E::IpFormatError(_) => {
                    trimmed.find(':').map_or(0, |i| i + 1)
                }
                _ => 0,
            };
            (at, other.to_string())
        }
    };
    IndexError::Query {
        query: original.to_string(),
        position: char_pos(pos),
        message,
    }
}
