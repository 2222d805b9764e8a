//! Issued reports: `canhgac report --issue` freezes a period's figures and the incidents
//! behind them as an immutable JSON file, outside the tantivy index directory so that an index
//! rebuild cannot lose it (`<data_dir>/reports/<stem>.json`, `<stem>.<agency>.json` for one
//! agency's report). The file is written atomically and never replaced: issuing a period
//! again is refused. A later report of the period compares the index with the snapshot by
//! incident id and says what changed and why ([`SinceIssue`]).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use canhgac_core::Id;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::cells::CountedIncident;
use crate::error::{IndexError, Result};
use crate::model::{IncidentChange, Lang, Report, SinceIssue};
use crate::period::Period;
use crate::search::{IncidentIndex, Scope};
use crate::stats::month_label;

/// The version of the snapshot file format.
pub const SNAPSHOT_SCHEMA: u32 = 1;

/// An issued period: its figures and the incidents behind them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    pub schema: u32,
    /// `2022-04`, `2022-Q2`, …
    pub period: String,
    /// `all` or an agency id.
    pub scope: String,
    pub issued_at: DateTime<Utc>,
    /// The headline (phishing + deface + malware).
    pub headline: u64,
    /// `section.key` → the period's figure, for the compared sections (`national.phishing`,
    /// `agency.byt`, `level.3`, …).
    pub figures: BTreeMap<String, u64>,
    /// Every incident counted in the period (all categories), sorted by id.
    pub incidents: Vec<CountedIncident>,
}

impl Snapshot {
    /// The snapshot of `report`, whose incidents are `incidents`.
    pub fn of(report: &Report, incidents: Vec<CountedIncident>, issued_at: DateTime<Utc>) -> Self {
        let figures = report
            .sections
            .iter()
            .filter(|s| s.compared)
            .flat_map(|s| {
                s.rows
                    .iter()
                    .map(move |r| (format!("{}.{}", s.id, r.key), r.current))
            })
            .collect();
        Snapshot {
            schema: SNAPSHOT_SCHEMA,
            period: report.period.clone(),
            scope: report.scope.clone(),
            issued_at,
            headline: report.headline.current,
            figures,
            incidents,
        }
    }
}

/// The folder of issued snapshots.
#[derive(Debug, Clone)]
pub struct Snapshots {
    dir: PathBuf,
}

fn scope_name(scope: &Scope) -> Option<&str> {
    match scope {
        Scope::All => None,
        Scope::Agency(a) => Some(a.as_str()),
    }
}

impl Snapshots {
    pub fn new(dir: impl Into<PathBuf>) -> Snapshots {
        Snapshots { dir: dir.into() }
    }

    /// The default folder for an index at `index_dir`: `reports/` beside it (in `canhgac run`,
    /// `<data_dir>/reports` for the index `<data_dir>/index`).
    pub fn beside(index_dir: &Path) -> Snapshots {
        let parent = index_dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Snapshots::new(parent.join("reports"))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of `period` in `scope`.
    pub fn path(&self, period: Period, scope: &Scope) -> PathBuf {
        match scope_name(scope) {
            None => self.dir.join(format!("{}.json", period.stem())),
            Some(a) => self.dir.join(format!("{}.{a}.json", period.stem())),
        }
    }

    /// The issued snapshot of `period` in `scope`, if there is one.
    pub fn load(&self, period: Period, scope: &Scope) -> Result<Option<Snapshot>> {
        let path = self.path(period, scope);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(snap_err(&path, format!("cannot read: {e}"))),
        };
        let s: Snapshot = serde_json::from_slice(&bytes)
            .map_err(|e| snap_err(&path, format!("line {}: {e}", e.line())))?;
        if s.schema != SNAPSHOT_SCHEMA {
            return Err(snap_err(
                &path,
                format!("schema {} (this build reads {SNAPSHOT_SCHEMA})", s.schema),
            ));
        }
        Ok(Some(s))
    }

    /// Writes `snap` (write a temporary file, fsync, link it to its name, fsync the folder);
    /// refuses when the period is already issued. Returns the file's path.
    pub fn issue(&self, snap: &Snapshot, period: Period, scope: &Scope) -> Result<PathBuf> {
        let path = self.path(period, scope);
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| snap_err(&self.dir, format!("cannot create the folder: {e}")))?;
        if let Some(old) = self.load(period, scope)? {
            return Err(already(&path, &old));
        }
        let tmp = path.with_extension(format!("json.tmp-{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            let mut text = serde_json::to_vec_pretty(snap).map_err(std::io::Error::other)?;
            text.push(b'\n');
            f.write_all(&text)?;
            f.sync_all()
        };
        write().map_err(|e| snap_err(&tmp, format!("cannot write: {e}")))?;
        // A hard link fails if the name exists: two issuers at once cannot both win.
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let old = self.load(period, scope)?;
                return Err(match old {
                    Some(old) => already(&path, &old),
                    None => snap_err(&path, "already exists".into()),
                });
            }
            Err(e) => return Err(snap_err(&path, format!("cannot write: {e}"))),
        }
        if let Ok(d) = std::fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(path)
    }
}

fn snap_err(path: &Path, message: String) -> IndexError {
    IndexError::Snapshot {
        path: path.to_path_buf(),
        message,
    }
}

fn already(path: &Path, old: &Snapshot) -> IndexError {
    snap_err(
        path,
        format!(
            "period {} was issued at {}; an issued period is never replaced",
            old.period,
            old.issued_at.to_rfc3339_opts(SecondsFormat::Secs, true)
        ),
    )
}

impl IncidentIndex {
    /// What changed between the issued `snap` and the index's `now` (the incidents counted in
    /// the same period and scope now), compared by incident id, with the reason of each change.
    pub fn since_issue(
        &self,
        snap: &Snapshot,
        now: &[CountedIncident],
        scope: &Scope,
        lang: Lang,
    ) -> Result<SinceIssue> {
        let then: HashMap<&str, &CountedIncident> =
            snap.incidents.iter().map(|i| (i.id.as_str(), i)).collect();
        let now_by: HashMap<&str, &CountedIncident> =
            now.iter().map(|i| (i.id.as_str(), i)).collect();
        let cat = |c: &str| {
            canhgac_core::Category::ALL
                .into_iter()
                .find(|x| x.as_str() == c)
                .map_or(c.to_string(), |x| lang.category(x).to_string())
        };
        let mut changes = Vec::new();
        for i in now {
            match then.get(i.id.as_str()) {
                None => {
                    let first_seen = self.lookup(scope, &i.id)?.map(|r| r.incident.first_seen);
                    let reason = match first_seen {
                        Some(t) if t < snap.issued_at => lang
                            .t(
                                "dữ liệu đến muộn: phát hiện trước khi ban hành, được ghi nhận sau",
                                "late data: detected before the issue, indexed after it",
                            )
                            .to_string(),
                        _ => lang
                            .t(
                                "phát hiện sau khi ban hành (hoặc một phát hiện sớm hơn đến muộn)",
                                "detected after the issue (or an earlier detection arrived late)",
                            )
                            .to_string(),
                    };
                    changes.push(change(i, "added", &i.category, reason));
                }
                Some(old) if old.category != i.category => {
                    let reason = match lang {
                        Lang::Vi => {
                            format!("đổi loại: {} → {}", cat(&old.category), cat(&i.category))
                        }
                        Lang::En => format!(
                            "category changed: {} → {}",
                            cat(&old.category),
                            cat(&i.category)
                        ),
                    };
                    changes.push(change(i, "category", &i.category, reason));
                }
                Some(_) => {}
            }
        }
        for old in &snap.incidents {
            if now_by.contains_key(old.id.as_str()) {
                continue;
            }
            let reason = match self.lookup(scope, &old.id)? {
                Some(r) => match lang {
                    Lang::Vi => format!(
                        "nay tính vào tháng {}: một phát hiện sớm hơn đã đến",
                        month_label(r.incident.month)
                    ),
                    Lang::En => format!(
                        "now counted in {}: an earlier detection arrived",
                        month_label(r.incident.month)
                    ),
                },
                None => lang
                    .t(
                        "không còn trong chỉ mục: đã gộp vào một cuộc tấn công khác hoặc bị xoá theo thời hạn lưu giữ",
                        "no longer in the index: merged into another attack or dropped by retention",
                    )
                    .to_string(),
            };
            changes.push(change(old, "gone", &old.category, reason));
        }
        changes.sort_by(|a, b| a.change.cmp(b.change).then_with(|| a.id.cmp(&b.id)));
        Ok(SinceIssue {
            issued_at: snap.issued_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            issued_headline: snap.headline,
            changes,
        })
    }

    fn lookup(&self, scope: &Scope, id: &str) -> Result<Option<crate::IncidentRecord>> {
        let Ok(id) = Id::from_str(id) else {
            return Ok(None);
        };
        match self.incident(scope, &id, 0) {
            Ok(d) => Ok(Some(d.incident)),
            Err(IndexError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn change(
    i: &CountedIncident,
    what: &'static str,
    category: &str,
    reason: String,
) -> IncidentChange {
    IncidentChange {
        id: i.id.clone(),
        change: what,
        agency: i.agency.clone(),
        category: category.to_string(),
        reason,
    }
}
