//! HTTP(S) webhooks: the alert JSON, signed with HMAC-SHA256, with the idempotency key.

use crate::policy::signature;
use crate::store::Delivery;

use super::Outcome;

/// POSTs the alert. 2xx is delivered; 408, 425, 429, 5xx and network errors are retried; any
/// other status is permanent (the receiver rejects it as sent).
pub(super) async fn post(
    client: &reqwest::Client,
    url: &str,
    secret: &[u8],
    d: &Delivery,
) -> Outcome {
    let body = d.alert.to_json();
    let sig = signature(secret, &body);
    let resp = client
        .post(url)
        .header("content-type", "application/json")
        .header("x-canhgac-signature", sig)
        .header("idempotency-key", &d.alert.idempotency_key)
        .header("x-canhgac-attempt", (d.attempts + 1).to_string())
        .body(body)
        .send()
        .await;
    match resp {
        Err(e) => Outcome::Retry(format!("webhook {url}: {e}")),
        Ok(r) => {
            let status = r.status();
            if status.is_success() {
                Outcome::Delivered
            } else if status.is_server_error() || matches!(status.as_u16(), 408 | 425 | 429) {
                Outcome::Retry(format!("webhook {url}: HTTP {status}"))
            } else {
                Outcome::Permanent(format!("webhook {url}: HTTP {status}"))
            }
        }
    }
}
