//! Monthly statistics.
//!
//! **Counting rule.** An incident counts once, in the calendar month (Asia/Ho_Chi_Minh, UTC+7)
//! of its *first* detection (`first_seen`), in its category and its agency — however many
//! detections it has and however long it lasts. The month is computed when the incident is
//! indexed (tantivy has no calendar histogram) and moves only if an earlier detection arrives
//! later. A month with no incident counts 0. The three national classes are phishing, deface
//! and malware. Changes are in percent, rounded half away from zero to two decimals
//! ((938 − 1035) / 1035 = −9.37%); a change from 0 is undefined ("n/a"), never infinite.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use canhgac_core::Category;
use serde::Serialize;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery};
use tantivy::{DocId, Score, SegmentReader, Term};

use crate::error::{IndexError, Result};
use crate::schema::KIND_INCIDENT;
use crate::search::{scope_clause, term_query, IncidentIndex, Scope};
use crate::store;

/// What to count.
#[derive(Debug, Clone)]
pub struct StatsRequest {
    pub scope: Scope,
    /// The last month shown (yyyymm).
    pub month: u32,
    /// How many months, ending with `month`.
    pub months: u32,
    /// Length of the top-rules and top-systems lists.
    pub top: usize,
}

/// A change in hundredths of a percent (−937 is −9.37%); `None` when the base is 0.
pub type Change = Option<i64>;

/// The change from `prev` to `cur` (see the module docs for rounding and the zero base).
pub fn change(prev: u64, cur: u64) -> Change {
    if prev == 0 {
        return None;
    }
    let num = (i128::from(cur) - i128::from(prev)) * 10_000;
    let den = i128::from(prev);
    let (q, r) = (num / den, num % den);
    let q = if 2 * r.abs() >= den {
        q + num.signum()
    } else {
        q
    };
    Some(q as i64)
}

/// `-9.37%`, `+12.50%`, `0.00%` or `n/a`.
pub fn format_change(c: Change) -> String {
    match c {
        None => "n/a".into(),
        Some(v) => {
            let sign = match v.signum() {
                -1 => "-",
                1 => "+",
                _ => "",
            };
            format!("{sign}{}.{:02}%", v.abs() / 100, v.abs() % 100)
        }
    }
}

/// Serializes a [`Change`] as a percentage (−9.37) or null.
pub fn serialize_change<S: serde::Serializer>(
    c: &Change,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match c {
        None => s.serialize_none(),
        Some(v) => s.serialize_f64(*v as f64 / 100.0),
    }
}

/// yyyymm plus `k` months (k may be negative).
pub fn add_months(yyyymm: u32, k: i64) -> u32 {
    let i = i64::from(yyyymm / 100) * 12 + i64::from(yyyymm % 100) - 1 + k;
    let i = i.max(0);
    ((i / 12) * 100 + i % 12 + 1) as u32
}

/// `2022-04`.
pub fn month_label(yyyymm: u32) -> String {
    format!("{:04}-{:02}", yyyymm / 100, yyyymm % 100)
}

/// Parses `YYYY-MM` (or `YYYYMM`) into yyyymm.
pub fn parse_month(s: &str) -> Result<u32> {
    let bad = || IndexError::invalid("month", format!("{s:?}: expected YYYY-MM"));
    let digits: String = s.trim().chars().filter(|c| *c != '-').collect();
    if digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let v: u32 = digits.parse().map_err(|_| bad())?;
    if !(1..=12).contains(&(v % 100)) || v / 100 < 1970 {
        return Err(bad());
    }
    Ok(v)
}

/// A ranked entry of a top list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopEntry {
    pub id: String,
    pub name: String,
    pub incidents: u64,
}

/// One month's counts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthStats {
    /// `YYYY-MM`.
    pub month: String,
    pub incidents: u64,
    /// Phishing + deface + malware: the attacks of the national classes, the reports' headline.
    pub national: u64,
    /// The incidents of the other categories (`incidents` − `national`), outside the headline.
    pub other: u64,
    /// Every category, in the national order, zeros included.
    pub by_category: BTreeMap<String, u64>,
    /// Every agency with incidents in the report period, zeros included.
    pub by_agency: BTreeMap<String, u64>,
    /// The headline (`national`) of the month before, and the change from it.
    pub previous_month: u64,
    #[serde(serialize_with = "serialize_change")]
    pub change_mom_pct: Change,
    /// The headline (`national`) twelve months before, and the change from it.
    pub year_ago: u64,
    #[serde(serialize_with = "serialize_change")]
    pub change_yoy_pct: Change,
}

/// The report: months oldest first, and the period's top rules and systems.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthlyReport {
    /// `all` or the agency the report is scoped to.
    pub scope: String,
    pub months: Vec<MonthStats>,
    /// Over the whole period.
    pub top_rules: Vec<TopEntry>,
    pub top_systems: Vec<TopEntry>,
    pub counting_rule: &'static str,
}

pub const COUNTING_RULE: &str =
    "an incident counts once, in the calendar month (Asia/Ho_Chi_Minh) of its first detection";

#[derive(Default, Clone)]
struct MonthAgg {
    total: u64,
    category: HashMap<String, u64>,
    agency: HashMap<String, u64>,
    rule: HashMap<String, u64>,
    system: HashMap<String, u64>,
}

impl IncidentIndex {
    /// Monthly statistics (see the module docs for the counting rule).
    pub fn monthly(&self, req: &StatsRequest) -> Result<MonthlyReport> {
        let months = req.months.clamp(1, 240);
        let last = req.month;
        let first = add_months(last, -(i64::from(months) - 1));
        // One year before the first shown month, for year-over-year changes.
        let lo = add_months(first, -12);
        let f = &self.fields;
        let searcher = self.searcher();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(
            Occur::Must,
            // Counted incidents only: `counted` is 1 on an incident document that was not closed
            // as false positive or duplicate (and absent on every other document).
            term_query(Term::from_field_u64(f.counted, 1)),
        )];
        clauses.extend(scope_clause(f, &req.scope));
        // The month range only helps when the index holds months outside it: the collector
        // skips those anyway, and a range over (nearly) the whole index costs a scan of the
        // month column on top of the postings.
        let (lo_v, last_v) = (u64::from(lo), u64::from(last));
        let inside = searcher.segment_readers().iter().all(|seg| {
            seg.fast_fields()
                .u64("month")
                .map(|c| c.min_value() >= lo_v && c.max_value() <= last_v)
                .unwrap_or(false)
        });
        if !inside {
            clauses.push((
                Occur::Must,
                Box::new(RangeQuery::new(
                    Bound::Included(Term::from_field_u64(f.month, lo_v)),
                    Bound::Included(Term::from_field_u64(f.month, last_v)),
                )),
            ));
        }
        let query = BooleanQuery::new(clauses);
        let span = (month_index(last) - month_index(lo) + 1) as usize;
        let aggs = searcher
            .search(
                &query,
                &MonthCollector {
                    lo,
                    span,
                    // The year before the shown months only needs totals (for the changes).
                    detail_from: (month_index(first) - month_index(lo)) as usize,
                },
            )
            .map_err(IndexError::tantivy("monthly statistics"))?;
        let get = |m: u32| -> &MonthAgg { &aggs[(month_index(m) - month_index(lo)) as usize] };
        let shown: Vec<u32> = (0..months)
            .map(|k| add_months(first, i64::from(k)))
            .collect();
        let mut agencies: Vec<String> = shown
            .iter()
            .flat_map(|m| get(*m).agency.keys().cloned())
            .collect();
        agencies.sort();
        agencies.dedup();
        let mut out = Vec::new();
        let mut rules: HashMap<String, u64> = HashMap::new();
        let mut systems: HashMap<String, u64> = HashMap::new();
        for &m in &shown {
            let a = get(m);
            let by_category: BTreeMap<String, u64> = Category::ALL
                .iter()
                .map(|c| {
                    (
                        c.as_str().to_string(),
                        a.category.get(c.as_str()).copied().unwrap_or(0),
                    )
                })
                .collect();
            let national = Category::NATIONAL
                .iter()
                .map(|c| by_category[c.as_str()])
                .sum();
            let by_agency = agencies
                .iter()
                .map(|g| (g.clone(), a.agency.get(g).copied().unwrap_or(0)))
                .collect();
            // Changes are of the headline: the attacks of the national classes.
            let national_of = |agg: &MonthAgg| -> u64 {
                Category::NATIONAL
                    .iter()
                    .map(|c| agg.category.get(c.as_str()).copied().unwrap_or(0))
                    .sum()
            };
            let prev = national_of(get(add_months(m, -1)));
            let year_ago = national_of(get(add_months(m, -12)));
            for (k, v) in &a.rule {
                *rules.entry(k.clone()).or_insert(0) += v;
            }
            for (k, v) in &a.system {
                *systems.entry(k.clone()).or_insert(0) += v;
            }
            out.push(MonthStats {
                month: month_label(m),
                incidents: a.total,
                national,
                other: a.total - national,
                by_category,
                by_agency,
                previous_month: prev,
                change_mom_pct: change(prev, national),
                year_ago,
                change_yoy_pct: change(year_ago, national),
            });
        }
        let top_rules = self.top(&searcher, &req.scope, rules, req.top, TopKind::Rule)?;
        let top_systems = self.top(&searcher, &req.scope, systems, req.top, TopKind::System)?;
        Ok(MonthlyReport {
            scope: match &req.scope {
                Scope::All => "all".into(),
                Scope::Agency(a) => a.clone(),
            },
            months: out,
            top_rules,
            top_systems,
            counting_rule: COUNTING_RULE,
        })
    }

    /// Ranks `counts` and names each entry from one incident that carries it.
    fn top(
        &self,
        searcher: &tantivy::Searcher,
        scope: &Scope,
        counts: HashMap<String, u64>,
        n: usize,
        kind: TopKind,
    ) -> Result<Vec<TopEntry>> {
        let mut v: Vec<(String, u64)> = counts.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(n);
        let f = &self.fields;
        let mut out = Vec::new();
        for (id, incidents) in v {
            let field = match kind {
                TopKind::Rule => f.rule,
                TopKind::System => f.system,
            };
            let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![
                (
                    Occur::Must,
                    term_query(Term::from_field_text(f.kind, KIND_INCIDENT)),
                ),
                (Occur::Must, term_query(Term::from_field_text(field, &id))),
            ];
            clauses.extend(scope_clause(f, scope));
            let q = BooleanQuery::new(clauses);
            let name = match first_match(searcher, &q)? {
                Some(addr) => {
                    let r = store::load_incident(searcher, f, addr)?;
                    match kind {
                        TopKind::Rule => r
                            .incident
                            .rule_ids
                            .iter()
                            .position(|x| x.eq_ignore_ascii_case(&id))
                            .and_then(|i| r.incident.rule_titles.get(i).cloned())
                            .unwrap_or_default(),
                        TopKind::System => r
                            .incident
                            .system
                            .map(|s| format!("{} ({})", s.name_vi, r.incident.agency))
                            .unwrap_or_default(),
                    }
                }
                None => String::new(),
            };
            out.push(TopEntry {
                id,
                name,
                incidents,
            });
        }
        Ok(out)
    }
}

#[derive(Clone, Copy)]
enum TopKind {
    Rule,
    System,
}

fn month_index(yyyymm: u32) -> i64 {
    i64::from(yyyymm / 100) * 12 + i64::from(yyyymm % 100) - 1
}

/// Counts incidents per month (an index from `lo`), and per category, agency, rule and system
/// within each month, from fast fields.
/// The first live document matching `q`, without visiting the others (a top-1 search would
/// score every incident of a rule: 10 lookups cost more than the whole statistics).
fn first_match(searcher: &tantivy::Searcher, q: &dyn Query) -> Result<Option<tantivy::DocAddress>> {
    use tantivy::query::EnableScoring;
    use tantivy::{DocSet, TERMINATED};
    let weight = q
        .weight(EnableScoring::disabled_from_searcher(searcher))
        .map_err(IndexError::tantivy("name lookup"))?;
    for (ord, seg) in searcher.segment_readers().iter().enumerate() {
        let mut scorer = weight
            .scorer(seg, 1.0)
            .map_err(IndexError::tantivy("name lookup"))?;
        let mut doc = scorer.doc();
        while doc != TERMINATED {
            if !seg.is_deleted(doc) {
                return Ok(Some(tantivy::DocAddress::new(ord as u32, doc)));
            }
            doc = scorer.advance();
        }
    }
    Ok(None)
}

struct MonthCollector {
    lo: u32,
    span: usize,
    /// Months before this slot are counted, not broken down.
    detail_from: usize,
}

struct MonthSegment {
    lo: i64,
    month: Column<u64>,
    strs: [Option<StrColumn>; 4],
    total: Vec<u64>,
    /// Per string column: counts indexed by month * num_terms + ord.
    counts: [Vec<u64>; 4],
    /// Per string column: at most one value per document in this segment (read a block at a
    /// time with `first_vals`).
    single: [bool; 4],
    /// Block buffers: months, then ordinals.
    months_buf: Vec<Option<u64>>,
    ords_buf: Vec<Option<u64>>,
    slots: Vec<usize>,
    detail_from: usize,
}

const STR_FIELDS: [&str; 4] = ["category", "agency", "rule", "system"];

impl Collector for MonthCollector {
    type Fruit = Vec<MonthAgg>;
    type Child = MonthSegment;

    fn for_segment(&self, _ord: u32, seg: &SegmentReader) -> tantivy::Result<MonthSegment> {
        let ff = seg.fast_fields();
        let strs = [
            ff.str(STR_FIELDS[0])?,
            ff.str(STR_FIELDS[1])?,
            ff.str(STR_FIELDS[2])?,
            ff.str(STR_FIELDS[3])?,
        ];
        let counts = std::array::from_fn(|i| {
            vec![0u64; self.span * strs[i].as_ref().map_or(0, |c| c.num_terms())]
        });
        let single = std::array::from_fn(|i| {
            strs[i].as_ref().is_none_or(|c| {
                !matches!(
                    c.ords().get_cardinality(),
                    tantivy::columnar::Cardinality::Multivalued
                )
            })
        });
        Ok(MonthSegment {
            lo: month_index(self.lo),
            month: ff.u64("month")?,
            strs,
            total: vec![0; self.span],
            counts,
            single,
            months_buf: Vec::new(),
            ords_buf: Vec::new(),
            slots: Vec::new(),
            detail_from: self.detail_from,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<MonthAgg>>) -> tantivy::Result<Vec<MonthAgg>> {
        let mut out = vec![MonthAgg::default(); self.span];
        for fruit in fruits {
            for (o, a) in out.iter_mut().zip(fruit) {
                o.total += a.total;
                for (into, from) in [
                    (&mut o.category, a.category),
                    (&mut o.agency, a.agency),
                    (&mut o.rule, a.rule),
                    (&mut o.system, a.system),
                ] {
                    for (k, v) in from {
                        *into.entry(k).or_insert(0) += v;
                    }
                }
            }
        }
        Ok(out)
    }
}

impl SegmentCollector for MonthSegment {
    type Fruit = Vec<MonthAgg>;

    #[inline]
    fn collect(&mut self, doc: DocId, _score: Score) {
        let Some(m) = self.month.first(doc) else {
            return;
        };
        let mi = (month_index(m as u32) - self.lo) as usize;
        if mi >= self.total.len() {
            return;
        }
        self.total[mi] += 1;
        // The year before the shown months needs only totals and categories (the headline).
        for (k, (c, counts)) in self.strs.iter().zip(self.counts.iter_mut()).enumerate() {
            if k > 0 && mi < self.detail_from {
                break;
            }
            if let Some(c) = c {
                let n = c.num_terms();
                for ord in c.term_ords(doc) {
                    if let Some(slot) = counts.get_mut(mi * n + ord as usize) {
                        *slot += 1;
                    }
                }
            }
        }
    }

    /// A block of matching documents: single-valued columns are read with `first_vals`
    /// (several times faster than a lookup per document), multi-valued ones per document.
    fn collect_block(&mut self, docs: &[DocId]) {
        let n = docs.len();
        self.months_buf.clear();
        self.months_buf.resize(n, None);
        self.month.first_vals(docs, &mut self.months_buf);
        // Month slot per document (usize::MAX: outside the span or no month).
        let span = self.total.len();
        let lo = self.lo;
        let mut slots = std::mem::take(&mut self.slots);
        slots.clear();
        slots.extend(self.months_buf.iter().map(|m| match m {
            Some(m) => {
                let mi = month_index(*m as u32) - lo;
                if (0..span as i64).contains(&mi) {
                    mi as usize
                } else {
                    usize::MAX
                }
            }
            None => usize::MAX,
        }));
        let mut detailed = false;
        for mi in slots.iter() {
            if *mi != usize::MAX {
                self.total[*mi] += 1;
                detailed |= *mi >= self.detail_from;
            }
        }
        // The year before the shown months needs only totals and categories (the headline):
        // category (k = 0) is counted for every month, the rest for the shown ones.
        for k in 0..4 {
            if k == 1 {
                if !detailed {
                    break;
                }
                let from = self.detail_from;
                for mi in slots.iter_mut() {
                    if *mi < from {
                        *mi = usize::MAX;
                    }
                }
            }
            let Some(c) = &self.strs[k] else { continue };
            let terms = c.num_terms();
            let counts = &mut self.counts[k];
            if self.single[k] {
                self.ords_buf.clear();
                self.ords_buf.resize(n, None);
                c.ords().first_vals(docs, &mut self.ords_buf);
                for (&mi, ord) in slots.iter().zip(&self.ords_buf) {
                    if let (true, Some(ord)) = (mi != usize::MAX, ord) {
                        if let Some(slot) = counts.get_mut(mi * terms + *ord as usize) {
                            *slot += 1;
                        }
                    }
                }
            } else {
                for (&mi, &doc) in slots.iter().zip(docs) {
                    if mi == usize::MAX {
                        continue;
                    }
                    for ord in c.term_ords(doc) {
                        if let Some(slot) = counts.get_mut(mi * terms + ord as usize) {
                            *slot += 1;
                        }
                    }
                }
            }
        }
        self.slots = slots;
    }

    fn harvest(self) -> Vec<MonthAgg> {
        let mut out = vec![MonthAgg::default(); self.total.len()];
        for (mi, o) in out.iter_mut().enumerate() {
            o.total = self.total[mi];
        }
        let mut s = String::new();
        for (k, (c, counts)) in self.strs.iter().zip(self.counts).enumerate() {
            let Some(c) = c else { continue };
            let n = c.num_terms();
            if n == 0 {
                continue;
            }
            for (i, v) in counts.into_iter().enumerate() {
                if v == 0 || !c.ord_to_str((i % n) as u64, &mut s).unwrap_or(false) {
                    continue;
                }
                let o = &mut out[i / n];
                let map = match k {
                    0 => &mut o.category,
                    1 => &mut o.agency,
                    2 => &mut o.rule,
                    _ => &mut o.system,
                };
                *map.entry(s.clone()).or_insert(0) += v;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_round_to_two_decimals_and_zero_is_na() {
        assert_eq!(change(1035, 938), Some(-937));
        assert_eq!(format_change(change(1035, 938)), "-9.37%");
        assert_eq!(format_change(change(800, 900)), "+12.50%");
        assert_eq!(format_change(change(3, 3)), "0.00%");
        assert_eq!(format_change(change(0, 5)), "n/a");
        assert_eq!(format_change(change(0, 0)), "n/a");
        assert_eq!(format_change(change(5, 0)), "-100.00%");
        // 1/3 = 33.333…% and 2/3 = 66.666…%: half away from zero.
        assert_eq!(change(3, 4), Some(3333));
        assert_eq!(change(3, 5), Some(6667));
        assert_eq!(change(3, 1), Some(-6667));
        assert_eq!(change(8, 7), Some(-1250));
    }

    #[test]
    fn months() {
        assert_eq!(add_months(202201, -1), 202112);
        assert_eq!(add_months(202212, 1), 202301);
        assert_eq!(add_months(202204, -12), 202104);
        assert_eq!(parse_month("2022-04").unwrap(), 202204);
        assert!(parse_month("2022-13").is_err());
        assert!(parse_month("22-04").is_err());
        assert_eq!(month_label(202204), "2022-04");
    }
}
