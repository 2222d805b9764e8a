//! `canhgac sensor`: read an agency's security logs and publish them to Kafka.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use canhgac_core::config::LogFormat;
use canhgac_ingest::decode::DecoderOptions;
use canhgac_ingest::sensor::{Identity, Progress, Sensor, SensorMetrics, SensorOptions};
use canhgac_ingest::source::file::FileOptions;
use canhgac_ingest::source::listen::{self, ListenContext};
use canhgac_ingest::Format;
use canhgac_kafka::KafkaPublisher;
use chrono::FixedOffset;
use clap::Args;

use super::start::{self, KafkaRoleArgs, Role, RoleContext};
use super::{UsageError, EXIT_PARTIAL};

const EXAMPLES: &str = "\
Examples:
  # Backfill a folder of logs once, then exit when the broker has acked everything:
  canhgac sensor --brokers 10.0.0.5:9092 --agency byt --sensor web-01 \\
      --checkpoint-dir /var/lib/canhgac --once --progress /var/log/nginx/

  # Follow files as they grow and rotate, listen for syslog, expose metrics:
  canhgac sensor --brokers kafka1:9093,kafka2:9093 --agency ubnd-ha-noi --sensor fw-01 \\
      -X security.protocol=SASL_SSL -X sasl.mechanism=SCRAM-SHA-512 \\
      -X sasl.username=ubnd-ha-noi -X sasl.password=... \\
      --syslog-udp 0.0.0.0:514 --syslog-tcp 0.0.0.0:601 --metrics-listen 127.0.0.1:9464 \\
      --checkpoint-dir /var/lib/canhgac /var/log/suricata/eve.json

  # Read stdin:
  zcat eve.json.gz | canhgac sensor --brokers 127.0.0.1:9092 --agency byt --sensor ids-01 --once -

Records that do not decode go to <prefix>.dlq.<agency> with headers naming the reason, source,
offset and line; the sensor goes on with the next record. Checkpoints move only after the broker
acked, so after a crash a restart re-reads at most the unacked tail, with the same event ids.

Metrics (--metrics-listen): records read, published, rejected, bytes, acked.";

/// Options of `canhgac sensor`. Each may also come from `--config` (see `canhgac run --help`)
/// or a `CANHGAC_SECTION__KEY` environment variable; the command line wins.
#[derive(Debug, Args)]
#[command(after_long_help = EXAMPLES)]
pub struct SensorArgs {
    /// Agency id; events go to <prefix>.events.<AGENCY>, bad records to <prefix>.dlq.<AGENCY>
    /// [config: sensor.agency]
    #[arg(long, value_name = "ID")]
    agency: Option<String>,

    /// Sensor id, part of every event id: keep it stable for one sensor [config: sensor.id]
    #[arg(long = "sensor", value_name = "ID")]
    sensor_id: Option<String>,

    /// Input format; auto detects it per file from its name and first bytes (gzip is read
    /// transparently) [config: sensor.format]
    #[arg(long, value_name = "FORMAT", value_parser = parse_format,
          long_help = format_long_help())]
    format: Option<Format>,

    /// Read every input to its end, wait until the broker acked everything, and exit (0 when
    /// every input was read). Without it, files are followed as they grow and rotate.
    #[arg(long)]
    once: bool,

    /// Draw a progress bar on stderr (for backfills)
    #[arg(long)]
    progress: bool,

    /// Directory for checkpoints; without it every run starts from the beginning of each file
    /// [config: sensor.checkpoint_dir]
    #[arg(long, value_name = "DIR")]
    checkpoint_dir: Option<PathBuf>,

    /// Listen for syslog over UDP (RFC 3164/5424, CEF) on this address
    #[arg(long, value_name = "ADDR")]
    syslog_udp: Option<SocketAddr>,

    /// Listen for syslog over TCP (RFC 6587: octet counting or LF-delimited) on this address
    #[arg(long, value_name = "ADDR")]
    syslog_tcp: Option<SocketAddr>,

    /// Accept NDJSON at POST http://ADDR/v1/ndjson[?format=FORMAT]; the answer comes once every
    /// record is acked by the broker
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,

    /// Longest record accepted; longer ones go to the DLQ [config: sensor.max_record_bytes]
    /// [default: 1048576]
    #[arg(long, value_name = "BYTES")]
    max_record_bytes: Option<u64>,

    /// Offset of timestamps that state no zone (RFC 3164 syslog, Apache error log, CEF, NXLog
    /// EventTime): +07:00, -05:30, UTC [config: sensor.local_offset] [default: +07:00,
    /// Asia/Ho_Chi_Minh]
    #[arg(long, value_name = "OFFSET", value_parser = canhgac_core::config::parse_local_offset)]
    local_offset: Option<FixedOffset>,

    /// Partitions of topics the sensor creates when they are missing
    #[arg(long, value_name = "N", default_value_t = 3)]
    partitions: i32,

    #[command(flatten)]
    common: KafkaRoleArgs,

    /// Files or directories to read (directories recursively, hidden entries skipped); `-`
    /// reads stdin
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
}

/// `--format`'s long help, naming the formats from their one list.
fn format_long_help() -> String {
    format!(
        "Input format: {}.\n\
auto (the default) detects it per file from its name and first bytes; gzip is read \
transparently. windows: evtx_dump JSON (one per line or pretty-printed), NXLog or \
Winlogbeat JSON; evtx: raw .evtx files; web: Apache/Nginx combined or common, Apache vhost_combined, IIS W3C; \
eml: one RFC 5322 message per file [config: sensor.format]",
        canhgac_core::config::InputFormat::NAMES.join("|")
    )
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse::<Format>().map_err(|e| e.to_string())
}

pub fn run(args: SensorArgs) -> anyhow::Result<ExitCode> {
    let cfg = args.common.configure(|raw| {
        if let Some(a) = &args.agency {
            raw.sensor.agency = a.clone();
        }
        if let Some(s) = &args.sensor_id {
            raw.sensor.id = s.clone();
        }
        if let Some(f) = args.format {
            raw.sensor.format = f.name().to_string();
        }
        if let Some(d) = &args.checkpoint_dir {
            raw.sensor.checkpoint_dir = d.display().to_string();
        }
        if let Some(m) = args.max_record_bytes {
            raw.sensor.max_record_bytes = m;
        }
        if let Some(o) = args.local_offset {
            raw.sensor.local_offset = canhgac_core::config::format_local_offset(o);
        }
    })?;
    let agency = cfg
        .sensor
        .agency
        .clone()
        .ok_or_else(|| UsageError("--agency is required".into()))?;
    let sensor_id = cfg
        .sensor
        .id
        .clone()
        .ok_or_else(|| UsageError("--sensor is required".into()))?;
    let listening = args.syslog_udp.is_some() || args.syslog_tcp.is_some() || args.http.is_some();
    if args.paths.is_empty() && !listening {
        return Err(UsageError("nothing to read: give PATHs, '-' for stdin, or a listener (--syslog-udp, --syslog-tcp, --http)".into()).into());
    }
    if args.once && listening {
        return Err(UsageError(
            "--once reads inputs to their end; listeners never end: drop one of them".into(),
        )
        .into());
    }
    let log_format = if args.progress {
        LogFormat::Human
    } else {
        cfg.telemetry.log_format
    };
    let role = Role::start(&cfg.telemetry, log_format)?;
    let format: Format = cfg
        .sensor
        .format
        .parse()
        .map_err(|e: canhgac_ingest::decode::IngestError| UsageError(e.to_string()))?;

    let ident = Identity {
        agency,
        sensor: sensor_id,
        topics: cfg.kafka.topics.clone(),
    };
    let decoder = DecoderOptions::default().local_offset(cfg.sensor.local_offset);
    let opts = SensorOptions {
        ident: ident.clone(),
        file: FileOptions {
            format,
            max_record_len: cfg.sensor.max_record_bytes,
            follow: !args.once,
            poll_interval: cfg.sensor.poll_interval,
            decoder: decoder.clone(),
        },
        checkpoint_dir: cfg.sensor.checkpoint_dir.clone(),
        checkpoint_interval: cfg.sensor.checkpoint_interval,
        max_in_flight: cfg.sensor.max_in_flight,
        parallel_files: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
    };
    let settings = start::client_settings(&cfg.kafka);
    let lcx = ListenContext {
        ident,
        decoder,
        max_record_len: cfg.sensor.max_record_bytes,
    };
    role.run(|RoleContext { cancel, registry }| async move {
        let metrics = SensorMetrics::new(&registry)?;
        let publisher = KafkaPublisher::new(&settings)?.with_topic_layout(args.partitions, 1);
        let listeners = listeners(&args, &lcx).await?;
        let mut sensor = Sensor::new(opts, publisher.clone(), metrics);
        if args.progress {
            sensor = sensor.with_progress(Arc::new(Bar::new()));
        }
        let summary = sensor
            .run(args.paths, listeners, cancel)
            .await
            .context("sensor stopped")?;
        publisher.flush(Duration::from_secs(10)).await.ok();
        tracing::info!(
            events = summary.events,
            rejected = summary.rejected,
            acked = summary.acked,
            files = summary.files,
            "sensor finished"
        );
        Ok(if summary.failed_sources > 0 {
            ExitCode::from(EXIT_PARTIAL)
        } else {
            ExitCode::SUCCESS
        })
    })
}

/// The syslog and HTTP listeners asked for, bound.
async fn listeners(
    args: &SensorArgs,
    lcx: &ListenContext,
) -> anyhow::Result<Vec<canhgac_ingest::sensor::Listener>> {
    let mut listeners: Vec<canhgac_ingest::sensor::Listener> = Vec::new();
    if let Some(addr) = args.syslog_udp {
        let (_, l) = listen::syslog_udp(addr, lcx.clone()).await?;
        listeners.push(Box::new(l));
    }
    if let Some(addr) = args.syslog_tcp {
        let (_, l) = listen::syslog_tcp(addr, lcx.clone()).await?;
        listeners.push(Box::new(l));
    }
    if let Some(addr) = args.http {
        let (_, l) = listen::http(addr, lcx.clone()).await?;
        listeners.push(Box::new(l));
    }
    Ok(listeners)
}

/// A progress bar on stderr: bytes read out of the inputs' total, with counts.
struct Bar(indicatif::ProgressBar);

impl Bar {
    fn new() -> Self {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta}) {msg}")
                .expect("valid template"),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        Bar(bar)
    }
}

impl Progress for Bar {
    fn set_total(&self, bytes: u64) {
        self.0.set_length(bytes);
    }
    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
    fn acked(&self, events: u64, rejected: u64, acked: u64) {
        self.0.set_message(format!(
            "{events} events, {rejected} rejected, {acked} acked"
        ));
    }
    fn finish(&self) {
        self.0.finish();
    }
}
