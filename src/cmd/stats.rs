//! `canhgac stats`: monthly incident statistics from the index.

use std::path::PathBuf;
use std::process::ExitCode;

use canhgac_index::report::{self, Breakdown};
use canhgac_index::stats::parse_month;
use canhgac_index::{IncidentIndex, Scope, StatsRequest};
use clap::{Args, ValueEnum};

use super::UsageError;

const EXAMPLES: &str = "\
Counting rule: an incident is one attack on one agency (its detections grouped by shared
entities, rules/taxonomy.yaml `incidents`); it counts once, in the calendar month
(Asia/Ho_Chi_Minh, UTC+7) of its first detection, in its category and its agency. The headline,
'attacks', is phishing + deface + malware (the national classes); the other categories are shown
apart, outside it. A month without incidents shows 0. Changes are of attacks, in percent to two
decimals, rounded half away from zero (1,035 -> 938 is -9.37%); a change from 0 is n/a.

Examples:
  canhgac stats --index /srv/index --month 2022-04
  canhgac stats --index /srv/index --month 2022-06 --months 6 --by category,agency
  canhgac stats --index /srv/index --month 2022-12 --months 12 --format csv > 2022.csv
  canhgac stats --index /srv/index --month 2022-04 --agency byt --format json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum By {
    Category,
    Agency,
}

/// Options of `canhgac stats`.
#[derive(Debug, Args)]
#[command(after_long_help = EXAMPLES)]
pub struct StatsArgs {
    /// Index directory (built by `canhgac index`)
    #[arg(long, value_name = "DIR")]
    index: PathBuf,

    /// The (last) month to report, YYYY-MM
    #[arg(long, value_name = "YYYY-MM")]
    month: String,

    /// How many months, ending with --month
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=240))]
    months: u32,

    /// Breakdowns besides the totals (comma separated): category, agency
    #[arg(long, value_enum, value_delimiter = ',', value_name = "WHAT")]
    by: Vec<By>,

    /// Only this agency's incidents
    #[arg(long, value_name = "ID")]
    agency: Option<String>,

    /// Length of the top rules and most affected systems lists
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,

    /// Output format (JSON has every breakdown)
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

pub fn run(args: StatsArgs) -> anyhow::Result<ExitCode> {
    let month = parse_month(&args.month).map_err(|e| UsageError(e.to_string()))?;
    let index = IncidentIndex::open(&args.index)?;
    let scope = match &args.agency {
        Some(a) => Scope::Agency(a.clone()),
        None => Scope::All,
    };
    let report = index.monthly(&StatsRequest {
        scope,
        month,
        months: args.months,
        top: args.top,
    })?;
    let by = Breakdown {
        category: args.by.contains(&By::Category),
        agency: args.by.contains(&By::Agency),
    };
    let text = match args.format {
        Format::Table => report::to_table(&report, by),
        Format::Csv => report::to_csv(&report, by),
        Format::Json => report::to_json(&report),
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}
