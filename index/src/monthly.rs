//! The renderings of the report ([`Report`], built by [`IncidentIndex::report`]): HTML (a
//! self-contained printable page with an inline SVG chart, or its `<article>` alone for the
//! web UI), Markdown, CSV and JSON. The CLI (`canhgac report`), the API
//! (`/api/v1/reports/{period}`) and the web UI's report page all call these functions on the
//! same model, so they show the same figures, names and sections.
//!
//! Every figure in HTML carries `data-fig="<section>.<key>.<current|previous>"` (the headline:
//! `headline.national.…`; the trend: `trend.<YYYY-MM>.<national|other>`), and every Markdown
//! table is preceded by `<!-- <section> -->`, so a test can read the figures back out of each
//! rendering and compare them.
//!
//! [`IncidentIndex::report`]: crate::IncidentIndex::report

use std::fmt::Write;

use crate::model::{Lang, Report, Row, Section, SinceIssue};
use crate::stats::Change;

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

/// The change as a plain number (`-9.37`), `n/a` from 0.
fn raw_change(c: Change) -> String {
    match c {
        None => "n/a".to_string(),
        Some(v) => {
            let sign = if v < 0 { "-" } else { "" };
            format!("{sign}{}.{:02}", v.abs() / 100, v.abs() % 100)
        }
    }
}

/// "(March 2022: 1,035; -9.37%)".
fn headline_line(r: &Report) -> String {
    let l = r.lang;
    let h = &r.headline;
    format!(
        "{}: {} ({}: {}; {})",
        h.name,
        l.int(h.current),
        r.previous_name,
        l.int(h.previous.unwrap_or(0)),
        l.pct(h.change_pct)
    )
}

fn since_issue_intro(r: &Report, s: &SinceIssue) -> String {
    let l = r.lang;
    match l {
        Lang::Vi => format!(
            "Kỳ này đã ban hành lúc {} với số chính {}; nay là {}. {} thay đổi theo mã sự cố:",
            s.issued_at,
            l.int(s.issued_headline),
            l.int(r.headline.current),
            l.int(s.changes.len() as u64)
        ),
        Lang::En => format!(
            "This period was issued at {} with a headline of {}; it is {} now. {} changes by \
             incident id:",
            s.issued_at,
            l.int(s.issued_headline),
            l.int(r.headline.current),
            l.int(s.changes.len() as u64)
        ),
    }
}

fn since_issue_title(l: Lang) -> &'static str {
    l.t("Thay đổi từ khi ban hành", "Changes since issue")
}

fn change_word(l: Lang, what: &str) -> &'static str {
    match what {
        "added" => l.t("thêm", "added"),
        "gone" => l.t("bớt", "gone"),
        _ => l.t("đổi loại", "category"),
    }
}

/// Markdown, with a text bar chart of the trend.
pub fn to_markdown(r: &Report) -> String {
    let l = r.lang;
    let mut s = String::new();
    let _ = writeln!(s, "# {}\n", r.title);
    let _ = writeln!(s, "{}: {}\n", l.t("Phạm vi", "Scope"), r.scope_name);
    let _ = writeln!(s, "{}\n", r.summary);
    let _ = writeln!(s, "<!-- headline -->\n**{}**\n", headline_line(r));
    for sec in &r.sections {
        let _ = writeln!(s, "## {}\n\n{}\n\n<!-- {} -->", sec.title, sec.note, sec.id);
        if sec.compared {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |\n|---|---|---:|---:|---:|",
                sec.key_header, r.labels.name, r.labels.current, r.labels.previous, r.labels.change
            );
        } else {
            let _ = writeln!(
                s,
                "| {} | {} | {} |\n|---|---|---:|",
                sec.key_header, r.labels.name, r.labels.current
            );
        }
        for row in &sec.rows {
            let _ = write!(s, "| {} | {} | {} |", row.key, row.name, l.int(row.current));
            if sec.compared {
                let _ = write!(
                    s,
                    " {} | {} |",
                    l.int(row.previous.unwrap_or(0)),
                    l.pct(row.change_pct)
                );
            }
            s.push('\n');
        }
        s.push('\n');
    }
    let _ = writeln!(s, "## {}\n\n<!-- trend -->\n```", r.labels.trend);
    let max = r
        .trend
        .iter()
        .map(|m| m.national + m.other)
        .max()
        .unwrap_or(0)
        .max(1);
    let width = r
        .trend
        .iter()
        .flat_map(|m| [l.int(m.national).len(), l.int(m.other).len()])
        .max()
        .unwrap_or(1);
    for m in &r.trend {
        let nat = (m.national * 40).div_ceil(max) as usize;
        let oth = (m.other * 40).div_ceil(max) as usize;
        let _ = writeln!(
            s,
            "{} {:>width$} {:>width$} {}{}",
            m.month,
            l.int(m.national),
            l.int(m.other),
            "█".repeat(nat),
            "░".repeat(oth),
        );
    }
    let _ = writeln!(
        s,
        "```\n\n{}\n",
        l.t(
            "Cột số: tấn công thuộc ba loại hình quốc gia, rồi sự cố loại khác; █ ba loại hình \
             quốc gia, ░ loại khác.",
            "Columns: attacks of the three national classes, then incidents of other \
             categories; █ the national classes, ░ other categories."
        )
    );
    if let Some(si) = &r.since_issue {
        let _ = writeln!(
            s,
            "## {}\n\n{}\n\n<!-- since_issue -->\n| {} | {} | {} | {} | {} |\n|---|---|---|---|---|",
            since_issue_title(l),
            since_issue_intro(r, si),
            l.t("Mã sự cố", "Incident"),
            l.t("Thay đổi", "Change"),
            l.t("Cơ quan", "Agency"),
            l.t("Loại", "Category"),
            l.t("Lý do", "Why")
        );
        for c in &si.changes {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                c.id,
                change_word(l, c.change),
                c.agency,
                c.category,
                c.reason
            );
        }
        s.push('\n');
    }
    if let Some(line) = r.excluded.sentence(r.lang) {
        let _ = writeln!(s, "_{line}._\n");
    }
    let _ = writeln!(s, "_{}_", r.counting_rule);
    s
}

/// CSV (RFC 4180): `section,key,name,current,previous,change_pct`; the headline is the row of
/// section `headline`, the trend rows are sections `trend` (national classes) and
/// `trend-other`; names in the report's language, numbers unformatted.
pub fn to_csv(r: &Report) -> String {
    let mut rows: Vec<[String; 6]> = vec![[
        "section",
        "key",
        "name",
        "current",
        "previous",
        "change_pct",
    ]
    .map(String::from)];
    let row = |section: &str, x: &Row| -> [String; 6] {
        [
            section.to_string(),
            x.key.clone(),
            x.name.clone(),
            x.current.to_string(),
            x.previous.map(|p| p.to_string()).unwrap_or_default(),
            if x.previous.is_some() {
                raw_change(x.change_pct)
            } else {
                String::new()
            },
        ]
    };
    rows.push(row("headline", &r.headline));
    for sec in &r.sections {
        for x in &sec.rows {
            rows.push(row(sec.id, x));
        }
    }
    for m in &r.trend {
        for (section, v) in [("trend", m.national), ("trend-other", m.other)] {
            rows.push([
                section.into(),
                m.month.clone(),
                String::new(),
                v.to_string(),
                String::new(),
                String::new(),
            ]);
        }
    }
    // The incidents left out of the counts: one row per reason, the sentence as its name.
    if let Some(line) = r.excluded.sentence(r.lang) {
        for (key, n) in [
            ("false_positive", r.excluded.false_positive),
            ("duplicate", r.excluded.duplicate),
        ] {
            rows.push([
                "excluded".into(),
                key.into(),
                line.clone(),
                n.to_string(),
                String::new(),
                String::new(),
            ]);
        }
    }
    if let Some(si) = &r.since_issue {
        rows.push([
            "since_issue".into(),
            "issued_headline".into(),
            si.issued_at.clone(),
            si.issued_headline.to_string(),
            String::new(),
            String::new(),
        ]);
        for c in &si.changes {
            rows.push([
                "since_issue".into(),
                c.id.clone(),
                format!("{}: {}", c.change, c.reason),
                String::new(),
                String::new(),
                String::new(),
            ]);
        }
    }
    let mut out = String::new();
    for r in rows {
        out.push_str(&r.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

/// The model as pretty JSON.
pub fn to_json(r: &Report) -> String {
    let mut s =
        serde_json::to_string_pretty(r).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    s.push('\n');
    s
}

/// A stacked bar chart of the trend as inline SVG: the three national classes and the rest.
fn svg_chart(r: &Report) -> String {
    let l = r.lang;
    let (w, h, left, bottom, top) = (720.0_f64, 260.0_f64, 48.0, 40.0, 28.0);
    let n = r.trend.len().max(1) as f64;
    let max = r
        .trend
        .iter()
        .map(|m| m.national + m.other)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let plot_h = h - bottom - top;
    let slot = (w - left - 8.0) / n;
    let bar_w = (slot * 0.7).max(2.0);
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" \
         height=\"{h}\" role=\"img\" aria-label=\"{}\" class=\"trend\">",
        esc(&r.labels.trend)
    );
    let _ = write!(
        s,
        "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#888\"/>",
        h - bottom,
        w - 4.0,
        h - bottom
    );
    let national = l.t("Ba loại hình quốc gia", "National classes");
    for (i, m) in r.trend.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bar_w) / 2.0;
        let mut y = h - bottom;
        for (v, col, name) in [
            (m.national, "#c92a2a", national),
            (m.other, "#adb5bd", r.labels.other.as_str()),
        ] {
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
                esc(name),
                l.int(v)
            );
        }
        let cx = x + bar_w / 2.0;
        let _ = write!(
            s,
            "<text x=\"{cx:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
            h - bottom + 14.0,
            &m.month[2..]
        );
        let _ = write!(
            s,
            "<text x=\"{cx:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\" \
             fill=\"#c92a2a\" data-fig=\"trend.{}.national\">{}</text>\
             <text x=\"{cx:.1}\" y=\"{:.1}\" font-size=\"9\" text-anchor=\"middle\" \
             fill=\"#666\" data-fig=\"trend.{}.other\">{}</text>",
            (y - 13.0).max(20.0),
            m.month,
            l.int(m.national),
            (y - 3.0).max(30.0),
            m.month,
            l.int(m.other)
        );
    }
    let mut lx = left;
    for (col, name) in [("#c92a2a", national), ("#adb5bd", r.labels.other.as_str())] {
        let _ = write!(
            s,
            "<rect x=\"{lx}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{col}\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"11\">{}</text>",
            h - 14.0,
            lx + 14.0,
            h - 5.0,
            esc(name)
        );
        lx += 200.0;
    }
    s.push_str("</svg>");
    s
}

fn html_section(s: &mut String, r: &Report, sec: &Section) {
    let l = r.lang;
    let _ = write!(
        s,
        "<section class=\"report-{id}\">\n<h2>{}</h2>\n<p class=\"note\">{}</p>\n<table \
         class=\"{id}\">\n<tr><th>{}</th><th>{}</th><th>{}</th>",
        esc(&sec.title),
        esc(&sec.note),
        esc(&sec.key_header),
        esc(&r.labels.name),
        esc(&r.labels.current),
        id = sec.id,
    );
    if sec.compared {
        let _ = write!(
            s,
            "<th>{}</th><th>{}</th>",
            esc(&r.labels.previous),
            esc(&r.labels.change)
        );
    }
    s.push_str("</tr>\n");
    for row in &sec.rows {
        let total = if row.key == "total" {
            " class=\"total\""
        } else {
            ""
        };
        let fig = format!("{}.{}", sec.id, esc(&row.key));
        let _ = write!(
            s,
            "<tr{total}><td>{}</td><td>{}</td><td class=\"n\" data-fig=\"{fig}.current\">{}</td>",
            esc(&row.key),
            esc(&row.name),
            l.int(row.current)
        );
        if sec.compared {
            let _ = write!(
                s,
                "<td class=\"n\" data-fig=\"{fig}.previous\">{}</td><td class=\"n\">{}</td>",
                l.int(row.previous.unwrap_or(0)),
                esc(&l.pct(row.change_pct))
            );
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table>\n</section>\n");
}

/// The report as an `<article>`: what the printable page shows, and what the web UI's report
/// page shows inside itself. Styled by classes only (no inline styles), so it fits the UI's
/// content security policy.
pub fn to_html_article(r: &Report) -> String {
    let l = r.lang;
    let h = &r.headline;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<article class=\"report\" lang=\"{}\" data-period=\"{}\" data-scope=\"{}\">",
        l.code(),
        esc(&r.period),
        esc(&r.scope)
    );
    let _ = writeln!(s, "<h1>{}</h1>", esc(&r.title));
    let _ = writeln!(
        s,
        "<p class=\"scope\">{}: {}</p>",
        l.t("Phạm vi", "Scope"),
        esc(&r.scope_name)
    );
    let _ = writeln!(s, "<p class=\"summary\">{}</p>", esc(&r.summary));
    let _ = writeln!(
        s,
        "<p class=\"headline\">{}: <strong data-fig=\"headline.national.current\">{}</strong> \
         ({}: <span data-fig=\"headline.national.previous\">{}</span>; {})</p>",
        esc(&h.name),
        l.int(h.current),
        esc(&r.previous_name),
        l.int(h.previous.unwrap_or(0)),
        esc(&l.pct(h.change_pct))
    );
    for sec in &r.sections {
        html_section(&mut s, r, sec);
    }
    let _ = writeln!(
        s,
        "<section class=\"report-trend\">\n<h2>{}</h2>\n{}\n</section>",
        esc(&r.labels.trend),
        svg_chart(r)
    );
    if let Some(si) = &r.since_issue {
        let _ = write!(
            s,
            "<section class=\"report-since_issue\">\n<h2>{}</h2>\n<p>{}</p>\n<table \
             class=\"since_issue\">\n<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>\n",
            esc(since_issue_title(l)),
            esc(&since_issue_intro(r, si)),
            esc(l.t("Mã sự cố", "Incident")),
            esc(l.t("Thay đổi", "Change")),
            esc(l.t("Cơ quan", "Agency")),
            esc(l.t("Loại", "Category")),
            esc(l.t("Lý do", "Why"))
        );
        for c in &si.changes {
            let _ = writeln!(
                s,
                "<tr data-change=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                c.change,
                esc(&c.id),
                esc(change_word(l, c.change)),
                esc(&c.agency),
                esc(&c.category),
                esc(&c.reason)
            );
        }
        s.push_str("</table>\n</section>\n");
    }
    if let Some(line) = r.excluded.sentence(r.lang) {
        let _ = writeln!(s, "<p class=\"excluded\">{}.</p>", esc(&line));
    }
    let _ = writeln!(
        s,
        "<p class=\"counting-rule\"><small>{}</small></p>\n</article>",
        esc(&r.counting_rule)
    );
    s
}

/// A self-contained, printable HTML page (inline CSS and SVG; nothing fetched from outside).
pub fn to_html(r: &Report) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n\
         <style>\nbody{{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}}\n\
         table{{border-collapse:collapse;margin:.5em 0 1em}}\nth,td{{border:1px solid \
         #ccc;padding:.3em .6em}}\ntd.n{{text-align:right}}\ntr.total td{{font-weight:bold}}\n\
         p.headline{{font-size:1.2em}}\np.note{{color:#555;margin:0}}\n\
         @media print{{body{{margin:0}}}}\n</style>\n</head>\n<body>\n{}</body>\n</html>\n",
        r.lang.code(),
        esc(&r.title),
        to_html_article(r)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::change;

    #[test]
    fn numbers_follow_the_language() {
        let (vi, en) = (Lang::Vi, Lang::En);
        assert_eq!(en.int(1_234_567), "1,234,567");
        assert_eq!(vi.int(1_035), "1.035");
        assert_eq!(vi.int(938), "938");
        assert_eq!(en.pct(change(1035, 938)), "-9.37%");
        assert_eq!(vi.pct(change(1035, 938)), "-9,37%");
        assert_eq!(en.pct(None), "n/a");
        assert_eq!(raw_change(change(1035, 938)), "-9.37");
    }
}
