//! API tokens and roles.
//!
//! A token is `cg_` followed by 64 hex digits (32 random bytes). Only its SHA-256 is stored,
//! in a TOML tokens file:
//!
//! ```toml
//! [[token]]
//! name = "soc-byt"            # who: written to the audit log
//! role = "agency:byt"         # national | agency:<id> | manager | manager:<id>
//! hash = "sha256:9f86d0…"     # from `canhgac serve token new`
//! ```
//!
//! Roles: `national` sees every agency; `agency:<id>` sees that agency only (the scope is part
//! of every index query); `manager` reads statistics and reports only (`manager:<id>` for one
//! agency). Every route names the access it needs ([`Access`]); there is no default allow.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use canhgac_index::Scope;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{Result, ServeError};

/// What a token may do.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Role {
    /// Every agency: search, detail, status changes, statistics, reports, metrics.
    National,
    /// One agency's incidents, statistics and reports.
    Agency(String),
    /// Statistics and reports only, for every agency (`None`) or one.
    Manager(Option<String>),
}

impl Role {
    pub fn parse(s: &str) -> Result<Role> {
        let s = s.trim();
        let id_ok = |id: &str| {
            !id.is_empty()
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        };
        match s.split_once(':') {
            None if s == "national" => Ok(Role::National),
            None if s == "manager" => Ok(Role::Manager(None)),
            Some(("agency", id)) if id_ok(id) => Ok(Role::Agency(id.to_ascii_lowercase())),
            Some(("manager", id)) if id_ok(id) => Ok(Role::Manager(Some(id.to_ascii_lowercase()))),
            _ => Err(ServeError::Role(s.to_string())),
        }
    }

    /// The index scope of this role's requests.
    pub fn scope(&self) -> Scope {
        match self {
            Role::National | Role::Manager(None) => Scope::All,
            Role::Agency(a) | Role::Manager(Some(a)) => Scope::Agency(a.clone()),
        }
    }

    pub fn allows(&self, access: Access) -> bool {
        match access {
            Access::Public | Access::Any | Access::Stats => true,
            Access::Incidents => matches!(self, Role::National | Role::Agency(_)),
            Access::Metrics => matches!(self, Role::National | Role::Manager(None)),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Role::National => f.write_str("national"),
            Role::Agency(a) => write!(f, "agency:{a}"),
            Role::Manager(None) => f.write_str("manager"),
            Role::Manager(Some(a)) => write!(f, "manager:{a}"),
        }
    }
}

/// The access a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token: health checks and the static UI (which holds no data).
    Public,
    /// Any valid token.
    Any,
    /// Incident search, detail and status: national and agency roles.
    Incidents,
    /// Statistics and reports: every role, within its scope.
    Stats,
    /// Prometheus metrics: national and national managers.
    Metrics,
}

impl Access {
    pub fn describe(self) -> &'static str {
        match self {
            Access::Public => "call this route",
            Access::Any => "call this route",
            Access::Incidents => "read or change incidents",
            Access::Stats => "read statistics",
            Access::Metrics => "read metrics",
        }
    }
}

/// Who is calling: the token's name and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: Role,
}

/// The SHA-256 of a token, as stored: `sha256:<hex>`.
pub fn hash_token(token: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(token.as_bytes())))
}

/// A fresh random token (`cg_` + 64 hex digits).
pub fn new_token() -> Result<String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| ServeError::Random(e.to_string()))?;
    Ok(format!("cg_{}", hex::encode(b)))
}

/// The line(s) to add to a tokens file for a token.
pub fn token_entry(name: &str, role: &Role, token: &str) -> String {
    format!(
        "[[token]]\nname = {}\nrole = \"{role}\"\nhash = \"{}\"\n",
        toml_string(name),
        hash_token(token)
    )
}

fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFile {
    #[serde(default)]
    token: Vec<TokenLine>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenLine {
    name: String,
    role: String,
    hash: String,
}

/// The known tokens, by hash.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    by_hash: Arc<HashMap<String, Principal>>,
}

impl Auth {
    /// No tokens: every protected route answers 401.
    pub fn empty() -> Auth {
        Auth::default()
    }

    /// From `(name, role, token)` triples (tests, `canhgac run`).
    pub fn from_tokens<'a>(tokens: impl IntoIterator<Item = (&'a str, Role, &'a str)>) -> Auth {
        let by_hash = tokens
            .into_iter()
            .map(|(name, role, token)| {
                (
                    hash_token(token),
                    Principal {
                        name: name.to_string(),
                        role,
                    },
                )
            })
            .collect();
        Auth {
            by_hash: Arc::new(by_hash),
        }
    }

    /// A fresh random national token and the `Auth` that accepts it (for `canhgac run`, which
    /// prints the token once).
    pub fn ephemeral_national() -> Result<(Auth, String)> {
        let token = new_token()?;
        let auth = Auth::from_tokens([("local", Role::National, token.as_str())]);
        Ok((auth, token))
    }

    /// Parses a tokens file (see the module docs).
    pub fn parse(text: &str, origin: &Path) -> Result<Auth> {
        let bad = |message: String| ServeError::Tokens {
            path: origin.to_path_buf(),
            message,
        };
        let file: TokensFile = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        let mut by_hash = HashMap::new();
        for t in file.token {
            let role = Role::parse(&t.role).map_err(|e| bad(format!("token {:?}: {e}", t.name)))?;
            let hex_part = t.hash.strip_prefix("sha256:").unwrap_or("");
            if hex_part.len() != 64 || !hex_part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad(format!(
                    "token {:?}: hash must be sha256:<64 hex digits> (from `canhgac serve token new`)",
                    t.name
                )));
            }
            let hash = format!("sha256:{}", hex_part.to_ascii_lowercase());
            let p = Principal { name: t.name, role };
            if let Some(prev) = by_hash.insert(hash, p) {
                return Err(bad(format!("token {:?} appears twice", prev.name)));
            }
        }
        Ok(Auth {
            by_hash: Arc::new(by_hash),
        })
    }

    /// Reads a tokens file.
    pub fn load(path: &Path) -> Result<Auth> {
        let text = std::fs::read_to_string(path).map_err(|e| ServeError::Tokens {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Self::parse(&text, path)
    }

    /// Merges another set of tokens into this one.
    pub fn merged(self, other: &Auth) -> Auth {
        let mut m = (*self.by_hash).clone();
        m.extend(other.by_hash.iter().map(|(k, v)| (k.clone(), v.clone())));
        Auth {
            by_hash: Arc::new(m),
        }
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// The principal of a presented token.
    pub fn verify(&self, token: &str) -> Option<&Principal> {
        self.by_hash.get(&hash_token(token.trim()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_and_print() {
        for s in ["national", "agency:byt", "manager", "manager:ubnd-ha-noi"] {
            assert_eq!(Role::parse(s).unwrap().to_string(), s);
        }
        for s in ["", "agency:", "root", "agency:a b", "manager:"] {
            assert!(Role::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn token_file_round_trip() {
        let t = new_token().unwrap();
        assert_eq!(t.len(), 67);
        let entry = token_entry("soc \"byt\"", &Role::Agency("byt".into()), &t);
        let auth = Auth::parse(&entry, Path::new("t.toml")).unwrap();
        let p = auth.verify(&t).unwrap();
        assert_eq!(p.name, "soc \"byt\"");
        assert_eq!(p.role, Role::Agency("byt".into()));
        assert!(auth.verify("cg_00").is_none());
        assert!(!entry.contains(&t), "the token itself is never stored");
        let bad = "[[token]]\nname=\"x\"\nrole=\"national\"\nhash=\"md5:abc\"\n";
        assert!(Auth::parse(bad, Path::new("t.toml")).is_err());
    }
}
