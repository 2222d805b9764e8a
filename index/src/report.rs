//! Rendering a [`MonthlyReport`] as a text table, CSV or JSON (`canhgac stats`, and later the
//! HTTP API's CSV download).

use std::fmt::Write;

use canhgac_core::Category;

use crate::stats::{format_change, MonthlyReport, TopEntry};

/// Which breakdowns to show besides the totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Breakdown {
    pub category: bool,
    pub agency: bool,
}

/// A plain-text table: columns padded to their widest cell (in characters), numbers
/// right-aligned.
pub fn table(headers: &[&str], rows: &[Vec<String>], right: &[bool]) -> String {
    let width = |s: &str| s.chars().count();
    let mut widths: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(width(c));
            }
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[String]| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(width(c));
            if i > 0 {
                l.push_str("  ");
            }
            if right.get(i).copied().unwrap_or(false) {
                l.push_str(&" ".repeat(pad));
                l.push_str(c);
            } else {
                l.push_str(c);
                l.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(
        &mut out,
        &headers.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
    );
    line(
        &mut out,
        &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>(),
    );
    for r in rows {
        line(&mut out, r);
    }
    out
}

fn top_table(entries: &[TopEntry], what: &str) -> String {
    let rows: Vec<Vec<String>> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            vec![
                (i + 1).to_string(),
                e.incidents.to_string(),
                e.id.clone(),
                e.name.clone(),
            ]
        })
        .collect();
    table(
        &["#", "Incidents", what, "Name"],
        &rows,
        &[true, true, false, false],
    )
}

/// The report as text tables.
pub fn to_table(r: &MonthlyReport, by: Breakdown) -> String {
    let mut out = String::new();
    let period = match (r.months.first(), r.months.last()) {
        (Some(a), Some(b)) if a.month != b.month => format!("{} to {}", a.month, b.month),
        (Some(a), _) => a.month.clone(),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "Attacks causing incidents by month, {period} (scope: {})",
        r.scope
    );
    let _ = writeln!(out, "Counting rule: {}.", r.counting_rule);
    let _ = writeln!(
        out,
        "Attacks = phishing + deface + malware, the national classes; changes are of attacks. \
         Other categories are incidents outside that figure.\n"
    );
    let rows: Vec<Vec<String>> = r
        .months
        .iter()
        .map(|m| {
            vec![
                m.month.clone(),
                m.national.to_string(),
                format_change(m.change_mom_pct),
                format_change(m.change_yoy_pct),
                m.by_category["phishing"].to_string(),
                m.by_category["deface"].to_string(),
                m.by_category["malware"].to_string(),
                m.other.to_string(),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "Month",
            "Attacks",
            "vs prev. month",
            "vs year before",
            "Phishing",
            "Deface",
            "Malware",
            "Other categories",
        ],
        &rows,
        &[false, true, true, true, true, true, true, true],
    ));
    if by.category {
        out.push_str("\nBy category\n");
        let mut headers = vec!["Month"];
        headers.extend(Category::ALL.iter().map(|c| c.as_str()));
        let rows: Vec<Vec<String>> = r
            .months
            .iter()
            .map(|m| {
                let mut row = vec![m.month.clone()];
                row.extend(
                    Category::ALL
                        .iter()
                        .map(|c| m.by_category[c.as_str()].to_string()),
                );
                row
            })
            .collect();
        let mut right = vec![true; headers.len()];
        right[0] = false;
        out.push_str(&table(&headers, &rows, &right));
    }
    if by.agency {
        out.push_str("\nBy agency\n");
        let agencies: Vec<String> = r
            .months
            .first()
            .map(|m| m.by_agency.keys().cloned().collect())
            .unwrap_or_default();
        let mut headers = vec!["Agency"];
        headers.extend(r.months.iter().map(|m| m.month.as_str()));
        let rows: Vec<Vec<String>> = agencies
            .iter()
            .map(|a| {
                let mut row = vec![a.clone()];
                row.extend(
                    r.months
                        .iter()
                        .map(|m| m.by_agency.get(a).copied().unwrap_or(0).to_string()),
                );
                row
            })
            .collect();
        let mut right = vec![true; headers.len()];
        right[0] = false;
        out.push_str(&table(&headers, &rows, &right));
    }
    out.push_str(&format!("\nTop rules, {period}\n"));
    out.push_str(&top_table(&r.top_rules, "Rule"));
    out.push_str(&format!("\nMost affected systems, {period}\n"));
    out.push_str(&top_table(&r.top_systems, "System"));
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv_change(c: Option<i64>) -> String {
    match c {
        None => "n/a".into(),
        Some(v) => format_change(Some(v))
            .trim_end_matches('%')
            .trim_start_matches('+')
            .to_string(),
    }
}

/// The report as one CSV table, a row per month (RFC 4180): attacks (the national classes) and
/// their changes in percent (`n/a` for a change from 0), then the other categories apart.
pub fn to_csv(r: &MonthlyReport, by: Breakdown) -> String {
    let mut header: Vec<String> = [
        "month",
        "attacks",
        "change_mom_pct",
        "change_yoy_pct",
        "phishing",
        "deface",
        "malware",
        "other_categories",
        "incidents_all",
    ]
    .map(String::from)
    .to_vec();
    let agencies: Vec<String> = r
        .months
        .first()
        .map(|m| m.by_agency.keys().cloned().collect())
        .unwrap_or_default();
    if by.category {
        header.extend(
            Category::ALL
                .iter()
                .map(|c| format!("category.{}", c.as_str())),
        );
    }
    if by.agency {
        header.extend(agencies.iter().map(|a| format!("agency.{a}")));
    }
    let mut out = header
        .iter()
        .map(|h| csv_field(h))
        .collect::<Vec<_>>()
        .join(",");
    out.push_str("\r\n");
    for m in &r.months {
        let mut row = vec![
            m.month.clone(),
            m.national.to_string(),
            csv_change(m.change_mom_pct),
            csv_change(m.change_yoy_pct),
            m.by_category["phishing"].to_string(),
            m.by_category["deface"].to_string(),
            m.by_category["malware"].to_string(),
            m.other.to_string(),
            m.incidents.to_string(),
        ];
        if by.category {
            row.extend(
                Category::ALL
                    .iter()
                    .map(|c| m.by_category[c.as_str()].to_string()),
            );
        }
        if by.agency {
            row.extend(
                agencies
                    .iter()
                    .map(|a| m.by_agency.get(a).copied().unwrap_or(0).to_string()),
            );
        }
        out.push_str(
            &row.iter()
                .map(|c| csv_field(c))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push_str("\r\n");
    }
    out
}

/// The report as pretty JSON (everything, whatever the breakdown).
pub fn to_json(r: &MonthlyReport) -> String {
    let mut s =
        serde_json::to_string_pretty(r).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    s.push('\n');
    s
}
