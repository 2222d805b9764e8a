//! List definitions: the YAML files under `rules/ioc/` that say what a list is and where its
//! data lives, and the metadata every match of the list carries.
//!
//! ```yaml
//! id: maltrail-malicious            # unique; the rule id of its detections
//! title: Maltrail static trails, malicious
//! kind: malware                     # see rules/ioc/README.md; rules/taxonomy.yaml maps kinds
//! format: maltrail                  # plain | maltrail | misp-json | misp-csv | warninglist
//! path: ${CANHGAC_DATA}/intel/maltrail/malicious   # file or directory
//! level: high                       # optional, Sigma level (default medium)
//! description: …                    # optional
//! guidance: { vi: …, en: … }        # optional handling guidance
//! author: …                         # optional, credited with every match
//! references: [ … ]                 # optional
//! family_kinds: { evilginx: phishing }   # optional: kind per family (maltrail file name,
//!                                        # MISP event info, plain file name)
//! require_to_ids: true              # misp formats only: load only attributes with to_ids
//! ```
//!
//! `path` may use `${NAME}`: the loader's variables first ([`super::IocLoader::var`]), then the
//! environment; an unset variable is an error naming it. A relative path resolves against the
//! definition file's directory. Unknown fields are errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use canhgac_core::detection::{Bilingual, Level, RuleKind, RuleRef};
use serde::{Deserialize, Serialize};

use super::error::IocError;

/// How a list's files are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ListFormat {
    /// One indicator per line, `#` comments, type detected per line.
    Plain,
    /// maltrail trail files: like plain; the family is the file name.
    Maltrail,
    /// MISP event JSON (`{"Event":…}`, `{"response":[{"Event":…}]}` or a list of events).
    MispJson,
    /// MISP CSV export with a header row.
    MispCsv,
    /// MISP warninglist `list.json`: an allowlist.
    Warninglist,
}

impl ListFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ListFormat::Plain => "plain",
            ListFormat::Maltrail => "maltrail",
            ListFormat::MispJson => "misp-json",
            ListFormat::MispCsv => "misp-csv",
            ListFormat::Warninglist => "warninglist",
        }
    }

    fn is_misp(self) -> bool {
        matches!(self, ListFormat::MispJson | ListFormat::MispCsv)
    }
}

impl std::fmt::Display for ListFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a list raises matches or suppresses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ListRole {
    Indicators,
    Allowlist,
}

/// What every match of a list says about the list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListMeta {
    pub id: String,
    pub title: String,
    /// `phishing`, `malware`, `c2`, `scanner`, … (`unknown` for a raw file, `allowlist` for
    /// warninglists); the taxonomy maps it to a category.
    pub kind: String,
    pub format: ListFormat,
    pub role: ListRole,
    pub level: Level,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub guidance: Bilingual,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    pub references: Vec<String>,
    /// Kind per family, where it differs from `kind`.
    pub family_kinds: BTreeMap<String, String>,
    /// The file or directory the indicators were read from.
    pub path: PathBuf,
    /// The definition file, unless a raw list was given directly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub definition: Option<PathBuf>,
}

impl ListMeta {
    /// The rule reference of a detection raised by this list.
    pub fn rule_ref(&self) -> RuleRef {
        RuleRef {
            id: self.id.clone(),
            title: self.title.clone(),
            kind: RuleKind::Ioc,
            level: self.level,
            author: self.author.clone(),
            tags: Vec::new(),
            techniques: Vec::new(),
            references: self.references.clone(),
            falsepositives: Vec::new(),
        }
    }

    /// The kind of a family of this list (its own entry in `family_kinds`, else `kind`).
    pub fn kind_of(&self, family: Option<&str>) -> &str {
        family
            .and_then(|f| self.family_kinds.get(f))
            .map(String::as_str)
            .unwrap_or(&self.kind)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefinition {
    id: String,
    title: String,
    #[serde(default)]
    kind: Option<String>,
    format: ListFormat,
    path: String,
    #[serde(default)]
    level: Option<Level>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    guidance: Option<Bilingual>,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    references: Vec<String>,
    #[serde(default)]
    family_kinds: BTreeMap<String, String>,
    #[serde(default)]
    require_to_ids: Option<bool>,
}

/// A checked definition.
#[derive(Debug, Clone)]
pub(crate) struct Definition {
    pub meta: ListMeta,
    /// MISP only: load only attributes with `to_ids` set (default true).
    pub require_to_ids: bool,
}

fn yaml_to_json(y: &yaml_rust2::Yaml) -> serde_json::Value {
    use serde_json::Value;
    use yaml_rust2::Yaml;
    match y {
        Yaml::String(s) | Yaml::Real(s) => {
            if let Yaml::Real(r) = y {
                if let Ok(f) = r.parse::<f64>() {
                    return serde_json::json!(f);
                }
            }
            Value::String(s.clone())
        }
        Yaml::Integer(i) => Value::from(*i),
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Array(a) => Value::Array(a.iter().map(yaml_to_json).collect()),
        Yaml::Hash(h) => Value::Object(
            h.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Yaml::String(s) | Yaml::Real(s) => s.clone(),
                        Yaml::Integer(i) => i.to_string(),
                        Yaml::Boolean(b) => b.to_string(),
                        _ => String::new(),
                    };
                    (key, yaml_to_json(v))
                })
                .collect(),
        ),
        _ => Value::Null,
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn valid_kind(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Expands `${NAME}` from `vars`, then the environment.
pub(crate) fn expand(
    text: &str,
    vars: &BTreeMap<String, String>,
    origin: &Path,
) -> Result<String, IocError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after.find('}').ok_or_else(|| IocError::Definition {
            path: origin.to_path_buf(),
            message: format!("path: unclosed `${{` in {text:?}"),
        })?;
        let name = &after[..end];
        let value = vars
            .get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok())
            .ok_or_else(|| IocError::Variable {
                path: origin.to_path_buf(),
                name: name.to_string(),
            })?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Parses and checks a definition file's text. `origin` is the file (relative paths resolve
/// against its directory).
pub(crate) fn parse_definition(
    text: &str,
    origin: &Path,
    vars: &BTreeMap<String, String>,
) -> Result<Definition, IocError> {
    let err = |message: String| IocError::Definition {
        path: origin.to_path_buf(),
        message,
    };
    let docs =
        yaml_rust2::YamlLoader::load_from_str(text).map_err(|e| err(format!("yaml: {e}")))?;
    let [doc] = docs.as_slice() else {
        return Err(err(format!(
            "expected one YAML document, found {}",
            docs.len()
        )));
    };
    let raw: RawDefinition =
        serde_json::from_value(yaml_to_json(doc)).map_err(|e| err(e.to_string()))?;
    if !valid_name(&raw.id) {
        return Err(err(format!(
            "id {:?}: use letters, digits, `-`, `_` and `.`",
            raw.id
        )));
    }
    if raw.title.trim().is_empty() {
        return Err(err("title is empty".into()));
    }
    let kind = match (raw.kind, raw.format) {
        (Some(k), _) => k,
        (None, ListFormat::Warninglist) => "allowlist".to_string(),
        (None, _) => return Err(err("missing field `kind`".into())),
    };
    for k in std::iter::once(&kind).chain(raw.family_kinds.values()) {
        if !valid_kind(k) {
            return Err(err(format!(
                "kind {k:?}: use lowercase letters, digits and `-`"
            )));
        }
    }
    if raw.require_to_ids.is_some() && !raw.format.is_misp() {
        return Err(err(format!(
            "require_to_ids applies to misp-json and misp-csv lists, not {}",
            raw.format
        )));
    }
    if raw.path.trim().is_empty() {
        return Err(err("path is empty".into()));
    }
    let expanded = expand(raw.path.trim(), vars, origin)?;
    let mut path = PathBuf::from(expanded);
    if path.is_relative() {
        path = origin.parent().unwrap_or(Path::new(".")).join(path);
    }
    let role = match raw.format {
        ListFormat::Warninglist => ListRole::Allowlist,
        _ => ListRole::Indicators,
    };
    Ok(Definition {
        meta: ListMeta {
            id: raw.id,
            title: raw.title.trim().to_string(),
            kind,
            format: raw.format,
            role,
            level: raw.level.unwrap_or_default(),
            description: raw.description,
            guidance: raw.guidance.unwrap_or_default(),
            author: raw.author,
            references: raw.references,
            family_kinds: raw.family_kinds,
            path,
            definition: Some(origin.to_path_buf()),
        },
        require_to_ids: raw.require_to_ids.unwrap_or(true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Definition, IocError> {
        let mut vars = BTreeMap::new();
        vars.insert("DATA".to_string(), "/data".to_string());
        parse_definition(text, Path::new("/repo/rules/ioc/x.yaml"), &vars)
    }

    #[test]
    fn full_definition() {
        let d = parse(
            "id: t1\ntitle: Test\nkind: c2\nformat: misp-json\npath: ${DATA}/a.json\n\
             level: high\nguidance: {vi: Chặn, en: Block}\nrequire_to_ids: false\n\
             family_kinds: {x: phishing}\n",
        )
        .unwrap();
        assert_eq!(d.meta.path, PathBuf::from("/data/a.json"));
        assert_eq!(d.meta.level, Level::High);
        assert_eq!(d.meta.guidance.en, "Block");
        assert!(!d.require_to_ids);
        assert_eq!(d.meta.kind_of(Some("x")), "phishing");
        assert_eq!(d.meta.kind_of(Some("y")), "c2");
        assert_eq!(d.meta.rule_ref().kind, RuleKind::Ioc);
    }

    #[test]
    fn relative_paths_and_defaults() {
        let d = parse("id: t\ntitle: T\nformat: warninglist\npath: lists/a\n").unwrap();
        assert_eq!(d.meta.path, PathBuf::from("/repo/rules/ioc/lists/a"));
        assert_eq!(d.meta.kind, "allowlist");
        assert_eq!(d.meta.role, ListRole::Allowlist);
        assert_eq!(d.meta.level, Level::Medium);
        assert!(d.require_to_ids);
    }

    #[test]
    fn errors_name_the_problem() {
        let cases = [
            (
                "id: t\ntitle: T\nkind: c2\nformat: plain\npath: a\nkindd: x\n",
                "unknown field",
            ),
            (
                "id: t\ntitle: T\nformat: plain\npath: a\n",
                "missing field `kind`",
            ),
            (
                "id: t\ntitle: T\nkind: c2\nformat: stix\npath: a\n",
                "unknown variant",
            ),
            (
                "id: t\ntitle: T\nkind: c2\nformat: plain\npath: ${NOPE_IOC_VAR}/a\n",
                "NOPE_IOC_VAR",
            ),
            (
                "id: t\ntitle: T\nkind: C2\nformat: plain\npath: a\n",
                "kind \"C2\"",
            ),
            (
                "id: t\ntitle: T\nkind: c2\nformat: plain\npath: a\nrequire_to_ids: true\n",
                "require_to_ids",
            ),
            (
                "id: t t\ntitle: T\nkind: c2\nformat: plain\npath: a\n",
                "id \"t t\"",
            ),
            ("id: [t\n", "yaml"),
            (
                "id: t\ntitle: T\nkind: c2\nformat: plain\npath: a\nlevel: urgent\n",
                "unknown variant",
            ),
        ];
        for (text, needle) in cases {
            let e = parse(text).expect_err(text).to_string();
            assert!(e.contains(needle), "{e} lacks {needle}");
            assert!(e.contains("/repo/rules/ioc/x.yaml"), "{e} names the file");
        }
    }
}
