//! A fixed corpus shaped like the national bulletin, for the report's tests (the `testsuite`
//! feature): 1,035 attacks of the national classes in March 2022 and 938 in April 2022
//! ("938 attacks causing incidents …, down 9.37% from March"), with incidents of the other
//! categories beside them, over four agencies (one of them missing from
//! `rules/agencies.example.toml`), each attack with one to three detections days apart.

use canhgac_core::detection::Detection;

use crate::synth::{detection, month_start};

/// The agencies of the corpus; `bca` is not in `rules/agencies.example.toml`.
pub const AGENCIES: [&str; 4] = ["byt", "bca", "ubnd-ha-noi", "ubnd-tp-hcm"];

const NATIONAL_RULES: [[&str; 2]; 3] = [
    ["cg-phish-001", "cg-phish-002"],
    ["cg-deface-001", "cg-deface-002"],
    ["cg-malware-001", "cg-malware-002"],
];

const OTHER_RULES: [&str; 6] = [
    "cg-intrusion-001",
    "cg-brute-001",
    "cg-ddos-001",
    "cg-recon-001",
    "cg-leak-001",
    "cg-other-001",
];

/// (month, national attacks, incidents of other categories).
pub const MONTHS: [(u32, u64, u64); 3] = [(202201, 20, 4), (202203, 1035, 60), (202204, 938, 45)];

/// The detections of one attack: `k` numbers it within `month`; `other` picks the other
/// categories' rules.
pub fn attack(month: u32, k: u64, other: bool) -> Vec<Detection> {
    let agency = AGENCIES[((k / 3) % 4) as usize];
    let rule = if other {
        OTHER_RULES[(k % 6) as usize]
    } else {
        NATIONAL_RULES[(k % 3) as usize][((k / 3) % 2) as usize]
    };
    let tag = if other { "o" } else { "n" };
    let key = format!("{tag}{month}-{k}.{agency}.gov.vn");
    // First detection within the month's first 25 days (spread by hour); later ones two days
    // apart, possibly in the next month, which must not move the attack.
    let first = month_start(month, 0) + ((k * 7_919) % (25 * 24)) as i64 * 3_600;
    let salt = u64::from(month) * 100_000 + if other { 50_000 } else { 0 };
    (0..1 + k % 3)
        .map(|j| {
            detection(
                agency,
                rule,
                &key,
                first + j as i64 * 2 * 86_400,
                (salt + k) * 10 + j,
            )
        })
        .collect()
}

/// Every detection of the corpus.
pub fn corpus() -> Vec<Detection> {
    let mut out = Vec::new();
    for (month, national, other) in MONTHS {
        for k in 0..national {
            out.extend(attack(month, k, false));
        }
        for k in 0..other {
            out.extend(attack(month, k, true));
        }
    }
    out
}

/// Reading the figures back out of each rendering of the report ([`crate::monthly`]), keyed
/// `<section>.<key>.<current|previous>` (the headline: `headline.national.…`; the trend:
/// `trend.<YYYY-MM>.<national|other>`), so tests can check that every rendering carries the
/// same figures.
pub mod figures {
    use std::collections::BTreeMap;

    pub type Figures = BTreeMap<String, u64>;

    /// `1.035`, `1,035` or `938` as a number.
    fn num(s: &str) -> Option<u64> {
        let d: String = s
            .trim()
            .chars()
            .filter(|c| !matches!(c, '.' | ','))
            .collect();
        d.parse().ok()
    }

    /// From the JSON model.
    pub fn from_json(text: &str) -> Figures {
        let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        let mut f = Figures::new();
        let mut row = |section: &str, r: &serde_json::Value| {
            let key = r["key"].as_str().unwrap_or_default();
            if let Some(c) = r["current"].as_u64() {
                f.insert(format!("{section}.{key}.current"), c);
            }
            if let Some(p) = r["previous"].as_u64() {
                f.insert(format!("{section}.{key}.previous"), p);
            }
        };
        row("headline", &v["headline"]);
        for s in v["sections"].as_array().into_iter().flatten() {
            let id = s["id"].as_str().unwrap_or_default();
            for r in s["rows"].as_array().into_iter().flatten() {
                row(id, r);
            }
        }
        for t in v["trend"].as_array().into_iter().flatten() {
            let m = t["month"].as_str().unwrap_or_default();
            for k in ["national", "other"] {
                if let Some(n) = t[k].as_u64() {
                    f.insert(format!("trend.{m}.{k}"), n);
                }
            }
        }
        f
    }

    fn csv_fields(line: &str) -> Vec<String> {
        let (mut out, mut cur, mut quoted, mut chars) =
            (Vec::new(), String::new(), false, line.chars().peekable());
        while let Some(c) = chars.next() {
            match (c, quoted) {
                ('"', true) if chars.peek() == Some(&'"') => {
                    cur.push('"');
                    chars.next();
                }
                ('"', _) => quoted = !quoted,
                (',', false) => out.push(std::mem::take(&mut cur)),
                _ => cur.push(c),
            }
        }
        out.push(cur);
        out
    }

    /// From the CSV (`section,key,name,current,previous,change_pct`).
    pub fn from_csv(text: &str) -> Figures {
        let mut f = Figures::new();
        for line in text.lines().skip(1) {
            let c = csv_fields(line);
            if c.len() < 5 || c[0] == "since_issue" {
                continue;
            }
            let (section, key) = match c[0].as_str() {
                "trend" => ("trend", format!("{}.national", c[1])),
                "trend-other" => ("trend", format!("{}.other", c[1])),
                s => (s, c[1].clone()),
            };
            let prefix = format!("{section}.{key}");
            if section == "trend" {
                if let Some(n) = num(&c[3]) {
                    f.insert(prefix, n);
                }
                continue;
            }
            if let Some(n) = num(&c[3]) {
                f.insert(format!("{prefix}.current"), n);
            }
            if let Some(n) = num(&c[4]) {
                f.insert(format!("{prefix}.previous"), n);
            }
        }
        f
    }

    /// From HTML (the page, its `<article>` or the web UI's page): every `data-fig` element.
    pub fn from_html(text: &str) -> Figures {
        let mut f = Figures::new();
        let mut rest = text;
        while let Some(i) = rest.find("data-fig=\"") {
            rest = &rest[i + 10..];
            let Some(end) = rest.find('"') else { break };
            let key = rest[..end].replace("&amp;", "&");
            let Some(gt) = rest.find('>') else { break };
            let body = &rest[gt + 1..];
            let value = &body[..body.find('<').unwrap_or(body.len())];
            if let Some(n) = num(value) {
                f.insert(key, n);
            }
            rest = body;
        }
        f
    }

    /// From Markdown: the table after each `<!-- section -->` marker, the headline line and
    /// the trend block.
    pub fn from_markdown(text: &str) -> Figures {
        let mut f = Figures::new();
        let mut section = String::new();
        let mut table_lines = 0;
        for line in text.lines() {
            if let Some(id) = line
                .strip_prefix("<!-- ")
                .and_then(|l| l.strip_suffix(" -->"))
            {
                section = id.to_string();
                table_lines = 0;
                continue;
            }
            match section.as_str() {
                "headline" if line.starts_with("**") => {
                    let parts: Vec<&str> = line.trim_matches('*').split(": ").collect();
                    if parts.len() == 3 {
                        let cur = parts[1].split(" (").next().and_then(num);
                        let prev = parts[2].split(';').next().and_then(num);
                        if let (Some(c), Some(p)) = (cur, prev) {
                            f.insert("headline.national.current".into(), c);
                            f.insert("headline.national.previous".into(), p);
                        }
                    }
                }
                "trend" => {
                    let w: Vec<&str> = line.split_whitespace().collect();
                    if w.len() >= 3 && w[0].len() == 7 && w[0].as_bytes()[4] == b'-' {
                        if let (Some(n), Some(o)) = (num(w[1]), num(w[2])) {
                            f.insert(format!("trend.{}.national", w[0]), n);
                            f.insert(format!("trend.{}.other", w[0]), o);
                        }
                    }
                }
                "" | "since_issue" => {}
                s if line.starts_with('|') => {
                    table_lines += 1;
                    // The header and the rule line.
                    if table_lines <= 2 {
                        continue;
                    }
                    let c: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
                    if c.len() < 3 {
                        continue;
                    }
                    let Some(cur) = num(c[2]) else { continue };
                    f.insert(format!("{s}.{}.current", c[0]), cur);
                    if let Some(p) = c.get(3).and_then(|x| num(x)) {
                        f.insert(format!("{s}.{}.previous", c[0]), p);
                    }
                }
                _ => {}
            }
        }
        f
    }
}
