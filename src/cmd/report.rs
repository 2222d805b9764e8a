//! `canhgac report`: the printable monthly report.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use canhgac_core::registry::Registry;
use canhgac_index::monthly::{self, Document, Lang};
use canhgac_index::stats::parse_month;
use canhgac_index::{IncidentIndex, Scope, StatsRequest};
use clap::{Args, ValueEnum};

use super::UsageError;

const EXAMPLES: &str = "\
The report shows the month's national table (all incidents and the three national classes:
phishing, defacement, malware, with the change from the previous month), incidents by agency,
the month's top rules and most affected systems, and the twelve-month trend (an inline SVG
chart in HTML, a text bar chart in Markdown). Counting rule as in `canhgac stats`.

Examples:
  canhgac report --index /srv/index --month 2022-04 --lang vi --format html --out 2022-04.html
  canhgac report --index /srv/index --month 2022-04 --lang en --format md
  canhgac report --index /srv/index --month 2022-04 --lang vi --format csv --agency byt \\
      --registry /etc/canhgac/agencies.toml";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Html,
    Md,
    Csv,
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
    /// Index directory (built by `canhgac index`)
    #[arg(long, value_name = "DIR")]
    index: PathBuf,

    /// The month to report, YYYY-MM
    #[arg(long, value_name = "YYYY-MM")]
    month: String,

    /// Language of the report
    #[arg(long, value_enum, default_value_t = LangArg::Vi)]
    lang: LangArg,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Html)]
    format: Format,

    /// Only this agency's incidents
    #[arg(long, value_name = "ID")]
    agency: Option<String>,

    /// Agency registry, for the agencies' names (ids are shown without it)
    #[arg(long, value_name = "FILE")]
    registry: Option<PathBuf>,

    /// Length of the top rules and most affected systems lists
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,

    /// Write the report here instead of standard output
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let month = parse_month(&args.month).map_err(|e| UsageError(e.to_string()))?;
    let names: BTreeMap<String, (String, String)> = match &args.registry {
        Some(p) => Registry::load(p)
            .map_err(|e| UsageError(e.to_string()))?
            .agencies()
            .map(|a| (a.id.clone(), (a.name_vi.clone(), a.name_en.clone())))
            .collect(),
        None => BTreeMap::new(),
    };
    let index = IncidentIndex::open(&args.index)?;
    let scope = match &args.agency {
        Some(a) => Scope::Agency(a.clone()),
        None => Scope::All,
    };
    let trend = index.monthly(&StatsRequest {
        scope: scope.clone(),
        month,
        months: 12,
        top: 0,
    })?;
    let this = index.monthly(&StatsRequest {
        scope,
        month,
        months: 1,
        top: args.top,
    })?;
    let lang = match args.lang {
        LangArg::Vi => Lang::Vi,
        LangArg::En => Lang::En,
    };
    let doc = Document::new(trend, this, names, lang);
    let text = match args.format {
        Format::Html => monthly::to_html(&doc),
        Format::Md => monthly::to_markdown(&doc),
        Format::Csv => monthly::to_csv(&doc),
    };
    match &args.out {
        Some(p) => std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
