//! Why a correlation document is rejected, and what can go wrong restoring saved state.

/// The named reason a Sigma correlation rule was not loaded. Wrapped in
/// [`crate::Reject::Correlation`]; [`CorrelationReject::kind`] is its grouping key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorrelationReject {
    #[error("`correlation` is not a map")]
    NotAMap,
    #[error("missing `correlation.type`")]
    MissingType,
    #[error("unknown correlation type `{0}` (expected event_count, value_count, temporal, temporal_ordered, value_sum, value_avg, value_percentile or value_median)")]
    UnknownType(String),
    #[error("rules: {0}")]
    Rules(String),
    #[error("group-by: {0}")]
    GroupBy(String),
    #[error("timespan: {0}")]
    Timespan(String),
    #[error("condition: {0}")]
    Condition(String),
    #[error("field: {0}")]
    Field(String),
    #[error("percentile: {0}")]
    Percentile(String),
    #[error("aliases: {0}")]
    Aliases(String),
    #[error("generate: {0}")]
    Generate(String),
    #[error("unknown key `correlation.{0}`")]
    UnknownKey(String),
    #[error("references rule `{0}`, which is not loaded{1}")]
    UnknownRule(String, String),
    #[error("reference `{0}` is ambiguous: {1}")]
    Ambiguous(String, String),
    #[error("chain cycle: {0}")]
    Cycle(String),
    #[error("chain: {0}")]
    Chain(String),
}

impl CorrelationReject {
    /// A short stable name (`correlation-type`, `correlation-unknown-rule`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            CorrelationReject::NotAMap => "correlation-syntax",
            CorrelationReject::MissingType | CorrelationReject::UnknownType(_) => {
                "correlation-type"
            }
            CorrelationReject::Rules(_) => "correlation-rules",
            CorrelationReject::GroupBy(_) => "correlation-group-by",
            CorrelationReject::Timespan(_) => "correlation-timespan",
            CorrelationReject::Condition(_) => "correlation-condition",
            CorrelationReject::Field(_) => "correlation-field",
            CorrelationReject::Percentile(_) => "correlation-percentile",
            CorrelationReject::Aliases(_) => "correlation-aliases",
            CorrelationReject::Generate(_) => "correlation-generate",
            CorrelationReject::UnknownKey(_) => "correlation-unknown-key",
            CorrelationReject::UnknownRule(..) => "correlation-unknown-rule",
            CorrelationReject::Ambiguous(..) => "correlation-ambiguous",
            CorrelationReject::Cycle(_) => "correlation-cycle",
            CorrelationReject::Chain(_) => "correlation-chain",
        }
    }
}

/// Failures of [`super::CorrelationEngine::restore`].
#[derive(Debug, thiserror::Error)]
pub enum CorrelationError {
    #[error("correlation snapshot: version {found} not supported (this build reads {expected})")]
    SnapshotVersion { found: u32, expected: u32 },
    #[error("correlation snapshot: {0}")]
    SnapshotJson(#[from] serde_json::Error),
}
