//! Delivery policies: the webhook signature, retry backoff with jitter, and per-agency
//! throttling (token buckets).

use std::collections::HashMap;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The `X-Canhgac-Signature` header value: `sha256=<hex HMAC-SHA256 of the body>`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Exponential backoff with full jitter in the upper half: attempt `n` (1-based) waits a
/// random time in `[d/2, d]` where `d = min(base * 2^(n-1), max)`. Jitter spreads the retries
/// of many alerts to one recovering receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(500),
            max: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// The ceiling of the wait after failed attempt `attempt` (1-based), before jitter.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let shift = attempt.saturating_sub(1).min(30);
        self.base
            .checked_mul(1u32 << shift)
            .unwrap_or(self.max)
            .min(self.max)
    }

    /// The wait after failed attempt `attempt`, with jitter from `rng` (a value in [0, 1)).
    pub fn delay_with(&self, attempt: u32, rng: f64) -> Duration {
        let d = self.ceiling(attempt);
        d / 2 + d.mul_f64(rng.clamp(0.0, 1.0) / 2.0)
    }

    pub fn delay(&self, attempt: u32) -> Duration {
        self.delay_with(attempt, fastrand::f64())
    }
}

/// A token bucket per agency: `burst` alerts at once, then `per_minute` a minute. An alert that
/// finds the bucket empty is not dropped: it stays pending in the store and is tried when the
/// bucket has a token again (see [`Throttle::take`]).
#[derive(Debug, Clone)]
pub struct Throttle {
    per_minute: f64,
    burst: f64,
    buckets: HashMap<String, (f64, u64)>,
}

impl Throttle {
    /// `per_minute == 0` disables throttling.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        Throttle {
            per_minute: per_minute as f64,
            burst: burst.max(1) as f64,
            buckets: HashMap::new(),
        }
    }

    /// Takes a token for `agency` at `now_ms`; `Err(wait)` says how long until one is free.
    pub fn take(&mut self, agency: &str, now_ms: u64) -> Result<(), Duration> {
        if self.per_minute <= 0.0 {
            return Ok(());
        }
        let rate_per_ms = self.per_minute / 60_000.0;
        let burst = self.burst;
        let (tokens, last) = self
            .buckets
            .entry(agency.to_string())
            .or_insert((burst, now_ms));
        let elapsed = now_ms.saturating_sub(*last) as f64;
        *tokens = (*tokens + elapsed * rate_per_ms).min(burst);
        *last = now_ms.max(*last);
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            let ms = ((1.0 - *tokens) / rate_per_ms).ceil() as u64;
            Err(Duration::from_millis(ms.max(1)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_rfc4231_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_ne!(signature(b"k1", b"body"), signature(b"k2", b"body"));
    }

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let b = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        let ceilings: Vec<u128> = (1..=6).map(|n| b.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.delay_with(3, 0.0), Duration::from_millis(200));
        assert_eq!(b.delay_with(3, 1.0), Duration::from_millis(400));
        for n in 1..40 {
            let d = b.delay(n);
            assert!(
                d >= b.ceiling(n) / 2 && d <= b.ceiling(n),
                "attempt {n}: {d:?}"
            );
        }
    }

    #[test]
    fn throttle_bursts_then_paces_per_agency() {
        let mut t = Throttle::new(60, 3); // one a second after a burst of three
        for _ in 0..3 {
            assert!(t.take("a", 0).is_ok());
        }
        let wait = t.take("a", 0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(1000));
        assert!(t.take("b", 0).is_ok(), "another agency has its own bucket");
        assert!(t.take("a", 500).is_err());
        assert!(t.take("a", 1000).is_ok());
        assert!(t.take("a", 1000).is_err());
        // Idle time refills up to the burst, not beyond.
        for _ in 0..3 {
            assert!(t.take("a", 60_000).is_ok());
        }
        assert!(t.take("a", 60_000).is_err());
        let mut off = Throttle::new(0, 1);
        for _ in 0..1000 {
            assert!(off.take("a", 0).is_ok());
        }
    }
}
