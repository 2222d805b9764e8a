//! Logsource routing and field mapping, as data (`rules/mappings/*.yml`).
//!
//! A mapping file names the datasets it covers, how their `original` record is laid out,
//! optional dataset-wide field renames, optional field schemas, and for each Sigma logsource
//! the event predicates (`when`) that select its events, each with optional field renames:
//!
//! ```yaml
//! datasets: [windows]
//! layout: evtx            # evtx | flat
//! fields: {}              # Sigma field: event field, for every event of these datasets
//! common_fields: [Company] # low-cardinality fields: prefilter on other fields if possible
//! schemas:                # named field sets: what one kind of record carries
//!   system: {from: evtx System, fields: [EventID, Channel, Computer]}
//!   sysmon_1: {from: Sysmon EventID 1, fields: [Image, CommandLine, ParentImage]}
//!   security_4688: {from: Security EventID 4688, fields: [NewProcessName, CommandLine]}
//!   process_context: {from: process context (enriching sensors), fields: [IntegrityLevel]}
//! fields_always: [system] # schemas every checked logsource of this file includes
//! logsources:
//!   - logsource: {product: windows, category: process_creation}
//!     when:
//!       - {Channel: Microsoft-Windows-Sysmon/Operational, EventID: 1}
//!       - {Channel: Security, EventID: 4688, fieldmap: {Image: NewProcessName}}
//!     fields_known: [sysmon_1, security_4688]
//!     fields_enriched: [process_context]
//! ```
//!
//! A logsource entry applies to a rule when each key (product, category, service) matches:
//! a key the entry omits must be absent from the rule, `*` matches anything, a list matches
//! any of its values. An entry without `when` selects every event of the datasets; the
//! pseudo-field `dataset` in a `when` tests the event's dataset.
//! Predicate values compare case-insensitively as text (`EventID: 4688` matches `"4688"`).
//!
//! **Field schemas.** An entry with `fields_known` declares the Sigma fields its events carry:
//! the fields of the schemas it names, of the file's `fields_always`, the Sigma side of its
//! `fieldmap`s and of the file's `fields`. The loader rejects a rule (`unknown-field`) that
//! names, in a selection or as a `fieldref` target, a field outside the schema of every entry
//! that applies to its logsource: a selection on such a field can never match, a filter on it
//! never applies. `fields_enriched` names fields the events lack but enriching sensors add (the
//! process context Aurora or an EDR joins on ProcessGuid): those load with a warning, or are
//! rejected under [`EngineBuilder::strict_fields`](crate::EngineBuilder::strict_fields).
//! Entries without `fields_known` are not checked, and when any entry that applies has none the
//! rule is not checked; entries that match the rule only through `*` are not consulted when an
//! entry names the rule's logsource exactly (auditd rules are checked against the auditd schema
//! although the catch-all syslog entry also routes them). Names compare case-sensitively, as
//! the engine looks fields up.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use yaml_rust2::Yaml;

use crate::error::SigmaError;
use crate::rule::Logsource;
use crate::yaml::{get, text, text_list};

/// How a dataset's `original` record is flattened into fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `evtx_dump` JSON (`Event.System` attributes as `Provider_Name`, `Event.EventData`
    /// named data, `Event.UserData`), Winlogbeat (`winlog.*`), or flat NXLog JSON.
    Evtx,
    /// Nested objects give dotted names (`id.orig_h`); keys containing dots are kept.
    Flat,
}

/// One alternative of a logsource's `when`: predicates AND-ed, plus renames.
#[derive(Debug, Clone, Default)]
pub struct When {
    /// (event field, accepted values case-folded).
    pub conds: Vec<(String, Vec<String>)>,
    /// (Sigma field, event field).
    pub fieldmap: Vec<(String, String)>,
}

/// How an entry's logsource key matches a rule's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPat {
    /// Not given: the rule must not give it either.
    Absent,
    /// `*`: any value, or none.
    Any,
    /// One of these values (lowercase).
    OneOf(Vec<String>),
}

impl KeyPat {
    fn parse(y: Option<&Yaml>) -> KeyPat {
        let vals: Vec<String> = text_list(y)
            .into_iter()
            .map(|s| s.trim().to_ascii_lowercase())
            .collect();
        if vals.is_empty() {
            KeyPat::Absent
        } else if vals.iter().any(|v| v == "*") {
            KeyPat::Any
        } else {
            KeyPat::OneOf(vals)
        }
    }

    fn matches(&self, v: &Option<String>) -> bool {
        match (self, v) {
            (KeyPat::Absent, v) => v.is_none(),
            (KeyPat::Any, _) => true,
            (KeyPat::OneOf(list), Some(v)) => list.iter().any(|x| x == v),
            (KeyPat::OneOf(_), None) => false,
        }
    }
}

/// The Sigma fields an entry's events carry (`fields_known`) and those only enriching sensors
/// add (`fields_enriched`), each with where the names come from.
#[derive(Debug, Clone, Default)]
pub struct FieldSchema {
    /// Every Sigma field the events carry, including `fields_always`, fieldmaps and renames.
    pub known: HashSet<String>,
    /// `from` of each schema named in `fields_known` (not `fields_always`).
    pub known_from: Vec<String>,
    pub enriched: HashSet<String>,
    /// `from` of each schema named in `fields_enriched`.
    pub enriched_from: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct LogsourceEntry {
    pub product: KeyPat,
    pub category: KeyPat,
    pub service: KeyPat,
    /// Alternatives; empty = every event.
    pub when: Vec<When>,
    /// The declared field schema; `None`: the entry's fields are not checked.
    pub schema: Option<FieldSchema>,
}

impl LogsourceEntry {
    /// Each key matches exactly (absent = absent), `*` matches anything.
    pub fn applies_to(&self, rule: &Logsource) -> bool {
        self.product.matches(&rule.product)
            && self.category.matches(&rule.category)
            && self.service.matches(&rule.service)
    }

    /// Whether the entry names its logsource without `*` (it applies only to that logsource).
    pub fn is_exact(&self) -> bool {
        ![&self.product, &self.category, &self.service]
            .iter()
            .any(|k| **k == KeyPat::Any)
    }
}

/// A named field set of a mapping file's `schemas`.
#[derive(Debug, Clone)]
struct Schema {
    from: String,
    fields: Vec<String>,
}

/// One mapping file.
#[derive(Debug, Clone)]
pub struct MappingFile {
    pub origin: String,
    pub datasets: Vec<String>,
    pub layout: Layout,
    /// Dataset-wide (Sigma field, event field).
    pub fields: Vec<(String, String)>,
    /// Low-cardinality fields (the same few values in most events): a hint that rules are
    /// better prefiltered on other fields.
    pub common_fields: Vec<String>,
    pub logsources: Vec<LogsourceEntry>,
}

/// Every mapping in force.
#[derive(Debug, Clone, Default)]
pub struct Mappings {
    pub files: Vec<MappingFile>,
}

/// The repository's `rules/mappings/`, compiled in so the binary works from any directory.
const BUILTIN: &[(&str, &str)] = &[
    (
        "windows.yml",
        include_str!("../../rules/mappings/windows.yml"),
    ),
    ("linux.yml", include_str!("../../rules/mappings/linux.yml")),
    (
        "network.yml",
        include_str!("../../rules/mappings/network.yml"),
    ),
    ("web.yml", include_str!("../../rules/mappings/web.yml")),
    ("cloud.yml", include_str!("../../rules/mappings/cloud.yml")),
    ("email.yml", include_str!("../../rules/mappings/email.yml")),
];

impl Mappings {
    /// The mappings shipped in `rules/mappings/`.
    pub fn builtin() -> Mappings {
        let mut m = Mappings::default();
        for (name, text) in BUILTIN {
            let f = MappingFile::from_yaml(text, &format!("rules/mappings/{name}"))
                .expect("builtin mappings are valid");
            m.files.push(f);
        }
        m
    }

    /// Every `*.yml`/`*.yaml` file of a directory, in name order.
    pub fn from_dir(dir: &Path) -> Result<Mappings, SigmaError> {
        let io = |source| SigmaError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")))
            .collect();
        paths.sort();
        let mut m = Mappings::default();
        for p in paths {
            let text = std::fs::read_to_string(&p).map_err(|source| SigmaError::Io {
                path: p.clone(),
                source,
            })?;
            m.files
                .push(MappingFile::from_yaml(&text, &p.display().to_string())?);
        }
        Ok(m)
    }

    /// Entries (with their file's datasets) that apply to a rule logsource.
    pub fn entries_for<'a>(
        &'a self,
        ls: &'a Logsource,
    ) -> impl Iterator<Item = (&'a MappingFile, &'a LogsourceEntry)> + 'a {
        self.files.iter().flat_map(move |f| {
            f.logsources
                .iter()
                .filter(|e| e.applies_to(ls))
                .map(move |e| (f, e))
        })
    }
}

fn pairs(
    y: Option<&Yaml>,
    what: &str,
    err: &dyn Fn(String) -> SigmaError,
) -> Result<Vec<(String, String)>, SigmaError> {
    match y {
        None | Some(Yaml::Null) => Ok(Vec::new()),
        Some(Yaml::Hash(h)) => h
            .iter()
            .map(|(k, v)| match (text(k), text(v)) {
                (Some(k), Some(v)) => Ok((k, v)),
                _ => Err(err(format!("`{what}` must map field names to field names"))),
            })
            .collect(),
        Some(_) => Err(err(format!("`{what}` must be a map"))),
    }
}

/// `schemas: {name: {from: TEXT, fields: [NAME, …]}, …}`.
fn parse_schemas(
    y: Option<&Yaml>,
    err: &dyn Fn(String) -> SigmaError,
) -> Result<HashMap<String, Schema>, SigmaError> {
    let h = match y {
        None | Some(Yaml::Null) => return Ok(HashMap::new()),
        Some(Yaml::Hash(h)) => h,
        Some(_) => return Err(err("`schemas` must be a map of named field sets".into())),
    };
    let mut out = HashMap::new();
    for (k, v) in h {
        let Some(name) = text(k) else {
            return Err(err("`schemas`: bad name".into()));
        };
        let Yaml::Hash(s) = v else {
            return Err(err(format!("schemas.{name}: expected `{{from, fields}}`")));
        };
        for (k, _) in s {
            if !matches!(k.as_str(), Some("from" | "fields")) {
                return Err(err(format!(
                    "schemas.{name}: unknown key {}",
                    crate::yaml::describe(k)
                )));
            }
        }
        let Some(from) = get(s, "from").and_then(text) else {
            return Err(err(format!(
                "schemas.{name}: `from` (where the fields come from) is missing"
            )));
        };
        let fields = text_list(get(s, "fields"));
        if fields.is_empty() {
            return Err(err(format!("schemas.{name}: `fields` names no field")));
        }
        out.insert(name, Schema { from, fields });
    }
    Ok(out)
}

/// The schemas a list of schema names refers to.
fn lookup<'s>(
    schemas: &'s HashMap<String, Schema>,
    y: Option<&Yaml>,
    what: &str,
    err: &dyn Fn(String) -> SigmaError,
) -> Result<Vec<&'s Schema>, SigmaError> {
    text_list(y)
        .iter()
        .map(|n| {
            schemas
                .get(n)
                .ok_or_else(|| err(format!("{what}: no schema `{n}` in `schemas`")))
        })
        .collect()
}

impl MappingFile {
    pub fn from_yaml(src: &str, origin: &str) -> Result<MappingFile, SigmaError> {
        let err = |message: String| SigmaError::Mapping {
            origin: origin.to_string(),
            message,
        };
        let docs = yaml_rust2::YamlLoader::load_from_str(src).map_err(|e| err(e.to_string()))?;
        let Some(Yaml::Hash(root)) = docs.first() else {
            return Err(err("expected a map".into()));
        };
        for (k, _) in root {
            match k.as_str() {
                Some(
                    "datasets" | "layout" | "fields" | "common_fields" | "logsources"
                    | "description" | "schemas" | "fields_always",
                ) => {}
                _ => return Err(err(format!("unknown key {}", crate::yaml::describe(k)))),
            }
        }
        let datasets = text_list(get(root, "datasets"));
        if datasets.is_empty() {
            return Err(err("`datasets` names no dataset".into()));
        }
        let layout = match get(root, "layout").and_then(text).as_deref() {
            None | Some("flat") => Layout::Flat,
            Some("evtx") => Layout::Evtx,
            Some(other) => return Err(err(format!("unknown layout `{other}` (evtx, flat)"))),
        };
        let fields = pairs(get(root, "fields"), "fields", &err)?;
        let common_fields = text_list(get(root, "common_fields"));
        let schemas = parse_schemas(get(root, "schemas"), &err)?;
        let always = lookup(&schemas, get(root, "fields_always"), "fields_always", &err)?;
        let mut logsources = Vec::new();
        let Some(Yaml::Array(entries)) = get(root, "logsources") else {
            return Err(err("`logsources` must be a list".into()));
        };
        for (i, e) in entries.iter().enumerate() {
            let Yaml::Hash(e) = e else {
                return Err(err(format!("logsources[{i}] is not a map")));
            };
            for (k, _) in e {
                match k.as_str() {
                    Some("logsource" | "when" | "fields_known" | "fields_enriched") => {}
                    _ => {
                        return Err(err(format!(
                            "logsources[{i}]: unknown key {}",
                            crate::yaml::describe(k)
                        )))
                    }
                }
            }
            let Some(Yaml::Hash(ls)) = get(e, "logsource") else {
                return Err(err(format!("logsources[{i}]: `logsource` must be a map")));
            };
            let (product, category, service) = (
                KeyPat::parse(get(ls, "product")),
                KeyPat::parse(get(ls, "category")),
                KeyPat::parse(get(ls, "service")),
            );
            if [&product, &category, &service]
                .iter()
                .all(|k| **k == KeyPat::Absent)
            {
                return Err(err(format!(
                    "logsources[{i}]: `logsource` names no product, category or service"
                )));
            }
            let mut when = Vec::new();
            match get(e, "when") {
                None | Some(Yaml::Null) => {}
                Some(Yaml::Array(alts)) => {
                    for alt in alts {
                        let Yaml::Hash(alt) = alt else {
                            return Err(err(format!(
                                "logsources[{i}].when: each alternative is a map"
                            )));
                        };
                        let mut w = When::default();
                        for (k, v) in alt {
                            let Some(k) = text(k) else {
                                return Err(err(format!("logsources[{i}].when: bad key")));
                            };
                            if k == "fieldmap" {
                                w.fieldmap = pairs(Some(v), "fieldmap", &err)?;
                                continue;
                            }
                            let vals: Vec<String> = text_list(Some(v))
                                .into_iter()
                                .map(|s| s.to_lowercase())
                                .collect();
                            if vals.is_empty() {
                                return Err(err(format!(
                                    "logsources[{i}].when: `{k}` has no value"
                                )));
                            }
                            w.conds.push((k, vals));
                        }
                        when.push(w);
                    }
                }
                Some(_) => return Err(err(format!("logsources[{i}].when must be a list"))),
            }
            let at = |key: &str| format!("logsources[{i}].{key}");
            let known = lookup(&schemas, get(e, "fields_known"), &at("fields_known"), &err)?;
            let enriched = lookup(
                &schemas,
                get(e, "fields_enriched"),
                &at("fields_enriched"),
                &err,
            )?;
            let schema = match (known.is_empty(), enriched.is_empty()) {
                (true, true) => None,
                (true, false) => {
                    return Err(err(format!(
                        "logsources[{i}]: `fields_enriched` without `fields_known`"
                    )))
                }
                (false, _) => {
                    let mut s = FieldSchema::default();
                    for sc in known.iter().chain(&always) {
                        s.known.extend(sc.fields.iter().cloned());
                    }
                    s.known_from = known.iter().map(|sc| sc.from.clone()).collect();
                    let renamed = when.iter().flat_map(|w| &w.fieldmap).chain(&fields);
                    s.known.extend(renamed.map(|(sigma, _)| sigma.clone()));
                    for sc in &enriched {
                        s.enriched.extend(sc.fields.iter().cloned());
                    }
                    s.enriched_from = enriched.iter().map(|sc| sc.from.clone()).collect();
                    Some(s)
                }
            };
            logsources.push(LogsourceEntry {
                product,
                category,
                service,
                when,
                schema,
            });
        }
        Ok(MappingFile {
            origin: origin.to_string(),
            datasets,
            layout,
            fields,
            common_fields,
            logsources,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_parses() {
        let m = Mappings::builtin();
        assert!(m
            .files
            .iter()
            .any(|f| f.datasets.iter().any(|d| d == "windows")));
        let ls = Logsource {
            product: Some("windows".into()),
            category: Some("process_creation".into()),
            service: None,
        };
        assert!(m.entries_for(&ls).count() >= 1);
    }

    #[test]
    fn builtin_schemas() {
        let m = Mappings::builtin();
        let entry = |product: &str, category: Option<&str>, service: Option<&str>| {
            let ls = Logsource {
                product: Some(product.into()),
                category: category.map(Into::into),
                service: service.map(Into::into),
            };
            let found: Vec<_> = m.entries_for(&ls).filter(|(_, e)| e.is_exact()).collect();
            assert_eq!(found.len(), 1, "{ls}");
            (found[0].0.origin.clone(), found[0].1.schema.clone())
        };
        let (origin, s) = entry("windows", Some("file_event"), None);
        assert_eq!(origin, "rules/mappings/windows.yml");
        let s = s.expect("file_event has a schema");
        assert_eq!(s.known_from, ["Sysmon EventID 11 (FileCreate)"]);
        for f in [
            "TargetFilename",
            "Image",
            "User",
            "EventID",
            "Provider_Name",
        ] {
            assert!(s.known.contains(f), "{f}");
        }
        assert!(!s.known.contains("FileMagicBytes") && !s.enriched.contains("FileMagicBytes"));
        assert!(!s.known.contains("IntegrityLevel") && s.enriched.contains("IntegrityLevel"));
        let s = entry("windows", Some("process_creation"), None).1.unwrap();
        // Security 4688 names, and the Sigma names its fieldmap gives them.
        for f in [
            "NewProcessName",
            "ParentProcessName",
            "Image",
            "ParentImage",
            "Hashes",
        ] {
            assert!(s.known.contains(f), "{f}");
        }
        assert!(!s.known.contains("Imphash"), "Hashes is not split");
        let s = entry("linux", None, Some("auditd")).1.unwrap();
        for f in [
            "type",
            "syscall",
            "a0",
            "a9",
            "exe",
            "comm",
            "cwd",
            "proctitle",
            "SYSCALL",
        ] {
            assert!(s.known.contains(f), "{f}");
        }
        assert!(!s.known.contains("cmdline"));
        assert!(entry("windows", None, Some("security")).1.is_none());
    }

    #[test]
    fn schema_errors_named() {
        let base = "datasets: [x]\nschemas:\n  a: {from: A, fields: [f]}\nlogsources:\n  - logsource: {product: p}\n";
        for (extra, want) in [
            ("    fields_known: [b]\n", "no schema `b`"),
            (
                "    fields_enriched: [a]\n",
                "`fields_enriched` without `fields_known`",
            ),
            ("    field_known: [a]\n", "unknown key \"field_known\""),
        ] {
            let e = MappingFile::from_yaml(&format!("{base}{extra}"), "t").unwrap_err();
            assert!(e.to_string().contains(want), "{e}");
        }
        for (schemas, want) in [
            ("schemas:\n  a: {fields: [f]}\n", "`from`"),
            ("schemas:\n  a: {from: A}\n", "names no field"),
            ("schemas: [a]\n", "must be a map"),
            (
                "fields_always: [zz]\nschemas: {}\n",
                "fields_always: no schema `zz`",
            ),
        ] {
            let text = format!("datasets: [x]\n{schemas}logsources: []\n");
            let e = MappingFile::from_yaml(&text, "t").unwrap_err();
            assert!(e.to_string().contains(want), "{e}");
        }
    }

    #[test]
    fn bad_mapping_named() {
        let e =
            MappingFile::from_yaml("datasets: [x]\nlayout: nope\nlogsources: []", "t").unwrap_err();
        assert!(e.to_string().contains("unknown layout"), "{e}");
    }
}
