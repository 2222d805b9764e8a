//! The acknowledge link in every alert (issue 16 part 4): `<public url>/ack/<token>`, the token
//! signed by [`canhgac_core::acklink::sign`] over the agency, the alerted detection and an
//! expiry 14 days after the alert, with the secret `serve` verifies it with
//! (`CANHGAC_ACK_SECRET`, from the environment only). A GET of the link changes nothing; the
//! page it shows asks for a confirming POST.

use chrono::{DateTime, Utc};

use canhgac_core::acklink::{sign, AckClaim};
use canhgac_core::Id;

use crate::error::{NotifyError, Result};

/// The environment variable holding the shared secret (never a command-line flag).
pub const ACK_SECRET_ENV: &str = "CANHGAC_ACK_SECRET";

/// How long an acknowledge link stays valid.
pub const ACK_LINK_DAYS: i64 = 14;

/// What notify needs to put acknowledge links in alerts.
#[derive(Clone)]
pub struct AckLinks {
    /// `https://soc.example.vn`, without a trailing slash.
    public_url: String,
    secret: Vec<u8>,
}

impl std::fmt::Debug for AckLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckLinks")
            .field("public_url", &self.public_url)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl AckLinks {
    /// Checks the public URL (`http://` or `https://`, a host, no query) and the secret.
    pub fn new(public_url: &str, secret: &[u8]) -> Result<AckLinks> {
        let bad = |message: String| NotifyError::Config {
            key: "public_url".into(),
            message,
        };
        let url = public_url.trim().trim_end_matches('/');
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| {
                bad(format!(
                    "{public_url:?} must start with https:// or http://"
                ))
            })?;
        if rest.is_empty() || rest.starts_with('/') || rest.contains(['?', '#', ' ']) {
            return Err(bad(format!(
                "{public_url:?} must name a host, with no query or fragment"
            )));
        }
        if secret.is_empty() {
            return Err(NotifyError::Config {
                key: ACK_SECRET_ENV.into(),
                message: "is empty".into(),
            });
        }
        Ok(AckLinks {
            public_url: url.to_string(),
            secret: secret.to_vec(),
        })
    }

    /// From the settings: the public URL (`None`: not configured) and the secret read through
    /// `env` ([`ACK_SECRET_ENV`]). When either is missing, alerts carry no link and a warning
    /// says so (once: this is called once, at start).
    pub fn from_settings(
        public_url: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<AckLinks>> {
        let secret = env(ACK_SECRET_ENV).filter(|s| !s.is_empty());
        match (public_url.filter(|u| !u.trim().is_empty()), secret) {
            (Some(url), Some(secret)) => AckLinks::new(url, secret.as_bytes()).map(Some),
            (url, secret) => {
                let missing = match (url.is_none(), secret.is_none()) {
                    (true, true) => format!("the public URL and {ACK_SECRET_ENV}"),
                    (true, false) => "the public URL".to_string(),
                    _ => ACK_SECRET_ENV.to_string(),
                };
                tracing::warn!(
                    missing,
                    "alerts carry no acknowledge link: set the public URL and {ACK_SECRET_ENV}"
                );
                Ok(None)
            }
        }
    }

    /// The link for an alert of `agency` triggered by `detection`, decided at `now`.
    pub fn url(&self, agency: &str, detection: Id, now: DateTime<Utc>) -> String {
        let token = sign(
            &self.secret,
            &AckClaim {
                agency: agency.to_string(),
                detection,
                expires: now + chrono::Duration::days(ACK_LINK_DAYS),
            },
        );
        format!("{}/ack/{token}", self.public_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_url_is_checked_and_missing_settings_give_no_links() {
        assert!(AckLinks::new("https://soc.example.vn/", b"s").is_ok());
        for bad in ["soc.example.vn", "https://", "https://x/?a=1", "ftp://x"] {
            let e = AckLinks::new(bad, b"s").unwrap_err().to_string();
            assert!(e.contains("public_url"), "{bad}: {e}");
        }
        let none = |_: &str| None;
        let some = |_: &str| Some("s3cret".to_string());
        assert!(AckLinks::from_settings(Some("https://x"), none)
            .unwrap()
            .is_none());
        assert!(AckLinks::from_settings(None, some).unwrap().is_none());
        let links = AckLinks::from_settings(Some("https://x"), some)
            .unwrap()
            .unwrap();
        assert!(!format!("{links:?}").contains("s3cret"), "redacted");
    }
}
