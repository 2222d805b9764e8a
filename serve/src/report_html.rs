//! The monthly report as a self-contained printable HTML page (Vietnamese or English).

use std::fmt::Write;

use canhgac_core::Category;
use canhgac_index::stats::{format_change, MonthlyReport};

pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn cat_name(c: Category, vi: bool) -> &'static str {
    if vi {
        c.name_vi()
    } else {
        c.name_en()
    }
}

pub(crate) fn render(r: &MonthlyReport, lang: &str) -> String {
    let vi = lang == "vi";
    let t = |v: &'static str, e: &'static str| if vi { v } else { e };
    let Some(m) = r.months.last() else {
        return String::new();
    };
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\"><title>{} {}</title>\
         <style>body{{font-family:sans-serif;max-width:60rem;margin:2rem auto;color:#111}}\
         table{{border-collapse:collapse;margin:1rem 0}}td,th{{border:1px solid #999;padding:.3rem .6rem;text-align:right}}\
         th:first-child,td:first-child{{text-align:left}}.national{{background:#fde8e8;font-weight:bold}}\
         @media print{{body{{margin:0}}}}</style></head><body>",
        t("Báo cáo sự cố tháng", "Monthly incident report"),
        esc(&m.month)
    );
    let _ = write!(
        h,
        "<h1>{} {}</h1><p>{}: {}</p>",
        t("Báo cáo sự cố tháng", "Monthly incident report"),
        esc(&m.month),
        t("Phạm vi", "Scope"),
        esc(&r.scope)
    );
    let _ = write!(
        h,
        "<p>{} <strong>{}</strong> {} {}, {} {} ({}).</p>",
        t("Tổng số", "In total"),
        m.incidents,
        t("sự cố trong tháng", "incidents in"),
        esc(&m.month),
        t("so với tháng trước", "compared with the previous month"),
        esc(&format_change(m.change_mom_pct)),
        m.previous_month
    );
    let _ = write!(
        h,
        "<table><tr><th>{}</th><th>{}</th></tr>",
        t("Loại", "Category"),
        t("Số sự cố", "Incidents")
    );
    for c in Category::ALL {
        let class = if c.is_national() {
            " class=\"national\""
        } else {
            ""
        };
        let _ = write!(
            h,
            "<tr{class}><td>{}</td><td>{}</td></tr>",
            cat_name(c, vi),
            m.by_category.get(c.as_str()).copied().unwrap_or(0)
        );
    }
    let _ = write!(
        h,
        "<tr class=\"national\"><td>{}</td><td>{}</td></tr></table>",
        t(
            "Ba loại chính (lừa đảo, thay đổi giao diện, mã độc)",
            "The three national classes"
        ),
        m.national
    );
    // Trend.
    let max = r
        .months
        .iter()
        .map(|m| m.incidents)
        .max()
        .unwrap_or(0)
        .max(1);
    let w = 40 * r.months.len().max(1);
    let _ = write!(
        h,
        "<h2>{}</h2><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"170\" role=\"img\">",
        t("Xu hướng", "Trend")
    );
    for (i, mm) in r.months.iter().enumerate() {
        let bh = (mm.incidents as f64 / max as f64 * 130.0).round() as u64;
        let x = i * 40 + 5;
        let _ = write!(
            h,
            "<rect x=\"{x}\" y=\"{}\" width=\"30\" height=\"{bh}\" fill=\"#b91c1c\"><title>{} {}</title></rect>\
             <text x=\"{}\" y=\"165\" font-size=\"9\" text-anchor=\"middle\">{}</text>",
            140 - bh,
            esc(&mm.month),
            mm.incidents,
            x + 15,
            esc(mm.month.get(2..).unwrap_or(&mm.month))
        );
    }
    h.push_str("</svg>");
    let _ = write!(
        h,
        "<h2>{}</h2><table><tr><th>{}</th><th>{}</th></tr>",
        t("Theo cơ quan", "By agency"),
        t("Cơ quan", "Agency"),
        t("Số sự cố", "Incidents")
    );
    for (a, n) in &m.by_agency {
        let _ = write!(h, "<tr><td>{}</td><td>{n}</td></tr>", esc(a));
    }
    h.push_str("</table>");
    let _ = write!(
        h,
        "<h2>{}</h2><table><tr><th>{}</th><th>{}</th></tr>",
        t("Quy tắc phát hiện nhiều nhất", "Top rules"),
        t("Quy tắc", "Rule"),
        t("Số sự cố", "Incidents")
    );
    for e in &r.top_rules {
        let _ = write!(
            h,
            "<tr><td>{} — {}</td><td>{}</td></tr>",
            esc(&e.id),
            esc(&e.name),
            e.incidents
        );
    }
    let _ = write!(
        h,
        "</table><p><small>{}: {}</small></p></body></html>",
        t("Quy tắc đếm", "Counting rule"),
        esc(r.counting_rule)
    );
    h
}
