//! Deterministic 128-bit identifiers.
//!
//! Every record in the pipeline carries an id computed from what it is, never from when or where
//! it was processed, so that a replay produces the same ids and the index can upsert by id and
//! count distinct ids (brief §3). Ids are the first 16 bytes of a BLAKE3 hash over
//! length-prefixed parts, rendered as 32 lowercase hex characters.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Builds an id from a sequence of parts. Each part is length-prefixed so that
/// `("ab", "c")` and `("a", "bc")` hash differently.
#[derive(Clone)]
pub struct IdHasher {
    inner: blake3::Hasher,
}

impl IdHasher {
    /// Starts a hash in a domain (`"event"`, `"detection"`, `"incident"`, …) so that ids of
    /// different kinds never collide even when their parts do.
    pub fn new(domain: &str) -> Self {
        let mut inner = blake3::Hasher::new();
        inner.update(b"canhgac/");
        inner.update(domain.as_bytes());
        inner.update(&[0]);
        Self { inner }
    }

    /// Adds one part.
    pub fn part(mut self, bytes: impl AsRef<[u8]>) -> Self {
        self.push(bytes.as_ref());
        self
    }

    /// Adds one part in place.
    pub fn push(&mut self, bytes: &[u8]) {
        self.inner.update(&(bytes.len() as u64).to_le_bytes());
        self.inner.update(bytes);
    }

    /// Adds an integer part.
    pub fn part_u64(self, value: u64) -> Self {
        self.part(value.to_le_bytes())
    }

    pub fn finish(&self) -> Id {
        let hash = self.inner.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&hash.as_bytes()[..16]);
        Id(out)
    }
}

/// A 128-bit deterministic id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Id(pub [u8; 16]);

impl Id {
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The 32-character lowercase hex form.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 32];
        hex::encode_to_slice(self.0, &mut buf).expect("32 bytes for 16");
        f.write_str(std::str::from_utf8(&buf).expect("hex is ascii"))
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({self})")
    }
}

/// Why a string is not an id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid id {value:?}: expected 32 hex characters")]
pub struct ParseIdError {
    pub value: String,
}

impl FromStr for Id {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 16];
        if s.len() != 32 || hex::decode_to_slice(s, &mut out).is_err() {
            return Err(ParseIdError {
                value: s.chars().take(64).collect(),
            });
        }
        Ok(Id(out))
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 32];
        hex::encode_to_slice(self.0, &mut buf).expect("32 bytes for 16");
        serializer.serialize_str(std::str::from_utf8(&buf).expect("hex is ascii"))
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Id of a detection: hash(event id, rule id) (brief §3).
pub fn detection_id(event: &Id, rule_id: &str) -> Id {
    IdHasher::new("detection")
        .part(event.0)
        .part(rule_id)
        .finish()
}

/// Id of an attack (an incident in the index): hash(agency, category, the id of its first
/// detection — the one with the smallest event time, then id). It follows the attack's first
/// detection, so replays in any order give the same id; it changes when an earlier detection
/// arrives late or two incidents merge, and the index keeps the old id as an alias.
pub fn attack_id(agency: &str, category: &str, first_detection: &Id) -> Id {
    IdHasher::new("attack")
        .part(agency)
        .part(category)
        .part(first_detection.as_bytes())
        .finish()
}

/// Id of a link key: hash(agency, category, role, kind, value) — the entity by which detections
/// of one agency and category join one attack.
pub fn link_key(agency: &str, category: &str, role: &str, kind: &str, value: &str) -> Id {
    IdHasher::new("link")
        .part(agency)
        .part(category)
        .part(role)
        .part(kind)
        .part(value)
        .finish()
}

/// Id of an attack entity across agencies: hash(category, kind, value). Incidents of different
/// agencies that share one are one campaign in the national view.
pub fn campaign_key(category: &str, kind: &str, value: &str) -> Id {
    IdHasher::new("campaign")
        .part(category)
        .part(kind)
        .part(value)
        .finish()
}

/// Provisional incident id of a detection as the detect worker publishes it (alerts are grouped
/// by it): hash(agency, rule, grouping key, window start) (brief §3).
pub fn incident_id(agency: &str, rule_id: &str, group_key: &str, window_start_unix: i64) -> Id {
    IdHasher::new("incident")
        .part(agency)
        .part(rule_id)
        .part(group_key)
        .part(window_start_unix.to_le_bytes())
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_length_prefixed() {
        let a = IdHasher::new("event").part("ab").part("c").finish();
        let b = IdHasher::new("event").part("a").part("bc").finish();
        assert_ne!(a, b);
    }

    #[test]
    fn domains_separate_kinds() {
        let a = IdHasher::new("event").part("x").finish();
        let b = IdHasher::new("detection").part("x").finish();
        assert_ne!(a, b);
    }

    #[test]
    fn stable_value() {
        // A change here changes every id in every index: it must be deliberate.
        let id = IdHasher::new("event").part("moh").part("s1").finish();
        assert_eq!(id.to_string().len(), 32);
        assert_eq!(id, IdHasher::new("event").part("moh").part("s1").finish());
    }

    #[test]
    fn hex_round_trip() {
        let id = IdHasher::new("event").part("x").finish();
        let parsed: Id = id.to_string().parse().unwrap();
        assert_eq!(parsed, id);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<Id>(&json).unwrap(), id);
        assert!("xyz".parse::<Id>().is_err());
        assert!("0".repeat(31).parse::<Id>().is_err());
    }
}
