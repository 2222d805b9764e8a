//! API tokens and roles.
//!
//! A token is `cg_` followed by 64 hex digits (32 random bytes). Only its SHA-256 is stored,
//! in a TOML tokens file:
//!
//! ```toml
//! [[token]]
//! name = "Lan"                # the person who holds it: "who" in the lifecycle and the audit log
//! role = "agency:byt"         # national | agency:<id> | manager | manager:<id>
//! hash = "sha256:9f86d0…"     # from `canhgac serve token new`
//! ```
//!
//! Roles: `national` sees every agency; `agency:<id>` sees that agency only (the scope is part
//! of every index query); `manager` reads statistics and reports only (`manager:<id>` for one
//! agency). Every route names the access it needs ([`Access`]); there is no default allow.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

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

/// The tokens of a tokens file, by hash, and where they came from.
type Tokens = Arc<HashMap<String, Principal>>;

/// How often the tokens file is looked at, at most (its modification time and size).
pub const RELOAD_CHECK: Duration = Duration::from_secs(2);

/// The tokens file behind an [`Auth`] and what was last seen of it.
#[derive(Debug)]
struct Source {
    path: PathBuf,
    check_every: Duration,
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    checked: Option<Instant>,
    /// Modification time and size of the file when it was last read.
    stamp: Option<(Option<SystemTime>, u64)>,
}

#[derive(Debug, Default)]
struct Inner {
    /// From the tokens file (replaced on reload).
    file: RwLock<Tokens>,
    /// Given in code (`from_tokens`, `ephemeral_national`, `merged`): kept across reloads.
    fixed: Tokens,
    source: Option<Source>,
}

/// The known tokens, by hash. Cheap to clone; clones share the tokens, so a reload is seen by
/// every request. A file-backed `Auth` ([`Auth::load`]) re-reads the file when its modification
/// time or size changes (looked at, at most, every [`RELOAD_CHECK`], on the request path) and on
/// [`Auth::reload`] (the binary calls it on SIGHUP): a revoked token is refused on the next
/// request and a new one works, without a restart. A file that no longer parses keeps the
/// previous tokens (the error is logged).
#[derive(Debug, Clone, Default)]
pub struct Auth {
    inner: Arc<Inner>,
}

fn stamp(path: &Path) -> Option<(Option<SystemTime>, u64)> {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.modified().ok(), m.len()))
}

impl Auth {
    /// No tokens: every protected route answers 401.
    pub fn empty() -> Auth {
        Auth::default()
    }

    fn fixed(by_hash: HashMap<String, Principal>) -> Auth {
        Auth {
            inner: Arc::new(Inner {
                fixed: Arc::new(by_hash),
                ..Default::default()
            }),
        }
    }

    /// From `(name, role, token)` triples (tests, `canhgac run`).
    pub fn from_tokens<'a>(tokens: impl IntoIterator<Item = (&'a str, Role, &'a str)>) -> Auth {
        Auth::fixed(
            tokens
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
                .collect(),
        )
    }

    /// A fresh random national token and the `Auth` that accepts it (for `canhgac run`, which
    /// prints the token once).
    pub fn ephemeral_national() -> Result<(Auth, String)> {
        let token = new_token()?;
        let auth = Auth::from_tokens([("local", Role::National, token.as_str())]);
        Ok((auth, token))
    }

    fn parse_tokens(text: &str, origin: &Path) -> Result<HashMap<String, Principal>> {
        let bad = |message: String| ServeError::Tokens {
            path: origin.to_path_buf(),
            message,
        };
        let file: TokensFile = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        let mut by_hash = HashMap::new();
        for t in file.token {
            let role = Role::parse(&t.role).map_err(|e| bad(format!("token {:?}: {e}", t.name)))?;
            if t.name.trim().is_empty() {
                return Err(bad(
                    "a token without a name: each token names the person who holds it".into(),
                ));
            }
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
        Ok(by_hash)
    }

    /// Parses a tokens file's text (see the module docs); not watched.
    pub fn parse(text: &str, origin: &Path) -> Result<Auth> {
        Ok(Auth::fixed(Self::parse_tokens(text, origin)?))
    }

    fn read(path: &Path) -> Result<HashMap<String, Principal>> {
        let text = std::fs::read_to_string(path).map_err(|e| ServeError::Tokens {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Self::parse_tokens(&text, path)
    }

    /// Reads a tokens file and follows it: see [`Auth`].
    pub fn load(path: &Path) -> Result<Auth> {
        Self::load_checking(path, RELOAD_CHECK)
    }

    /// As [`Auth::load`], looking at the file at most every `check_every`.
    pub fn load_checking(path: &Path, check_every: Duration) -> Result<Auth> {
        let before = stamp(path);
        let tokens = Self::read(path)?;
        Ok(Auth {
            inner: Arc::new(Inner {
                file: RwLock::new(Arc::new(tokens)),
                fixed: Arc::default(),
                source: Some(Source {
                    path: path.to_path_buf(),
                    check_every,
                    seen: Mutex::new(Seen {
                        checked: Some(Instant::now()),
                        stamp: before,
                    }),
                }),
            }),
        })
    }

    /// Re-reads the tokens file now (SIGHUP). Returns how many tokens it holds; on an error the
    /// previous tokens stay in force. An `Auth` without a file has nothing to reload.
    pub fn reload(&self) -> Result<usize> {
        let Some(src) = &self.inner.source else {
            return Ok(self.len());
        };
        let mut seen = src.seen.lock().unwrap_or_else(|p| p.into_inner());
        self.reload_locked(src, &mut seen)
    }

    fn reload_locked(&self, src: &Source, seen: &mut Seen) -> Result<usize> {
        seen.checked = Some(Instant::now());
        let now = stamp(&src.path);
        match Self::read(&src.path) {
            Ok(tokens) => {
                seen.stamp = now;
                let n = tokens.len();
                *self.inner.file.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(tokens);
                tracing::info!(path = %src.path.display(), tokens = n, "tokens file reloaded");
                Ok(n)
            }
            Err(e) => {
                // Remember the stamp so that a broken file is reported once, not per request.
                seen.stamp = now;
                tracing::error!(error = %e, "tokens file not reloaded, the previous tokens stay in force");
                Err(e)
            }
        }
    }

    /// Looks at the file when the last look is older than its interval, and reloads it when
    /// its modification time or size changed.
    fn refresh(&self) {
        let Some(src) = &self.inner.source else {
            return;
        };
        let Ok(mut seen) = src.seen.try_lock() else {
            return; // another request is looking right now
        };
        if seen.checked.is_some_and(|t| t.elapsed() < src.check_every) {
            return;
        }
        seen.checked = Some(Instant::now());
        if stamp(&src.path) != seen.stamp {
            let _ = self.reload_locked(src, &mut seen);
        }
    }

    /// This set of tokens and `other`'s (fixed tokens are kept across reloads of the file).
    pub fn merged(self, other: &Auth) -> Auth {
        let mut fixed = (*self.inner.fixed).clone();
        fixed.extend(other.snapshot().iter().map(|(k, v)| (k.clone(), v.clone())));
        let file = self
            .inner
            .file
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let source = self.inner.source.as_ref().map(|s| Source {
            path: s.path.clone(),
            check_every: s.check_every,
            seen: Mutex::new(Seen {
                checked: None,
                stamp: s.seen.lock().unwrap_or_else(|p| p.into_inner()).stamp,
            }),
        });
        Auth {
            inner: Arc::new(Inner {
                file: RwLock::new(file),
                fixed: Arc::new(fixed),
                source,
            }),
        }
    }

    fn snapshot(&self) -> HashMap<String, Principal> {
        let mut all = (*self.inner.fixed).clone();
        let file = self.inner.file.read().unwrap_or_else(|p| p.into_inner());
        all.extend(file.iter().map(|(k, v)| (k.clone(), v.clone())));
        all
    }

    pub fn len(&self) -> usize {
        self.snapshot().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The names of the people holding tokens (for assignment: who can be assigned).
    pub fn people(&self) -> Vec<String> {
        let mut v: Vec<String> = self.snapshot().into_values().map(|p| p.name).collect();
        v.sort();
        v.dedup();
        v
    }

    /// The principal of a presented token (the tokens file is looked at first, see [`Auth`]).
    pub fn verify(&self, token: &str) -> Option<Principal> {
        self.refresh();
        let hash = hash_token(token.trim());
        if let Some(p) = self.inner.fixed.get(&hash) {
            return Some(p.clone());
        }
        self.inner
            .file
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&hash)
            .cloned()
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

    #[test]
    fn a_followed_tokens_file_revokes_adds_and_survives_a_broken_edit() {
        let dir = std::env::temp_dir().join(format!("canhgac-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tokens.toml");
        let (lan, minh) = (new_token().unwrap(), new_token().unwrap());
        let lan_line = token_entry("Lan", &Role::Agency("byt".into()), &lan);
        let minh_line = token_entry("Minh", &Role::National, &minh);
        std::fs::write(&path, &lan_line).unwrap();
        let auth = Auth::load_checking(&path, Duration::ZERO).unwrap();
        let clone = auth.clone();
        assert_eq!(clone.verify(&lan).unwrap().name, "Lan");
        assert!(clone.verify(&minh).is_none());
        // Lan's token revoked, Minh's added: the next request sees it, on every clone.
        std::fs::write(&path, format!("{minh_line}\n")).unwrap();
        assert!(clone.verify(&lan).is_none(), "revoked without a restart");
        assert_eq!(clone.verify(&minh).unwrap().name, "Minh");
        // A broken edit keeps the previous tokens; reload() reports it.
        std::fs::write(&path, "[[token]]\nname = \"x\"\n").unwrap();
        assert!(auth.verify(&minh).is_some());
        assert!(auth.reload().is_err());
        assert!(auth.verify(&minh).is_some());
        std::fs::write(&path, &lan_line).unwrap();
        assert_eq!(auth.reload().unwrap(), 1);
        assert!(auth.verify(&minh).is_none());
        // Tokens given in code stay across reloads.
        let extra = Auth::from_tokens([("local", Role::National, "cg_local")]);
        let merged = auth.merged(&extra);
        assert_eq!(merged.reload().unwrap(), 1);
        assert_eq!(merged.verify("cg_local").unwrap().name, "local");
        assert_eq!(merged.people(), ["Lan", "local"]);
        std::fs::remove_dir_all(&dir).ok();
    }
}
