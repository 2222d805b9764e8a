//! Small helpers over `yaml-rust2` documents.

use yaml_rust2::Yaml;

/// A scalar as Sigma sees it: its text, or `None` for `null`.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Str(String),
    /// An integer or float, in its canonical text form (`4688`, `1.5`).
    Num(String),
    Bool(bool),
    Null,
}

impl Scalar {
    pub fn from_yaml(y: &Yaml) -> Option<Scalar> {
        Some(match y {
            Yaml::String(s) => Scalar::Str(s.clone()),
            Yaml::Integer(i) => Scalar::Num(i.to_string()),
            Yaml::Real(r) => Scalar::Num(r.clone()),
            Yaml::Boolean(b) => Scalar::Bool(*b),
            Yaml::Null => Scalar::Null,
            _ => return None,
        })
    }

    /// The text used for string matching (`null` has none).
    pub fn text(&self) -> Option<String> {
        match self {
            Scalar::Str(s) | Scalar::Num(s) => Some(s.clone()),
            Scalar::Bool(b) => Some(b.to_string()),
            Scalar::Null => None,
        }
    }
}

/// `map[key]` for a string key.
pub fn get<'a>(map: &'a yaml_rust2::yaml::Hash, key: &str) -> Option<&'a Yaml> {
    map.get(&Yaml::String(key.to_string()))
}

/// A scalar as text (strings, numbers, booleans).
pub fn text(y: &Yaml) -> Option<String> {
    Scalar::from_yaml(y).and_then(|s| s.text())
}

/// A string or a list of strings as a list.
pub fn text_list(y: Option<&Yaml>) -> Vec<String> {
    match y {
        Some(Yaml::Array(a)) => a.iter().filter_map(text).collect(),
        Some(y) => text(y).into_iter().collect(),
        None => Vec::new(),
    }
}

/// A short rendering of a YAML node for messages.
pub fn describe(y: &Yaml) -> String {
    match y {
        Yaml::String(s) => format!("{s:?}"),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Real(r) => r.clone(),
        Yaml::Boolean(b) => b.to_string(),
        Yaml::Null => "null".into(),
        Yaml::Array(_) => "a list".into(),
        Yaml::Hash(_) => "a map".into(),
        _ => "an unsupported value".into(),
    }
}
