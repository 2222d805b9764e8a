//! canhgac-sigma: the Sigma engine.
//!
//! It knows rules and records, nothing of Kafka, IOC lists or the pipeline: the detect worker
//! (`canhgac-detect`), `canhgac hunt`, `canhgac rules check`, the simulator and the rsigma
//! comparison bench all use this API.
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
//! ([`Scratch`]): evaluation allocates nothing once warm. [`Engine::eval_json`] does the same
//! from the record's JSON text without building a `serde_json::Value` ([`flat`]), with the
//! same result; the detect worker evaluates that way. [`flat::scan`] is that pull parser, public
//! so that the worker can read its payload envelope with it.
//!
//! **Keyword rules** search every scalar of the event: the text is joined once, lowercased, and
//! a SIMD search for any keyword needle (Teddy) decides whether the automaton runs at all.
//!
//! A rule that cannot be supported is rejected with a named [`Reject`] reason, never
//! silently dropped; that includes a rule naming a field its logsource never carries, where
//! the mapping declares the logsource's field schema (`unknown-field`, see [`mapping`]).
//!
//! # Use
//!
//! ```no_run
//! # use canhgac_sigma::*;
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
//! Correlation rules are layered on top (next section): a match carries the [`RuleIdx`] and
//! the rule's `id`/`name`; [`Engine::field_values`] reads a rule's group-by fields from an
//! event with the same mapping the rule was matched with.
//!
//! # Correlation rules
//!
//! Implemented per the Sigma correlation rules specification (SigmaHQ/sigma-specification,
//! `specification/sigma-correlation-rules-specification.md`, v2.0.2, plus the v2.1 metric
//! types `value_sum`, `value_avg`, `value_percentile`). Where the text is silent the reference
//! implementation (pySigma, `sigma/correlations.py`) is followed: `condition.percentile`
//! (0–100) selects the percentile `value_percentile` tests — it is required, since the
//! specification's own example without it says nothing about which percentile — `value_median`
//! is the 50th percentile, `neq` is accepted, a temporal rule without `condition` needs every
//! referenced rule, and `generate: false` (the default) silences the referenced rules'
//! own matches. Several comparisons in one condition (`gt: 100, lte: 200`) must all hold, as
//! the specification's range example says. `timespan` takes `s`, `m`, `h`, `d` and `w`.
//!
//! **Loading.** A file may hold a correlation and its base rules as YAML documents separated
//! by `---`. [`EngineBuilder::build_with_correlations`] returns a [`CorrelationSet`] next to
//! the [`Engine`] (`build` still returns the engine and report, counting correlations in
//! [`LoadReport::correlations`]). `rules` entries are resolved by id or `name` among the
//! loaded detection and correlation rules; anything wrong is a named
//! [`Reject::Correlation`] reason: unknown type, unknown or ambiguous reference (naming the
//! reason when the referenced rule was itself rejected), a chain cycle, a link on a rejected
//! correlation, a bad `timespan`, a missing or malformed condition, a `value_*` type without
//! `condition.field`, `value_percentile` without `percentile`, an alias that names no field
//! for a referenced rule, an outer correlation reading a field its inner correlation does
//! not group by, an extended (string) condition, an unknown key.
//!
//! **Keys.** State is kept per (correlation, group key). Group-by values are read with
//! [`Engine::field_values`]; with `aliases`, each referenced rule's events are read under the
//! field the alias names for that rule. A base match lacking a group-by field does not
//! contribute (counted: `missing_group_field`); a field with several values contributes its
//! first. An empty `group-by` is one key for the whole stream.
//!
//! **Time and windows.** Only event time is used; nothing reads the wall clock. The
//! *watermark* is the latest event time seen. A contribution older than watermark − allowed
//! lateness ([`CorrelationConfig::allowed_lateness`], default 60 s) is dropped and counted
//! (`late_dropped`); one within the lateness is inserted in event-time order. The window of a
//! contribution *e* is every contribution of its key with time in `[e.t − timespan, e.t]`
//! (both ends inclusive): a sliding window on event time, evaluated when *e* arrives and, for
//! an out-of-order arrival, also for each later contribution whose window now includes it.
//! The condition is tested on: `event_count` the distinct events, `value_count` the distinct
//! values of `field` (several fields: distinct combinations), `temporal` the distinct
//! referenced rules seen, `temporal_ordered` the length of the longest prefix of `rules`
//! the window's events follow in time order (ties count as in order), `value_sum` /
//! `value_avg` the sum / mean of numeric `field` values (non-numeric values do not
//! contribute: `non_numeric`), `value_percentile` the percentile by linear interpolation
//! between closest ranks. Conditions are evaluated on these trailing windows as events
//! arrive — there is no evaluation when a window closes — so `lt`/`lte`/`eq` mean "the
//! timespan up to this event holds at most …", and a key with no events is never evaluated.
//!
//! **Firing and re-arming.** When a window satisfies the condition the match is emitted at
//! once (event time of its last contribution). The key then does not report any window
//! overlapping the reported one (ending within `timespan` of it, before or after): at most
//! one match per key per timespan, and two matches of a key never share a contribution. A
//! sustained flood (a brute force of 10 000 attempts, `gte: 10`, `timespan: 5m`) therefore
//! gives one match per five minutes per key, not one per event; the price is that a second
//! burst inside the same timespan is folded into the first report. A [`CorrelationMatch`]
//! carries the rule (its author, as the Sigma licence asks), the group values, the first and
//! last contribution times, the tested value, the number of contributions and their ids
//! (bounded: the earliest and latest halves of [`CorrelationConfig::max_event_ids`]), and a
//! deterministic id: hash(correlation id, group, window end, closing contribution id).
//!
//! **Duplicates.** Within a key, a contribution whose event id is already present at the same
//! event time is ignored (`duplicates`); for temporal types the referenced rule must also be
//! the same (one event may satisfy two steps). A replayed event is thus never counted twice,
//! and an event matching two rules of one `event_count` counts once.
//!
//! **Chaining.** A correlation may reference correlations. An inner match contributes to the
//! outer one at its last time, with its group values as the only fields the outer rule can
//! read (checked at load), and its match id as event id. Matches are returned inner first;
//! [`CorrelationMatch::emit`] is `false` for inner links referenced without `generate: true`,
//! and [`CorrelationSet::emits_rule`] tells whether a base rule's own matches are reported.
//!
//! **Bounds.** Per key at most [`CorrelationConfig::max_entries_per_key`] contributions (the
//! oldest go: `entries_capped`; a count threshold above this cap can no longer be reached);
//! at most [`CorrelationConfig::max_keys`] keys (least recently updated evicted:
//! `keys_evicted`). Contributions older than watermark − lateness − timespan can no longer be
//! in an evaluated window and are dropped; keys left empty are swept every
//! [`CorrelationConfig::sweep_interval`] of event time (`keys_expired`). `value_count` stores a
//! 128-bit hash of the value, not the value. With a clock set
//! ([`CorrelationEngine::set_clock`], the caller's "now") the watermark never runs more than
//! [`CorrelationConfig::max_future_skew`] ahead of it, so one event stamped in the future cannot
//! make everything after it late. [`CorrelationStats`] has every counter. The watermark is
//! per engine: run one engine per independent stream (per agency topic).
//!
//! **Feeding.** Streaming: `corr.observe(&engine, &mut scratch, &event, &matched_rule_idxs)`
//! returns the matches this event completes. Offline (`canhgac hunt`): [`CorrelationEngine::extract`]
//! the [`Hit`]s of every event, sort them by time, [`CorrelationEngine::feed`] each.
//!
//! # Correlation state across restarts
//!
//! *Without restore*, a restarted engine starts with empty windows: a correlation whose events
//! straddle the restart is missed (the events before it are forgotten), and a key that fired
//! just before can fire again after it (the "already reported" memory is lost too), with a
//! different match id.
//!
//! *With restore*: [`CorrelationEngine::snapshot`] (serde JSON, [`CorrelationSnapshot`])
//! saves the watermark, counters and every key's contributions and reported windows;
//! [`CorrelationEngine::restore`] rebuilds the engine against the loaded rules (keys of rules
//! that are gone or whose definition changed are dropped and counted in [`RestoreReport`]).
//! Restoring and feeding the events after the snapshot gives exactly the matches of a run that
//! never stopped (tested). The detect worker does this per events partition
//! (`detect/src/worker/state.rs`): it writes the snapshot with the offset it covers to the state
//! topic, and commits the Kafka offsets only after that; after a crash or on assignment it
//! restores the last snapshot and reads from its offset. Events replayed from before the snapshot point are either still in their
//! key's window — recognised by event id and not counted again — or older than
//! watermark − lateness and dropped as late (they were in the state already). A match emitted
//! after the snapshot but before the crash is emitted again on replay with the same id
//! (downstream upserts by id). The risk of double counting is limited to state evicted by
//! the caps (a replayed event whose entry was capped away is counted again).

pub mod compile;
pub mod correlation;
pub mod engine;
pub mod error;
mod extract;
mod fieldcheck;
pub mod flat;
pub mod loader;
pub mod mapping;
pub mod modifiers;
pub mod parse;
pub mod rule;
#[cfg(any(test, feature = "testsuite"))]
pub mod testsuite;
mod yaml;

pub use correlation::{
    CorrIdx, CorrelationConfig, CorrelationEngine, CorrelationMatch, CorrelationSet,
    CorrelationSnapshot, CorrelationStats, Hit, RestoreReport,
};
pub use engine::{CompiledRule, Engine, EngineStats, Match, RuleIdx, Scratch};
pub use error::{FieldReject, Reject, Rejection, SigmaError};
pub use loader::{EngineBuilder, LoadReport};
pub use mapping::Mappings;
pub use modifiers::Placeholders;
pub use rule::{Level, Logsource, RuleMeta};
