//! One event's evaluation (decode, Sigma, IOC lists) on the blocking pool, and what it gives.

use std::borrow::Cow;
use std::time::Instant;

use canhgac_core::detection::Detection;
use canhgac_core::event::{Event, EVENT_SCHEMA_VERSION};

use super::detector::detections_of;
use super::DetectMetrics;
use crate::input::PayloadHead;

/// What evaluation made of one message.
pub(super) enum Outcome {
    /// The detections of a readable event, and when its sensor read it (`Event::received`).
    Detections(Vec<Detection>, chrono::DateTime<chrono::Utc>),
    /// Not an event we can read: (reason, message).
    Invalid(&'static str, String),
}

/// An event whose base-rule matches feed a correlation.
pub(super) struct Evaluated {
    pub agency: String,
    pub event: Event,
    pub matched: Vec<canhgac_sigma::RuleIdx>,
}

/// CPU time per evaluation phase of one rayon job, added to the metrics when it ends (the
/// latency histogram too: two threads observing one shared histogram per event fight over its
/// cache lines).
pub(super) struct Clock<'a> {
    metrics: &'a DetectMetrics,
    eval_seconds: prometheus::local::LocalHistogram,
    decode: f64,
    sigma: f64,
    ioc: f64,
    suppressed: u64,
}

impl<'a> Clock<'a> {
    pub fn new(metrics: &'a DetectMetrics) -> Self {
        Self {
            metrics,
            eval_seconds: metrics.eval_seconds.local(),
            decode: 0.0,
            sigma: 0.0,
            ioc: 0.0,
            suppressed: 0,
        }
    }
}

impl Drop for Clock<'_> {
    fn drop(&mut self) {
        self.eval_seconds.flush();
        let c = &self.metrics.cpu_seconds;
        c.with_label_values(&["decode"]).inc_by(self.decode);
        c.with_label_values(&["sigma"]).inc_by(self.sigma);
        c.with_label_values(&["ioc"]).inc_by(self.ioc);
        self.metrics.ioc_suppressed.inc_by(self.suppressed);
    }
}

/// Runs one event's evaluation. A panic (a bug the event's content triggers) becomes that
/// event's DLQ record, with the panic's message, instead of failing its batch, which would be
/// read again and fail again after every restart. The job's scratch memory, which the panic may
/// have left half updated, is replaced by `fresh`.
pub(super) fn guarded(
    scratch: &mut canhgac_sigma::Scratch,
    fresh: impl FnOnce() -> canhgac_sigma::Scratch,
    eval: impl FnOnce(&mut canhgac_sigma::Scratch) -> (Outcome, Option<Evaluated>),
) -> (Outcome, Option<Evaluated>) {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| eval(scratch))) {
        Ok(done) => done,
        Err(panic) => {
            *scratch = fresh();
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            tracing::error!(panic = %what, "evaluating an event panicked; it goes to the DLQ");
            let why = format!("evaluating the event panicked: {what}");
            (Outcome::Invalid("evaluation_panicked", why), None)
        }
    }
}

/// Decodes one payload and runs the Sigma engine and the IOC lists on it.
#[allow(clippy::too_many_arguments)]
pub(super) fn evaluate_one(
    rules: &super::Ruleset,
    scratch: &mut canhgac_sigma::Scratch,
    matched: &mut Vec<canhgac_sigma::RuleIdx>,
    hits: &mut Vec<crate::IocMatch>,
    clock: &mut Clock<'_>,
    agency: Option<String>,
    payload: &[u8],
    correlating: bool,
) -> (Outcome, Option<Evaluated>) {
    let Some(agency) = agency else {
        return (
            Outcome::Invalid(
                "not_an_events_topic",
                "the topic is not <prefix>.events.<agency>".into(),
            ),
            None,
        );
    };
    let t0 = Instant::now();
    // The record itself stays JSON text: most events match nothing and never need a `Value`.
    let mut head = match PayloadHead::read(payload) {
        Ok(h) => h,
        Err(e) => {
            return (
                Outcome::Invalid("invalid_event", format!("not an event: {e}")),
                None,
            )
        }
    };
    if head.schema() != EVENT_SCHEMA_VERSION {
        let why = format!(
            "event schema {} (this worker reads {EVENT_SCHEMA_VERSION})",
            head.schema()
        );
        return (Outcome::Invalid("schema_version", why), None);
    }
    let t1 = Instant::now();
    matched.clear();
    if let Err(e) = head.eval(&rules.engine, scratch, matched) {
        let why = format!("original record: {e}");
        return (Outcome::Invalid("invalid_event", why), None);
    }
    let t2 = Instant::now();
    hits.clear();
    if !rules.ioc.is_empty() {
        match head.ioc_fields(&mut None) {
            Ok(f) => clock.suppressed += rules.ioc.matches_fields(&f, hits) as u64,
            Err(e) => {
                let why = format!("not an event: ecs: {e}");
                return (Outcome::Invalid("invalid_event", why), None);
            }
        }
    }
    let t3 = Instant::now();
    clock.sigma += (t2 - t1).as_secs_f64();
    clock.ioc += (t3 - t2).as_secs_f64();
    clock.eval_seconds.observe((t3 - t1).as_secs_f64());
    let received = head.received();
    if matched.is_empty() && hits.is_empty() {
        clock.decode += (t1 - t0).as_secs_f64();
        return (Outcome::Detections(Vec::new(), received), None);
    }
    // Something matched: the detections carry the whole event.
    let t4 = Instant::now();
    let mut event = match head.event() {
        Ok(e) => e,
        Err(e) => {
            let why = format!("not an event: {e}");
            return (Outcome::Invalid("invalid_event", why), None);
        }
    };
    clock.decode += (t1 - t0).as_secs_f64() + t4.elapsed().as_secs_f64();
    // The agency is the topic's, whatever the payload claims.
    event.agency = agency.clone();
    let mut out = Vec::new();
    let feeds = correlating && matched.iter().any(|r| rules.correlations.feeds(*r));
    if !feeds {
        // Nothing needs the event after its detections: the last one takes it.
        detections_of(rules, &agency, Cow::Owned(event), matched, hits, &mut out);
        return (Outcome::Detections(out, received), None);
    }
    detections_of(
        rules,
        &agency,
        Cow::Borrowed(&event),
        matched,
        hits,
        &mut out,
    );
    let ev = Evaluated {
        agency,
        event,
        matched: matched.clone(),
    };
    (Outcome::Detections(out, received), Some(ev))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_event_becomes_its_own_dlq_record_and_the_scratch_is_replaced() {
        let engine = canhgac_sigma::EngineBuilder::new(canhgac_sigma::Mappings::builtin())
            .build()
            .0;
        let mut scratch = engine.scratch();
        for (panics, message) in [
            (
                Box::new(|| panic!("bad input")) as Box<dyn Fn()>,
                "bad input",
            ),
            (
                Box::new(|| panic!("index {} out of range", 7)),
                "index 7 out of range",
            ),
        ] {
            let mut replaced = false;
            let fresh = || {
                replaced = true;
                engine.scratch()
            };
            let (outcome, evaluated) = guarded(&mut scratch, fresh, |_| {
                panics();
                unreachable!()
            });
            assert!(replaced, "the scratch memory is replaced after a panic");
            assert!(evaluated.is_none());
            match outcome {
                Outcome::Invalid(reason, why) => {
                    assert_eq!(reason, "evaluation_panicked");
                    assert!(why.contains(message), "{why}");
                }
                Outcome::Detections(..) => panic!("a panic must become a DLQ record"),
            }
        }
        // Without a panic the evaluation's own outcome passes through and the scratch stays.
        let (outcome, _) = guarded(
            &mut scratch,
            || unreachable!("no panic, no new scratch"),
            |_| (Outcome::Detections(Vec::new(), chrono::Utc::now()), None),
        );
        assert!(matches!(outcome, Outcome::Detections(..)));
    }
}
