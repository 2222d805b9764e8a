//! `canhgac hunt`: evaluate Sigma rules offline over event files of any ingest format
//! (auto-detected per file), one match per line.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use canhgac_core::event::{event_id, Event, SourceKind, SourceRef, EVENT_SCHEMA_VERSION};
use canhgac_detect::EngineBuilder;
use canhgac_ingest::{FileReader, Item, ReadOptions};

use super::rules::{load_mappings, load_placeholders, render_report};
use super::UsageError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HuntFormat {
    /// One aligned line per match
    Table,
    /// One JSON object per match (rule_id, rule_title, level, author, event_id, timestamp, …)
    Jsonl,
}

#[derive(Debug, clap::Args)]
pub struct HuntArgs {
    /// Sigma rule file or directory (repeatable)
    #[arg(long = "rules", value_name = "PATH", required = true)]
    pub rules: Vec<PathBuf>,
    /// Directory of mapping files (default: the mappings built into the binary)
    #[arg(long, value_name = "DIR")]
    pub mappings: Option<PathBuf>,
    /// YAML map of placeholder values for the `expand` modifier
    #[arg(long, value_name = "FILE")]
    pub placeholders: Option<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value = "table")]
    pub format: HuntFormat,
    /// Report progress on stderr
    #[arg(long)]
    pub progress: bool,
    /// Event files (any ingest format, gzip allowed; detected per file)
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

pub fn run(args: HuntArgs) -> anyhow::Result<ExitCode> {
    let mut b = EngineBuilder::new(load_mappings(args.mappings.as_deref())?)
        .placeholders(load_placeholders(args.placeholders.as_deref())?);
    for p in &args.rules {
        b.add_path(p).map_err(|e| UsageError(e.to_string()))?;
    }
    let (engine, report) = b.build();
    eprint!("{}", render_report(&report));
    let mut scratch = engine.scratch();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let (mut events, mut matches, mut bad_records, mut bad_files) = (0u64, 0u64, 0u64, 0u64);
    let received = chrono::Utc::now();
    for path in &args.files {
        let mut reader = match FileReader::open(path, &ReadOptions::default()) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("canhgac: {}: {e}", path.display());
                bad_files += 1;
                continue;
            }
        };
        let name = path.display().to_string();
        loop {
            let item = match reader.next_item() {
                Ok(Some(item)) => item,
                Ok(None) => break,
                Err(e) => {
                    eprintln!("canhgac: {name}: {e}");
                    bad_files += 1;
                    break;
                }
            };
            let (offset, line, raw, decoded) = match item {
                Item::Event {
                    offset,
                    line,
                    raw,
                    decoded,
                } => (offset, line, raw, decoded),
                Item::Error {
                    offset,
                    line,
                    error,
                    ..
                } => {
                    bad_records += 1;
                    if bad_records <= 10 {
                        eprintln!(
                            "canhgac: {name}:{line} (offset {offset}): {}",
                            error.message
                        );
                    }
                    continue;
                }
            };
            let d = *decoded;
            let event = Event {
                schema: EVENT_SCHEMA_VERSION,
                id: event_id("local", "hunt", name.as_bytes(), offset, &raw),
                agency: "local".into(),
                sensor: "hunt".into(),
                dataset: d.dataset,
                timestamp: d.timestamp.unwrap_or(received),
                received,
                source: SourceRef {
                    kind: SourceKind::File,
                    name: name.clone(),
                    offset: Some(offset),
                    line: Some(line),
                },
                ecs: d.ecs,
                original: d.original,
            };
            events += 1;
            for m in engine.matches(&event, &mut scratch) {
                matches += 1;
                match args.format {
                    HuntFormat::Jsonl => {
                        let mut v = m.to_json();
                        v["dataset"] = event.dataset.as_str().into();
                        v["source"] =
                            serde_json::json!({ "name": name, "offset": offset, "line": line });
                        writeln!(out, "{v}")?;
                    }
                    HuntFormat::Table => writeln!(
                        out,
                        "{}  {:<13} {}  {}  [{}]  {}:{}  event={}",
                        m.timestamp.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
                        m.rule.level.as_str(),
                        m.rule.id,
                        m.rule.title,
                        m.rule.author.as_deref().unwrap_or("unknown author"),
                        name,
                        line,
                        m.event_id
                    )?,
                }
            }
            if args.progress && events % 10_000 == 0 {
                eprintln!("{events} events, {matches} matches");
            }
        }
    }
    out.flush()?;
    eprintln!("{events} events, {matches} matches, {bad_records} undecodable records, {bad_files} unreadable files");
    Ok(if bad_files > 0 {
        ExitCode::from(super::EXIT_PARTIAL)
    } else {
        ExitCode::SUCCESS
    })
}
