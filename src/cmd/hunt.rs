//! `canhgac hunt`: evaluate Sigma rules offline over event files of any ingest format
//! (auto-detected per file), one match per line. Correlation rules are evaluated after all
//! files are read, over their events in event-time order, and printed after the matches.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use canhgac_core::event::{Event, RawRecord, SourceKind, SourceRef};
use canhgac_ingest::{FileReader, Item, ReadOptions};
use canhgac_sigma::{CorrelationConfig, CorrelationEngine, CorrelationMatch, EngineBuilder, Hit};

use super::rules::{load_mappings, load_placeholders, render_report};
use super::UsageError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HuntFormat {
    /// One aligned line per match
    Table,
    /// One JSON object per match (rule_id, rule_title, level, author, event_id, timestamp, …;
    /// correlation matches add kind, group, first_timestamp, last_timestamp, event_ids)
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
    /// Agency the events are read for: with --sensor, the event ids are the ids the sensor
    /// would give with these values (same file fingerprint and byte offsets)
    #[arg(long, value_name = "ID", default_value = "local")]
    pub agency: String,
    /// Offset of timestamps that state no zone (RFC 3164 syslog, Apache error log, CEF, NXLog
    /// EventTime): +07:00, -05:30, UTC; the sensor's default, so that hunt gives the same
    /// event times as the pipeline
    #[arg(long, value_name = "OFFSET", default_value_t = canhgac_core::config::default_local_offset(),
          value_parser = canhgac_core::config::parse_local_offset)]
    pub local_offset: chrono::FixedOffset,
    /// Sensor id the events are read as (see --agency)
    #[arg(long, value_name = "ID", default_value = "hunt")]
    pub sensor: String,
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
    let (engine, correlations, report) = b.build_with_correlations();
    eprint!("{}", render_report(&report));
    let mut scratch = engine.scratch();
    let mut corr = CorrelationEngine::new(
        std::sync::Arc::new(correlations),
        CorrelationConfig::default(),
    );
    // Contributions to correlations, with their read order to keep ties stable.
    let mut hits: Vec<(u64, Hit)> = Vec::new();
    let mut building_blocks = 0u64;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let (mut events, mut matches, mut bad_records, mut bad_files) = (0u64, 0u64, 0u64, 0u64);
    let received = chrono::Utc::now();
    for path in &args.files {
        let mut read = ReadOptions::default();
        read.decoder.local_offset = args.local_offset;
        let mut reader = match FileReader::open(path, &read) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("canhgac: {}: {e}", path.display());
                bad_files += 1;
                continue;
            }
        };
        let name = path.display().to_string();
        let fingerprint = match reader.fingerprint() {
            Ok(f) => f,
            Err(e) => {
                eprintln!("canhgac: {name}: {e}");
                bad_files += 1;
                continue;
            }
        };
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
            let record = RawRecord {
                agency: &args.agency,
                sensor: &args.sensor,
                source_fingerprint: fingerprint.as_bytes(),
                offset,
                bytes: &raw,
            };
            let source = SourceRef {
                kind: SourceKind::File,
                name: name.clone(),
                offset: Some(offset),
                line: Some(line),
            };
            let event = Event::from_decoded(&record, *decoded, source, received);
            events += 1;
            let found = engine.matches(&event, &mut scratch);
            let feeding: Vec<_> = found
                .iter()
                .map(|m| m.rule_idx)
                .filter(|r| corr.set().feeds(*r))
                .collect();
            if !feeding.is_empty() {
                let seq = events;
                hits.extend(
                    corr.extract(&engine, &mut scratch, &event, &feeding)
                        .into_iter()
                        .map(|h| (seq, h)),
                );
            }
            for m in found {
                if !corr.set().emits_rule(m.rule_idx) {
                    // Referenced by a correlation without `generate: true`.
                    building_blocks += 1;
                    continue;
                }
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
    hits.sort_by(|a, b| a.1.time.cmp(&b.1.time).then(a.0.cmp(&b.0)));
    let mut correlated = 0u64;
    for (_, h) in hits {
        for m in corr.feed(h).into_iter().filter(|m| m.emit) {
            correlated += 1;
            print_correlation(&mut out, &m, args.format)?;
        }
    }
    out.flush()?;
    eprintln!("{events} events, {matches} matches, {correlated} correlation matches, {building_blocks} matches only feeding correlations, {bad_records} undecodable records, {bad_files} unreadable files");
    Ok(if bad_files > 0 {
        ExitCode::from(super::EXIT_PARTIAL)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_correlation(
    out: &mut impl std::io::Write,
    m: &CorrelationMatch,
    format: HuntFormat,
) -> std::io::Result<()> {
    match format {
        HuntFormat::Jsonl => {
            let mut v = m.to_json();
            if let Some(last) = m.event_ids.last() {
                v["event_id"] = serde_json::json!(last);
            }
            writeln!(out, "{v}")
        }
        HuntFormat::Table => {
            let group: Vec<String> = m.group.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let ids: Vec<String> = m.event_ids.iter().map(|i| i.to_string()).collect();
            writeln!(
                out,
                "{}  {:<13} {}  {}  [{}]  correlation {} {}  from {}  {} events: {}",
                m.last.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
                m.rule.level.as_str(),
                m.rule.id,
                m.rule.title,
                m.rule.author.as_deref().unwrap_or("unknown author"),
                m.kind,
                group.join(","),
                m.first.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
                m.events,
                ids.join(",")
            )
        }
    }
}
