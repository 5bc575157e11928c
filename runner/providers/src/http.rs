//! One HTTP transport for every hosted provider: its base URL (shown only without passwords),
//! how it authenticates (a bearer token, or a key header such as Azure's `api-key` or
//! Anthropic's `x-api-key`), fixed headers and query parameters (`anthropic-version`,
//! `api-version`), retries as the official SDKs do them, and redaction of every secret from
//! the errors it returns.
//!
//! Calls that create something are not blindly retried after a lost answer: they report
//! [`ProviderError::Ambiguous`] so the caller looks for the object before trying again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::HeaderMap;

use crate::{ApiKey, ProviderError, RetryPolicy, Secrets};

mod download;
mod errors;

pub(crate) use errors::{api_error, describe};

/// How requests are authenticated.
#[derive(Clone)]
pub(crate) enum Auth {
    /// No key (a local server).
    None,
    /// `Authorization: Bearer <key>`.
    Bearer(ApiKey),
    /// `<header>: <key>`.
    Header(&'static str, ApiKey),
}

/// Whether a call may be repeated without a second effect.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    Idempotent,
    CreatesSomething,
}

/// A successful answer, read fully.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
    /// The server's clock when it answered (its `Date` header), as Unix seconds.
    pub(crate) date: Option<i64>,
    /// Its headers (Gemini's upload URL comes in one).
    pub(crate) headers: HeaderMap,
}

/// A base URL, its credentials and its retry policy.
#[derive(Clone)]
pub(crate) struct Transport {
    /// The base URL as given, password included: only ever used to send requests.
    api_url: String,
    /// The base URL without any `user:password@`: the only form that is ever shown.
    display_url: String,
    auth: Auth,
    headers: Vec<(&'static str, String)>,
    query: Vec<(&'static str, String)>,
    /// What must never appear in an error: the key, the URL's password.
    secrets: Secrets,
    pub(crate) http: reqwest::Client,
    retry: RetryPolicy,
    /// Requests repeated after a retryable answer or a failed connection (shared by clones).
    retries: Arc<AtomicU64>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Transport")
            .field("base_url", &self.display_url)
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// A transport for `base_url`.
    pub(crate) fn new(base_url: &str, auth: Auth, retry: RetryPolicy) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(20))
            .timeout(Duration::from_mins(10))
            .redirect(same_origin_redirects())
            .build()
            .unwrap_or_default();
        let base_url = base_url.trim_end_matches('/').to_string();
        let key = match &auth {
            Auth::None => None,
            Auth::Bearer(key) | Auth::Header(_, key) => Some(key),
        };
        Self {
            display_url: crate::redact_userinfo(&base_url),
            secrets: Secrets::new(key, &base_url),
            api_url: base_url,
            auth,
            headers: Vec::new(),
            query: Vec::new(),
            http,
            retry,
            retries: Arc::default(),
        }
    }

    /// Send `name: value` with every request.
    pub(crate) fn with_header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_string()));
        self
    }

    /// Add `name=value` to every request's query.
    pub(crate) fn with_query(mut self, name: &'static str, value: &str) -> Self {
        self.query.push((name, value.to_string()));
        self
    }

    /// The base URL as it may be shown.
    pub(crate) fn display_url(&self) -> &str {
        &self.display_url
    }

    /// Every secret this transport knows.
    pub(crate) fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// How many requests were repeated so far.
    pub(crate) fn retries_made(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// `path` under the base URL.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api_url)
    }

    /// Whether `url` is under this transport's base URL (so it may carry the key).
    pub(crate) fn owns(&self, url: &str) -> bool {
        url.strip_prefix(&self.api_url)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
    }

    /// `error` with every secret removed from its text.
    pub(crate) fn redact(&self, error: ProviderError) -> ProviderError {
        error.redacted(&self.secrets)
    }

    /// Credentials, fixed headers and query parameters on `request`.
    pub(crate) fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let mut request = match &self.auth {
            Auth::None => request,
            Auth::Bearer(key) => request.bearer_auth(key.expose()),
            Auth::Header(name, key) => request.header(*name, key.expose()),
        };
        for (name, value) in &self.headers {
            request = request.header(*name, value);
        }
        if !self.query.is_empty() {
            request = request.query(&self.query);
        }
        request
    }

    pub(crate) fn unreachable(&self, operation: &str, error: &reqwest::Error) -> ProviderError {
        ProviderError::Unreachable {
            operation: operation.into(),
            base_url: self.display_url.clone(),
            message: describe(error),
        }
    }

    pub(crate) fn retry_delay(
        &self,
        attempt: u32,
        headers: Option<&HeaderMap>,
    ) -> Option<Duration> {
        if attempt >= self.retry.max_retries {
            return None;
        }
        self.retry.delay(attempt, headers)
    }

    async fn pause(&self, delay: Duration, attempt: &mut u32) {
        tokio::time::sleep(delay).await;
        *attempt += 1;
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Send with retries; the body is read fully. Errors are not yet redacted.
    async fn send_raw(
        &self,
        operation: &str,
        effect: Effect,
        build: &(dyn Fn() -> Result<reqwest::RequestBuilder, ProviderError> + Sync),
    ) -> Result<Answer, ProviderError> {
        let mut attempt = 0;
        loop {
            let request = self.authorize(build()?);
            let outcome = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    response
                        .bytes()
                        .await
                        .map(|body| (status, headers, body.to_vec()))
                }
                Err(error) => Err(error),
            };
            let (status, headers, body) = match outcome {
                Ok(answer) => answer,
                Err(error) => {
                    // A refused connection never reached the server; anything later might have.
                    if !error.is_connect() && effect == Effect::CreatesSomething {
                        return Err(ProviderError::Ambiguous {
                            operation: operation.into(),
                            message: describe(&error),
                        });
                    }
                    match self.retry_delay(attempt, None) {
                        Some(delay) => {
                            self.pause(delay, &mut attempt).await;
                            continue;
                        }
                        None => return Err(self.unreachable(operation, &error)),
                    }
                }
            };
            if (200..300).contains(&status) {
                let date = headers
                    .get("date")
                    .and_then(|value| value.to_str().ok())
                    .and_then(http_date);
                return Ok(Answer {
                    status,
                    body,
                    date,
                    headers,
                });
            }
            let text = String::from_utf8_lossy(&body).into_owned();
            let retryable = RetryPolicy::should_retry(status, &headers, &text);
            // 529 (Anthropic's "overloaded") refuses the request before any work: retry it.
            if retryable
                && effect == Effect::CreatesSomething
                && (status >= 500 || status == 408)
                && status != 529
            {
                // The server may have acted before failing.
                return Err(ProviderError::Ambiguous {
                    operation: operation.into(),
                    message: format!("HTTP {status}"),
                });
            }
            if retryable && let Some(delay) = self.retry_delay(attempt, Some(&headers)) {
                self.pause(delay, &mut attempt).await;
                continue;
            }
            return Err(api_error(operation, status, &text, &self.secrets));
        }
    }

    /// Send with retries, errors redacted.
    pub(crate) async fn send(
        &self,
        operation: &str,
        effect: Effect,
        build: impl Fn() -> Result<reqwest::RequestBuilder, ProviderError> + Sync,
    ) -> Result<Answer, ProviderError> {
        self.send_raw(operation, effect, &build)
            .await
            .map_err(|error| self.redact(error))
    }

    /// Send, then parse the answer as `T`.
    pub(crate) async fn json<T: serde::de::DeserializeOwned>(
        &self,
        operation: &str,
        effect: Effect,
        build: impl Fn() -> Result<reqwest::RequestBuilder, ProviderError> + Sync,
    ) -> Result<T, ProviderError> {
        Ok(self.json_dated(operation, effect, build).await?.0)
    }

    /// [`Transport::json`], with how far the server's clock is ahead of this machine's (in
    /// seconds, from its `Date` header) when it says.
    pub(crate) async fn json_dated<T: serde::de::DeserializeOwned>(
        &self,
        operation: &str,
        effect: Effect,
        build: impl Fn() -> Result<reqwest::RequestBuilder, ProviderError> + Sync,
    ) -> Result<(T, Option<i64>), ProviderError> {
        let answer = self.send(operation, effect, build).await?;
        let skew = answer.date.map(|date| date - batchlabel_core_now());
        let value = serde_json::from_slice(&answer.body).map_err(|error| {
            self.redact(ProviderError::Protocol {
                operation: operation.into(),
                message: format!(
                    "HTTP {} with a body that is not the expected JSON: {error}",
                    answer.status
                ),
            })
        })?;
        Ok((value, skew))
    }
}

/// Redirects are followed only within the origin they start from: a key header
/// (`api-key`, `x-api-key`) is not one reqwest strips when a redirect changes host.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let Some(first) = attempt.previous().first() else {
            return attempt.stop();
        };
        let same = first.scheme() == attempt.url().scheme()
            && first.host_str() == attempt.url().host_str()
            && first.port_or_known_default() == attempt.url().port_or_known_default();
        if attempt.previous().len() > 5 {
            attempt.error("too many redirects")
        } else if same {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

fn batchlabel_core_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}

/// An HTTP date (`Fri, 27 Nov 2026 07:19:42 GMT`) as Unix seconds.
fn http_date(text: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut parts = text.split_whitespace().skip(1);
    let day = parts.next()?;
    let month = parts.next()?;
    let year = parts.next()?;
    let time = parts.next()?;
    let month = MONTHS.iter().position(|name| *name == month)? + 1;
    batchlabel_protocol::unix_seconds(&format!("{year}-{month:02}-{day:0>2}T{time}Z"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn http_dates() {
        assert_eq!(
            super::http_date("Fri, 27 Nov 2026 07:19:42 GMT"),
            Some(1_795_763_982)
        );
        assert_eq!(super::http_date("yesterday"), None);
    }
}
