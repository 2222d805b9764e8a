//! `canhgac search`: query the incident index.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use canhgac_core::detection::{vietnam, Status};
use canhgac_core::{Category, Id, Priority};
use canhgac_index::search::parse_cidr;
use canhgac_index::{IncidentIndex, IndexError, Kind, Record, Scope, SearchRequest, Sort};
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, ValueEnum};

use super::UsageError;

const EXAMPLES: &str = "\
Query language (tantivy): words match the title and text fields, with or without diacritics
(\"tấn công\" = \"tan cong\" = \"TẤN CÔNG\"); title_exact: and text_exact: match diacritics exactly.
  field:value          agency:byt  category:deface  priority:p1  status:new  rule:<id>
                       technique:T1059.001  host:web01  user:admin  domain:evil.example
                       hash:<sha256>  email:a@b.vn  ip:203.113.7.9  system:<id>
  \"a phrase\"           AND  OR  NOT  +must  -mustnot  (grouping)
  ranges               count:[5 TO *]  month:[202201 TO 202206]  time:[2022-04-01T00:00:00Z TO *]
  everything           *   (or no query)

Examples:
  canhgac search --index /srv/index 'tan cong AND category:deface'
  canhgac search --index /srv/index --from 2022-04-01 --to 2022-04-30 --agency byt --facets '*'
  canhgac search --index /srv/index --cidr 203.113.0.0/16 --format jsonl '*' > hits.jsonl
  canhgac search --index /srv/index --incident 3f2a…   (an incident with its detections)

Paging: the last line says `next page: --cursor C`; pass it with the same query and sort.
The cursor is stable while the index grows (no document twice, none skipped).";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Jsonl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    Incidents,
    Detections,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SortArg {
    Newest,
    Oldest,
    Relevance,
}

/// Options of `canhgac search`.
#[derive(Debug, Args)]
#[command(after_long_help = EXAMPLES)]
pub struct SearchArgs {
    /// Index directory (built by `canhgac index`)
    #[arg(long, value_name = "DIR")]
    index: PathBuf,

    /// From this time, inclusive: RFC 3339, or YYYY-MM-DD (midnight, Asia/Ho_Chi_Minh).
    /// Incidents are placed at their first detection
    #[arg(long, value_name = "T", value_parser = parse_from)]
    from: Option<DateTime<Utc>>,

    /// Until this time: RFC 3339 (exclusive), or YYYY-MM-DD (that whole day included)
    #[arg(long, value_name = "T", value_parser = parse_to)]
    to: Option<DateTime<Utc>>,

    /// Only these agencies (repeatable)
    #[arg(long, value_name = "ID")]
    agency: Vec<String>,

    /// Only these categories (repeatable): phishing, deface, malware, intrusion, bruteforce,
    /// ddos, recon, data-leak, other
    #[arg(long, value_name = "C", value_parser = |s: &str| s.parse::<Category>())]
    category: Vec<Category>,

    /// Only these priorities (repeatable): p1 … p4
    #[arg(long, value_name = "P", value_parser = |s: &str| s.parse::<Priority>())]
    priority: Vec<Priority>,

    /// Only these statuses (repeatable): new, acknowledged, resolved
    #[arg(long, value_name = "S", value_parser = |s: &str| s.parse::<Status>())]
    status: Vec<Status>,

    /// Only documents with an IP in this network (repeatable): 10.0.0.0/8, 2001:db8::/32, or
    /// an address
    #[arg(long, value_name = "CIDR")]
    cidr: Vec<String>,

    /// Search incidents or single detections
    #[arg(long, value_enum, default_value_t = KindArg::Incidents)]
    kind: KindArg,

    /// Result order
    #[arg(long, value_enum, default_value_t = SortArg::Newest)]
    sort: SortArg,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,

    /// Hits per page
    #[arg(long, value_name = "N", default_value_t = 20)]
    limit: usize,

    /// Continue after a previous page (printed at its end)
    #[arg(long, value_name = "C")]
    cursor: Option<String>,

    /// Count category, agency, priority and rule over all matches
    #[arg(long)]
    facets: bool,

    /// Show one incident with its detections and events instead of searching
    #[arg(long, value_name = "ID", conflicts_with = "query")]
    incident: Option<String>,

    /// The query (see below); empty or `*` matches everything
    #[arg(value_name = "QUERY", default_value = "*")]
    query: String,
}

fn parse_date(s: &str, day_after: bool) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
        format!("{s:?}: expected RFC 3339 (2022-04-01T08:00:00+07:00) or YYYY-MM-DD")
    })?;
    let d = if day_after {
        d.succ_opt().unwrap_or(d)
    } else {
        d
    };
    d.and_hms_opt(0, 0, 0)
        .and_then(|n| n.and_local_timezone(vietnam()).single())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| format!("{s:?}: not a valid date"))
}

fn parse_from(s: &str) -> Result<DateTime<Utc>, String> {
    parse_date(s, false)
}

fn parse_to(s: &str) -> Result<DateTime<Utc>, String> {
    parse_date(s, true)
}

fn usage(e: IndexError) -> anyhow::Error {
    match e {
        IndexError::Query { .. } | IndexError::Invalid { .. } | IndexError::NotFound { .. } => {
            UsageError(e.to_string()).into()
        }
        other => other.into(),
    }
}

fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&vietnam())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

pub fn run(args: SearchArgs) -> anyhow::Result<ExitCode> {
    let index = IncidentIndex::open(&args.index)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if let Some(id) = &args.incident {
        let id: Id = id
            .parse()
            .map_err(|e| UsageError(format!("--incident: {e}")))?;
        let detail = index
            .incident(&Scope::All, &id, args.limit.max(1))
            .map_err(usage)?;
        match args.format {
            Format::Jsonl => writeln!(out, "{}", serde_json::to_string(&detail)?)?,
            Format::Table => {
                let i = &detail.incident.incident;
                writeln!(
                    out,
                    "incident {}\n  agency {}  category {}  priority {}  status {}  detections {}\n  first {}  last {}  (Asia/Ho_Chi_Minh)  month {}\n  key {}\n  rules {}",
                    i.id, i.agency, i.category, i.priority, i.status.as_str(), i.count,
                    local(i.first_seen), local(i.last_seen), i.month, i.group_key,
                    i.rule_titles.join(" | ")
                )?;
                for e in &detail.incident.handling.history {
                    writeln!(
                        out,
                        "  {} {} {} → {} {}",
                        local(e.at),
                        e.by.name,
                        e.action.kind(),
                        e.status.as_str(),
                        e.action.text()
                    )?;
                }
                writeln!(
                    out,
                    "\n{} of {} detections:",
                    detail.detections.len(),
                    detail.detections_total
                )?;
                for d in &detail.detections {
                    writeln!(
                        out,
                        "  {}  {}  {}  {}  event {} ({})",
                        local(d.timestamp),
                        d.id,
                        d.rule.id,
                        d.rule.title,
                        d.event.id,
                        d.event.dataset
                    )?;
                }
            }
        }
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut req = SearchRequest::new(Scope::All, args.query.clone());
    req.kind = match args.kind {
        KindArg::Incidents => Kind::Incidents,
        KindArg::Detections => Kind::Detections,
    };
    req.sort = match args.sort {
        SortArg::Newest => Sort::Newest,
        SortArg::Oldest => Sort::Oldest,
        SortArg::Relevance => Sort::Relevance,
    };
    req.from = args.from;
    req.to = args.to;
    req.agencies = args.agency.clone();
    req.categories = args.category.clone();
    req.priorities = args.priority.clone();
    req.statuses = args.status.clone();
    req.cidrs = args
        .cidr
        .iter()
        .map(|c| parse_cidr(c))
        .collect::<Result<_, _>>()
        .map_err(usage)?;
    req.limit = args.limit.clamp(1, 10_000);
    req.cursor = args.cursor.clone();
    req.facets = args.facets;
    let resp = index.search(&req).map_err(usage)?;
    match args.format {
        Format::Jsonl => {
            for h in &resp.hits {
                writeln!(out, "{}", serde_json::to_string(h)?)?;
            }
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = resp
                .hits
                .iter()
                .map(|h| match &h.record {
                    Record::Incident(r) => {
                        let i = &r.incident;
                        vec![
                            local(i.first_seen),
                            i.id.to_string(),
                            i.agency.clone(),
                            i.category.to_string(),
                            i.priority.to_string(),
                            i.status.as_str().into(),
                            i.count.to_string(),
                            i.rule_titles.first().cloned().unwrap_or_default(),
                        ]
                    }
                    Record::Detection(d) => vec![
                        local(d.timestamp),
                        d.id.to_string(),
                        d.agency.clone(),
                        d.category.to_string(),
                        d.priority.to_string(),
                        d.incident_id.to_string(),
                        d.rule.id.clone(),
                        d.rule.title.clone(),
                    ],
                })
                .collect();
            let headers = match req.kind {
                Kind::Incidents => [
                    "First seen",
                    "Incident",
                    "Agency",
                    "Category",
                    "Prio",
                    "Status",
                    "Count",
                    "Title",
                ],
                Kind::Detections => [
                    "Time",
                    "Detection",
                    "Agency",
                    "Category",
                    "Prio",
                    "Incident",
                    "Rule",
                    "Title",
                ],
            };
            let right = [
                false,
                false,
                false,
                false,
                false,
                false,
                req.kind == Kind::Incidents,
                false,
            ];
            writeln!(
                out,
                "{} matching {}",
                resp.total,
                match req.kind {
                    Kind::Incidents => "incidents",
                    Kind::Detections => "detections",
                }
            )?;
            write!(
                out,
                "{}",
                canhgac_index::report::table(&headers, &rows, &right)
            )?;
            if let Some(f) = &resp.facets {
                for (name, counts) in [
                    ("category", &f.category),
                    ("agency", &f.agency),
                    ("priority", &f.priority),
                    ("rule", &f.rule),
                ] {
                    let list: Vec<String> = counts
                        .iter()
                        .take(10)
                        .map(|(k, v)| format!("{k} {v}"))
                        .collect();
                    writeln!(out, "{name}: {}", list.join(", "))?;
                }
            }
            if let Some(c) = &resp.next_cursor {
                writeln!(out, "next page: --cursor {c}")?;
            }
        }
    }
    if args.format == Format::Jsonl {
        if let Some(c) = &resp.next_cursor {
            eprintln!("next page: --cursor {c}");
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
