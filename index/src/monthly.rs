//! The printable monthly report (`canhgac report`): the national table (total and the three
//! national classes with the change from the previous month), counts by agency, the month's top
//! rules and most affected systems, and a twelve-month trend — in Vietnamese or English, as
//! HTML (with an inline SVG chart, nothing fetched from outside), Markdown (with a text bar
//! chart) or CSV.
//!
//! Built from two [`MonthlyReport`]s of [`IncidentIndex::monthly`](crate::IncidentIndex): twelve
//! months ending with the report month (the trend and the previous month), and the report month
//! alone (its top lists). The counting rule is the statistics' (see [`crate::stats`]).

use std::collections::BTreeMap;
use std::fmt::Write;

use canhgac_core::Category;

use crate::stats::{change, Change, MonthStats, MonthlyReport, TopEntry};

/// The report's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Vi,
    En,
}

/// Everything the report shows.
#[derive(Debug, Clone)]
pub struct Document {
    pub lang: Lang,
    /// `all` or an agency id.
    pub scope: String,
    /// Oldest first; the last is the report month.
    pub trend: Vec<MonthStats>,
    pub top_rules: Vec<TopEntry>,
    pub top_systems: Vec<TopEntry>,
    /// Agency id → (Vietnamese name, English name), where the registry knows it.
    pub agency_names: BTreeMap<String, (String, String)>,
}

/// One row of the national table.
struct Row {
    label: String,
    cur: u64,
    prev: u64,
    change: Change,
}

impl Document {
    /// `trend`: the months ending with the report month (12 for a year's trend); `month`: the
    /// report month alone, for its top lists.
    pub fn new(
        trend: MonthlyReport,
        month: MonthlyReport,
        agency_names: BTreeMap<String, (String, String)>,
        lang: Lang,
    ) -> Document {
        Document {
            lang,
            scope: trend.scope.clone(),
            trend: trend.months,
            top_rules: month.top_rules,
            top_systems: month.top_systems,
            agency_names,
        }
    }

    fn t<'a>(&self, vi: &'a str, en: &'a str) -> &'a str {
        match self.lang {
            Lang::Vi => vi,
            Lang::En => en,
        }
    }

    fn current(&self) -> Option<&MonthStats> {
        self.trend.last()
    }

    fn previous(&self) -> Option<&MonthStats> {
        self.trend.len().checked_sub(2).map(|i| &self.trend[i])
    }

    /// `4/2022` or `April 2022`.
    fn month_name(&self, label: &str) -> String {
        let (y, m) = label.split_once('-').unwrap_or((label, "1"));
        let m: usize = m.parse().unwrap_or(1);
        const EN: [&str; 12] = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ];
        match self.lang {
            Lang::Vi => format!("{m:02}/{y}"),
            Lang::En => format!("{} {y}", EN[(m.clamp(1, 12)) - 1]),
        }
    }

    /// 1,035 (en) or 1.035 (vi).
    pub fn int(&self, n: u64) -> String {
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

    /// -9.37% (en) or -9,37% (vi); n/a (en) or "không xác định" (vi) from 0.
    pub fn pct(&self, c: Change) -> String {
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

    fn category_name(&self, c: Category) -> &'static str {
        match self.lang {
            Lang::Vi => c.name_vi(),
            Lang::En => c.name_en(),
        }
    }

    fn agency_name(&self, id: &str) -> String {
        match (self.agency_names.get(id), self.lang) {
            (Some((vi, _)), Lang::Vi) => vi.clone(),
            (Some((_, en)), Lang::En) => en.clone(),
            (None, _) => id.to_string(),
        }
    }

    pub fn title(&self) -> String {
        let m = self
            .current()
            .map(|c| self.month_name(&c.month))
            .unwrap_or_default();
        match self.lang {
            Lang::Vi => format!("Báo cáo tình hình sự cố an toàn thông tin mạng tháng {m}"),
            Lang::En => format!("Cyber-incident report, {m}"),
        }
    }

    fn scope_line(&self) -> String {
        if self.scope == "all" {
            self.t("Phạm vi: toàn quốc", "Scope: national").to_string()
        } else {
            format!(
                "{}: {} ({})",
                self.t("Phạm vi", "Scope"),
                self.agency_name(&self.scope),
                self.scope
            )
        }
    }

    /// "938 attacks causing incidents in April 2022, down 9.37% from March 2022."
    pub fn summary(&self) -> String {
        let Some(cur) = self.current() else {
            return String::new();
        };
        let m = self.month_name(&cur.month);
        let prev = self.previous().map(|p| self.month_name(&p.month));
        let n = self.int(cur.incidents);
        let trend = match (cur.change_mom_pct, &prev) {
            (Some(v), Some(p)) if v != 0 => {
                let up = v > 0;
                // "down 9.37%": the word carries the direction, the figure no sign.
                let pct = self.pct(Some(v.abs())).trim_start_matches('+').to_string();
                match self.lang {
                    Lang::Vi => format!(
                        ", {} {pct} so với tháng {p}",
                        if up { "tăng" } else { "giảm" }
                    ),
                    Lang::En => format!(", {} {pct} from {p}", if up { "up" } else { "down" }),
                }
            }
            (Some(_), Some(p)) => match self.lang {
                Lang::Vi => format!(", không đổi so với tháng {p}"),
                Lang::En => format!(", unchanged from {p}"),
            },
            _ => String::new(),
        };
        let nat = |c: Category| self.int(cur.by_category[c.as_str()]);
        match self.lang {
            Lang::Vi => format!(
                "Trong tháng {m} ghi nhận {n} cuộc tấn công mạng gây ra sự cố{trend}; trong đó \
                 {} cuộc tấn công lừa đảo, {} cuộc tấn công thay đổi giao diện và {} cuộc \
                 tấn công cài mã độc.",
                nat(Category::Phishing),
                nat(Category::Deface),
                nat(Category::Malware)
            ),
            Lang::En => format!(
                "{n} attacks causing incidents in {m}{trend}: {} phishing, {} defacement and \
                 {} malware.",
                nat(Category::Phishing),
                nat(Category::Deface),
                nat(Category::Malware)
            ),
        }
    }

    fn national_rows(&self) -> Vec<Row> {
        let (Some(cur), prev) = (self.current(), self.previous()) else {
            return Vec::new();
        };
        let mut rows = vec![Row {
            label: self.t("Tổng số sự cố", "All incidents").to_string(),
            cur: cur.incidents,
            prev: cur.previous_month,
            change: cur.change_mom_pct,
        }];
        for c in Category::NATIONAL {
            let a = cur.by_category[c.as_str()];
            let b = prev.map_or(0, |p| p.by_category[c.as_str()]);
            rows.push(Row {
                label: self.category_name(c).to_string(),
                cur: a,
                prev: b,
                change: change(b, a),
            });
        }
        let b = prev.map_or(0, |p| p.national);
        rows.push(Row {
            label: self
                .t("Ba loại hình quốc gia", "The three national classes")
                .to_string(),
            cur: cur.national,
            prev: b,
            change: change(b, cur.national),
        });
        rows
    }

    /// (id, name, this month, previous month, change), most incidents first.
    fn agency_rows(&self) -> Vec<(String, String, u64, u64, Change)> {
        let Some(cur) = self.current() else {
            return Vec::new();
        };
        let prev = self.previous();
        let mut rows: Vec<_> = cur
            .by_agency
            .iter()
            .map(|(id, &n)| {
                let p = prev.and_then(|p| p.by_agency.get(id).copied()).unwrap_or(0);
                (id.clone(), self.agency_name(id), n, p, change(p, n))
            })
            .filter(|r| r.2 > 0 || r.3 > 0)
            .collect();
        rows.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
        rows
    }

    fn headers_national(&self) -> [String; 4] {
        let (cur, prev) = self.month_pair();
        [
            self.t("Loại hình", "Class").to_string(),
            cur,
            prev,
            self.t("Thay đổi", "Change").to_string(),
        ]
    }

    fn month_pair(&self) -> (String, String) {
        let name = |m: Option<&MonthStats>| {
            m.map(|m| match self.lang {
                Lang::Vi => format!("Tháng {}", self.month_name(&m.month)),
                Lang::En => self.month_name(&m.month),
            })
            .unwrap_or_else(|| "-".into())
        };
        (name(self.current()), name(self.previous()))
    }

    fn counting_rule(&self) -> &'static str {
        self.t(
            "Cách đếm: mỗi sự cố được đếm một lần, vào tháng (giờ Việt Nam, UTC+7) của lần phát \
             hiện đầu tiên; thay đổi tính theo phần trăm, làm tròn hai chữ số thập phân.",
            "Counting rule: an incident counts once, in the calendar month (Asia/Ho_Chi_Minh, \
             UTC+7) of its first detection; changes in percent, to two decimals.",
        )
    }
}

/// Markdown, with a text bar chart of the trend.
pub fn to_markdown(d: &Document) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# {}\n", d.title());
    let _ = writeln!(s, "{}\n", d.scope_line());
    let _ = writeln!(s, "{}\n", d.summary());
    let h = d.headers_national();
    let _ = writeln!(
        s,
        "## {}\n",
        d.t("Bảng tổng hợp toàn quốc", "National summary")
    );
    let _ = writeln!(s, "| {} | {} | {} | {} |", h[0], h[1], h[2], h[3]);
    let _ = writeln!(s, "|---|---:|---:|---:|");
    for r in d.national_rows() {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            r.label,
            d.int(r.cur),
            d.int(r.prev),
            d.pct(r.change)
        );
    }
    let (cur, prev) = d.month_pair();
    let _ = writeln!(s, "\n## {}\n", d.t("Theo cơ quan", "By agency"));
    let _ = writeln!(
        s,
        "| {} | {} | {cur} | {prev} | {} |",
        d.t("Mã", "Id"),
        d.t("Cơ quan", "Agency"),
        d.t("Thay đổi", "Change")
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|");
    for (id, name, n, p, c) in d.agency_rows() {
        let _ = writeln!(
            s,
            "| {id} | {name} | {} | {} | {} |",
            d.int(n),
            d.int(p),
            d.pct(c)
        );
    }
    for (title, entries, what) in [
        (
            d.t("Quy tắc phát hiện nhiều nhất", "Top rules"),
            &d.top_rules,
            d.t("Quy tắc", "Rule"),
        ),
        (
            d.t("Hệ thống bị ảnh hưởng nhiều nhất", "Most affected systems"),
            &d.top_systems,
            d.t("Hệ thống", "System"),
        ),
    ] {
        let _ = writeln!(s, "\n## {title}\n");
        let _ = writeln!(
            s,
            "| # | {what} | {} | {} |",
            d.t("Tên", "Name"),
            d.t("Sự cố", "Incidents")
        );
        let _ = writeln!(s, "|---:|---|---|---:|");
        for (i, e) in entries.iter().enumerate() {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                i + 1,
                e.id,
                e.name,
                d.int(e.incidents)
            );
        }
    }
    let _ = writeln!(
        s,
        "\n## {}\n",
        d.t("Diễn biến 12 tháng", "Twelve-month trend")
    );
    let _ = writeln!(s, "```");
    let max = d
        .trend
        .iter()
        .map(|m| m.incidents)
        .max()
        .unwrap_or(0)
        .max(1);
    let width = d
        .trend
        .iter()
        .map(|m| d.int(m.incidents).len())
        .max()
        .unwrap_or(1);
    for m in &d.trend {
        let bar = (m.incidents * 40).div_ceil(max) as usize;
        let nat = (m.national * 40).div_ceil(max) as usize;
        let _ = writeln!(
            s,
            "{} {:>width$} {}{}",
            m.month,
            d.int(m.incidents),
            "█".repeat(nat.min(bar)),
            "░".repeat(bar - nat.min(bar)),
        );
    }
    let _ = writeln!(s, "```\n");
    let _ = writeln!(
        s,
        "{}\n",
        d.t(
            "█ ba loại hình quốc gia (lừa đảo, thay đổi giao diện, cài mã độc), ░ loại khác.",
            "█ the three national classes (phishing, defacement, malware), ░ other categories."
        )
    );
    let _ = writeln!(s, "_{}_", d.counting_rule());
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// CSV (RFC 4180): `section,key,name,this_month,previous_month,change_pct`, one row per line of
/// each table; names in the report's language, numbers and changes unformatted.
pub fn to_csv(d: &Document) -> String {
    let mut rows: Vec<[String; 6]> = vec![[
        "section".into(),
        "key".into(),
        "name".into(),
        "this_month".into(),
        "previous_month".into(),
        "change_pct".into(),
    ]];
    let raw = |c: Change| match c {
        None => "n/a".to_string(),
        Some(v) => {
            let sign = if v < 0 { "-" } else { "" };
            format!("{sign}{}.{:02}", v.abs() / 100, v.abs() % 100)
        }
    };
    let keys = ["total", "phishing", "deface", "malware", "national"];
    for (k, r) in keys.iter().zip(d.national_rows()) {
        rows.push([
            "national".into(),
            k.to_string(),
            r.label,
            r.cur.to_string(),
            r.prev.to_string(),
            raw(r.change),
        ]);
    }
    for (id, name, n, p, c) in d.agency_rows() {
        rows.push([
            "agency".into(),
            id,
            name,
            n.to_string(),
            p.to_string(),
            raw(c),
        ]);
    }
    for (section, entries) in [("rule", &d.top_rules), ("system", &d.top_systems)] {
        for e in entries {
            rows.push([
                section.into(),
                e.id.clone(),
                e.name.clone(),
                e.incidents.to_string(),
                String::new(),
                String::new(),
            ]);
        }
    }
    for m in &d.trend {
        rows.push([
            "trend".into(),
            m.month.clone(),
            String::new(),
            m.incidents.to_string(),
            m.previous_month.to_string(),
            raw(m.change_mom_pct),
        ]);
    }
    let mut out = String::new();
    for r in rows {
        out.push_str(&r.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

/// A stacked bar chart of the trend as inline SVG: the three national classes and the rest.
fn svg_chart(d: &Document) -> String {
    let (w, h, left, bottom, top) = (720.0_f64, 260.0_f64, 48.0, 40.0, 16.0);
    let n = d.trend.len().max(1) as f64;
    let max = d
        .trend
        .iter()
        .map(|m| m.incidents)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let plot_h = h - bottom - top;
    let slot = (w - left - 8.0) / n;
    let bar_w = (slot * 0.7).max(2.0);
    let colors = [
        (Category::Phishing, "#d9480f"),
        (Category::Deface, "#5f3dc4"),
        (Category::Malware, "#c2255c"),
    ];
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" \
         height=\"{h}\" role=\"img\" aria-label=\"{}\" class=\"trend\">",
        esc(d.t("Diễn biến 12 tháng", "Twelve-month trend"))
    );
    let _ = write!(
        s,
        "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#888\"/>",
        h - bottom,
        w - 4.0,
        h - bottom
    );
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{}</text>",
        left - 6.0,
        top + 4.0,
        d.int(max as u64)
    );
    for (i, m) in d.trend.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bar_w) / 2.0;
        let mut y = h - bottom;
        let mut parts: Vec<(u64, &str, String)> = colors
            .iter()
            .map(|(c, col)| {
                (
                    m.by_category[c.as_str()],
                    *col,
                    d.category_name(*c).to_string(),
                )
            })
            .collect();
        parts.push((
            m.incidents.saturating_sub(m.national),
            "#adb5bd",
            d.t("Khác", "Other").to_string(),
        ));
        for (v, col, name) in parts {
            if v == 0 {
                continue;
            }
            let bh = v as f64 / max * plot_h;
            y -= bh;
            let _ = write!(
                s,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar_w:.1}\" height=\"{bh:.1}\" \
                 fill=\"{col}\"><title>{} {}: {}</title></rect>",
                m.month,
                esc(&name),
                d.int(v)
            );
        }
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
            x + bar_w / 2.0,
            h - bottom + 14.0,
            &m.month[2..]
        );
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
            x + bar_w / 2.0,
            (y - 3.0).max(10.0),
            d.int(m.incidents)
        );
    }
    // Legend.
    let mut lx = left;
    for (c, col) in colors {
        let _ = write!(
            s,
            "<rect x=\"{lx}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{col}\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"11\">{}</text>",
            h - 14.0,
            lx + 14.0,
            h - 5.0,
            esc(d.category_name(c))
        );
        lx += 150.0;
    }
    s.push_str("</svg>");
    s
}

/// A self-contained, printable HTML page (inline CSS and SVG; nothing fetched from outside).
pub fn to_html(d: &Document) -> String {
    let mut s = String::new();
    let lang = d.t("vi", "en");
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{}</title>\n<style>\nbody{{font-family:sans-serif;max-width:60em;margin:2em auto;\
         color:#222}}\ntable{{border-collapse:collapse;margin:1em 0}}\nth,td{{border:1px solid \
         #ccc;padding:.3em .6em}}\ntd.n{{text-align:right}}\ntr.national td{{background:#fff4e6}}\
         \n@media print{{body{{margin:0}}}}\n</style>\n</head>\n<body>\n",
        esc(&d.title())
    );
    let _ = writeln!(s, "<h1>{}</h1>", esc(&d.title()));
    let _ = writeln!(s, "<p>{}</p>", esc(&d.scope_line()));
    let _ = writeln!(s, "<p class=\"summary\">{}</p>", esc(&d.summary()));
    let h = d.headers_national();
    let _ = writeln!(
        s,
        "<h2>{}</h2>\n<table class=\"national\">\n<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        esc(d.t("Bảng tổng hợp toàn quốc", "National summary")),
        esc(&h[0]),
        esc(&h[1]),
        esc(&h[2]),
        esc(&h[3])
    );
    for (i, r) in d.national_rows().into_iter().enumerate() {
        let class = if (1..=3).contains(&i) {
            " class=\"national\""
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "<tr{class}><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(&r.label),
            d.int(r.cur),
            d.int(r.prev),
            esc(&d.pct(r.change))
        );
    }
    s.push_str("</table>\n");
    let (cur, prev) = d.month_pair();
    let _ = writeln!(
        s,
        "<h2>{}</h2>\n<table class=\"agencies\">\n<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        esc(d.t("Theo cơ quan", "By agency")),
        esc(d.t("Mã", "Id")),
        esc(d.t("Cơ quan", "Agency")),
        esc(&cur),
        esc(&prev),
        esc(d.t("Thay đổi", "Change"))
    );
    for (id, name, n, p, c) in d.agency_rows() {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(&id),
            esc(&name),
            d.int(n),
            d.int(p),
            esc(&d.pct(c))
        );
    }
    s.push_str("</table>\n");
    for (title, entries, what) in [
        (
            d.t("Quy tắc phát hiện nhiều nhất", "Top rules"),
            &d.top_rules,
            d.t("Quy tắc", "Rule"),
        ),
        (
            d.t("Hệ thống bị ảnh hưởng nhiều nhất", "Most affected systems"),
            &d.top_systems,
            d.t("Hệ thống", "System"),
        ),
    ] {
        let _ = writeln!(
            s,
            "<h2>{}</h2>\n<table>\n<tr><th>#</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            esc(title),
            esc(what),
            esc(d.t("Tên", "Name")),
            esc(d.t("Sự cố", "Incidents"))
        );
        for (i, e) in entries.iter().enumerate() {
            let _ = writeln!(
                s,
                "<tr><td class=\"n\">{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
                i + 1,
                esc(&e.id),
                esc(&e.name),
                d.int(e.incidents)
            );
        }
        s.push_str("</table>\n");
    }
    let _ = writeln!(
        s,
        "<h2>{}</h2>\n{}",
        esc(d.t("Diễn biến 12 tháng", "Twelve-month trend")),
        svg_chart(d)
    );
    let _ = writeln!(
        s,
        "<p><small>{}</small></p>\n</body>\n</html>",
        esc(d.counting_rule())
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(lang: Lang) -> Document {
        Document {
            lang,
            scope: "all".into(),
            trend: Vec::new(),
            top_rules: Vec::new(),
            top_systems: Vec::new(),
            agency_names: BTreeMap::new(),
        }
    }

    #[test]
    fn numbers_follow_the_language() {
        let (vi, en) = (doc(Lang::Vi), doc(Lang::En));
        assert_eq!(en.int(1_234_567), "1,234,567");
        assert_eq!(vi.int(1_035), "1.035");
        assert_eq!(vi.int(938), "938");
        assert_eq!(en.pct(change(1035, 938)), "-9.37%");
        assert_eq!(vi.pct(change(1035, 938)), "-9,37%");
        assert_eq!(en.pct(None), "n/a");
        assert_eq!(en.month_name("2022-04"), "April 2022");
        assert_eq!(vi.month_name("2022-04"), "04/2022");
    }
}
