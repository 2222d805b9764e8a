//! The `[run]` section of the configuration file: `canhgac run`, every stage in one process.
//!
//! ```toml
//! [run]
//! data_dir = "canhgac-data"          # index, checkpoints, DLQ file, audit log
//! listen = "127.0.0.1:8080"          # web UI and API; empty disables them
//! rules = ["rules/sigma", "../shared/data/sigma/rules/rules"]
//!
//! [[run.sources]]                    # files read by an in-process sensor
//! agency = "byt"
//! sensor = "web-01"
//! format = "auto"
//! paths = ["/var/log/nginx"]
//! local_offset = "+07:00"            # zone-less timestamps; default: sensor.local_offset
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chrono::FixedOffset;
use serde::{Deserialize, Serialize};

use crate::error::CoreError;
use crate::topics::validate_id;

/// `[run]` as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRun {
    /// Where the index, checkpoints, the DLQ file and the audit log live.
    pub data_dir: String,
    /// Address of the web UI and API; empty disables them.
    pub listen: String,
    /// Sigma rule files or trees.
    pub rules: Vec<String>,
    /// IOC list definitions (files or directories); empty: none.
    pub ioc: Vec<String>,
    /// The taxonomy file; empty: the built-in one.
    pub taxonomy: String,
    /// Commit the index at most this long after the first uncommitted detection.
    pub commit_interval_ms: u64,
    /// Messages buffered between two stages.
    pub channel_capacity: usize,
    /// Files read by in-process sensors.
    pub sources: Vec<RawRunSource>,
}

impl Default for RawRun {
    fn default() -> Self {
        Self {
            data_dir: "canhgac-data".into(),
            listen: "127.0.0.1:8080".into(),
            rules: vec!["rules/sigma".into()],
            ioc: Vec::new(),
            taxonomy: String::new(),
            commit_interval_ms: 1000,
            channel_capacity: 4096,
            sources: Vec::new(),
        }
    }
}

/// One `[[run.sources]]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRunSource {
    pub agency: String,
    pub sensor: String,
    #[serde(default = "auto")]
    pub format: String,
    pub paths: Vec<String>,
    /// Follow the files as they grow and rotate (otherwise read them once).
    #[serde(default = "yes")]
    pub follow: bool,
    /// Offset of the source's timestamps that state no zone (`+07:00`, `-05:30`, `UTC`);
    /// `None`: `sensor.local_offset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_offset: Option<String>,
}

fn auto() -> String {
    "auto".into()
}

fn yes() -> bool {
    true
}

/// `[run]`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSettings {
    pub data_dir: PathBuf,
    pub listen: Option<SocketAddr>,
    pub rules: Vec<PathBuf>,
    pub ioc: Vec<PathBuf>,
    pub taxonomy: Option<PathBuf>,
    pub commit_interval: Duration,
    pub channel_capacity: usize,
    pub sources: Vec<RunSource>,
}

/// One checked source.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSource {
    pub agency: String,
    pub sensor: String,
    pub format: String,
    pub paths: Vec<PathBuf>,
    pub follow: bool,
    /// Offset of zone-less timestamps (the source's own, or `sensor.local_offset`).
    pub local_offset: FixedOffset,
}

impl RawRun {
    /// Checks `[run]` without IO. `invalid(key, message)` builds the error; `local_offset`
    /// (`sensor.local_offset`) is the sources' default.
    pub(crate) fn validate(
        self,
        invalid: &dyn Fn(&str, String) -> CoreError,
        formats: &[&str],
        local_offset: FixedOffset,
    ) -> Result<RunSettings, CoreError> {
        if self.data_dir.trim().is_empty() {
            return Err(invalid("run.data_dir", "must not be empty".into()));
        }
        let listen = match self.listen.trim() {
            "" => None,
            s => Some(
                s.parse::<SocketAddr>()
                    .map_err(|e| invalid("run.listen", format!("{s:?}: {e}")))?,
            ),
        };
        if !(10..=600_000).contains(&self.commit_interval_ms) {
            return Err(invalid(
                "run.commit_interval_ms",
                format!(
                    "must be between 10 and 600000, got {}",
                    self.commit_interval_ms
                ),
            ));
        }
        if !(1..=1_000_000).contains(&self.channel_capacity) {
            return Err(invalid(
                "run.channel_capacity",
                format!(
                    "must be between 1 and 1000000, got {}",
                    self.channel_capacity
                ),
            ));
        }
        let mut sources = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, s) in self.sources.into_iter().enumerate() {
            let key = |k: &str| format!("run.sources[{i}].{k}");
            validate_id("agency", &s.agency).map_err(|e| invalid(&key("agency"), e.to_string()))?;
            validate_id("sensor", &s.sensor).map_err(|e| invalid(&key("sensor"), e.to_string()))?;
            if !seen.insert((s.agency.clone(), s.sensor.clone())) {
                return Err(invalid(
                    &key("sensor"),
                    format!(
                        "agency {:?} already has a source with sensor {:?}: sensor ids must be unique per agency",
                        s.agency, s.sensor
                    ),
                ));
            }
            if !formats.contains(&s.format.as_str()) {
                return Err(invalid(
                    &key("format"),
                    format!("must be one of {}, got {:?}", formats.join("|"), s.format),
                ));
            }
            if s.paths.is_empty() {
                return Err(invalid(&key("paths"), "must name at least one path".into()));
            }
            let local_offset = match &s.local_offset {
                None => local_offset,
                Some(o) => crate::config::parse_local_offset(o)
                    .map_err(|e| invalid(&key("local_offset"), e))?,
            };
            sources.push(RunSource {
                agency: s.agency,
                sensor: s.sensor,
                format: s.format,
                paths: s.paths.into_iter().map(PathBuf::from).collect(),
                follow: s.follow,
                local_offset,
            });
        }
        let paths = |v: Vec<String>| v.into_iter().map(PathBuf::from).collect::<Vec<_>>();
        Ok(RunSettings {
            data_dir: PathBuf::from(self.data_dir),
            listen,
            rules: paths(self.rules),
            ioc: paths(self.ioc),
            taxonomy: match self.taxonomy.trim() {
                "" => None,
                t => Some(PathBuf::from(t)),
            },
            commit_interval: Duration::from_millis(self.commit_interval_ms),
            channel_capacity: self.channel_capacity,
            sources,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::RawConfig;
    use std::path::Path;

    fn check(text: &str) -> Result<crate::config::Config, String> {
        RawConfig::parse(text, Path::new("c.toml"), Vec::new())
            .map_err(|e| e.to_string())?
            .validate("c.toml")
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_sources() {
        let cfg = check("").unwrap();
        assert_eq!(cfg.run.listen.unwrap().to_string(), "127.0.0.1:8080");
        assert!(cfg.run.sources.is_empty());
        let cfg = check(
            "[run]\nlisten = \"\"\n[[run.sources]]\nagency = \"byt\"\nsensor = \"web-01\"\npaths = [\"/var/log/nginx\"]\n",
        )
        .unwrap();
        assert_eq!(cfg.run.listen, None);
        assert_eq!(cfg.run.sources[0].format, "auto");
        assert!(cfg.run.sources[0].follow);
        assert_eq!(cfg.run.sources[0].local_offset, crate::detection::vietnam());
    }

    #[test]
    fn a_source_reads_zone_less_times_in_its_offset_or_the_sensors() {
        let cfg = check(
            "[sensor]\nlocal_offset = \"UTC\"\n[[run.sources]]\nagency = \"byt\"\nsensor = \"a\"\npaths = [\"x\"]\n[[run.sources]]\nagency = \"byt\"\nsensor = \"b\"\npaths = [\"y\"]\nlocal_offset = \"-05:30\"\n",
        )
        .unwrap();
        assert_eq!(cfg.run.sources[0].local_offset.local_minus_utc(), 0);
        assert_eq!(
            cfg.run.sources[1].local_offset.local_minus_utc(),
            -(5 * 3600 + 30 * 60)
        );
    }

    #[test]
    fn errors_name_the_key() {
        for (text, key) in [
            ("[run]\nlisten = \"localhost\"\n", "run.listen"),
            ("[run]\ncommit_interval_ms = 0\n", "run.commit_interval_ms"),
            (
                "[[run.sources]]\nagency = \"B Y T\"\nsensor = \"s\"\npaths = [\"x\"]\n",
                "run.sources[0].agency",
            ),
            (
                "[[run.sources]]\nagency = \"byt\"\nsensor = \"s\"\nformat = \"pcap\"\npaths = [\"x\"]\n",
                "run.sources[0].format",
            ),
            (
                "[[run.sources]]\nagency = \"byt\"\nsensor = \"s\"\npaths = []\n",
                "run.sources[0].paths",
            ),
            (
                "[[run.sources]]\nagency = \"byt\"\nsensor = \"s\"\npaths = [\"a\"]\n[[run.sources]]\nagency = \"byt\"\nsensor = \"s\"\npaths = [\"b\"]\n",
                "run.sources[1].sensor",
            ),
            (
                "[[run.sources]]\nagency = \"byt\"\nsensor = \"s\"\npaths = [\"a\"]\nlocal_offset = \"ICT\"\n",
                "run.sources[0].local_offset",
            ),
        ] {
            let err = check(text).unwrap_err();
            assert!(err.contains(key), "{text:?}: {err}");
        }
        let err = check("[run]\nport = 1\n").unwrap_err();
        assert!(err.contains("port"), "{err}");
    }
}
