//! What the list parsers write into ([`Collector`]) and what one list's load gives
//! ([`LoadedList`], [`ListReport`]): the types the loader, the format parsers (`parse`, `misp`)
//! and the compiled set share, kept below all of them so that none imports another's.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::definition::{ListFormat, ListMeta};
use super::error::LoadWarning;
use super::indicator::Key;
use super::warninglist::Warninglist;

/// Warnings kept per list (all are counted).
const KEPT_WARNINGS: usize = 50;

/// What loading one list found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListReport {
    pub id: String,
    pub format: Option<ListFormat>,
    pub files: usize,
    /// Indicator lines, MISP attributes, CSV rows or warninglist entries read.
    pub records: u64,
    /// Comment and blank lines.
    pub comments: u64,
    /// Indicators accepted, duplicates included.
    pub indicators: u64,
    /// Accepted indicators by kind (`ip`, `domain`, `url`, …).
    pub by_kind: BTreeMap<String, u64>,
    /// Distinct (normalised) indicators, set when the lists are compiled.
    pub distinct: u64,
    /// Records skipped with a warning.
    pub skipped: u64,
    /// MISP attributes of types that are not matched (`link`, `text`, `filename`, …), by type.
    pub not_matchable: BTreeMap<String, u64>,
    /// MISP attributes left out because `to_ids` was not set.
    pub not_ids: u64,
    /// MISP attributes read, by MISP type.
    pub source_types: BTreeMap<String, u64>,
    /// Warninglists: (name, type, usable entries).
    pub warninglists: Vec<(String, String, usize)>,
    /// The first warnings (all are counted in `skipped`).
    pub warnings: Vec<LoadWarning>,
}

/// One accepted indicator before compilation.
pub(crate) struct RawEntry {
    pub key: Key,
    pub display: Box<str>,
    pub label: Option<u32>,
}

/// What parsers write into.
pub(crate) struct Collector {
    pub entries: Vec<RawEntry>,
    pub labels: Vec<String>,
    label_ids: HashMap<String, u32>,
    pub warninglists: Vec<Warninglist>,
    pub report: ListReport,
}

impl Collector {
    pub(crate) fn new(id: &str) -> Collector {
        Collector {
            entries: Vec::new(),
            labels: Vec::new(),
            label_ids: HashMap::new(),
            warninglists: Vec::new(),
            report: ListReport {
                id: id.to_string(),
                ..Default::default()
            },
        }
    }

    /// Interns a family or campaign name.
    pub(crate) fn label(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.label_ids.get(s) {
            return i;
        }
        let i = self.labels.len() as u32;
        self.labels.push(s.to_string());
        self.label_ids.insert(s.to_string(), i);
        i
    }

    pub(crate) fn add(&mut self, key: Key, display: &str, label: Option<u32>) {
        self.report.indicators += 1;
        *self
            .report
            .by_kind
            .entry(key.kind().as_str().to_string())
            .or_default() += 1;
        self.entries.push(RawEntry {
            key,
            display: display.into(),
            label,
        });
    }

    pub(crate) fn warn(&mut self, path: &Path, location: String, message: String) {
        self.report.skipped += 1;
        if self.report.warnings.len() < KEPT_WARNINGS {
            self.report.warnings.push(LoadWarning {
                path: path.to_path_buf(),
                location,
                message,
            });
        }
    }
}

/// A loaded list, ready to compile.
pub(crate) struct LoadedList {
    pub meta: ListMeta,
    pub collected: Collector,
}
