//! The agency registry (brief §4): agencies, their information systems with security levels
//! 1–5 (Decree 85/2016), the hosts/CIDRs/domains that identify each system, and their alert
//! channels. Authorities change names, so all of this is configuration, never code.
//!
//! Loading is two-step, like the configuration: [`RawRegistry`] is what the TOML says (unknown
//! keys rejected); [`RawRegistry::validate`] checks it without IO and builds a [`Registry`] with
//! lookup tables for attributing an event to an information system.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::error::CoreError;
use crate::topics::validate_id;

/// The registry file as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegistry {
    #[serde(default, rename = "agency")]
    pub agencies: Vec<AgencyConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgencyConfig {
    pub id: String,
    pub name_vi: String,
    pub name_en: String,
    /// `ministry`, `province`, `agency`, … (free text for display and grouping).
    #[serde(default = "default_kind")]
    pub kind: String,
    /// The id of the parent body, if it is itself in the registry, or its name otherwise.
    #[serde(default)]
    pub parent: Option<String>,
    #[serde(default, rename = "system")]
    pub systems: Vec<SystemConfig>,
    #[serde(default, rename = "channel")]
    pub channels: Vec<ChannelConfig>,
}

fn default_kind() -> String {
    "agency".into()
}

/// An information system of an agency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemConfig {
    pub id: String,
    pub name_vi: String,
    pub name_en: String,
    /// Security level 1–5 (Decree 85/2016).
    pub level: u8,
    /// Host names (case-insensitive, exact).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Networks in CIDR notation; a bare address means a /32 or /128.
    #[serde(default)]
    pub cidrs: Vec<String>,
    /// Domains; each matches itself and every subdomain.
    #[serde(default)]
    pub domains: Vec<String>,
}

/// Where an agency receives its alerts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum ChannelConfig {
    /// The agency's own topic `<prefix>.alerts.<agency>`.
    Kafka {},
    /// An HTTPS webhook, signed with HMAC-SHA256 using the secret in the named environment
    /// variable (secrets never live in the registry file).
    Webhook { url: String, secret_env: String },
    /// E-mail to these addresses, in the given language.
    Email {
        to: Vec<String>,
        #[serde(default = "default_lang")]
        lang: String,
    },
}

fn default_lang() -> String {
    "vi".into()
}

/// A checked registry with attribution lookups.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    agencies: BTreeMap<String, AgencyConfig>,
    /// Per agency: host name (lowercase) → system index.
    hosts: HashMap<String, HashMap<String, usize>>,
    /// Per agency: (network, system index), most specific first.
    nets: HashMap<String, Vec<(IpNet, usize)>>,
    /// Per agency: domain (lowercase) → system index.
    domains: HashMap<String, HashMap<String, usize>>,
}

/// The system an event was attributed to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Attribution<'a> {
    pub agency: &'a AgencyConfig,
    pub system: &'a SystemConfig,
}

/// What an event offers for attribution.
#[derive(Debug, Default, Clone, Copy)]
pub struct AttributionKeys<'a> {
    pub hosts: &'a [&'a str],
    pub ips: &'a [IpAddr],
    pub domains: &'a [&'a str],
}

impl RawRegistry {
    /// Reads and parses a registry file. Parse errors name the file, line and key.
    pub fn load(path: &Path) -> Result<RawRegistry, CoreError> {
        let text = std::fs::read_to_string(path).map_err(|source| CoreError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<RawRegistry, CoreError> {
        toml::from_str(text).map_err(|e| CoreError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Checks every rule of the registry and builds the lookup tables. `origin` names the
    /// registry in messages (usually its path).
    pub fn validate(self, origin: &str) -> Result<Registry, CoreError> {
        let invalid = |key: String, message: String| CoreError::Invalid {
            origin: origin.to_string(),
            key,
            message,
        };
        let mut reg = Registry::default();
        for (ai, agency) in self.agencies.into_iter().enumerate() {
            let akey = format!("agency[{ai}]");
            validate_id("agency", &agency.id)
                .map_err(|e| invalid(format!("{akey}.id"), e.to_string()))?;
            if reg.agencies.contains_key(&agency.id) {
                return Err(invalid(
                    format!("{akey}.id"),
                    format!("duplicate agency id {:?}", agency.id),
                ));
            }
            for (name, value) in [("name_vi", &agency.name_vi), ("name_en", &agency.name_en)] {
                if value.trim().is_empty() {
                    return Err(invalid(
                        format!("{akey}.{name}"),
                        "must not be empty".into(),
                    ));
                }
            }
            let mut hosts = HashMap::new();
            let mut nets = Vec::new();
            let mut domains = HashMap::new();
            let mut seen = std::collections::HashSet::new();
            for (si, sys) in agency.systems.iter().enumerate() {
                let skey = format!("{akey}.system[{si}]");
                validate_id("system", &sys.id)
                    .map_err(|e| invalid(format!("{skey}.id"), e.to_string()))?;
                if !seen.insert(sys.id.clone()) {
                    return Err(invalid(
                        format!("{skey}.id"),
                        format!("duplicate system id {:?}", sys.id),
                    ));
                }
                if !(1..=5).contains(&sys.level) {
                    return Err(invalid(
                        format!("{skey}.level"),
                        format!(
                            "security level must be 1-5 (Decree 85/2016), got {}",
                            sys.level
                        ),
                    ));
                }
                for (hi, h) in sys.hosts.iter().enumerate() {
                    let h = h.trim().to_ascii_lowercase();
                    if h.is_empty() {
                        return Err(invalid(
                            format!("{skey}.hosts[{hi}]"),
                            "empty host name".into(),
                        ));
                    }
                    if let Some(prev) = hosts.insert(h.clone(), si) {
                        if prev != si {
                            return Err(invalid(
                                format!("{skey}.hosts[{hi}]"),
                                format!(
                                    "host {h:?} already belongs to system {:?}",
                                    agency.systems[prev].id
                                ),
                            ));
                        }
                    }
                }
                for (ci, c) in sys.cidrs.iter().enumerate() {
                    let net =
                        parse_net(c).map_err(|m| invalid(format!("{skey}.cidrs[{ci}]"), m))?;
                    nets.push((net, si));
                }
                for (di, d) in sys.domains.iter().enumerate() {
                    let d = d
                        .trim()
                        .trim_end_matches('.')
                        .trim_start_matches("*.")
                        .to_ascii_lowercase();
                    if d.is_empty() || d.contains(char::is_whitespace) || d.contains('/') {
                        return Err(invalid(
                            format!("{skey}.domains[{di}]"),
                            format!("not a domain: {d:?}"),
                        ));
                    }
                    domains.insert(d, si);
                }
            }
            for (ci, ch) in agency.channels.iter().enumerate() {
                let ckey = format!("{akey}.channel[{ci}]");
                match ch {
                    ChannelConfig::Kafka {} => {}
                    ChannelConfig::Webhook { url, secret_env } => {
                        if !(url.starts_with("https://") || url.starts_with("http://")) {
                            return Err(invalid(
                                format!("{ckey}.url"),
                                format!("not an http(s) URL: {url:?}"),
                            ));
                        }
                        if secret_env.trim().is_empty() {
                            return Err(invalid(
                                format!("{ckey}.secret_env"),
                                "must name an environment variable".into(),
                            ));
                        }
                    }
                    ChannelConfig::Email { to, lang } => {
                        if to.is_empty() || to.iter().any(|a| !a.contains('@')) {
                            return Err(invalid(
                                format!("{ckey}.to"),
                                "needs one or more e-mail addresses".into(),
                            ));
                        }
                        if lang != "vi" && lang != "en" {
                            return Err(invalid(
                                format!("{ckey}.lang"),
                                format!("must be \"vi\" or \"en\", got {lang:?}"),
                            ));
                        }
                    }
                }
            }
            // Most specific network first, so a /28 inside a /24 wins.
            nets.sort_by_key(|n| std::cmp::Reverse(n.0.prefix_len()));
            reg.hosts.insert(agency.id.clone(), hosts);
            reg.nets.insert(agency.id.clone(), nets);
            reg.domains.insert(agency.id.clone(), domains);
            reg.agencies.insert(agency.id.clone(), agency);
        }
        Ok(reg)
    }
}

fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    if let Ok(net) = s.parse::<IpNet>() {
        if net.trunc() != net {
            return Err(format!(
                "{s:?} has host bits set; did you mean {}?",
                net.trunc()
            ));
        }
        return Ok(net);
    }
    s.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("not a CIDR or IP address: {s:?}"))
}

impl Registry {
    /// Loads and validates a registry file.
    pub fn load(path: &Path) -> Result<Registry, CoreError> {
        RawRegistry::load(path)?.validate(&path.display().to_string())
    }

    pub fn agency(&self, id: &str) -> Option<&AgencyConfig> {
        self.agencies.get(id)
    }

    pub fn agencies(&self) -> impl Iterator<Item = &AgencyConfig> {
        self.agencies.values()
    }

    pub fn len(&self) -> usize {
        self.agencies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.agencies.is_empty()
    }

    /// Attributes an event of `agency` to one of that agency's information systems — never to
    /// another agency's. Host names win over domains, domains over addresses; the first key that
    /// matches decides.
    pub fn attribute<'a>(
        &'a self,
        agency: &str,
        keys: AttributionKeys<'_>,
    ) -> Option<Attribution<'a>> {
        let a = self.agencies.get(agency)?;
        let pick = |si: usize| {
            Some(Attribution {
                agency: a,
                system: &a.systems[si],
            })
        };
        if let Some(hosts) = self.hosts.get(agency) {
            for h in keys.hosts {
                let h = h.trim().to_ascii_lowercase();
                if let Some(&si) = hosts.get(&h) {
                    return pick(si);
                }
                // `web01.moh.local` matches a registered `web01`.
                if let Some(short) = h.split('.').next() {
                    if let Some(&si) = hosts.get(short) {
                        return pick(si);
                    }
                }
            }
        }
        if let Some(domains) = self.domains.get(agency) {
            for d in keys.domains {
                let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
                let mut rest = d.as_str();
                loop {
                    if let Some(&si) = domains.get(rest) {
                        return pick(si);
                    }
                    match rest.find('.') {
                        Some(i) => rest = &rest[i + 1..],
                        None => break,
                    }
                }
            }
        }
        if let Some(nets) = self.nets.get(agency) {
            for ip in keys.ips {
                if let Some((_, si)) = nets.iter().find(|(n, _)| n.contains(ip)) {
                    return pick(*si);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Registry {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../rules/agencies.example.toml"
        ));
        Registry::load(path).expect("example registry is valid")
    }

    #[test]
    fn example_registry_loads_and_round_trips() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../rules/agencies.example.toml"
        ));
        let raw = RawRegistry::load(path).unwrap();
        let text = toml::to_string(&raw).unwrap();
        let again = RawRegistry::parse(&text, path).unwrap();
        assert_eq!(raw, again);
        let reg = example();
        assert!(reg.len() >= 5);
        for a in reg.agencies() {
            assert!(!a.systems.is_empty(), "{} has systems", a.id);
            assert!(!a.channels.is_empty(), "{} has alert channels", a.id);
        }
    }

    #[test]
    fn attribution_by_host_domain_and_cidr() {
        let reg = example();
        let a = reg
            .attribute(
                "byt",
                AttributionKeys {
                    domains: &["www.moh.gov.vn"],
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(a.system.id, "cong-thong-tin");
        let ip: IpAddr = "10.20.1.15".parse().unwrap();
        let a = reg
            .attribute(
                "byt",
                AttributionKeys {
                    ips: &[ip],
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(a.agency.id, "byt");
        // Never another agency's system.
        assert!(reg
            .attribute(
                "ubnd-ha-noi",
                AttributionKeys {
                    domains: &["moh.gov.vn"],
                    ..Default::default()
                }
            )
            .is_none());
        assert!(reg.attribute("nope", AttributionKeys::default()).is_none());
    }

    #[test]
    fn validation_names_the_key() {
        let bad = r#"
[[agency]]
id = "x"
name_vi = "X"
name_en = "X"
[[agency.system]]
id = "s"
name_vi = "S"
name_en = "S"
level = 7
"#;
        let err = RawRegistry::parse(bad, Path::new("r.toml"))
            .unwrap()
            .validate("r.toml")
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("agency[0].system[0].level"), "{msg}");
        assert!(msg.contains("1-5"), "{msg}");

        let unknown = "[[agency]]\nid='x'\nname_vi='X'\nname_en='X'\ncolour='red'\n";
        let err = RawRegistry::parse(unknown, Path::new("r.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("colour"), "{err}");

        let host_bits = "[[agency]]\nid='x'\nname_vi='X'\nname_en='X'\n[[agency.system]]\nid='s'\nname_vi='S'\nname_en='S'\nlevel=1\ncidrs=['10.0.0.1/24']\n";
        let err = RawRegistry::parse(host_bits, Path::new("r.toml"))
            .unwrap()
            .validate("r")
            .unwrap_err();
        assert!(err.to_string().contains("host bits"), "{err}");
    }
}
