//! canhgac-detect: the Sigma engine.
//!
//! # Design
//!
//! Rules are parsed ([`parse`]), their value modifiers applied left to right
//! ([`modifiers`], one module per family) and compiled ([`compile`]) into boolean trees over
//! two kinds of leaves:
//!
//! - **atoms**: a case-folded needle on a field slot with a position kind (contains, prefix,
//!   suffix, exact). Every rule's needles for a field share one Aho-Corasick automaton; one
//!   pass over a value sets the bits of every satisfied atom, for all rules at once;
//! - **direct matchers**: what needles cannot express (wildcards in the middle, `?`, regexes,
//!   CIDRs, numeric and time-part comparisons, `exists`, `null`, `fieldref`, `cased`), each
//!   gated by an atom for its longest literal where it has one.
//!
//! Each rule gets a **prefilter**: a set of atoms one of which must be set for it to match
//! (derived from its condition). Only rules whose prefilter atoms fired are evaluated.
//!
//! **Routing** is data ([`mapping`], `rules/mappings/*.yml`): per dataset, logsource entries
//! with event predicates (`Channel`, `EventID`, …) and field renames. An event's route (which
//! logsource groups it belongs to, which renames apply) is computed once per distinct
//! predicate-value combination and cached per thread.
//!
//! **Extraction** walks the event's `original` JSON once, keeping only fields that rules or
//! mappings reference, copying and case-folding each once into a reused buffer
//! ([`Scratch`]): evaluation allocates nothing once warm.
//!
//! A rule that cannot be supported is rejected with a named [`Reject`] reason, never
//! silently dropped; correlation documents are recognised and rejected as "not yet supported".
//!
//! # Use
//!
//! ```no_run
//! # use canhgac_detect::*;
//! let mut b = EngineBuilder::new(Mappings::builtin());
//! b.add_path("sigma/rules".as_ref()).unwrap();
//! let (engine, report) = b.build();
//! let mut scratch = engine.scratch();
//! # let event: canhgac_core::Event = todo!();
//! for m in engine.matches(&event, &mut scratch) {
//!     println!("{} {} by {:?}", m.rule.id, m.rule.title, m.rule.author);
//! }
//! ```
//!
//! Correlation rules can be layered on top: a match carries the [`RuleIdx`] and the rule's
//! `id`/`name`; [`Engine::field_values`] reads a rule's group-by fields from an event with
//! the same mapping the rule was matched with.

pub mod compile;
pub mod engine;
pub mod error;
mod extract;
pub mod input;
pub mod ioc;
pub mod loader;
pub mod mapping;
pub mod modifiers;
pub mod parse;
pub mod rule;
pub mod taxonomy;
mod yaml;

pub use engine::{CompiledRule, Engine, EngineStats, Match, RuleIdx, Scratch};
pub use error::{DetectError, Reject, Rejection};
pub use ioc::{IocError, IocLoader, IocMatch, IocSet};
pub use loader::{EngineBuilder, LoadReport};
pub use mapping::Mappings;
pub use modifiers::Placeholders;
pub use rule::{Level, Logsource, RuleMeta};
