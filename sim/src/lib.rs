//! canhgac-sim: realistic agency traffic with known ground truth, and the accuracy harness.
//!
//! [`Simulator`] generates, deterministically from a seed, the traffic of every agency of a
//! [`Registry`] over a range of months: benign background (web access, DNS, Windows logons and
//! process starts, mail, syslog, IDS noise, and near misses that resemble attacks) and injected
//! attacks of the three national classes — defacement of portals, phishing waves with
//! look-alike `.gov.vn` domains, malware infections with C2 traffic — in campaigns that span
//! days, trip several rules, hit several hosts or mailboxes and several agencies. Records are
//! raw bytes in the formats sensors read (the portal's Apache `vhost_combined` log, `evtx_dump`
//! JSON of the servers, Winlogbeat JSON of the workstations, Suricata EVE, Zeek `dns` JSON,
//! RFC 5424 syslog, `.eml`), so they go through the real decoders. Every injected attack on one agency is a [`TruthIncident`].
//!
//! Records stream day by day in time order ([`Simulator::records`]); only one simulated day is
//! held in memory. [`out`] writes them to files (one per agency and format) and paces them;
//! [`score`] replays them through the detection engine and scores incidents against the truth.
//!
//! ```no_run
//! # use canhgac_sim::*;
//! let registry = canhgac_core::registry::Registry::load("rules/agencies.example.toml".as_ref()).unwrap();
//! let sim = Simulator::new(SimConfig::new(registry, "2026-10".parse().unwrap(), "2026-10".parse().unwrap())).unwrap();
//! for r in sim.records().take(3) {
//!     println!("{} {} {} {}", r.time, r.agency, r.stream.format().name(), String::from_utf8_lossy(&r.bytes));
//! }
//! println!("{} injected attacks", sim.truth().len());
//! ```

mod attack;
mod gen;
mod model;
pub mod out;
mod plan;
pub mod publish;
mod render;
mod rng;
pub mod score;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

pub use canhgac_core::detection::Category;
pub use canhgac_core::registry::Registry;
pub use gen::Records;

/// Errors of the simulator and the harness.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("bad month {0:?}: expected YYYY-MM")]
    Month(String),
    #[error("empty month range: {from} is after {to}")]
    Range { from: Month, to: Month },
    #[error("the registry has no agency")]
    NoAgency,
    #[error("bad {what}: {message}")]
    Config { what: &'static str, message: String },
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("truth file {path}, line {line}: {message}")]
    Truth {
        path: std::path::PathBuf,
        line: usize,
        message: String,
    },
    #[error(transparent)]
    Worker(#[from] canhgac_detect::WorkerError),
    #[error(transparent)]
    Core(canhgac_core::CoreError),
    #[error(transparent)]
    Ingest(#[from] canhgac_ingest::IngestError),
    #[error("scoring index: {0}")]
    Index(#[from] canhgac_index::IndexError),
}

/// A calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    pub year: i32,
    pub month: u32,
}

impl Month {
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("valid month")
    }

    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// Number of days in the month.
    pub fn days(self) -> u32 {
        (self.next().first_day() - self.first_day()).num_days() as u32
    }
}

impl FromStr for Month {
    type Err = SimError;

    fn from_str(s: &str) -> Result<Self, SimError> {
        let bad = || SimError::Month(s.to_string());
        let (y, m) = s.split_once('-').ok_or_else(bad)?;
        let (year, month): (i32, u32) =
            (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if y.len() != 4 || !(1..=12).contains(&month) {
            return Err(bad());
        }
        Ok(Month { year, month })
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// Mean number of injected attacks per agency and month, per national class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AttackMix {
    pub phishing: f64,
    pub deface: f64,
    pub malware: f64,
}

impl Default for AttackMix {
    /// Roughly the national proportions (2022: phishing 39%, deface 10%, malware 51%).
    fn default() -> Self {
        AttackMix {
            phishing: 3.0,
            deface: 1.0,
            malware: 4.0,
        }
    }
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub registry: Registry,
    pub from: Month,
    /// Inclusive.
    pub to: Month,
    pub seed: u64,
    /// Benign records per agency on a working day (weekends carry a third of it).
    pub events_per_day: u32,
    pub mix: AttackMix,
    /// Exactly this many attacks of each national class over the whole range (spread over
    /// agencies and days), instead of the per-agency-month mix. An attack that finds no room
    /// (attacks of one class on one agency never overlap, see [`QUIET_DAYS`]) is left out, so
    /// a range too short for the number gives fewer.
    pub attacks_per_class: Option<u32>,
}

impl SimConfig {
    /// Defaults: seed 1, 500 background records per agency and working day, the default mix.
    pub fn new(registry: Registry, from: Month, to: Month) -> Self {
        SimConfig {
            registry,
            from,
            to,
            seed: 1,
            events_per_day: 500,
            mix: AttackMix::default(),
            attacks_per_class: None,
        }
    }
}

/// Days without activity between two attacks of one class on one agency: two attacks that
/// share a target (the portal, the agency's mailboxes or network) are that far apart, so that
/// a pipeline grouping by target within a shorter inactivity gap can tell them apart.
pub const QUIET_DAYS: i64 = 4;

/// The sensor stream a record belongs to: one per agency and input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stream {
    /// The portal's Apache access log, `vhost_combined` (the virtual host names the portal).
    Web,
    /// Windows events: the servers' (Security, Sysmon) as `evtx_dump` JSON lines, the
    /// workstations' Sysmon as Winlogbeat sends it (with the agent's `host.ip`).
    Windows,
    /// Suricata EVE JSON.
    Suricata,
    /// Zeek `dns` log, JSON.
    ZeekDns,
    /// RFC 5424 syslog.
    Syslog,
    /// One `.eml` message per record.
    Mail,
}

impl Stream {
    pub const ALL: [Stream; 6] = [
        Stream::Web,
        Stream::Windows,
        Stream::Suricata,
        Stream::ZeekDns,
        Stream::Syslog,
        Stream::Mail,
    ];

    /// The ingest format of the stream.
    pub fn format(self) -> canhgac_ingest::Format {
        use canhgac_ingest::Format;
        match self {
            Stream::Web => Format::Web,
            Stream::Windows => Format::Windows,
            Stream::Suricata => Format::Suricata,
            Stream::ZeekDns => Format::Zeek,
            Stream::Syslog => Format::Syslog,
            Stream::Mail => Format::Eml,
        }
    }

    /// The sensor name that reads the stream.
    pub fn sensor(self) -> &'static str {
        match self {
            Stream::Web => "web-01",
            Stream::Windows => "wef-01",
            Stream::Suricata => "ids-01",
            Stream::ZeekDns => "zeek-01",
            Stream::Syslog => "syslog-01",
            Stream::Mail => "mail-01",
        }
    }

    /// The file the stream is written to under the agency's directory (mail: a directory of
    /// `.eml` files).
    pub fn file_name(self) -> &'static str {
        match self {
            Stream::Web => "access.log",
            Stream::Windows => "windows.jsonl",
            Stream::Suricata => "eve.json",
            Stream::ZeekDns => "dns.json",
            Stream::Syslog => "syslog.log",
            Stream::Mail => "mail",
        }
    }
}

/// One raw record, as a sensor of `agency` would read it.
#[derive(Debug, Clone, PartialEq)]
pub struct SimRecord {
    pub agency: String,
    pub stream: Stream,
    pub time: DateTime<Utc>,
    /// The record without its line terminator (a whole message for mail).
    pub bytes: Vec<u8>,
    /// The ground-truth incident this record belongs to, if it is part of an attack.
    pub truth_id: Option<String>,
}

impl SimRecord {
    pub fn sensor(&self) -> &'static str {
        self.stream.sensor()
    }
}

/// One injected attack on one agency: what a perfect pipeline reports as one incident. It
/// spans one to four days (Asia/Ho_Chi_Minh), trips several rules and may hit several hosts or
/// mailboxes; a campaign that hits several agencies is one attack per agency, all carrying the
/// same [`TruthIncident::campaign`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthIncident {
    pub truth_id: String,
    /// The campaign the attack belongs to (shared by its attacks on other agencies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    pub agency: String,
    /// The information system attacked (registry id), when the registry names one.
    pub system: Option<String>,
    /// The national class of the attack.
    pub category: Category,
    pub first_time: DateTime<Utc>,
    pub last_time: DateTime<Utc>,
    /// The entity an analyst pivots on: the portal domain (deface), the look-alike domain
    /// (phishing), the C2 domain (malware).
    pub key_entity: String,
    /// The attacker's side: attacker addresses, sender and sending domain, look-alike domain,
    /// relay and landing addresses, C2 domain and address, web shell path, payload hash.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attack_entities: Vec<String>,
    /// What was hit: portal domain, web server hosts and address, mailboxes, workstations and
    /// their addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// Every entity of the attack: `attack_entities` then `targets` (matching uses these).
    pub entities: Vec<String>,
    pub description: String,
}

/// The simulator: a plan of attacks and a streaming generator of records.
pub struct Simulator {
    cfg: SimConfig,
    agencies: Vec<model::Agency>,
    attacks: Vec<plan::Attack>,
}

impl Simulator {
    pub fn new(cfg: SimConfig) -> Result<Self, SimError> {
        if cfg.from > cfg.to {
            return Err(SimError::Range {
                from: cfg.from,
                to: cfg.to,
            });
        }
        let agencies: Vec<model::Agency> = cfg
            .registry
            .agencies()
            .map(model::Agency::from_config)
            .collect::<Result<_, _>>()?;
        if agencies.is_empty() {
            return Err(SimError::NoAgency);
        }
        let attacks = plan::plan(&cfg, &agencies);
        Ok(Simulator {
            cfg,
            agencies,
            attacks,
        })
    }

    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// The ground truth: every injected attack, ordered by first time.
    pub fn truth(&self) -> Vec<TruthIncident> {
        self.attacks.iter().map(|a| a.truth.clone()).collect()
    }

    /// Every record of the range in time order (ties in a fixed order), generated one day at a
    /// time.
    pub fn records(&self) -> Records<'_> {
        Records::new(self)
    }

    /// The days simulated.
    pub fn days(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        let start = self.cfg.from.first_day();
        let end = self.cfg.to.next().first_day();
        start.iter_days().take_while(move |d| *d < end)
    }
}

/// Reads a `truth.jsonl` file.
pub fn read_truth(path: &std::path::Path) -> Result<Vec<TruthIncident>, SimError> {
    let text = std::fs::read_to_string(path).map_err(|source| SimError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| SimError::Truth {
                path: path.to_path_buf(),
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months() {
        let m: Month = "2026-02".parse().unwrap();
        assert_eq!(m.days(), 28);
        assert_eq!(m.to_string(), "2026-02");
        assert_eq!(
            "2026-12".parse::<Month>().unwrap().next().to_string(),
            "2027-01"
        );
        for bad in ["2026", "2026-13", "26-01", "x-01", "2026-00"] {
            assert!(bad.parse::<Month>().is_err(), "{bad}");
        }
    }
}
