//! Request limits: query length, page size, and a token bucket per API token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Limits applied to every request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Longest accepted query, in characters.
    pub max_query_chars: usize,
    /// Largest page (`limit`) of a search, and of an incident's detections.
    pub max_page_size: usize,
    /// Sustained requests per second per token.
    pub rate_per_sec: f64,
    /// Requests a token may make at once before the rate applies.
    pub burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_query_chars: 2_000,
            max_page_size: 500,
            rate_per_sec: 20.0,
            burst: 100,
        }
    }
}

/// Token buckets keyed by token name.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// Takes one request from `key`'s bucket; `Err(wait)` when it is empty.
    pub fn check(&self, key: &str, limits: &Limits) -> Result<(), Duration> {
        let now = Instant::now();
        let burst = f64::from(limits.burst.max(1));
        let rate = limits.rate_per_sec.max(0.001);
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, at) = map.entry(key.to_string()).or_insert((burst, now));
        let refilled = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(burst);
        *at = now;
        if refilled >= 1.0 {
            *tokens = refilled - 1.0;
            Ok(())
        } else {
            *tokens = refilled;
            Err(Duration::from_secs_f64((1.0 - refilled) / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refuses() {
        let l = Limits {
            rate_per_sec: 1.0,
            burst: 3,
            ..Limits::default()
        };
        let r = RateLimiter::default();
        for _ in 0..3 {
            assert!(r.check("a", &l).is_ok());
        }
        let wait = r.check("a", &l).unwrap_err();
        assert!(wait > Duration::from_millis(500) && wait <= Duration::from_secs(1));
        assert!(r.check("b", &l).is_ok(), "buckets are per token");
    }
}
