//! Sigma correlation rules: parsing and validation ([`parse`]), resolution against the loaded
//! rules ([`CorrelationSet`]), and the streaming evaluator ([`CorrelationEngine`]) with
//! explicit event time, bounded state and snapshot/restore. The semantics are documented in
//! the crate docs, section "Correlation rules".

pub mod error;
pub mod parse;
mod runtime;
pub mod set;
mod snapshot;
pub mod window;

pub use error::{CorrelationError, CorrelationReject};
pub use parse::{CmpOp, Condition, CorrelationDoc, CorrelationType};
pub use runtime::{
    CorrelationConfig, CorrelationEngine, CorrelationMatch, CorrelationSnapshot, CorrelationStats,
    Hit, KeySnapshot,
};
pub use set::{CorrIdx, CorrelationRule, CorrelationSet, Input, Source};
pub use snapshot::{RestoreReport, SNAPSHOT_VERSION};
pub use window::{Entry, EntryValue};
