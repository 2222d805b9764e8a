//! The taxonomy (`rules/taxonomy.yaml`): category, priority and incident grouping of a
//! detection, as data.
//!
//! Category precedence, first that decides wins: a per-rule override; the kind of the IOC list
//! that matched; ATT&CK techniques in the rule's tags (in the taxonomy's order; a technique
//! matches its sub-techniques); ATT&CK tactics (in order); the rule's logsource (in order); the
//! default. Priority comes from a table indexed by the rule level and the security level (1–5)
//! of the information system the event was attributed to. An incident groups the detections of
//! one agency and rule that share a grouping key (the first field of the category's list the
//! event has) and a window of whole days aligned to midnight in Asia/Ho_Chi_Minh.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use canhgac_core::detection::{vietnam, Bilingual, Category, Grouping, IocHit, Level, Priority};
use canhgac_core::event::lookup_path;
use canhgac_core::wire::ecs;
use canhgac_core::Event;

use canhgac_sigma::rule::Logsource;

use crate::grouping::{LinkSpec, RawIncidents};

/// Why the taxonomy cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TaxonomyError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    version: u32,
    default: Category,
    #[serde(default)]
    rules: Option<BTreeMap<String, Category>>,
    #[serde(default)]
    ioc_kinds: BTreeMap<String, Category>,
    #[serde(default)]
    techniques: Vec<RawTechnique>,
    #[serde(default)]
    tactics: Vec<RawTactic>,
    #[serde(default)]
    logsources: Vec<RawLogsource>,
    priority: BTreeMap<Level, Vec<Priority>>,
    incidents: RawIncidents,
    guidance: RawGuidance,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGuidance {
    categories: BTreeMap<Category, Bilingual>,
    #[serde(default)]
    rules: Option<BTreeMap<String, Bilingual>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTechnique {
    technique: String,
    category: Category,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTactic {
    tactic: String,
    category: Category,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLogsource {
    #[serde(default)]
    product: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    service: Option<String>,
    assign: Category,
}

/// Which step of the precedence decided a category (for explanations and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decided {
    Rule,
    IocKind(String),
    Technique(String),
    Tactic(String),
    Logsource,
    Default,
}

/// What the taxonomy needs to know about the rule behind a detection.
#[derive(Debug, Clone, Copy, Default)]
pub struct RuleFacts<'a> {
    pub id: &'a str,
    pub tags: &'a [String],
    pub logsource: Option<&'a Logsource>,
    /// The kind of the IOC list, for IOC detections.
    pub ioc_kind: Option<&'a str>,
}

/// A checked taxonomy.
#[derive(Debug, Clone)]
pub struct Taxonomy {
    default: Category,
    rules: BTreeMap<String, Category>,
    ioc_kinds: BTreeMap<String, Category>,
    /// (technique upper-case, category), in order.
    techniques: Vec<(String, Category)>,
    tactics: Vec<(String, Category)>,
    logsources: Vec<(Logsource, Category)>,
    /// priority[level][security level 1..=5, then unattributed]
    priority: BTreeMap<Level, [Priority; 6]>,
    window_days: u32,
    group_by: BTreeMap<Category, Vec<String>>,
    links: LinkSpec,
    guidance: BTreeMap<Category, Bilingual>,
    rule_guidance: BTreeMap<String, Bilingual>,
}

/// The taxonomy shipped in `rules/taxonomy.yaml`, compiled into the binary.
pub const BUILTIN: &str = include_str!("../../rules/taxonomy.yaml");

impl Taxonomy {
    /// The built-in taxonomy.
    pub fn builtin() -> Taxonomy {
        Self::parse(BUILTIN, "rules/taxonomy.yaml (built in)")
            .expect("the built-in taxonomy is valid")
    }

    pub fn load(path: &Path) -> Result<Taxonomy, TaxonomyError> {
        let text = std::fs::read_to_string(path).map_err(|source| TaxonomyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, origin: &str) -> Result<Taxonomy, TaxonomyError> {
        let invalid = |message: String| TaxonomyError::Invalid {
            origin: origin.to_string(),
            message,
        };
        let docs =
            yaml_rust2::YamlLoader::load_from_str(text).map_err(|e| invalid(e.to_string()))?;
        let doc = docs
            .into_iter()
            .next()
            .ok_or_else(|| invalid("empty document".into()))?;
        let raw: Raw =
            serde_json::from_value(yaml_to_json(&doc)).map_err(|e| invalid(e.to_string()))?;
        if raw.version != 1 {
            return Err(invalid(format!(
                "version: unsupported taxonomy version {}",
                raw.version
            )));
        }
        let mut priority = BTreeMap::new();
        for level in Level::ALL {
            let row = raw
                .priority
                .get(&level)
                .ok_or_else(|| invalid(format!("priority: no row for level {level}")))?;
            let row: [Priority; 6] = row.as_slice().try_into().map_err(|_| {
                invalid(format!("priority.{level}: expected 6 entries (security levels 1-5 and unattributed), got {}", row.len()))
            })?;
            priority.insert(level, row);
        }
        for c in Category::ALL {
            if !raw.incidents.group_by.contains_key(&c) {
                return Err(invalid(format!(
                    "incidents.group_by: no grouping fields for category {c}"
                )));
            }
        }
        for c in Category::ALL {
            match raw.guidance.categories.get(&c) {
                Some(g) if !g.vi.trim().is_empty() && !g.en.trim().is_empty() => {}
                _ => {
                    return Err(invalid(format!(
                        "guidance.categories: no Vietnamese and English guidance for category {c}"
                    )))
                }
            }
        }
        if raw.incidents.window_days == 0 || raw.incidents.window_days > 366 {
            return Err(invalid(format!(
                "incidents.window_days: must be 1-366, got {}",
                raw.incidents.window_days
            )));
        }
        for t in &raw.techniques {
            let ok = t.technique.len() >= 5
                && t.technique.starts_with('T')
                && t.technique[1..]
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '.');
            if !ok {
                return Err(invalid(format!(
                    "techniques: {:?} is not an ATT&CK technique id like T1566 or T1505.003",
                    t.technique
                )));
            }
        }
        Ok(Taxonomy {
            default: raw.default,
            rules: raw.rules.unwrap_or_default(),
            ioc_kinds: raw
                .ioc_kinds
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
            techniques: raw
                .techniques
                .into_iter()
                .map(|t| (t.technique.to_ascii_uppercase(), t.category))
                .collect(),
            tactics: raw
                .tactics
                .into_iter()
                .map(|t| (t.tactic.to_ascii_lowercase(), t.category))
                .collect(),
            logsources: raw
                .logsources
                .into_iter()
                .map(|l| {
                    let low = |s: Option<String>| s.map(|s| s.to_ascii_lowercase());
                    (
                        Logsource {
                            product: low(l.product),
                            category: low(l.category),
                            service: low(l.service),
                        },
                        l.assign,
                    )
                })
                .collect(),
            priority,
            links: LinkSpec::check(raw.incidents.links, raw.incidents.gap_hours)
                .map_err(invalid)?,
            window_days: raw.incidents.window_days,
            group_by: raw.incidents.group_by,
            guidance: raw.guidance.categories,
            rule_guidance: raw.guidance.rules.unwrap_or_default(),
        })
    }

    /// The category of a detection, and which step decided it.
    pub fn category(&self, rule: RuleFacts<'_>) -> (Category, Decided) {
        if let Some(c) = self.rules.get(rule.id) {
            return (*c, Decided::Rule);
        }
        if let Some(kind) = rule.ioc_kind {
            let kind = kind.to_ascii_lowercase();
            if let Some(c) = self.ioc_kinds.get(&kind) {
                return (*c, Decided::IocKind(kind));
            }
        }
        let techniques: Vec<String> = canhgac_core::detection::techniques_from_tags(rule.tags);
        for (t, c) in &self.techniques {
            if techniques.iter().any(|have| {
                have == t
                    || (have.starts_with(t.as_str()) && have.as_bytes().get(t.len()) == Some(&b'.'))
            }) {
                return (*c, Decided::Technique(t.clone()));
            }
        }
        for (tactic, c) in &self.tactics {
            let tag = format!("attack.{tactic}");
            if rule.tags.iter().any(|t| t.eq_ignore_ascii_case(&tag)) {
                return (*c, Decided::Tactic(tactic.clone()));
            }
        }
        if let Some(ls) = rule.logsource {
            let fits = |want: &Option<String>, have: &Option<String>| {
                want.as_ref()
                    .is_none_or(|w| have.as_deref() == Some(w.as_str()))
            };
            for (want, c) in &self.logsources {
                if fits(&want.product, &ls.product)
                    && fits(&want.category, &ls.category)
                    && fits(&want.service, &ls.service)
                {
                    return (*c, Decided::Logsource);
                }
            }
        }
        (self.default, Decided::Default)
    }

    /// Handling guidance for a detection: the rule's own, or its category's.
    pub fn guidance(&self, category: Category, rule_id: &str) -> Bilingual {
        self.rule_guidance
            .get(rule_id)
            .or_else(|| self.guidance.get(&category))
            .cloned()
            .unwrap_or_default()
    }

    /// The priority of a detection from its rule level and the security level of the system the
    /// event was attributed to (`None`: unattributed).
    pub fn priority(&self, level: Level, system_level: Option<u8>) -> Priority {
        let row = &self.priority[&level];
        match system_level {
            Some(l @ 1..=5) => row[l as usize - 1],
            _ => row[5],
        }
    }

    /// The incident grouping key: the first listed field the event has, as `field=value`, or
    /// the agency-wide key `-` when it has none.
    pub fn group_key(&self, category: Category, event: &Event, ioc: Option<&IocHit>) -> String {
        let fields = self
            .group_by
            .get(&category)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for f in fields {
            if let Some(v) = field_value(event, ioc, f) {
                if !v.is_empty() {
                    return format!("{f}={v}");
                }
            }
        }
        "-".to_string()
    }

    /// The entities and gap by which the index groups a detection into an attack.
    pub fn grouping(
        &self,
        category: Category,
        event: &Event,
        ioc: Option<&IocHit>,
        system: Option<&canhgac_core::detection::SystemRef>,
    ) -> Grouping {
        self.links.grouping(category, event, ioc, system)
    }

    /// Start (unix seconds) of the incident window holding `t`: whole days (`window_days`)
    /// counted from 1970-01-01 in Asia/Ho_Chi_Minh.
    pub fn window_start(&self, t: DateTime<Utc>) -> i64 {
        let offset = vietnam().local_minus_utc() as i64;
        let len = self.window_days as i64 * 86_400;
        let local = t.timestamp() + offset;
        local.div_euclid(len) * len - offset
    }
}

/// Reads an ECS field (dotted name), `ioc.indicator`, or `original.<path>`, lowercased for
/// names and hosts so the same host always gives the same key.
pub fn field_value(event: &Event, ioc: Option<&IocHit>, field: &str) -> Option<String> {
    let e = &event.ecs;
    let s = |v: &Option<String>| v.as_ref().map(|s| s.trim().to_ascii_lowercase());
    match field {
        "ioc.indicator" => ioc.map(|h| h.indicator.to_ascii_lowercase()),
        ecs::HOST_NAME => s(&e.host_name),
        ecs::HOST_IP => e.host_ip.map(|i| i.to_string()),
        ecs::SOURCE_IP => e.source_ip.map(|i| i.to_string()),
        ecs::DESTINATION_IP => e.destination_ip.map(|i| i.to_string()),
        ecs::USER_NAME => s(&e.user_name),
        ecs::URL_DOMAIN => s(&e.url_domain),
        ecs::URL_FULL => e.url_full.clone(),
        ecs::URL_PATH => e.url_path.clone(),
        ecs::FILE_PATH => e.file_path.clone(),
        ecs::DNS_QUESTION_NAME => {
            s(&e.dns_question_name).map(|d| d.trim_end_matches('.').to_string())
        }
        ecs::TLS_SERVER_SNI => s(&e.tls_sni),
        ecs::EMAIL_FROM_ADDRESS => s(&e.email_from),
        ecs::FILE_HASH_SHA256 => s(&e.file_hash_sha256),
        ecs::PROCESS_EXECUTABLE => e.process_executable.clone(),
        other => {
            let path = other.strip_prefix("original.")?;
            match lookup_path(&event.original, path)? {
                serde_json::Value::String(v) => Some(v.clone()),
                serde_json::Value::Null => None,
                v => Some(v.to_string()),
            }
        }
    }
}

/// Converts a YAML document to JSON so that serde (with `deny_unknown_fields`) can check it.
pub fn yaml_to_json(y: &yaml_rust2::Yaml) -> serde_json::Value {
    use serde_json::Value;
    use yaml_rust2::Yaml;
    match y {
        Yaml::Real(r) => r
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::String(r.clone())),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Array(a) => Value::Array(a.iter().map(yaml_to_json).collect()),
        Yaml::Hash(h) => Value::Object(
            h.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Yaml::String(s) => s.clone(),
                        Yaml::Integer(i) => i.to_string(),
                        Yaml::Real(r) => r.clone(),
                        Yaml::Boolean(b) => b.to_string(),
                        other => format!("{other:?}"),
                    };
                    (key, yaml_to_json(v))
                })
                .collect(),
        ),
        Yaml::Null | Yaml::BadValue => Value::Null,
        Yaml::Alias(_) => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn builtin_loads() {
        let t = Taxonomy::builtin();
        assert_eq!(t.window_days, 1);
    }

    #[test]
    fn precedence_table() {
        let t = Taxonomy::parse(
            &BUILTIN.replace("rules:\n", "rules:\n  rule-x: ddos\n"),
            "t",
        )
        .unwrap();
        let web = Logsource {
            category: Some("webserver".into()),
            ..Default::default()
        };
        let win = Logsource {
            product: Some("windows".into()),
            category: Some("process_creation".into()),
            ..Default::default()
        };
        type Case<'a> = (
            &'a str,
            Option<&'a str>,
            &'a [&'a str],
            Option<&'a Logsource>,
            Category,
            Decided,
        );
        let cases: Vec<Case> = vec![
            (
                "rule-x",
                None,
                &["attack.t1566"],
                None,
                Category::Ddos,
                Decided::Rule,
            ),
            (
                "l",
                Some("C2"),
                &["attack.t1566"],
                None,
                Category::Malware,
                Decided::IocKind("c2".into()),
            ),
            (
                "a",
                None,
                &["attack.initial-access", "attack.t1566.001"],
                None,
                Category::Phishing,
                Decided::Technique("T1566".into()),
            ),
            (
                "b",
                None,
                &["attack.persistence", "attack.t1505.003"],
                None,
                Category::Deface,
                Decided::Technique("T1505.003".into()),
            ),
            (
                "c",
                None,
                &["attack.t15050"],
                Some(&web),
                Category::Intrusion,
                Decided::Logsource,
            ),
            (
                "d",
                None,
                &["attack.discovery", "attack.t1082"],
                None,
                Category::Recon,
                Decided::Tactic("discovery".into()),
            ),
            (
                "e",
                None,
                &[],
                Some(&win),
                Category::Intrusion,
                Decided::Logsource,
            ),
            ("f", None, &[], None, Category::Other, Decided::Default),
            (
                "g",
                Some("never-heard-of"),
                &[],
                None,
                Category::Other,
                Decided::Default,
            ),
        ];
        for (id, ioc_kind, t_, logsource, want, why) in cases {
            let tags = tags(t_);
            let facts = RuleFacts {
                id,
                tags: &tags,
                logsource,
                ioc_kind,
            };
            assert_eq!(t.category(facts), (want, why), "{facts:?}");
        }
    }

    #[test]
    fn priority_table() {
        let t = Taxonomy::builtin();
        assert_eq!(t.priority(Level::Critical, Some(5)), Priority::P1);
        assert_eq!(t.priority(Level::Critical, Some(1)), Priority::P2);
        assert_eq!(t.priority(Level::Medium, Some(4)), Priority::P2);
        assert_eq!(t.priority(Level::Low, None), Priority::P4);
        assert_eq!(
            t.priority(Level::High, Some(9)),
            t.priority(Level::High, None)
        );
    }

    #[test]
    fn invalid_taxonomies_name_the_problem() {
        let cases = [
            (BUILTIN.replace("version: 1", "version: 2"), "version"),
            (BUILTIN.replace("default: other", "default: spam"), "spam"),
            (
                BUILTIN.replace(
                    "  low:             [p4,     p4, p4, p3, p3, p4]",
                    "  low: [p4]",
                ),
                "priority.low",
            ),
            (
                BUILTIN.replace("    recon: [source.ip, host.name]\n", ""),
                "recon",
            ),
            (
                BUILTIN.replace("technique: T1566,", "technique: phishing,"),
                "ATT&CK technique",
            ),
            (format!("{BUILTIN}\nextra: 1\n"), "extra"),
            (
                BUILTIN.replace("    ddos:\n      vi:", "    ddoz:\n      vi:"),
                "ddoz",
            ),
        ];
        for (text, want) in cases {
            let err = Taxonomy::parse(&text, "t.yaml").unwrap_err().to_string();
            assert!(
                err.contains(want) && err.starts_with("t.yaml"),
                "{want}: {err}"
            );
        }
    }

    #[test]
    fn windows_align_to_vietnam_midnight() {
        let t = Taxonomy::builtin();
        let a = t.window_start("2022-04-30T16:59:59Z".parse().unwrap());
        let b = t.window_start("2022-04-30T17:00:00Z".parse().unwrap());
        assert_eq!(b - a, 86_400);
        assert_eq!(
            DateTime::from_timestamp(b, 0).unwrap().to_rfc3339(),
            "2022-04-30T17:00:00+00:00"
        );
    }

    #[test]
    fn group_keys() {
        let t = Taxonomy::builtin();
        let mut ev: Event = serde_json::from_value(serde_json::json!({
            "v": 1, "id": "00000000000000000000000000000000", "agency": "byt", "sensor": "s",
            "dataset": "web.access", "@timestamp": "2022-04-01T00:00:00Z", "received": "2022-04-01T00:00:00Z",
            "source": {"kind": "file", "name": "x"}, "original": {"cs-host": "Portal.Moh.gov.vn"}
        }))
        .unwrap();
        assert_eq!(t.group_key(Category::Deface, &ev, None), "-");
        ev.ecs.url_domain = Some("WWW.moh.gov.vn".into());
        assert_eq!(
            t.group_key(Category::Deface, &ev, None),
            "url.domain=www.moh.gov.vn"
        );
        let hit = IocHit {
            indicator: "evil-moh.gov.vn.example".into(),
            indicator_type: "domain".into(),
            list_kind: "phishing".into(),
            list: "l".into(),
            field: "dns.question.name".into(),
            value: "x".into(),
        };
        assert_eq!(
            t.group_key(Category::Phishing, &ev, Some(&hit)),
            "ioc.indicator=evil-moh.gov.vn.example"
        );
        assert_eq!(
            field_value(&ev, None, "original.cs-host").as_deref(),
            Some("Portal.Moh.gov.vn")
        );
    }
}
