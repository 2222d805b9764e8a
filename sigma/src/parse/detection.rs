//! The `detection` section: search identifiers and their field items, before compilation.

use yaml_rust2::Yaml;

use crate::error::Reject;
use crate::modifiers::{FieldSpec, Modifier};
use crate::yaml::{describe, Scalar};

/// A parsed `detection` (or filter) section.
#[derive(Debug, Clone, Default)]
pub struct Detection {
    /// Search identifiers in document order.
    pub searches: Vec<(String, Search)>,
    /// The condition(s); several are OR-ed.
    pub conditions: Vec<String>,
}

/// A search identifier: alternatives OR-ed together (a list of maps or of keywords); a
/// plain map is a single alternative.
#[derive(Debug, Clone)]
pub struct Search {
    pub alternatives: Vec<SearchItem>,
}

#[derive(Debug, Clone)]
pub enum SearchItem {
    /// Field items AND-ed together.
    Map(Vec<FieldSpec>),
    /// A keyword searched over the whole event.
    Keyword(Scalar),
}

/// Parses the detection map of a rule (`condition` required) or of a filter.
pub fn parse_detection(map: &yaml_rust2::yaml::Hash) -> Result<Detection, Reject> {
    let mut det = Detection::default();
    for (k, v) in map {
        let Some(key) = k.as_str() else {
            return Err(Reject::Detection(format!(
                "search identifier {} is not a string",
                describe(k)
            )));
        };
        match key {
            "condition" => match v {
                Yaml::Array(list) => {
                    for c in list {
                        match c.as_str() {
                            Some(s) => det.conditions.push(s.to_string()),
                            None => {
                                return Err(Reject::Condition(format!(
                                    "condition {} is not a string",
                                    describe(c)
                                )))
                            }
                        }
                    }
                }
                Yaml::String(s) => det.conditions.push(s.clone()),
                other => {
                    return Err(Reject::Condition(format!(
                        "condition is {}",
                        describe(other)
                    )))
                }
            },
            // Legacy aggregation window; only meaningful with `count()`, which the condition
            // parser rejects by name. Alone it is ignored.
            "timeframe" => {}
            _ => det.searches.push((key.to_string(), parse_search(key, v)?)),
        }
    }
    Ok(det)
}

fn parse_search(name: &str, v: &Yaml) -> Result<Search, Reject> {
    let alternatives = match v {
        Yaml::Hash(h) => vec![SearchItem::Map(parse_map(h)?)],
        Yaml::Array(items) => {
            let mut alts = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Yaml::Hash(h) => alts.push(SearchItem::Map(parse_map(h)?)),
                    Yaml::Array(_) => {
                        return Err(Reject::Detection(format!("search `{name}`: nested list")));
                    }
                    other => match Scalar::from_yaml(other) {
                        Some(s) => alts.push(SearchItem::Keyword(s)),
                        None => {
                            return Err(Reject::Detection(format!(
                                "search `{name}`: unsupported item {}",
                                describe(other)
                            )))
                        }
                    },
                }
            }
            alts
        }
        other => match Scalar::from_yaml(other) {
            Some(Scalar::Null) | None => {
                return Err(Reject::Detection(format!(
                    "search `{name}` is {}",
                    describe(other)
                )))
            }
            Some(s) => vec![SearchItem::Keyword(s)],
        },
    };
    Ok(Search { alternatives })
}

fn parse_map(h: &yaml_rust2::yaml::Hash) -> Result<Vec<FieldSpec>, Reject> {
    let mut out = Vec::with_capacity(h.len());
    for (k, v) in h {
        let key = match k {
            Yaml::String(s) => s.clone(),
            Yaml::Integer(i) => i.to_string(),
            other => {
                return Err(Reject::Detection(format!(
                    "field name {} is not a string",
                    describe(other)
                )))
            }
        };
        let mut parts = key.split('|');
        let field = parts.next().unwrap_or_default().trim().to_string();
        let mut modifiers = Vec::new();
        for m in parts {
            modifiers.push(Modifier::parse(m)?);
        }
        let values = match v {
            Yaml::Array(list) => {
                let mut vals = Vec::with_capacity(list.len());
                for item in list {
                    match Scalar::from_yaml(item) {
                        Some(s) => vals.push(s),
                        None => {
                            return Err(Reject::Detection(format!(
                                "field `{key}`: unsupported value {}",
                                describe(item)
                            )))
                        }
                    }
                }
                vals
            }
            other => match Scalar::from_yaml(other) {
                Some(s) => vec![s],
                None => {
                    return Err(Reject::Detection(format!(
                        "field `{key}`: unsupported value {}",
                        describe(other)
                    )))
                }
            },
        };
        out.push(FieldSpec {
            field: if field.is_empty() { None } else { Some(field) },
            modifiers,
            values,
        });
    }
    Ok(out)
}
