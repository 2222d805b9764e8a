//! `canhgac report`: the report of a period (month, quarter, half-year, year), and issuing it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use canhgac_core::registry::Registry;
use canhgac_index::monthly;
use canhgac_index::snapshot::{Snapshot, Snapshots};
use canhgac_index::{Agencies, IncidentIndex, Lang, Period, ReportRequest, Scope};
use clap::{Args, ValueEnum};

use super::UsageError;

const EXAMPLES: &str = "\
Counting rule: an incident is one attack on one agency. It counts once, in the month
(Asia/Ho_Chi_Minh, UTC+7) of its first detection. The headline is the national total,
phishing + defacement + malware, as the national bulletin counts it (\"938 attacks causing
incidents recorded, warned and guided in April 2022, down 9.37% from March\"); the other
categories are shown in their own section and are not part of it. The breakdowns by agency,
agency kind (the registry's `kind`) and security level 1-5 of the attacked system count the
headline's attacks, so each adds up to it. Every figure is compared with the previous period of
the same length (April with March, 2022-Q2 with 2022-Q1, 2022-H1 with 2021-H2, 2022 with 2021);
changes in percent to two decimals, n/a from 0.

Sections, in every format and in the API and web UI alike: headline, national classes, other
categories, by agency, by agency kind, by security level, top rules, most affected systems,
twelve-month trend, and changes since issue when the period was issued.

Issuing: --issue freezes the period's figures and the ids of the incidents behind them in
<reports>/<period>.json (default: reports/ beside the index directory, so <data_dir>/reports in
`canhgac run`; never inside the index, which a rebuild replaces). The file is written atomically
and an issued period is never replaced. Every later report of the period lists what changed
since it was issued, by incident id, and why: incidents added (late data, or an earlier
detection that moved an attack into the period), gone (merged into another attack, moved to
another month, or dropped by retention) and category changes.

Examples:
  canhgac report --index /srv/data/index --period 2022-04 --lang vi --format html --out 2022-04.html
  canhgac report --index /srv/data/index --period 2022-04 --issue --format md
  canhgac report --index /srv/data/index --period 2022-Q2 --lang en --format csv
  canhgac report --index /srv/data/index --period 2022 --format json --agency byt \\
      --registry /etc/canhgac/agencies.toml";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Html,
    Md,
    Csv,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LangArg {
    Vi,
    En,
}

/// Options of `canhgac report`.
#[derive(Debug, Args)]
#[command(after_long_help = EXAMPLES)]
pub struct ReportArgs {
    /// Index directory (built by `canhgac index`, or <data_dir>/index of `canhgac run`)
    #[arg(long, value_name = "DIR")]
    index: PathBuf,

    /// The period: a month (2022-04), a quarter (2022-Q2), a half-year (2022-H1) or a year (2022)
    #[arg(long, value_name = "PERIOD", alias = "month", required = true)]
    period: String,

    /// Issue the period: freeze its figures and incident ids (refused if already issued)
    #[arg(long)]
    issue: bool,

    /// Language of the report
    #[arg(long, value_enum, default_value_t = LangArg::Vi)]
    lang: LangArg,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Html)]
    format: Format,

    /// Only this agency's incidents
    #[arg(long, value_name = "ID")]
    agency: Option<String>,

    /// Agency registry, for the agencies' names and kinds (ids are shown without it)
    #[arg(long, value_name = "FILE")]
    registry: Option<PathBuf>,

    /// Folder of issued snapshots [default: reports/ beside the index directory]
    #[arg(long, value_name = "DIR")]
    reports: Option<PathBuf>,

    /// Length of the top rules and most affected systems lists
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,

    /// Write the report here instead of standard output
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let period = Period::parse(&args.period).map_err(|e| UsageError(e.to_string()))?;
    let agencies = match &args.registry {
        Some(p) => {
            Agencies::from_registry(&Registry::load(p).map_err(|e| UsageError(e.to_string()))?)
        }
        None => Agencies::default(),
    };
    let index = IncidentIndex::open(&args.index)?;
    let scope = match &args.agency {
        Some(a) => Scope::Agency(a.to_ascii_lowercase()),
        None => Scope::All,
    };
    let lang = match args.lang {
        LangArg::Vi => Lang::Vi,
        LangArg::En => Lang::En,
    };
    let snapshots = match &args.reports {
        Some(d) => Snapshots::new(d),
        None => Snapshots::beside(&args.index),
    };
    let req = ReportRequest {
        scope: scope.clone(),
        period,
        lang,
        top: args.top,
    };
    let mut report = index.report(&req, &agencies)?;
    let counted = index.counted_incidents(&scope, period.first, period.last())?;
    if args.issue {
        let snap = Snapshot::of(&report, counted.clone(), chrono::Utc::now());
        let path = snapshots.issue(&snap, period, &scope)?;
        eprintln!(
            "issued {}: headline {}, {} incidents, {}",
            period.label(),
            snap.headline,
            snap.incidents.len(),
            path.display()
        );
    }
    if let Some(snap) = snapshots.load(period, &scope)? {
        report.since_issue = Some(index.since_issue(&snap, &counted, &scope, lang)?);
    }
    let text = match args.format {
        Format::Html => monthly::to_html(&report),
        Format::Md => monthly::to_markdown(&report),
        Format::Csv => monthly::to_csv(&report),
        Format::Json => monthly::to_json(&report),
    };
    match &args.out {
        Some(p) => std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
