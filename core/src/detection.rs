//! Detections and incidents (brief §4): the contract between `detect`, `index`, `notify` and
//! `serve`.
//!
//! A [`Detection`] says which rule or IOC list matched which event, with the category, priority,
//! ATT&CK techniques, the rule's author (the Sigma licence asks that output crediting a match
//! names it), handling guidance, and the incident it belongs to. Detections are published as
//! JSON to `<prefix>.detections`. An [`Incident`] is the aggregate of the distinct detections
//! that share an incident id; the index computes it.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, FixedOffset, Utc};
use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::id::Id;

/// Version of the JSON payload written to `<prefix>.detections`.
pub const DETECTION_SCHEMA_VERSION: u16 = 1;

/// Vietnam's time zone (Asia/Ho_Chi_Minh): UTC+7 all year, no daylight saving.
pub fn vietnam() -> FixedOffset {
    FixedOffset::east_opt(7 * 3600).expect("valid offset")
}

/// The calendar month (yyyymm) of an instant in Asia/Ho_Chi_Minh.
pub fn month_of(t: DateTime<Utc>) -> u32 {
    let local = t.with_timezone(&vietnam());
    local.year() as u32 * 100 + local.month()
}

/// The categories of brief §4: the three national classes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// Lừa đảo.
    Phishing,
    /// Thay đổi giao diện.
    Deface,
    /// Cài mã độc.
    Malware,
    Intrusion,
    Bruteforce,
    Ddos,
    Recon,
    DataLeak,
    Other,
}

impl Category {
    pub const ALL: [Category; 9] = [
        Category::Phishing,
        Category::Deface,
        Category::Malware,
        Category::Intrusion,
        Category::Bruteforce,
        Category::Ddos,
        Category::Recon,
        Category::DataLeak,
        Category::Other,
    ];

    /// The three classes the national centre reports monthly.
    pub const NATIONAL: [Category; 3] = [Category::Phishing, Category::Deface, Category::Malware];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Phishing => "phishing",
            Category::Deface => "deface",
            Category::Malware => "malware",
            Category::Intrusion => "intrusion",
            Category::Bruteforce => "bruteforce",
            Category::Ddos => "ddos",
            Category::Recon => "recon",
            Category::DataLeak => "data-leak",
            Category::Other => "other",
        }
    }

    pub fn name_vi(self) -> &'static str {
        match self {
            Category::Phishing => "Lừa đảo",
            Category::Deface => "Thay đổi giao diện",
            Category::Malware => "Cài mã độc",
            Category::Intrusion => "Xâm nhập",
            Category::Bruteforce => "Dò quét mật khẩu",
            Category::Ddos => "Từ chối dịch vụ",
            Category::Recon => "Thăm dò, rà quét",
            Category::DataLeak => "Lộ lọt dữ liệu",
            Category::Other => "Khác",
        }
    }

    pub fn name_en(self) -> &'static str {
        match self {
            Category::Phishing => "Phishing",
            Category::Deface => "Defacement",
            Category::Malware => "Malware",
            Category::Intrusion => "Intrusion",
            Category::Bruteforce => "Brute force",
            Category::Ddos => "Denial of service",
            Category::Recon => "Reconnaissance",
            Category::DataLeak => "Data leak",
            Category::Other => "Other",
        }
    }

    pub fn is_national(self) -> bool {
        Self::NATIONAL.contains(&self)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Category {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown category {s:?} (expected one of {})",
                    Category::ALL.map(|c| c.as_str()).join(", ")
                )
            })
    }
}

/// A Sigma rule level.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Informational,
    Low,
    #[default]
    Medium,
    High,
    Critical,
}

impl Level {
    pub const ALL: [Level; 5] = [
        Level::Informational,
        Level::Low,
        Level::Medium,
        Level::High,
        Level::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Informational => "informational",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }
}

impl FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Level::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| format!("unknown level {s:?}"))
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Handling priority, from the rule level and the system's security level (a table in
/// configuration). P1 is the most urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    P4,
    P3,
    P2,
    P1,
}

impl Priority {
    pub const ALL: [Priority; 4] = [Priority::P1, Priority::P2, Priority::P3, Priority::P4];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::P1 => "p1",
            Priority::P2 => "p2",
            Priority::P3 => "p3",
            Priority::P4 => "p4",
        }
    }
}

impl FromStr for Priority {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Priority::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown priority {s:?} (expected p1, p2, p3 or p4)"))
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of rule matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleKind {
    Sigma,
    Correlation,
    Ioc,
}

/// Text in Vietnamese and English.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bilingual {
    #[serde(default)]
    pub vi: String,
    #[serde(default)]
    pub en: String,
}

/// The rule (or IOC list) behind a detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleRef {
    pub id: String,
    pub title: String,
    pub kind: RuleKind,
    pub level: Level,
    /// The rule's author, credited wherever a match is shown (Sigma DRL 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// ATT&CK technique ids from the tags (`T1059.001`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub techniques: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub falsepositives: Vec<String>,
}

/// The information system an event was attributed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemRef {
    pub id: String,
    pub name_vi: String,
    pub name_en: String,
    /// Security level 1–5 (Decree 85/2016).
    pub level: u8,
}

/// An indicator hit, for IOC detections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IocHit {
    /// The indicator as listed (`evil.example`, `10.1.2.0/24`, a hash, …).
    pub indicator: String,
    /// `ip`, `cidr`, `domain`, `url`, `hash`, `email`.
    pub indicator_type: String,
    /// The list's kind (`phishing`, `malware`, `c2`, `scanner`, …).
    pub list_kind: String,
    /// The list's name (file or MISP event) and, where it says, the family or campaign.
    pub list: String,
    /// The event field that carried the value.
    pub field: String,
    /// The value seen.
    pub value: String,
}

/// What a correlation detection aggregated (Sigma correlation rules).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorrelationInfo {
    /// `event_count`, `value_count`, `temporal`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// (group-by field, value) pairs of the key that fired.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group: Vec<(String, String)>,
    /// Event time of the earliest and latest contribution in the window.
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    /// What the condition was tested on (count, distinct values, rules seen, sum, …).
    pub value: f64,
    /// Contributions in the window.
    pub events: usize,
    /// Ids of the contributing events (all, or the earliest and latest when many).
    pub event_ids: Vec<Id>,
}

/// The entities of a detection analysts pivot on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entities {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hashes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<String>,
}

impl Entities {
    /// The kinds of entity, one per list (what a suppression's entity names).
    pub const KINDS: [&'static str; 7] = ["ip", "host", "user", "domain", "url", "hash", "email"];

    pub fn is_empty(&self) -> bool {
        self == &Entities::default()
    }

    /// The list of one kind of [`Entities::KINDS`]; `None` for another word.
    pub fn of_kind(&self, kind: &str) -> Option<&[String]> {
        Some(match kind {
            "ip" => &self.ips,
            "host" => &self.hosts,
            "user" => &self.users,
            "domain" => &self.domains,
            "url" => &self.urls,
            "hash" => &self.hashes,
            "email" => &self.emails,
            _ => return None,
        })
    }

    /// The entities an event names (from its ECS fields).
    pub fn from_event(event: &Event) -> Entities {
        let e = &event.ecs;
        let mut out = Entities {
            ips: e.related.ip.iter().map(|ip| ip.to_string()).collect(),
            users: e.related.user.clone(),
            urls: e.related.url.clone(),
            hashes: e.related.hash.clone(),
            ..Default::default()
        };
        for h in &e.related.hosts {
            // A name with a dot is a domain; a bare name is a host.
            if h.contains('.') && h.parse::<std::net::IpAddr>().is_err() {
                out.domains.push(h.clone());
            } else {
                out.hosts.push(h.clone());
            }
        }
        if let Some(h) = &e.host_name {
            let h = h.to_ascii_lowercase();
            if !out.hosts.contains(&h) {
                out.hosts.push(h);
            }
        }
        out.emails.extend(e.email_from.iter().cloned());
        out.emails.extend(e.email_to.iter().cloned());
        out
    }

    /// Adds `other`'s entities not yet present, keeping at most `cap` of each kind.
    pub fn merge(&mut self, other: &Entities, cap: usize) {
        fn add(into: &mut Vec<String>, from: &[String], cap: usize) {
            for v in from {
                if into.len() >= cap {
                    break;
                }
                if !into.contains(v) {
                    into.push(v.clone());
                }
            }
        }
        add(&mut self.ips, &other.ips, cap);
        add(&mut self.hosts, &other.hosts, cap);
        add(&mut self.users, &other.users, cap);
        add(&mut self.domains, &other.domains, cap);
        add(&mut self.urls, &other.urls, cap);
        add(&mut self.hashes, &other.hashes, cap);
        add(&mut self.emails, &other.emails, cap);
    }
}

/// Which side of an attack a [`Link`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkRole {
    /// The attacker's side: address, sender, look-alike domain, indicator, C2, web shell path.
    Attack,
    /// What was attacked: information system, host, web site, mailboxes.
    Target,
}

impl LinkRole {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkRole::Attack => "attack",
            LinkRole::Target => "target",
        }
    }
}

/// One entity by which a detection joins an incident. Values of one kind (`ip`, `domain`,
/// `email`, `host`, `system`, `path`, `hash`, `url`, …) link whatever field they came from: a
/// look-alike domain in a mail's link and in a DNS question are one entity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Link {
    pub role: LinkRole,
    pub kind: String,
    /// Normalised (lowercased, trimmed) value.
    pub value: String,
}

/// How a detection joins an incident, computed by the detect worker from the taxonomy's
/// `incidents` section: detections of one agency and one category that share a link and lie at
/// most `gap_secs` apart (directly or through a chain of such detections) are one attack.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grouping {
    pub gap_secs: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
}

impl Grouping {
    pub fn is_empty(&self) -> bool {
        self.gap_secs == 0 && self.links.is_empty()
    }
}

/// One rule (or IOC) matching one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    #[serde(rename = "v")]
    pub schema: u16,
    /// hash(event id, rule id): a replay gives the same id.
    pub id: Id,
    /// Provisional as published by the detect worker (rule × grouping key × day, what alerts
    /// are grouped by); the index replaces it with the attack the detection belongs to.
    pub incident_id: Id,
    /// From the events topic the event came from, never from its payload.
    pub agency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<SystemRef>,
    pub rule: RuleRef,
    pub category: Category,
    pub priority: Priority,
    /// Event time of the matched event.
    #[serde(rename = "@timestamp")]
    pub timestamp: DateTime<Utc>,
    /// yyyymm of `timestamp` in Asia/Ho_Chi_Minh.
    pub month: u32,
    /// The grouping key of the detect worker's provisional incident (`incident_id`: rule ×
    /// this key × day; the defaced site, the phishing domain, the infected host, …). The index
    /// groups detections into attacks by `grouping` and gives each its incident there.
    pub group_key: String,
    /// The entities and the inactivity gap by which the index groups this detection into an
    /// attack (an incident). Absent in detections made before grouping existed.
    #[serde(default, skip_serializing_if = "Grouping::is_empty")]
    pub grouping: Grouping,
    #[serde(default, skip_serializing_if = "Entities::is_empty")]
    pub entities: Entities,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ioc: Option<IocHit>,
    /// For a correlation detection: the window that fired (`event` is the one that closed it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation: Option<CorrelationInfo>,
    /// What the agency should do next.
    #[serde(default)]
    pub guidance: Bilingual,
    /// The suppression (a lifecycle record, `canhgac_core::lifecycle::Suppression`) under which
    /// the detect worker marked this detection: the index keeps and counts it but makes no
    /// incident of it, and notify sends no alert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<Id>,
    /// The event that matched, whole.
    pub event: Event,
}

/// Incident handling status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    New,
    Acknowledged,
    Resolved,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Acknowledged => "acknowledged",
            Status::Resolved => "resolved",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "new" => Ok(Status::New),
            "acknowledged" => Ok(Status::Acknowledged),
            "resolved" => Ok(Status::Resolved),
            _ => Err(format!(
                "unknown status {s:?} (expected new, acknowledged or resolved)"
            )),
        }
    }
}

/// Detections grouped by incident id (computed by the index).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: Id,
    pub agency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<SystemRef>,
    pub category: Category,
    /// The highest priority among its detections.
    pub priority: Priority,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Distinct detections.
    pub count: u64,
    /// The month of `first_seen` in Asia/Ho_Chi_Minh: where the incident counts.
    pub month: u32,
    pub group_key: String,
    pub rule_ids: Vec<String>,
    pub rule_titles: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub techniques: Vec<String>,
    #[serde(default, skip_serializing_if = "Entities::is_empty")]
    pub entities: Entities,
    /// The handling status (the fold of its lifecycle records, `canhgac_core::lifecycle`).
    pub status: Status,
    /// Why it was closed, when it is resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_reason: Option<crate::lifecycle::CloseReason>,
    /// The person it is assigned to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
}

/// ATT&CK technique ids in Sigma tags (`attack.t1059.001` → `T1059.001`).
pub fn techniques_from_tags(tags: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        let lower = t.to_ascii_lowercase();
        if let Some(rest) = lower.strip_prefix("attack.t") {
            if rest.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                let id = format!("T{}", rest.to_ascii_uppercase());
                if !out.contains(&id) {
                    out.push(id);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_computed_in_vietnam_time() {
        // 2022-04-30 17:30 UTC is 2022-05-01 00:30 in Hanoi.
        assert_eq!(month_of("2022-04-30T17:30:00Z".parse().unwrap()), 202205);
        assert_eq!(month_of("2022-04-30T16:59:59Z".parse().unwrap()), 202204);
        assert_eq!(month_of("2021-12-31T17:00:00Z".parse().unwrap()), 202201);
    }

    #[test]
    fn names_round_trip() {
        for c in Category::ALL {
            assert_eq!(c.as_str().parse::<Category>().unwrap(), c);
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("\"{}\"", c.as_str())
            );
        }
        for l in Level::ALL {
            assert_eq!(l.as_str().parse::<Level>().unwrap(), l);
        }
        for p in Priority::ALL {
            assert_eq!(p.as_str().parse::<Priority>().unwrap(), p);
        }
        assert!(Priority::P1 > Priority::P2, "P1 is the most urgent");
        assert!("nope".parse::<Category>().is_err());
    }

    #[test]
    fn every_entity_kind_names_its_own_list() {
        let mut e = Entities::default();
        for (i, list) in [
            &mut e.ips,
            &mut e.hosts,
            &mut e.users,
            &mut e.domains,
            &mut e.urls,
            &mut e.hashes,
            &mut e.emails,
        ]
        .into_iter()
        .enumerate()
        {
            list.push(Entities::KINDS[i].to_string());
        }
        for k in Entities::KINDS {
            assert_eq!(e.of_kind(k), Some(&[k.to_string()][..]), "{k}");
        }
        assert_eq!(e.of_kind("cidr"), None);
    }

    #[test]
    fn techniques() {
        let tags = [
            "attack.execution",
            "attack.t1059.001",
            "attack.T1566",
            "cve.2021-44228",
            "attack.t1059.001",
        ]
        .map(String::from);
        assert_eq!(techniques_from_tags(&tags), vec!["T1059.001", "T1566"]);
    }
}
