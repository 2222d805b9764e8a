//! The report model: one struct, built once from the index for a period, a scope, the agency
//! registry and a language, that every rendering of the report reads — the CLI's HTML,
//! Markdown, CSV and JSON, the API's HTML, CSV and JSON and the web UI's report page (see
//! [`crate::monthly`] for the renderers). Names, figures and sections are decided here, so the
//! renderings cannot disagree.
//!
//! **Counting rule.** An incident is one attack. It counts once, in the month
//! (Asia/Ho_Chi_Minh) of its first detection, in its category, agency and security level. The
//! headline is the national total: phishing + deface + malware, as the national bulletin counts
//! it; the other categories are shown in their own section, outside the headline. The agency,
//! agency-kind and security-level breakdowns count the attacks of the headline, so each adds up
//! to it. Each figure is compared with the previous period of the same length.

use std::collections::{BTreeMap, HashMap};

use canhgac_core::registry::Registry;
use canhgac_core::Category;
use serde::Serialize;

use crate::cells::Cell;
use crate::error::Result;
use crate::handling::Excluded;
use crate::period::Period;
use crate::search::{IncidentIndex, Scope};
use crate::stats::{change, Change, StatsRequest, TopEntry};

/// The report's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Vi,
    En,
}

impl Lang {
    /// `vi` or `en`.
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "vi" => Some(Lang::Vi),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }

    pub fn t<'a>(self, vi: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Vi => vi,
            Lang::En => en,
        }
    }

    /// 1,035 (en) or 1.035 (vi).
    pub fn int(self, n: u64) -> String {
        let sep = self.t(".", ",");
        let s = n.to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push_str(sep);
            }
            out.push(c);
        }
        out
    }

    /// -9.37% (en) or -9,37% (vi); from 0: n/a (en) or "không so sánh được" (vi).
    pub fn pct(self, c: Change) -> String {
        match c {
            None => self.t("không so sánh được", "n/a").to_string(),
            Some(v) => {
                let sign = match v.signum() {
                    -1 => "-",
                    1 => "+",
                    _ => "",
                };
                let dec = self.t(",", ".");
                format!("{sign}{}{dec}{:02}%", v.abs() / 100, v.abs() % 100)
            }
        }
    }

    pub fn category(self, c: Category) -> &'static str {
        self.t(c.name_vi(), c.name_en())
    }
}

/// What the registry says of an agency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgencyInfo {
    pub name_vi: String,
    pub name_en: String,
    /// The registry's `kind` (`ministry`, `province`, …).
    pub kind: String,
}

/// Agency id → its registry entry; empty without a registry (ids are shown as names).
#[derive(Debug, Clone, Default)]
pub struct Agencies(pub BTreeMap<String, AgencyInfo>);

impl Agencies {
    pub fn from_registry(r: &Registry) -> Agencies {
        Agencies(
            r.agencies()
                .map(|a| {
                    (
                        a.id.to_ascii_lowercase(),
                        AgencyInfo {
                            name_vi: a.name_vi.clone(),
                            name_en: a.name_en.clone(),
                            kind: a.kind.clone(),
                        },
                    )
                })
                .collect(),
        )
    }

    fn name(&self, id: &str, lang: Lang) -> String {
        match self.0.get(id) {
            Some(a) => lang.t(&a.name_vi, &a.name_en).to_string(),
            None => id.to_string(),
        }
    }

    fn kind(&self, id: &str) -> &str {
        self.0.get(id).map_or(UNREGISTERED, |a| a.kind.as_str())
    }
}

/// The kind of an agency the registry does not know (or of every agency without a registry).
pub const UNREGISTERED: &str = "unregistered";

/// What to report.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    pub scope: Scope,
    pub period: Period,
    pub lang: Lang,
    /// Length of the top rules and most affected systems lists.
    pub top: usize,
}

/// One line of a section: a key (category, agency id, kind, level, rule or system id), its
/// name in the report's language, the period's figure, the previous period's and the change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub key: String,
    pub name: String,
    pub current: u64,
    /// `None` where a comparison is not shown (top lists).
    pub previous: Option<u64>,
    #[serde(serialize_with = "crate::stats::serialize_change")]
    pub change_pct: Change,
}

impl Row {
    fn compared(key: impl Into<String>, name: impl Into<String>, cur: u64, prev: u64) -> Row {
        Row {
            key: key.into(),
            name: name.into(),
            current: cur,
            previous: Some(prev),
            change_pct: change(prev, cur),
        }
    }
}

/// A table of the report. Sections come in a fixed order: `national`, `other`, `agency`,
/// `kind`, `level`, `rules`, `systems`, and `since_issue` when the period was issued.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Section {
    pub id: &'static str,
    pub title: String,
    /// What the section counts, in a sentence.
    pub note: String,
    /// The header of the key column.
    pub key_header: String,
    /// Whether the rows carry the previous period and the change.
    pub compared: bool,
    pub rows: Vec<Row>,
}

/// One month of the twelve-month trend.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendPoint {
    /// `YYYY-MM`.
    pub month: String,
    /// Phishing + deface + malware.
    pub national: u64,
    pub phishing: u64,
    pub deface: u64,
    pub malware: u64,
    /// The other categories.
    pub other: u64,
}

/// An incident counted differently now than in the issued snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentChange {
    pub id: String,
    /// `added`, `gone` or `category`.
    pub change: &'static str,
    pub agency: String,
    /// The category now (added, category) or at issue (gone).
    pub category: String,
    /// Why, in the report's language.
    pub reason: String,
}

/// What changed since the period was issued (compared by incident id).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SinceIssue {
    /// RFC 3339, UTC.
    pub issued_at: String,
    /// The headline as issued.
    pub issued_headline: u64,
    pub changes: Vec<IncidentChange>,
}

/// Column headers and fixed words, in the report's language.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Labels {
    pub name: String,
    pub current: String,
    pub previous: String,
    pub change: String,
    pub trend: String,
    pub month: String,
    pub other: String,
}

/// The report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub lang: Lang,
    /// `2022-04`, `2022-Q2`, `2022-H1` or `2022`.
    pub period: String,
    pub period_name: String,
    pub previous: String,
    pub previous_name: String,
    /// `all` or an agency id.
    pub scope: String,
    pub scope_name: String,
    pub title: String,
    /// The bulletin's sentence.
    pub summary: String,
    /// The national total: phishing + deface + malware.
    pub headline: Row,
    pub sections: Vec<Section>,
    /// Twelve months ending with the period's last month.
    pub trend: Vec<TrendPoint>,
    pub since_issue: Option<SinceIssue>,
    pub labels: Labels,
    pub counting_rule: String,
    /// Incidents of the period closed as false positive or duplicate: not counted (left out of
    /// the JSON when there are none).
    #[serde(skip_serializing_if = "Excluded::is_none")]
    pub excluded: Excluded,
}

impl Report {
    /// The section `id`, if the report has it.
    pub fn section(&self, id: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.id == id)
    }
}

/// The counting rule, as every rendering states it.
pub fn counting_rule(lang: Lang) -> &'static str {
    lang.t(
        "Cách đếm: mỗi sự cố là một cuộc tấn công, được đếm một lần, vào tháng (giờ Việt Nam, \
         UTC+7) của lần phát hiện đầu tiên. Số chính là tổng ba loại hình quốc gia (lừa đảo, \
         thay đổi giao diện, mã độc); các loại khác được nêu riêng, không tính vào số chính. So \
         sánh với kỳ liền trước cùng độ dài; thay đổi tính theo phần trăm, làm tròn hai chữ số \
         thập phân.",
        "Counting rule: an incident is one attack, counted once, in the month \
         (Asia/Ho_Chi_Minh, UTC+7) of its first detection. The headline is the national total \
         of phishing, defacement and malware; other categories are shown separately and are \
         not part of it. Each figure is compared with the previous period of the same length; \
         changes in percent, to two decimals.",
    )
}

#[derive(Default)]
struct Tally {
    category: HashMap<String, u64>,
    agency: HashMap<String, u64>,
    kind: HashMap<String, u64>,
    level: HashMap<u8, u64>,
}

fn tally(cells: &HashMap<Cell, u64>, p: Period, agencies: &Agencies) -> Tally {
    let mut t = Tally::default();
    for (c, &n) in cells.iter().filter(|(c, _)| p.contains(c.month)) {
        *t.category.entry(c.category.clone()).or_insert(0) += n;
        if is_national(&c.category) {
            *t.agency.entry(c.agency.clone()).or_insert(0) += n;
            *t.kind
                .entry(agencies.kind(&c.agency).to_string())
                .or_insert(0) += n;
            *t.level.entry(c.level).or_insert(0) += n;
        }
    }
    t
}

fn is_national(category: &str) -> bool {
    Category::NATIONAL.iter().any(|c| c.as_str() == category)
}

/// Rows of a breakdown: every key with attacks in either period, most attacks first.
fn ranked(
    cur: &HashMap<String, u64>,
    prev: &HashMap<String, u64>,
    name: impl Fn(&str) -> String,
) -> Vec<Row> {
    let mut keys: Vec<&String> = cur.keys().chain(prev.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut rows: Vec<Row> = keys
        .into_iter()
        .map(|k| {
            let (c, p) = (
                cur.get(k).copied().unwrap_or(0),
                prev.get(k).copied().unwrap_or(0),
            );
            Row::compared(k.clone(), name(k), c, p)
        })
        .filter(|r| r.current > 0 || r.previous > Some(0))
        .collect();
    rows.sort_by(|a, b| b.current.cmp(&a.current).then_with(|| a.key.cmp(&b.key)));
    rows
}

impl IncidentIndex {
    /// Builds the report (see the module docs for what it counts).
    pub fn report(&self, req: &ReportRequest, agencies: &Agencies) -> Result<Report> {
        let (p, lang) = (req.period, req.lang);
        let vi = lang == Lang::Vi;
        let prev_p = p.previous();
        let cells = self.cells(&req.scope, prev_p.first, p.last())?;
        let (cur, prev) = (tally(&cells, p, agencies), tally(&cells, prev_p, agencies));
        let cat = |t: &Tally, c: Category| t.category.get(c.as_str()).copied().unwrap_or(0);
        let sum = |t: &Tally, cs: &[Category]| cs.iter().map(|c| cat(t, *c)).sum::<u64>();
        let others: Vec<Category> = Category::ALL
            .into_iter()
            .filter(|c| !c.is_national())
            .collect();
        let headline = Row::compared(
            "national",
            lang.t("Tấn công gây ra sự cố", "Attacks causing incidents"),
            sum(&cur, &Category::NATIONAL),
            sum(&prev, &Category::NATIONAL),
        );
        let (name, current, previous, chg) = (
            lang.t("Tên", "Name"),
            p.name(vi),
            prev_p.name(vi),
            lang.t("Thay đổi", "Change"),
        );
        let mut national: Vec<Row> = Category::NATIONAL
            .iter()
            .map(|c| Row::compared(c.as_str(), lang.category(*c), cat(&cur, *c), cat(&prev, *c)))
            .collect();
        national.push(Row {
            key: "total".into(),
            name: lang.t("Tổng (số chính)", "Total (the headline)").into(),
            ..headline.clone()
        });
        let mut other: Vec<Row> = others
            .iter()
            .map(|c| Row::compared(c.as_str(), lang.category(*c), cat(&cur, *c), cat(&prev, *c)))
            .collect();
        other.push(Row::compared(
            "total",
            lang.t("Tổng các loại khác", "Total of other categories"),
            sum(&cur, &others),
            sum(&prev, &others),
        ));
        let kinds_known = !agencies.0.is_empty();
        let kind_name = |k: &str| {
            if k == UNREGISTERED {
                lang.t("Không có trong danh mục", "Not in the registry")
                    .to_string()
            } else {
                k.to_string()
            }
        };
        let level_key = |l: u8| {
            if l == 0 {
                "unattributed".to_string()
            } else {
                l.to_string()
            }
        };
        let levels: Vec<Row> = [1u8, 2, 3, 4, 5, 0]
            .into_iter()
            .map(|l| {
                let name = if l == 0 {
                    lang.t("Chưa xác định hệ thống", "No system attributed")
                        .to_string()
                } else {
                    format!("{} {l}", lang.t("Cấp độ", "Level"))
                };
                Row::compared(
                    level_key(l),
                    name,
                    cur.level.get(&l).copied().unwrap_or(0),
                    prev.level.get(&l).copied().unwrap_or(0),
                )
            })
            .collect();
        let of_headline = lang.t(
            "Số cuộc tấn công thuộc ba loại hình quốc gia; cộng lại bằng số chính.",
            "Attacks of the three national classes; they add up to the headline.",
        );
        let top = self.monthly(&StatsRequest {
            scope: req.scope.clone(),
            month: p.last(),
            months: p.months,
            top: req.top,
        })?;
        let top_rows = |v: Vec<TopEntry>| -> Vec<Row> {
            v.into_iter()
                .map(|e| Row {
                    key: e.id,
                    name: e.name,
                    current: e.incidents,
                    previous: None,
                    change_pct: None,
                })
                .collect()
        };
        let all_categories = lang.t(
            "Sự cố mọi loại trong kỳ (cả các loại khác).",
            "Incidents of every category in the period (other categories included).",
        );
        let section = |id, title: &str, note: &str, key_header: &str, compared, rows| Section {
            id,
            title: title.to_string(),
            note: note.to_string(),
            key_header: key_header.to_string(),
            compared,
            rows,
        };
        let mut sections = vec![
            section(
                "national",
                lang.t("Theo loại hình quốc gia", "By national class"),
                lang.t(
                    "Số chính: lừa đảo + thay đổi giao diện + mã độc.",
                    "The headline: phishing + defacement + malware.",
                ),
                lang.t("Loại hình", "Class"),
                true,
                national,
            ),
            section(
                "other",
                lang.t("Các loại khác", "Other categories"),
                lang.t("Không tính vào số chính.", "Not part of the headline."),
                lang.t("Loại", "Category"),
                true,
                other,
            ),
            section(
                "agency",
                lang.t("Theo cơ quan", "By agency"),
                of_headline,
                lang.t("Mã", "Id"),
                true,
                ranked(&cur.agency, &prev.agency, |id| agencies.name(id, lang)),
            ),
            section(
                "kind",
                lang.t("Theo loại cơ quan", "By agency kind"),
                if kinds_known {
                    of_headline
                } else {
                    lang.t(
                        "Không có danh mục cơ quan: mọi cơ quan là \"không có trong danh mục\".",
                        "No agency registry given: every agency is \"not in the registry\".",
                    )
                },
                lang.t("Loại", "Kind"),
                true,
                ranked(&cur.kind, &prev.kind, kind_name),
            ),
            section(
                "level",
                lang.t("Theo cấp độ an toàn hệ thống", "By security level"),
                of_headline,
                lang.t("Cấp độ", "Level"),
                true,
                levels,
            ),
            section(
                "rules",
                lang.t("Quy tắc phát hiện nhiều nhất", "Top rules"),
                all_categories,
                lang.t("Quy tắc", "Rule"),
                false,
                top_rows(top.top_rules),
            ),
            section(
                "systems",
                lang.t("Hệ thống bị ảnh hưởng nhiều nhất", "Most affected systems"),
                all_categories,
                lang.t("Hệ thống", "System"),
                false,
                top_rows(top.top_systems),
            ),
        ];
        sections.retain(|s| s.id != "kind" || !s.rows.is_empty() || kinds_known);
        let trend = self
            .monthly(&StatsRequest {
                scope: req.scope.clone(),
                month: p.last(),
                months: 12,
                top: 0,
            })?
            .months
            .into_iter()
            .map(|m| TrendPoint {
                phishing: m.by_category["phishing"],
                deface: m.by_category["deface"],
                malware: m.by_category["malware"],
                other: m.incidents - m.national,
                national: m.national,
                month: m.month,
            })
            .collect();
        let (scope, scope_name) = match &req.scope {
            Scope::All => ("all".to_string(), lang.t("toàn quốc", "national").into()),
            Scope::Agency(a) => (a.clone(), agencies.name(a, lang)),
        };
        let title = match lang {
            Lang::Vi => format!("Báo cáo tình hình sự cố an toàn thông tin mạng {current}"),
            Lang::En => format!("Cyber-incident report, {current}"),
        };
        let other_total = sum(&cur, &others);
        let summary = summary(
            lang,
            &headline,
            &cur_nat(&cur),
            other_total,
            &current,
            &previous,
        );
        Ok(Report {
            lang,
            period: p.label(),
            period_name: current.clone(),
            previous: prev_p.label(),
            previous_name: previous.clone(),
            scope,
            scope_name,
            title,
            summary,
            headline,
            sections,
            trend,
            since_issue: None,
            labels: Labels {
                name: name.into(),
                current: current.clone(),
                previous: previous.clone(),
                change: chg.into(),
                trend: lang.t("Diễn biến 12 tháng", "Twelve-month trend").into(),
                month: lang.t("Tháng", "Month").into(),
                other: lang.t("Loại khác", "Other categories").into(),
            },
            counting_rule: counting_rule(lang).into(),
            excluded: self.excluded(&req.scope, p.first, p.last())?,
        })
    }
}

fn cur_nat(t: &Tally) -> [u64; 3] {
    Category::NATIONAL.map(|c| t.category.get(c.as_str()).copied().unwrap_or(0))
}

/// "938 attacks causing incidents were recorded, warned about and guided in April 2022, down
/// 9.37% from March 2022: …; 120 incidents of other categories are not part of this figure."
fn summary(lang: Lang, h: &Row, nat: &[u64; 3], other: u64, cur: &str, prev: &str) -> String {
    let n = lang.int(h.current);
    let trend = match h.change_pct {
        Some(v) if v != 0 => {
            // "down 9.37%": the word carries the direction, the figure no sign.
            let pct = lang.pct(Some(v.abs())).trim_start_matches('+').to_string();
            match lang {
                Lang::Vi => format!(
                    ", {} {pct} so với {prev}",
                    if v > 0 { "tăng" } else { "giảm" }
                ),
                Lang::En => format!(", {} {pct} from {prev}", if v > 0 { "up" } else { "down" }),
            }
        }
        Some(_) => match lang {
            Lang::Vi => format!(", không đổi so với {prev}"),
            Lang::En => format!(", unchanged from {prev}"),
        },
        None => String::new(),
    };
    let [ph, de, ma] = nat.map(|v| lang.int(v));
    let o = lang.int(other);
    match lang {
        Lang::Vi => format!(
            "Trong {cur}, đã ghi nhận, cảnh báo và hướng dẫn xử lý {n} cuộc tấn công mạng gây \
             ra sự cố{trend}; trong đó {ph} cuộc tấn công lừa đảo, {de} cuộc tấn công thay đổi \
             giao diện và {ma} cuộc tấn công cài mã độc. Ngoài ra có {o} sự cố thuộc các loại \
             khác, không tính vào số trên."
        ),
        Lang::En => format!(
            "{n} attacks causing incidents were recorded, warned about and guided in {cur}\
             {trend}: {ph} phishing, {de} defacement and {ma} malware. A further {o} incidents \
             of other categories are not part of this figure."
        ),
    }
}
