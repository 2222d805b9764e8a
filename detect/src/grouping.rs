//! The `incidents` section of the taxonomy: by which entities the detections of one agency and
//! one category join one attack, and the inactivity gap after which they no longer do.
//!
//! The detect worker writes them on each detection ([`canhgac_core::detection::Grouping`]); the
//! index groups by them (`canhgac_index::group`). A link is the value of a field of the
//! detection's event, named like the grouping keys (`taxonomy::field_value`), plus `system`
//! (the information system the agency registry attributed the event to) and `email.from.domain`
//! (the sender's domain). Each field has a kind, and values of one kind link whatever field they
//! came from: a look-alike domain in a mail's link (`url.domain`) and in a DNS question
//! (`dns.question.name`) are one entity. `ioc.indicator` takes the kind of the indicator.

use std::collections::BTreeMap;

use serde::Deserialize;

use canhgac_core::detection::{Category, Grouping, IocHit, Link, LinkRole, SystemRef};
use canhgac_core::wire::ecs;
use canhgac_core::Event;

use crate::taxonomy::field_value;

/// The raw `incidents` section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIncidents {
    pub window_days: u32,
    pub group_by: BTreeMap<Category, Vec<String>>,
    pub gap_hours: u32,
    pub links: BTreeMap<Category, RawLinks>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLinks {
    #[serde(default)]
    attack: Vec<String>,
    #[serde(default)]
    target: Vec<String>,
    /// This category's gap, when it differs from `incidents.gap_hours`.
    #[serde(default)]
    gap_hours: Option<u32>,
}

/// The fields a link may name, with their kinds. `original.<path>` is also accepted (kind
/// `original.<path>`).
pub const LINK_FIELDS: &[(&str, &str)] = &[
    ("ioc.indicator", "indicator"),
    ("system", "system"),
    (ecs::HOST_NAME, "host"),
    (ecs::HOST_IP, "ip"),
    (ecs::SOURCE_IP, "ip"),
    (ecs::DESTINATION_IP, "ip"),
    (ecs::USER_NAME, "user"),
    (ecs::URL_DOMAIN, "domain"),
    (ecs::URL_FULL, "url"),
    (ecs::URL_PATH, "path"),
    (ecs::FILE_PATH, "path"),
    (ecs::DNS_QUESTION_NAME, "domain"),
    (ecs::TLS_SERVER_SNI, "domain"),
    (ecs::EMAIL_FROM_ADDRESS, "email"),
    ("email.from.domain", "domain"),
    // Every host name the event relates to that is not an address (a mail's link hosts).
    ("related.hosts", "domain"),
    (ecs::FILE_HASH_SHA256, "hash"),
    (ecs::PROCESS_EXECUTABLE, "path"),
];

fn kind_of(field: &str) -> Option<String> {
    if let Some(path) = field.strip_prefix("original.") {
        return (!path.is_empty()).then(|| field.to_string());
    }
    LINK_FIELDS
        .iter()
        .find(|(f, _)| *f == field)
        .map(|(_, k)| k.to_string())
}

/// The checked `incidents` links and gap.
#[derive(Debug, Clone)]
pub struct LinkSpec {
    gap_secs: u64,
    /// Per category: (role, field, kind), in the order listed.
    links: BTreeMap<Category, Vec<(LinkRole, String, String)>>,
    /// Per category gaps that differ from `gap_secs`.
    gaps: BTreeMap<Category, u64>,
}

impl LinkSpec {
    pub(crate) fn check(
        raw: BTreeMap<Category, RawLinks>,
        gap_hours: u32,
    ) -> Result<LinkSpec, String> {
        let check_gap = |name: String, h: u32| {
            if h == 0 || h > 24 * 366 {
                Err(format!("{name}: must be 1-8784, got {h}"))
            } else {
                Ok(u64::from(h) * 3600)
            }
        };
        let gap_secs = check_gap("incidents.gap_hours".into(), gap_hours)?;
        let mut links = BTreeMap::new();
        let mut gaps = BTreeMap::new();
        for c in Category::ALL {
            let Some(l) = raw.get(&c) else {
                return Err(format!("incidents.links: no links for category {c}"));
            };
            if let Some(h) = l.gap_hours {
                gaps.insert(c, check_gap(format!("incidents.links.{c}.gap_hours"), h)?);
            }
            let mut out = Vec::new();
            for (role, fields) in [(LinkRole::Attack, &l.attack), (LinkRole::Target, &l.target)] {
                for f in fields {
                    let kind = kind_of(f).ok_or_else(|| {
                        format!(
                            "incidents.links.{c}.{}: unknown field {f:?} (expected original.<path> or one of {})",
                            role.as_str(),
                            LINK_FIELDS.iter().map(|(f, _)| *f).collect::<Vec<_>>().join(", ")
                        )
                    })?;
                    out.push((role, f.clone(), kind));
                }
            }
            if out.is_empty() {
                return Err(format!(
                    "incidents.links.{c}: no attack or target field: every detection of it would be an incident of its own"
                ));
            }
            links.insert(c, out);
        }
        Ok(LinkSpec {
            gap_secs,
            links,
            gaps,
        })
    }

    /// The inactivity gap of a category (seconds).
    pub fn gap_secs(&self, category: Category) -> u64 {
        self.gaps.get(&category).copied().unwrap_or(self.gap_secs)
    }

    /// The grouping of a detection of `category` on `event`.
    pub fn grouping(
        &self,
        category: Category,
        event: &Event,
        ioc: Option<&IocHit>,
        system: Option<&SystemRef>,
    ) -> Grouping {
        let mut links: Vec<Link> = Vec::new();
        for (role, field, kind) in self
            .links
            .get(&category)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let values: Vec<(String, String)> = match field.as_str() {
                "ioc.indicator" => ioc.map(indicator_link).into_iter().collect(),
                "system" => system
                    .map(|s| ("system".to_string(), s.id.to_ascii_lowercase()))
                    .into_iter()
                    .collect(),
                "email.from.domain" => event
                    .ecs
                    .email_from
                    .as_deref()
                    .and_then(|a| a.rsplit_once('@'))
                    .map(|(_, d)| ("domain".to_string(), d.trim().to_ascii_lowercase()))
                    .into_iter()
                    .collect(),
                "related.hosts" => event
                    .ecs
                    .related
                    .hosts
                    .iter()
                    .filter(|h| h.contains('.') && h.parse::<std::net::IpAddr>().is_err())
                    .map(|h| {
                        (
                            kind.clone(),
                            h.trim().trim_end_matches('.').to_ascii_lowercase(),
                        )
                    })
                    .collect(),
                f => field_value(event, ioc, f)
                    .map(|v| (kind.clone(), v.trim().to_ascii_lowercase()))
                    .into_iter()
                    .collect(),
            };
            for (kind, value) in values {
                if value.is_empty() || value == "-" {
                    continue;
                }
                let link = Link {
                    role: *role,
                    kind,
                    value,
                };
                if !links.contains(&link) {
                    links.push(link);
                }
            }
        }
        links.sort();
        Grouping {
            gap_secs: self.gap_secs(category),
            links,
        }
    }
}

/// An IOC hit as a link: the kind of its indicator; the indicator as listed for names (so that a
/// look-up of `login.evil.example` and a link to `evil.example` are one entity), the value seen
/// for addresses (a CIDR lists a range, the attack has one address).
fn indicator_link(h: &IocHit) -> (String, String) {
    let t = h.indicator_type.to_ascii_lowercase();
    match t.as_str() {
        "ip" | "cidr" => ("ip".to_string(), h.value.to_ascii_lowercase()),
        "domain" | "url" | "hash" | "email" => (t, h.indicator.to_ascii_lowercase()),
        _ => ("indicator".to_string(), h.indicator.to_ascii_lowercase()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::taxonomy::Taxonomy;

    fn event(json: serde_json::Value) -> Event {
        let mut base = serde_json::json!({
            "v": 1, "id": "00000000000000000000000000000000", "agency": "byt", "sensor": "s",
            "dataset": "x", "@timestamp": "2022-04-01T00:00:00Z",
            "received": "2022-04-01T00:00:00Z", "source": {"kind": "file", "name": "x"},
            "original": {}
        });
        base["ecs"] = json;
        serde_json::from_value(base).unwrap()
    }

    fn links(g: &Grouping) -> Vec<String> {
        g.links
            .iter()
            .map(|l| format!("{}:{}={}", l.role.as_str(), l.kind, l.value))
            .collect()
    }

    /// (category, event ECS, IOC hit, system, expected links).
    type Case<'a> = (
        Category,
        serde_json::Value,
        Option<IocHit>,
        Option<&'a SystemRef>,
        Vec<&'static str>,
    );

    /// One table of what links what.
    #[test]
    fn links_of_the_builtin_taxonomy() {
        let t = Taxonomy::builtin();
        let hit = |t: &str, indicator: &str, value: &str| IocHit {
            indicator: indicator.into(),
            indicator_type: t.into(),
            list_kind: "phishing".into(),
            list: "l".into(),
            field: "f".into(),
            value: value.into(),
        };
        let portal = SystemRef {
            id: "BYT-Portal".into(),
            name_vi: String::new(),
            name_en: String::new(),
            level: 3,
        };
        let cases: Vec<Case> = vec![
            // A lure mail and a DNS look-up of its domain share the domain, whatever the field.
            (
                Category::Phishing,
                serde_json::json!({"email.from.address": "IT@Evil.example", "url.domain": "Login.Evil.example"}),
                None,
                None,
                vec![
                    "attack:domain=login.evil.example",
                    "attack:email=it@evil.example",
                ],
            ),
            (
                Category::Phishing,
                serde_json::json!({"dns.question.name": "login.evil.example.", "host.name": "ws-1"}),
                None,
                None,
                vec!["attack:domain=login.evil.example"],
            ),
            // An IOC domain links as the listed indicator, an IP as the address seen.
            (
                Category::Phishing,
                serde_json::json!({"dns.question.name": "a.b.evil.example"}),
                Some(hit("domain", "Evil.example", "a.b.evil.example")),
                None,
                vec![
                    "attack:domain=a.b.evil.example",
                    "attack:domain=evil.example",
                ],
            ),
            (
                Category::Malware,
                serde_json::json!({"host.name": "WS-17", "destination.ip": "203.0.113.9"}),
                Some(hit("cidr", "203.0.113.0/24", "203.0.113.9")),
                None,
                vec!["attack:ip=203.0.113.9", "target:host=ws-17"],
            ),
            // A defacement links by the attacked system and site, and the attacker's address.
            (
                Category::Deface,
                serde_json::json!({"source.ip": "198.51.100.7", "url.domain": "www.moh.gov.vn"}),
                None,
                Some(&portal),
                vec![
                    "attack:ip=198.51.100.7",
                    "target:domain=www.moh.gov.vn",
                    "target:system=byt-portal",
                ],
            ),
            // Nothing to link by: no links (the detection is an incident of its own).
            (Category::Deface, serde_json::json!({}), None, None, vec![]),
        ];
        for (i, (category, ecs, ioc, system, want)) in cases.into_iter().enumerate() {
            let ev = event(ecs);
            let g = t.grouping(category, &ev, ioc.as_ref(), system);
            let gap = if category == Category::Phishing {
                7 * 24
            } else {
                72
            };
            assert_eq!(g.gap_secs, gap * 3600, "case {i}");
            assert_eq!(links(&g), want, "case {i}");
        }
    }

    #[test]
    fn unknown_fields_and_missing_categories_are_errors() {
        let text = crate::taxonomy::BUILTIN.replace(
            "attack: [ioc.indicator, email.from.address, url.domain, related.hosts, dns.question.name, tls.server.sni]",
            "attack: [ioc.indicator, email.sender]",
        );
        let err = Taxonomy::parse(&text, "t.yaml").unwrap_err().to_string();
        assert!(
            err.contains("incidents.links.phishing.attack: unknown field \"email.sender\""),
            "{err}"
        );
        let text = crate::taxonomy::BUILTIN.replace("gap_hours: 72", "gap_hours: 0");
        let err = Taxonomy::parse(&text, "t.yaml").unwrap_err().to_string();
        assert!(err.contains("incidents.gap_hours"), "{err}");
    }
}
