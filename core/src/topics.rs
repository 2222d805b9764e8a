//! Kafka topic names (brief §6) and agency id rules.
//!
//! Topics are `<prefix>.events.<agency>`, `<prefix>.dlq.<agency>`, `<prefix>.detections`,
//! `<prefix>.alerts.<agency>`, `<prefix>.incident-events` and `<prefix>.state.<stage>` (a stage's own state, compacted: one
//! record per key, e.g. the detect worker's correlation windows per events partition). Downstream stages take the agency from the topic name, never from
//! the payload, so an agency id must be a valid topic-name component with no dot.

use crate::error::CoreError;

pub const DEFAULT_PREFIX: &str = "canhgac";

/// Checks an agency (or sensor) id: 1–64 characters of `a-z`, `0-9`, `-` and `_`, starting with
/// a letter or digit. Dots are excluded because the id is the last component of a topic name.
pub fn validate_id(kind: &'static str, id: &str) -> Result<(), CoreError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && id.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(CoreError::InvalidId {
            kind,
            id: id.to_string(),
            reason: "use 1-64 characters of a-z, 0-9, '-' and '_', starting with a letter or digit",
        })
    }
}

/// Checks a topic prefix: Kafka's legal topic characters, without being empty.
pub fn validate_prefix(prefix: &str) -> Result<(), CoreError> {
    let ok = !prefix.is_empty()
        && prefix.len() <= 100
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(CoreError::InvalidId {
            kind: "topic prefix",
            id: prefix.to_string(),
            reason: "use 1-100 characters of a-z, A-Z, 0-9, '.', '_' and '-'",
        })
    }
}

/// Topic names under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    prefix: String,
}

impl Topics {
    pub fn new(prefix: &str) -> Result<Self, CoreError> {
        validate_prefix(prefix)?;
        Ok(Self {
            prefix: prefix.to_string(),
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn events(&self, agency: &str) -> String {
        format!("{}.events.{agency}", self.prefix)
    }

    pub fn dlq(&self, agency: &str) -> String {
        format!("{}.dlq.{agency}", self.prefix)
    }

    pub fn alerts(&self, agency: &str) -> String {
        format!("{}.alerts.{agency}", self.prefix)
    }

    pub fn detections(&self) -> String {
        format!("{}.detections", self.prefix)
    }

    /// The incident lifecycle records (`canhgac_core::lifecycle::IncidentEvent`, keyed by their
    /// id): kept for good (compacted or unlimited retention), read whole by the index, notify,
    /// the detect workers (suppressions) and `serve`.
    pub fn incident_events(&self) -> String {
        format!("{}.incident-events", self.prefix)
    }

    /// A stage's state topic (compacted; the detect worker keeps its correlation windows in
    /// `<prefix>.state.detect`).
    pub fn state(&self, stage: &str) -> String {
        format!("{}.state.{stage}", self.prefix)
    }

    /// A librdkafka regex subscription matching every agency's events topic.
    pub fn events_pattern(&self) -> String {
        format!(
            "^{}\\.events\\.[a-z0-9][a-z0-9_-]*$",
            regex_escape(&self.prefix)
        )
    }

    /// The agency an events topic belongs to, or `None` if the topic is not one.
    pub fn agency_of_events_topic<'a>(&self, topic: &'a str) -> Option<&'a str> {
        let rest = topic
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix(".events.")?;
        validate_id("agency", rest).ok().map(|_| rest)
    }
}

fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(
            c,
            '.' | '-'
                | '+'
                | '*'
                | '?'
                | '('
                | ')'
                | '['
                | ']'
                | '{'
                | '}'
                | '^'
                | '$'
                | '|'
                | '\\'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let t = Topics::new(DEFAULT_PREFIX).unwrap();
        assert_eq!(t.events("moh"), "canhgac.events.moh");
        assert_eq!(t.dlq("moh"), "canhgac.dlq.moh");
        assert_eq!(t.alerts("moh"), "canhgac.alerts.moh");
        assert_eq!(t.detections(), "canhgac.detections");
        assert_eq!(t.state("detect"), "canhgac.state.detect");
        assert_eq!(t.incident_events(), "canhgac.incident-events");
        assert_eq!(t.agency_of_events_topic(&t.state("detect")), None);
        assert_eq!(
            t.events_pattern(),
            "^canhgac\\.events\\.[a-z0-9][a-z0-9_-]*$"
        );
    }

    #[test]
    fn agency_from_topic() {
        let t = Topics::new("canhgac").unwrap();
        assert_eq!(t.agency_of_events_topic("canhgac.events.moh"), Some("moh"));
        assert_eq!(t.agency_of_events_topic("canhgac.events.Moh"), None);
        assert_eq!(t.agency_of_events_topic("canhgac.dlq.moh"), None);
        assert_eq!(t.agency_of_events_topic("other.events.moh"), None);
        assert_eq!(t.agency_of_events_topic("canhgac.events.a.b"), None);
    }

    #[test]
    fn id_rules() {
        assert!(validate_id("agency", "bo-y-te").is_ok());
        assert!(validate_id("agency", "hanoi_01").is_ok());
        assert!(validate_id("agency", "").is_err());
        assert!(validate_id("agency", "a.b").is_err());
        assert!(validate_id("agency", "-x").is_err());
        assert!(validate_id("agency", "Bo").is_err());
        assert!(validate_id("agency", &"a".repeat(65)).is_err());
    }
}
