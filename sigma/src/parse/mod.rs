//! From YAML documents to rule, filter and correlation documents (no compilation yet).

pub mod condition;
pub mod detection;

use std::path::Path;

use yaml_rust2::Yaml;

use crate::error::Reject;
pub use crate::modifiers::FieldSpec;
use crate::rule::{Logsource, RuleMeta};
use crate::yaml::{get, text, text_list};
pub use detection::{Detection, Search, SearchItem};

/// A parsed Sigma document.
#[derive(Debug, Clone)]
pub enum Document {
    Rule(Box<RuleDoc>),
    Filter(FilterDoc),
    Correlation(Box<crate::correlation::CorrelationDoc>),
}

#[derive(Debug, Clone)]
pub struct RuleDoc {
    pub meta: RuleMeta,
    pub detection: Detection,
}

/// A Sigma v2 meta filter: `filter: {rules: [...], <selections>, condition}`, applied as
/// AND NOT to the rules it names (by id or name).
#[derive(Debug, Clone)]
pub struct FilterDoc {
    pub id: String,
    pub title: String,
    pub logsource: Logsource,
    pub rules: Vec<String>,
    pub detection: Detection,
}

/// What identifies a document in a rejection.
#[derive(Debug, Clone, Default)]
pub struct DocIdent {
    pub id: Option<String>,
    pub title: Option<String>,
}

pub fn parse_logsource(y: Option<&Yaml>) -> Logsource {
    let Some(Yaml::Hash(h)) = y else {
        return Logsource::default();
    };
    let f = |k: &str| {
        get(h, k)
            .and_then(text)
            .map(|s| s.trim().to_ascii_lowercase())
    };
    Logsource {
        product: f("product"),
        category: f("category"),
        service: f("service"),
    }
}

/// Parses one YAML document. `index` numbers documents within a file (for fallback ids).
pub fn parse_document(y: &Yaml, path: &Path, index: usize) -> Result<Document, (DocIdent, Reject)> {
    let Yaml::Hash(map) = y else {
        return Err((DocIdent::default(), Reject::NotSigma));
    };
    let ident = DocIdent {
        id: get(map, "id").and_then(text),
        title: get(map, "title").and_then(text),
    };
    let fail = |r: Reject| Err((ident.clone(), r));

    if let Some(action) = get(map, "action").and_then(text) {
        return fail(Reject::Collection(action));
    }
    if get(map, "correlation").is_some() {
        return parse_correlation_document(map, path, index).map_err(|r| (ident.clone(), r));
    }
    if let Some(filter) = get(map, "filter") {
        let Yaml::Hash(fmap) = filter else {
            return fail(Reject::Filter("`filter` is not a map".into()));
        };
        let rules = text_list(get(fmap, "rules"));
        if rules.is_empty() {
            return fail(Reject::Filter("`filter.rules` names no rule".into()));
        }
        let mut sel = fmap.clone();
        sel.remove(&Yaml::String("rules".into()));
        let detection = match detection::parse_detection(&sel) {
            Ok(d) => d,
            Err(r) => return fail(r),
        };
        if detection.conditions.is_empty() {
            return fail(Reject::Missing("filter.condition"));
        }
        return Ok(Document::Filter(FilterDoc {
            id: ident.id.clone().unwrap_or_else(|| fallback_id(path, index)),
            title: ident.title.clone().unwrap_or_default(),
            logsource: parse_logsource(get(map, "logsource")),
            rules,
            detection,
        }));
    }
    let Some(det) = get(map, "detection") else {
        return fail(Reject::NotSigma);
    };
    let Yaml::Hash(det) = det else {
        return fail(Reject::Detection("`detection` is not a map".into()));
    };
    let detection = match detection::parse_detection(det) {
        Ok(d) => d,
        Err(r) => return fail(r),
    };
    if detection.conditions.is_empty() {
        return fail(Reject::Missing("detection.condition"));
    }
    let Some(title) = ident.title.clone() else {
        return fail(Reject::Missing("title"));
    };
    let status = get(map, "status").and_then(text);
    if status
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("unsupported"))
    {
        // Name the construct when the condition shows why; otherwise the declared status.
        for c in &detection.conditions {
            if let Err(r @ (Reject::Aggregation(_) | Reject::Near(_))) =
                condition::parse_condition(c)
            {
                return fail(r);
            }
        }
        return fail(Reject::StatusUnsupported);
    }
    let meta = RuleMeta::from_yaml(
        map,
        path,
        ident.id.clone().unwrap_or_else(|| fallback_id(path, index)),
        title,
        status,
        parse_logsource(get(map, "logsource")),
    );
    Ok(Document::Rule(Box::new(RuleDoc { meta, detection })))
}

/// A correlation document: rule metadata (title required, `status: unsupported` refused as
/// for detection rules) and the `correlation` section.
fn parse_correlation_document(
    map: &yaml_rust2::yaml::Hash,
    path: &Path,
    index: usize,
) -> Result<Document, Reject> {
    let id = get(map, "id")
        .and_then(text)
        .unwrap_or_else(|| fallback_id(path, index));
    let meta = crate::correlation::parse::correlation_meta(map, path, id)
        .ok_or(Reject::Missing("title"))?;
    if meta
        .status
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("unsupported"))
    {
        return Err(Reject::StatusUnsupported);
    }
    let mut doc =
        crate::correlation::parse::parse_correlation(map, meta).map_err(Reject::Correlation)?;
    doc.document = index;
    Ok(Document::Correlation(Box::new(doc)))
}

/// Id for a document without one: stable across runs (file stem and document index).
fn fallback_id(path: &Path, index: usize) -> String {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("rule");
    if index == 0 {
        stem.to_string()
    } else {
        format!("{stem}#{index}")
    }
}

/// Loads every YAML document of a text.
pub fn load_yaml(text: &str) -> Result<Vec<Yaml>, Reject> {
    yaml_rust2::YamlLoader::load_from_str(text).map_err(|e| Reject::Yaml(e.to_string()))
}
