//! The configuration file, in two steps (brief §7): [`RawConfig`] is what the TOML says, with
//! defaults and unknown keys rejected; [`RawConfig::validate`] checks it without IO into a
//! [`Config`].
//!
//! Environment overrides: a variable `CANHGAC_<SECTION>__<KEY>` (double underscore between the
//! levels) sets `<section>.<key>`, e.g. `CANHGAC_KAFKA__BROKERS=10.0.0.5:9092` or
//! `CANHGAC_TELEMETRY__LOG_FORMAT=json`. The value is read as TOML when it parses as a TOML value
//! (numbers, booleans, arrays) and as a string otherwise. Variables without a double underscore
//! (such as webhook secrets, `CANHGAC_WEBHOOK_SECRET_BYT`) are not configuration overrides.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::FixedOffset;
use serde::{Deserialize, Serialize};

use crate::error::CoreError;
use crate::topics::{validate_id, Topics, DEFAULT_PREFIX};

pub const ENV_PREFIX: &str = "CANHGAC_";

/// The offset in which every role that decodes (sensor, `run` sources, `hunt`, the simulator)
/// reads timestamps that state no zone (RFC 3164 syslog, Apache error logs, CEF, NXLog
/// `EventTime`, …) unless configured otherwise (`sensor.local_offset`, `--local-offset`):
/// Asia/Ho_Chi_Minh, the zone the months are counted in ([`crate::detection::vietnam`]).
pub fn default_local_offset() -> FixedOffset {
    crate::detection::vietnam()
}

/// Reads a local offset as configured: `+07:00`, `-05:30`, `+0700`, `+07`, or `UTC` / `Z`
/// (any case). Offsets beyond ±14:00 (no zone on Earth) are refused.
pub fn parse_local_offset(s: &str) -> Result<FixedOffset, String> {
    let bad = || format!("expected an offset like +07:00, -05:30 or UTC, got {s:?}");
    let t = s.trim();
    if t.eq_ignore_ascii_case("utc") || t.eq_ignore_ascii_case("z") {
        return Ok(FixedOffset::east_opt(0).expect("zero offset"));
    }
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = match rest.len() {
        2 => (rest, "00"),
        4 => rest.split_at(2),
        5 if rest.as_bytes()[2] == b':' => (&rest[..2], &rest[3..]),
        _ => return Err(bad()),
    };
    let num = |d: &str| {
        d.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| d.parse::<i32>().ok())
            .flatten()
    };
    let (Some(h), Some(m)) = (num(h), num(m)) else {
        return Err(bad());
    };
    if m >= 60 || h * 60 + m > 14 * 60 {
        return Err(format!("{s:?} is beyond the ±14:00 of any time zone"));
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60)).ok_or_else(bad)
}

/// An offset as the configuration writes it (`+07:00`).
pub fn format_local_offset(offset: FixedOffset) -> String {
    offset.to_string()
}

/// An input format by its name (`sensor.format`, `[[run.sources]] format`, the sensor's
/// `--format`): the one list of format names. `canhgac_ingest::Format` converts to and from it
/// and takes its names from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputFormat {
    Auto,
    Windows,
    Evtx,
    Suricata,
    Zeek,
    Syslog,
    Cef,
    Web,
    Json,
    Eml,
}

impl InputFormat {
    pub const ALL: [InputFormat; 10] = [
        InputFormat::Auto,
        InputFormat::Windows,
        InputFormat::Evtx,
        InputFormat::Suricata,
        InputFormat::Zeek,
        InputFormat::Syslog,
        InputFormat::Cef,
        InputFormat::Web,
        InputFormat::Json,
        InputFormat::Eml,
    ];

    /// The names of [`InputFormat::ALL`], in that order.
    pub const NAMES: [&'static str; 10] = {
        let mut names = [""; 10];
        let mut i = 0;
        while i < names.len() {
            names[i] = InputFormat::ALL[i].name();
            i += 1;
        }
        names
    };

    /// The configuration and command-line name.
    pub const fn name(self) -> &'static str {
        match self {
            InputFormat::Auto => "auto",
            InputFormat::Windows => "windows",
            InputFormat::Evtx => "evtx",
            InputFormat::Suricata => "suricata",
            InputFormat::Zeek => "zeek",
            InputFormat::Syslog => "syslog",
            InputFormat::Cef => "cef",
            InputFormat::Web => "web",
            InputFormat::Json => "json",
            InputFormat::Eml => "eml",
        }
    }

    /// The format named exactly `name` (as the configuration file must spell it).
    pub fn from_name(name: &str) -> Option<InputFormat> {
        InputFormat::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// The configuration file as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    pub kafka: RawKafka,
    pub telemetry: RawTelemetry,
    pub sensor: RawSensor,
    pub registry: RawRegistryRef,
    pub run: crate::runconfig::RawRun,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawKafka {
    /// Bootstrap brokers, comma separated (`host:port,host:port`).
    pub brokers: String,
    pub topic_prefix: String,
    /// librdkafka properties passed through as they are (`security.protocol`, `sasl.*`, …).
    pub properties: std::collections::BTreeMap<String, String>,
}

impl Default for RawKafka {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            topic_prefix: DEFAULT_PREFIX.into(),
            properties: Default::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTelemetry {
    /// `human` or `json`.
    pub log_format: String,
    /// A tracing filter (`info`, `canhgac_ingest=debug,info`, …).
    pub log_level: String,
    /// Where `/metrics` is served; empty disables it. Loopback by default.
    pub metrics_listen: String,
}

impl Default for RawTelemetry {
    fn default() -> Self {
        Self {
            log_format: "human".into(),
            log_level: "info".into(),
            metrics_listen: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSensor {
    pub agency: String,
    pub id: String,
    /// `auto` or a format name: one of [`InputFormat::NAMES`].
    pub format: String,
    pub checkpoint_dir: String,
    /// Longest record accepted; longer ones go to the DLQ.
    pub max_record_bytes: u64,
    /// How often followed files are checked for new data, in milliseconds.
    pub poll_interval_ms: u64,
    /// How often checkpoints are written, in milliseconds (they only ever cover acked records).
    pub checkpoint_interval_ms: u64,
    /// Records in flight to the broker before reading pauses.
    pub max_in_flight: u64,
    /// Offset of timestamps that state no zone (RFC 3164 syslog, Apache error log, CEF, NXLog
    /// `EventTime`): `+07:00` (the default, Asia/Ho_Chi_Minh), `-05:30`, `UTC`. Also the
    /// default of `canhgac run`'s sources (`[[run.sources]] local_offset`).
    pub local_offset: String,
}

impl Default for RawSensor {
    fn default() -> Self {
        Self {
            agency: String::new(),
            id: String::new(),
            format: "auto".into(),
            checkpoint_dir: String::new(),
            max_record_bytes: 1 << 20,
            poll_interval_ms: 250,
            checkpoint_interval_ms: 1000,
            max_in_flight: 50_000,
            local_offset: format_local_offset(default_local_offset()),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRegistryRef {
    /// Path of the agency registry (TOML); empty means none.
    pub path: String,
}

/// A checked configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub kafka: KafkaSettings,
    pub telemetry: TelemetrySettings,
    pub sensor: SensorSettings,
    pub registry_path: Option<PathBuf>,
    pub run: crate::runconfig::RunSettings,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KafkaSettings {
    pub brokers: String,
    pub topics: Topics,
    pub properties: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TelemetrySettings {
    pub log_format: LogFormat,
    pub log_level: String,
    pub metrics_listen: Option<SocketAddr>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SensorSettings {
    pub agency: Option<String>,
    pub id: Option<String>,
    pub format: String,
    pub checkpoint_dir: Option<PathBuf>,
    pub max_record_bytes: usize,
    pub poll_interval: std::time::Duration,
    pub checkpoint_interval: std::time::Duration,
    pub max_in_flight: usize,
    pub local_offset: FixedOffset,
}

impl RawConfig {
    /// Reads a configuration file and applies `CANHGAC_*` overrides from `env`.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<RawConfig, CoreError> {
        let (text, origin) = match path {
            Some(p) => (
                std::fs::read_to_string(p).map_err(|source| CoreError::Read {
                    path: p.to_path_buf(),
                    source,
                })?,
                p.to_path_buf(),
            ),
            None => (String::new(), PathBuf::from("<defaults>")),
        };
        Self::parse(&text, &origin, env)
    }

    pub fn parse(
        text: &str,
        origin: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<RawConfig, CoreError> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| CoreError::Parse {
            path: origin.to_path_buf(),
            message: e.to_string(),
        })?;
        let mut applied = Vec::new();
        for (var, value) in env {
            let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if !rest.contains("__") {
                continue;
            }
            let keys: Vec<String> = rest.split("__").map(|k| k.to_ascii_lowercase()).collect();
            if keys.iter().any(|k| k.is_empty()) {
                return Err(CoreError::Env {
                    var,
                    message: "empty key between '__' separators".into(),
                });
            }
            set_path(&mut table, &keys, parse_env_value(&value)).map_err(|message| {
                CoreError::Env {
                    var: var.clone(),
                    message,
                }
            })?;
            applied.push(var);
        }
        let raw: RawConfig = table.try_into().map_err(|e: toml::de::Error| {
            let mut message = e.to_string();
            if !applied.is_empty() {
                message.push_str(&format!(
                    " (environment overrides applied: {})",
                    applied.join(", ")
                ));
            }
            CoreError::Parse {
                path: origin.to_path_buf(),
                message,
            }
        })?;
        Ok(raw)
    }

    /// Checks the configuration without IO.
    pub fn validate(self, origin: &str) -> Result<Config, CoreError> {
        let invalid = |key: &str, message: String| CoreError::Invalid {
            origin: origin.to_string(),
            key: key.to_string(),
            message,
        };
        let brokers = self.kafka.brokers.trim().to_string();
        if brokers.is_empty() {
            return Err(invalid(
                "kafka.brokers",
                "must name at least one broker (host:port)".into(),
            ));
        }
        for b in brokers.split(',') {
            let b = b.trim();
            let ok = b
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
            if !ok {
                return Err(invalid("kafka.brokers", format!("{b:?} is not host:port")));
            }
        }
        let topics = Topics::new(&self.kafka.topic_prefix)
            .map_err(|e| invalid("kafka.topic_prefix", e.to_string()))?;
        let log_format = match self.telemetry.log_format.as_str() {
            "human" => LogFormat::Human,
            "json" => LogFormat::Json,
            other => {
                return Err(invalid(
                    "telemetry.log_format",
                    format!("must be \"human\" or \"json\", got {other:?}"),
                ))
            }
        };
        let metrics_listen = match self.telemetry.metrics_listen.trim() {
            "" => None,
            s => Some(
                s.parse::<SocketAddr>()
                    .map_err(|e| invalid("telemetry.metrics_listen", format!("{s:?}: {e}")))?,
            ),
        };
        let opt = |s: String| if s.trim().is_empty() { None } else { Some(s) };
        let agency = opt(self.sensor.agency);
        if let Some(a) = &agency {
            validate_id("agency", a).map_err(|e| invalid("sensor.agency", e.to_string()))?;
        }
        let id = opt(self.sensor.id);
        if let Some(s) = &id {
            validate_id("sensor", s).map_err(|e| invalid("sensor.id", e.to_string()))?;
        }
        const FORMATS: &[&str] = &InputFormat::NAMES;
        if InputFormat::from_name(&self.sensor.format).is_none() {
            return Err(invalid(
                "sensor.format",
                format!(
                    "must be one of {}, got {:?}",
                    FORMATS.join("|"),
                    self.sensor.format
                ),
            ));
        }
        if self.sensor.max_record_bytes < 1024 || self.sensor.max_record_bytes > 256 << 20 {
            return Err(invalid(
                "sensor.max_record_bytes",
                format!(
                    "must be between 1024 and 268435456, got {}",
                    self.sensor.max_record_bytes
                ),
            ));
        }
        for (key, v) in [
            ("sensor.poll_interval_ms", self.sensor.poll_interval_ms),
            (
                "sensor.checkpoint_interval_ms",
                self.sensor.checkpoint_interval_ms,
            ),
        ] {
            if !(10..=600_000).contains(&v) {
                return Err(invalid(
                    key,
                    format!("must be between 10 and 600000, got {v}"),
                ));
            }
        }
        if self.sensor.max_in_flight == 0 || self.sensor.max_in_flight > 10_000_000 {
            return Err(invalid(
                "sensor.max_in_flight",
                format!(
                    "must be between 1 and 10000000, got {}",
                    self.sensor.max_in_flight
                ),
            ));
        }
        let local_offset = parse_local_offset(&self.sensor.local_offset)
            .map_err(|e| invalid("sensor.local_offset", e))?;
        let run = self.run.validate(&invalid, FORMATS, local_offset)?;
        Ok(Config {
            run,
            kafka: KafkaSettings {
                brokers,
                topics,
                properties: self.kafka.properties.into_iter().collect(),
            },
            telemetry: TelemetrySettings {
                log_format,
                log_level: self.telemetry.log_level,
                metrics_listen,
            },
            sensor: SensorSettings {
                agency,
                id,
                format: self.sensor.format,
                checkpoint_dir: opt(self.sensor.checkpoint_dir).map(PathBuf::from),
                max_record_bytes: self.sensor.max_record_bytes as usize,
                poll_interval: std::time::Duration::from_millis(self.sensor.poll_interval_ms),
                checkpoint_interval: std::time::Duration::from_millis(
                    self.sensor.checkpoint_interval_ms,
                ),
                max_in_flight: self.sensor.max_in_flight as usize,
                local_offset,
            },
            registry_path: opt(self.registry.path).map(PathBuf::from),
        })
    }
}

fn parse_env_value(value: &str) -> toml::Value {
    // A bare TOML value: wrap it in a key to let the TOML parser read it.
    match format!("v = {value}").parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(value.to_string())),
        Err(_) => toml::Value::String(value.to_string()),
    }
}

fn set_path(table: &mut toml::Table, keys: &[String], value: toml::Value) -> Result<(), String> {
    let (last, parents) = keys.split_last().expect("at least one key");
    let mut cur = table;
    for k in parents {
        let entry = cur
            .entry(k.clone())
            .or_insert_with(|| toml::Value::Table(Default::default()));
        cur = entry
            .as_table_mut()
            .ok_or_else(|| format!("{k} is not a table"))?;
    }
    // Keep strings strings where the file has a string (a numeric-looking agency id, say).
    let value = match (cur.get(last), value) {
        (Some(toml::Value::String(_)), v) if !v.is_str() => {
            toml::Value::String(v.to_string().trim_matches('"').to_string())
        }
        (_, v) => v,
    };
    cur.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env() -> Vec<(String, String)> {
        Vec::new()
    }

    #[test]
    fn default_config_round_trips_and_validates() {
        let raw = RawConfig::default();
        let text = toml::to_string(&raw).unwrap();
        let back = RawConfig::parse(&text, Path::new("x.toml"), no_env()).unwrap();
        assert_eq!(back, raw);
        let cfg = raw.validate("x.toml").unwrap();
        assert_eq!(cfg.kafka.topics.prefix(), "canhgac");
        assert_eq!(cfg.telemetry.log_format, LogFormat::Human);
        assert_eq!(cfg.sensor.max_record_bytes, 1 << 20);
        assert_eq!(cfg.sensor.local_offset, crate::detection::vietnam());
    }

    #[test]
    fn local_offsets_parse_and_bad_ones_are_explained() {
        let secs = |s: &str| parse_local_offset(s).map(|o| o.local_minus_utc());
        assert_eq!(secs("+07:00"), Ok(7 * 3600));
        assert_eq!(secs("UTC"), Ok(0));
        assert_eq!(secs("z"), Ok(0));
        assert_eq!(secs("-05:30"), Ok(-(5 * 3600 + 30 * 60)));
        assert_eq!(secs("+0545"), Ok(5 * 3600 + 45 * 60));
        assert_eq!(secs("+07"), Ok(7 * 3600));
        for bad in [
            "7",
            "+7:00",
            "GMT+7",
            "+07:60",
            "+15:00",
            "",
            "+0a:00",
            "Asia/Ho_Chi_Minh",
        ] {
            let err = parse_local_offset(bad).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{bad:?}: {err}");
        }
        assert_eq!(
            parse_local_offset(&format_local_offset(default_local_offset())),
            Ok(default_local_offset())
        );
        let err = RawConfig::parse(
            "[sensor]\nlocal_offset = '+7'\n",
            Path::new("c.toml"),
            no_env(),
        )
        .unwrap()
        .validate("c.toml")
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("c.toml") && err.contains("sensor.local_offset") && err.contains("+07:00"),
            "{err}"
        );
    }

    #[test]
    fn unknown_key_is_named() {
        let err = RawConfig::parse("[kafka]\nbrokerz = 'x'\n", Path::new("c.toml"), no_env())
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("c.toml") && msg.contains("brokerz"), "{msg}");
    }

    #[test]
    fn env_overrides() {
        let env = vec![
            (
                "CANHGAC_KAFKA__BROKERS".to_string(),
                "10.0.0.5:9092".to_string(),
            ),
            (
                "CANHGAC_SENSOR__MAX_RECORD_BYTES".to_string(),
                "4096".to_string(),
            ),
            ("CANHGAC_SENSOR__AGENCY".to_string(), "byt".to_string()),
            (
                "CANHGAC_WEBHOOK_SECRET_BYT".to_string(),
                "s3cret".to_string(),
            ),
            ("PATH".to_string(), "/bin".to_string()),
        ];
        let cfg = RawConfig::parse("[sensor]\nid = 'web-01'\n", Path::new("c.toml"), env)
            .unwrap()
            .validate("c")
            .unwrap();
        assert_eq!(cfg.kafka.brokers, "10.0.0.5:9092");
        assert_eq!(cfg.sensor.max_record_bytes, 4096);
        assert_eq!(cfg.sensor.agency.as_deref(), Some("byt"));
        assert_eq!(cfg.sensor.id.as_deref(), Some("web-01"));
    }

    #[test]
    fn env_override_of_unknown_key_names_the_variable() {
        let env = vec![("CANHGAC_KAFKA__NOPE".to_string(), "1".to_string())];
        let msg = RawConfig::parse("", Path::new("c.toml"), env)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("nope") && msg.contains("CANHGAC_KAFKA__NOPE"),
            "{msg}"
        );
    }

    #[test]
    fn input_format_names_are_unique_and_round_trip() {
        let names: std::collections::BTreeSet<&str> = InputFormat::NAMES.into_iter().collect();
        assert_eq!(names.len(), InputFormat::ALL.len());
        for f in InputFormat::ALL {
            assert_eq!(InputFormat::from_name(f.name()), Some(f));
        }
        // Exact names only, as the configuration file must spell them.
        assert_eq!(InputFormat::from_name("Windows"), None);
        let err = RawConfig::parse("[sensor]\nformat = 'pcap'\n", Path::new("c.toml"), no_env())
            .unwrap()
            .validate("c.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains(&InputFormat::NAMES.join("|")), "{err}");
    }

    #[test]
    fn validation_names_key_and_problem() {
        let cases = [
            ("[kafka]\nbrokers = 'nohost'\n", "kafka.brokers"),
            (
                "[kafka]\ntopic_prefix = 'bad prefix'\n",
                "kafka.topic_prefix",
            ),
            ("[telemetry]\nlog_format = 'xml'\n", "telemetry.log_format"),
            (
                "[telemetry]\nmetrics_listen = 'here'\n",
                "telemetry.metrics_listen",
            ),
            ("[sensor]\nagency = 'Bộ Y tế'\n", "sensor.agency"),
            ("[sensor]\nformat = 'pcap'\n", "sensor.format"),
            (
                "[sensor]\nmax_record_bytes = 10\n",
                "sensor.max_record_bytes",
            ),
        ];
        for (text, key) in cases {
            let err = RawConfig::parse(text, Path::new("c.toml"), no_env())
                .unwrap()
                .validate("c.toml")
                .unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(key), "{text:?}: {msg}");
        }
    }
}
