//! Acknowledge links in alerts: `notify` signs, `serve` verifies.
//!
//! An alert carries `<public url>/ack/<token>`. A GET of it changes nothing (mail scanners and
//! link previews follow links); it shows the incident and a button whose POST acknowledges it,
//! audited. The token names the agency, the alerted detection (the index finds its incident)
//! and an expiry, signed with a secret both roles share (`CANHGAC_ACK_SECRET`): a BLAKE3 keyed
//! hash, so a token cannot be forged or moved to another agency or detection.

use chrono::{DateTime, TimeZone, Utc};

use crate::id::Id;

/// What an acknowledge link stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckClaim {
    pub agency: String,
    /// A detection of the alerted incident.
    pub detection: Id,
    pub expires: DateTime<Utc>,
}

fn key(secret: &[u8]) -> [u8; 32] {
    blake3::derive_key("canhgac 2026 acknowledge link", secret)
}

fn mac(secret: &[u8], body: &str) -> String {
    let h = blake3::keyed_hash(&key(secret), body.as_bytes());
    hex::encode(&h.as_bytes()[..16])
}

/// The token of `claim`: `<agency>.<detection>.<expiry unix>.<mac>` (URL-safe).
pub fn sign(secret: &[u8], claim: &AckClaim) -> String {
    let body = format!(
        "{}.{}.{}",
        claim.agency,
        claim.detection,
        claim.expires.timestamp()
    );
    let m = mac(secret, &body);
    format!("{body}.{m}")
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckLinkError {
    #[error("malformed acknowledge link")]
    Malformed,
    #[error("acknowledge link with a wrong signature")]
    BadSignature,
    #[error("acknowledge link expired at {0}")]
    Expired(DateTime<Utc>),
}

/// Checks a token at `now` and returns what it stands for.
pub fn verify(secret: &[u8], token: &str, now: DateTime<Utc>) -> Result<AckClaim, AckLinkError> {
    if token.len() > 200 {
        return Err(AckLinkError::Malformed);
    }
    let (body, m) = token.rsplit_once('.').ok_or(AckLinkError::Malformed)?;
    let mut parts = body.split('.');
    let (Some(agency), Some(det), Some(exp), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AckLinkError::Malformed);
    };
    crate::topics::validate_id("agency", agency).map_err(|_| AckLinkError::Malformed)?;
    let detection: Id = det.parse().map_err(|_| AckLinkError::Malformed)?;
    let exp: i64 = exp.parse().map_err(|_| AckLinkError::Malformed)?;
    let expires = Utc
        .timestamp_opt(exp, 0)
        .single()
        .ok_or(AckLinkError::Malformed)?;
    let want = mac(secret, body);
    // Constant time: compare every byte.
    let same = want.len() == m.len()
        && want
            .bytes()
            .zip(m.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same {
        return Err(AckLinkError::BadSignature);
    }
    if now >= expires {
        return Err(AckLinkError::Expired(expires));
    }
    Ok(AckClaim {
        agency: agency.to_string(),
        detection,
        expires,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_link_verifies_and_any_change_is_refused() {
        let claim = AckClaim {
            agency: "byt".into(),
            detection: Id([7; 16]),
            expires: "2026-11-01T00:00:00Z".parse().unwrap(),
        };
        let now = "2026-10-20T00:00:00Z".parse().unwrap();
        let t = sign(b"s3cret", &claim);
        assert_eq!(verify(b"s3cret", &t, now).unwrap(), claim);
        assert_eq!(
            verify(b"other", &t, now).unwrap_err(),
            AckLinkError::BadSignature
        );
        let moved = t.replacen("byt", "btc", 1);
        assert_eq!(
            verify(b"s3cret", &moved, now).unwrap_err(),
            AckLinkError::BadSignature
        );
        assert!(matches!(
            verify(b"s3cret", &t, "2026-11-02T00:00:00Z".parse().unwrap()),
            Err(AckLinkError::Expired(_))
        ));
        assert_eq!(
            verify(b"s3cret", "nonsense", now).unwrap_err(),
            AckLinkError::Malformed
        );
    }
}
