//! The crate's error type and the named reasons a rule is rejected.

use std::path::PathBuf;

/// Errors of the detect crate. Rule problems are not errors of the whole load: they become
/// [`Rejection`]s in the [`crate::LoadReport`]; these are the failures that stop a load.
#[derive(Debug, thiserror::Error)]
pub enum SigmaError {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("mapping {origin}: {message}")]
    Mapping { origin: String, message: String },
    #[error("placeholders {origin}: {message}")]
    Placeholders { origin: String, message: String },
    #[error("{path}: rule {rule_id}: {reason}")]
    Rule {
        path: PathBuf,
        rule_id: String,
        reason: Reject,
    },
}

/// Why a rule (or filter, or correlation) document was not loaded. Every variant names the
/// construct; [`Reject::kind`] gives the grouping key `rules check` prints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    #[error("yaml: {0}")]
    Yaml(String),
    #[error("correlation: {0}")]
    Correlation(crate::correlation::CorrelationReject),
    #[error("aggregation: legacy condition `{0}` not supported (use a correlation rule)")]
    Aggregation(String),
    #[error("near: legacy temporal condition `{0}` not supported (use a temporal correlation)")]
    Near(String),
    #[error("collection: legacy multi-document rule collection (`action: {0}`) not supported")]
    Collection(String),
    #[error("unknown modifier `{0}`")]
    UnknownModifier(String),
    #[error("placeholder `%{0}%` not configured (expand)")]
    Placeholder(String),
    #[error("modifier `{modifier}`: {message}")]
    Modifier { modifier: String, message: String },
    #[error("regex `{pattern}`: {message}")]
    Regex { pattern: String, message: String },
    #[error("condition: {0}")]
    Condition(String),
    #[error("detection: {0}")]
    Detection(String),
    #[error("missing `{0}`")]
    Missing(&'static str),
    #[error("filter: {0}")]
    Filter(String),
    #[error("duplicate rule id `{0}` (first loaded from {1})")]
    Duplicate(String, String),
    #[error("status: unsupported (the rule declares it cannot be used as it is)")]
    StatusUnsupported,
    #[error("not a Sigma document (no `detection`, `filter` or `correlation`)")]
    NotSigma,
    /// A field outside the schema of every mapping entry of the logsource (`rules/mappings/`):
    /// a selection on it can never match, a filter on it never applies.
    #[error("field `{}` is not carried by {} ({})", .0.field, .0.logsource, .0.schema)]
    UnknownField(Box<FieldReject>),
    /// Under [`crate::EngineBuilder::strict_fields`]: a field only enriching sensors add.
    #[error(
        "field `{}` is not carried by {} ({}); only enriched events carry it ({})",
        .0.field, .0.logsource, .0.schema, .0.enrichment
    )]
    EnrichedField(Box<FieldReject>),
}

/// The field of an [`Reject::UnknownField`] or [`Reject::EnrichedField`], and its logsource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldReject {
    pub field: String,
    /// `windows/file_event`.
    pub logsource: String,
    /// Where the schema comes from: `rules/mappings/windows.yml: Sysmon EventID 11 (…)`.
    pub schema: String,
    /// Where the enrichment-only fields come from (empty for an unknown field).
    pub enrichment: String,
}

impl Reject {
    /// A short stable name of the reason, for grouping (`aggregation`, `placeholder`,
    /// `unknown-modifier`, `unknown-field`, `correlation-unknown-rule`, …; correlation reasons
    /// all start with `correlation`).
    pub fn kind(&self) -> &'static str {
        match self {
            Reject::Yaml(_) => "yaml",
            Reject::Correlation(c) => c.kind(),
            Reject::Aggregation(_) => "aggregation",
            Reject::Near(_) => "near",
            Reject::Collection(_) => "collection",
            Reject::UnknownModifier(_) => "unknown-modifier",
            Reject::Placeholder(_) => "placeholder",
            Reject::Modifier { .. } => "modifier",
            Reject::Regex { .. } => "regex",
            Reject::Condition(_) => "condition",
            Reject::Detection(_) => "detection",
            Reject::Missing(_) => "missing-field",
            Reject::Filter(_) => "filter",
            Reject::Duplicate(..) => "duplicate-id",
            Reject::StatusUnsupported => "status-unsupported",
            Reject::NotSigma => "not-sigma",
            Reject::UnknownField(_) => "unknown-field",
            Reject::EnrichedField(_) => "enrichment-field",
        }
    }
}

/// One document that was not loaded, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub path: PathBuf,
    /// Index of the YAML document in its file (0 for single-document files).
    pub document: usize,
    pub rule_id: Option<String>,
    pub title: Option<String>,
    pub reason: Reject,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.path.display())?;
        if self.document > 0 {
            write!(f, "#{}", self.document)?;
        }
        if let Some(id) = &self.rule_id {
            write!(f, " ({id})")?;
        }
        write!(f, ": {}", self.reason)
    }
}
