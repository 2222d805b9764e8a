//! Rule metadata: what a match reports about the rule that fired.

use std::path::PathBuf;

use serde::Serialize;

/// Sigma `level`: the one level type of the product (`canhgac_core::detection::Level`).
pub use canhgac_core::detection::Level;

/// Parses a Sigma `level`; unknown or missing levels are `medium`, as Sigma tools read them.
pub fn parse_level(s: &str) -> Level {
    match s.trim().to_ascii_lowercase().as_str() {
        "informational" | "info" => Level::Informational,
        "low" => Level::Low,
        "high" => Level::High,
        "critical" => Level::Critical,
        _ => Level::Medium,
    }
}

/// Sigma `logsource`. Values are kept lowercased.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Logsource {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

impl std::fmt::Display for Logsource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for (k, v) in [
            ("product", &self.product),
            ("category", &self.category),
            ("service", &self.service),
        ] {
            if let Some(v) = v {
                if !first {
                    f.write_str(",")?;
                }
                write!(f, "{k}={v}")?;
                first = false;
            }
        }
        if first {
            f.write_str("(none)")?;
        }
        Ok(())
    }
}

/// Everything a match reports about its rule. The Sigma licence (DRL 1.1) asks that output
/// crediting a match names the rule's author: `author` is always carried.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RuleMeta {
    pub id: String,
    /// Sigma v2 `name` (what correlation rules reference), when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    pub level: Level,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
    pub tags: Vec<String>,
    pub logsource: Logsource,
    pub falsepositives: Vec<String>,
    pub references: Vec<String>,
    /// Fields the rule suggests showing to an analyst.
    pub fields: Vec<String>,
    /// Ids of the Sigma filters applied to this rule (AND NOT).
    pub filters: Vec<String>,
    /// The file the rule was loaded from.
    pub path: PathBuf,
}

impl RuleMeta {
    /// The metadata of a rule document (a detection or a correlation rule): `id`, `title`,
    /// `status` and `logsource` as the caller decided them, the rest read from the YAML map.
    pub(crate) fn from_yaml(
        map: &yaml_rust2::yaml::Hash,
        path: &std::path::Path,
        id: String,
        title: String,
        status: Option<String>,
        logsource: Logsource,
    ) -> RuleMeta {
        use crate::yaml::{get, text, text_list};
        RuleMeta {
            id,
            name: get(map, "name").and_then(text),
            title,
            status,
            level: get(map, "level")
                .and_then(text)
                .map(|l| parse_level(&l))
                .unwrap_or_default(),
            author: get(map, "author")
                .and_then(text)
                .map(|a| a.trim().to_string()),
            description: get(map, "description")
                .and_then(text)
                .map(|d| d.trim().to_string()),
            date: get(map, "date").and_then(text),
            modified: get(map, "modified").and_then(text),
            tags: text_list(get(map, "tags")),
            logsource,
            falsepositives: text_list(get(map, "falsepositives")),
            references: text_list(get(map, "references")),
            fields: text_list(get(map, "fields")),
            filters: Vec::new(),
            path: path.to_path_buf(),
        }
    }

    /// ATT&CK tags (`attack.*`).
    pub fn attack_tags(&self) -> impl Iterator<Item = &str> {
        self.tags
            .iter()
            .map(String::as_str)
            .filter(|t| t.starts_with("attack."))
    }
}
