//! When and how long to wait before retrying an HTTP call, as the official SDK does
//! (protocols.md §5): connection errors, 408, 409, 429 and 5xx are retried with exponential
//! backoff and jitter; the server's `retry-after-ms` / `retry-after` wins when it is sane;
//! `x-should-retry` overrides the status rule; `insufficient_quota` is never retried.

use std::time::Duration;

use reqwest::header::HeaderMap;

/// How many times and how patiently to retry.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first try.
    pub max_retries: u32,
    /// First backoff.
    pub initial: Duration,
    /// Longest backoff.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        // More patient than the SDK's 2 retries: a batch run is long and unattended.
        Self {
            max_retries: 6,
            initial: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
        }
    }
}

/// Longest server hint honoured; beyond it, give up as the SDK does.
const MAX_HINT: Duration = Duration::from_mins(2);

impl RetryPolicy {
    /// Whether an answer with `status` and `headers` should be retried.
    pub fn should_retry(status: u16, headers: &HeaderMap, body: &str) -> bool {
        if let Some(hint) = headers
            .get("x-should-retry")
            .and_then(|value| value.to_str().ok())
        {
            return hint == "true";
        }
        if status == 429 && body.contains("insufficient_quota") {
            return false;
        }
        matches!(status, 408 | 409 | 429) || status >= 500
    }

    /// The wait before retry number `attempt` (0-based): the server's hint, else backoff.
    pub fn delay(&self, attempt: u32, headers: Option<&HeaderMap>) -> Option<Duration> {
        if let Some(hint) = headers.and_then(server_hint) {
            return (hint <= MAX_HINT).then_some(hint);
        }
        let backoff = self
            .initial
            .saturating_mul(2u32.saturating_pow(attempt))
            .min(self.max_backoff);
        let jitter = 1.0 - 0.25 * rand::random::<f64>();
        Some(backoff.mul_f64(jitter))
    }
}

fn server_hint(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    if let Some(milliseconds) = text("retry-after-ms").and_then(|text| text.parse::<f64>().ok())
        && milliseconds > 0.0
    {
        return Some(Duration::from_secs_f64(milliseconds / 1000.0));
    }
    let seconds = text("retry-after")?.parse::<f64>().ok()?;
    (seconds > 0.0).then(|| Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn retries_the_sdk_statuses() {
        let none = HeaderMap::new();
        for status in [408, 409, 429, 500, 503] {
            assert!(RetryPolicy::should_retry(status, &none, ""), "{status}");
        }
        for status in [400, 401, 403, 404, 422] {
            assert!(!RetryPolicy::should_retry(status, &none, ""), "{status}");
        }
        assert!(!RetryPolicy::should_retry(
            429,
            &none,
            r#"{"error":{"code":"insufficient_quota"}}"#
        ));
        assert!(!RetryPolicy::should_retry(
            500,
            &headers(&[("x-should-retry", "false")]),
            ""
        ));
    }

    #[test]
    fn server_hints_win_when_sane() {
        let policy = RetryPolicy::default();
        let hint = headers(&[("retry-after-ms", "20"), ("retry-after", "5")]);
        assert_eq!(
            policy.delay(3, Some(&hint)),
            Some(Duration::from_millis(20))
        );
        let seconds = headers(&[("retry-after", "1.5")]);
        assert_eq!(
            policy.delay(0, Some(&seconds)),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            policy.delay(0, Some(&headers(&[("retry-after", "600")]))),
            None
        );
        let backoff = policy.delay(10, None).unwrap();
        assert!(backoff <= Duration::from_secs(8) && backoff >= Duration::from_secs(6));
    }
}
