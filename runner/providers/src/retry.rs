//! When and how long to wait before retrying an HTTP call, as the official OpenAI SDK
//! does: connection errors, 408, 409, 429 and 5xx are retried with exponential
//! backoff and jitter; the server's `retry-after-ms` / `retry-after` wins when it is sane,
//! then the reset time of an exhausted rate-limit bucket (OpenAI and Azure's
//! `x-ratelimit-reset-*` durations, Anthropic's `anthropic-ratelimit-*-reset` times);
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
        // Beyond what a Duration holds is beyond any sane wait: give up, as on a long hint.
        return Some(Duration::try_from_secs_f64(milliseconds / 1000.0).unwrap_or(Duration::MAX));
    }
    if let Some(seconds) = text("retry-after").and_then(|text| text.parse::<f64>().ok())
        && seconds > 0.0
    {
        return Some(Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX));
    }
    bucket_reset(headers)
}

/// The longest wait until an exhausted rate-limit bucket refills.
fn bucket_reset(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |elapsed| elapsed.as_secs_f64());
    let mut longest: Option<Duration> = None;
    for bucket in ["requests", "tokens", "input-tokens", "output-tokens"] {
        let openai = (text(&format!("x-ratelimit-remaining-{bucket}")) == Some("0"))
            .then(|| text(&format!("x-ratelimit-reset-{bucket}")).and_then(go_duration))
            .flatten();
        let anthropic = (text(&format!("anthropic-ratelimit-{bucket}-remaining")) == Some("0"))
            .then(|| text(&format!("anthropic-ratelimit-{bucket}-reset")))
            .flatten()
            .and_then(batchlabel_protocol::unix_seconds)
            .and_then(|at| Duration::try_from_secs_f64((at as f64 - now).max(0.0)).ok());
        for wait in [openai, anthropic].into_iter().flatten() {
            longest = Some(longest.map_or(wait, |longest| longest.max(wait)));
        }
    }
    longest.filter(|wait| !wait.is_zero())
}

/// A Go-style duration (`1s`, `6m0s`, `12ms`, `1h2m3.5s`).
fn go_duration(text: &str) -> Option<Duration> {
    let mut total = 0.0;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|character: char| !(character.is_ascii_digit() || character == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit = rest
            .find(|character: char| character.is_ascii_digit() || character == '.')
            .unwrap_or(rest.len());
        total += value
            * match &rest[..unit] {
                "h" => 3600.0,
                "m" => 60.0,
                "s" => 1.0,
                "ms" => 0.001,
                "us" | "µs" => 0.000_001,
                "ns" => 0.000_000_001,
                _ => return None,
            };
        rest = &rest[unit..];
    }
    Duration::try_from_secs_f64(total).ok()
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

    /// `YYYY-MM-DD` of a day count since 1970 (Hinnant's algorithm, for the test's stamp).
    fn civil(days: i64) -> String {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        format!("{year:04}-{month:02}-{day:02}")
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
        let bucket = headers(&[
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "1m0.5s"),
            ("x-ratelimit-remaining-tokens", "10"),
            ("x-ratelimit-reset-tokens", "9m"),
        ]);
        assert_eq!(
            policy.delay(0, Some(&bucket)),
            Some(Duration::from_millis(60_500))
        );
        let mut anthropic = HeaderMap::new();
        anthropic.insert(
            "anthropic-ratelimit-requests-remaining",
            "0".parse().unwrap(),
        );
        let soon = std::time::SystemTime::now() + Duration::from_secs(30);
        let soon = soon
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let (days, seconds) = (soon.div_euclid(86_400), soon.rem_euclid(86_400));
        let stamp = format!(
            "{}T{:02}:{:02}:{:02}Z",
            civil(days),
            seconds / 3600,
            seconds % 3600 / 60,
            seconds % 60
        );
        anthropic.insert("anthropic-ratelimit-requests-reset", stamp.parse().unwrap());
        let wait = policy.delay(0, Some(&anthropic)).unwrap();
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(31),
            "{wait:?}"
        );
        assert_eq!(go_duration("12ms"), Some(Duration::from_millis(12)));
        assert_eq!(go_duration("6m0s"), Some(Duration::from_mins(6)));
        assert_eq!(go_duration("soon"), None);
        assert_eq!(go_duration("99999999999999999999999s"), None);
        let huge = headers(&[("retry-after", "inf"), ("retry-after-ms", "1e300")]);
        assert_eq!(policy.delay(0, Some(&huge)), None);
        let backoff = policy.delay(10, None).unwrap();
        assert!(backoff <= Duration::from_secs(8) && backoff >= Duration::from_secs(6));
    }
}
