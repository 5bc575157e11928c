//! An API key that cannot leak: `Debug` and `Display` print a redacted form, and the only
//! way to the secret is [`ApiKey::expose`], private to this crate (the `Authorization`
//! header and [`crate::redact`]). [`require`] reads and checks a provider's key variable
//! (`$OPENAI_API_KEY`, `$AZURE_OPENAI_API_KEY`, `$ANTHROPIC_API_KEY`) before any work is
//! done, so a blank or malformed key is reported before compiling, not after.

/// The variable OpenAI's key is read from.
pub const API_KEY_VAR: &str = "OPENAI_API_KEY";

/// The API that cannot be used without a key.
const OPENAI_API: &str = "https://api.openai.com/";

/// A secret API key.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wrap a key.
    pub fn new(key: String) -> Self {
        Self(key)
    }

    /// The secret itself, for the authorization header and redaction only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("ApiKey(****)")
    }
}

impl std::fmt::Display for ApiKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("****")
    }
}

/// Why the key from the environment cannot be used. No variant holds the key.
#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    /// Set, but to nothing (or only spaces): an unset key would at least be obvious.
    #[error(
        "`{variable}` is set but empty; hint: export the key (`export {variable}=…`), or unset it for a server that needs no key"
    )]
    Blank {
        /// The variable.
        variable: &'static str,
    },
    /// Spaces, tabs or control characters inside the key: it could not be sent as a header.
    #[error(
        "`{variable}` contains whitespace, control or non-ASCII characters inside the key; hint: copy the key again, without line breaks or spaces"
    )]
    Malformed {
        /// The variable.
        variable: &'static str,
    },
    /// Not valid Unicode.
    #[error("`{variable}` is not valid UTF-8; hint: copy the key again")]
    NotUnicode {
        /// The variable.
        variable: &'static str,
    },
    /// No key, for an API that requires one.
    #[error(
        "no API key for {base_url}; hint: export {variable}=…, or point the run at a compatible server with `--base-url` (e.g. `batchlabel serve`)"
    )]
    Missing {
        /// The variable.
        variable: &'static str,
        /// The API's base URL, without any password in it.
        base_url: String,
    },
}

/// The key from `$OPENAI_API_KEY` for the API at `base_url`, checked: `None` when unset
/// and the API is not OpenAI's; an error when it is set but blank or malformed, or unset
/// for OpenAI. Call it before compiling, so a bad key costs nothing.
pub fn require(base_url: &str) -> Result<Option<ApiKey>, ApiKeyError> {
    check(
        API_KEY_VAR,
        std::env::var_os(API_KEY_VAR),
        base_url,
        base_url.starts_with(OPENAI_API),
    )
}

/// The key from `$variable` for the API at `base_url`, checked like [`require`]'s; a key is
/// needed unless the API is on this machine (loopback: `batchlabel serve`, a proxy).
pub fn require_from(variable: &'static str, base_url: &str) -> Result<Option<ApiKey>, ApiKeyError> {
    check(
        variable,
        std::env::var_os(variable),
        base_url,
        !is_loopback(base_url),
    )
}

/// Whether `url` names this machine (loopback: `batchlabel serve`, a local proxy).
pub fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = if host.starts_with('[') {
        host.split(']')
            .next()
            .unwrap_or_default()
            .trim_start_matches('[')
    } else {
        host.split(':').next().unwrap_or_default()
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// [`require`] on the variable's value.
fn check(
    variable: &'static str,
    value: Option<std::ffi::OsString>,
    base_url: &str,
    needed: bool,
) -> Result<Option<ApiKey>, ApiKeyError> {
    let Some(value) = value else {
        if needed {
            return Err(ApiKeyError::Missing {
                variable,
                base_url: crate::redact::redact_userinfo(base_url),
            });
        }
        return Ok(None);
    };
    let value = value
        .into_string()
        .map_err(|_| ApiKeyError::NotUnicode { variable })?;
    // A trailing newline from `$(cat key.txt)`-style copies is harmless; inner spaces are not.
    let key = value.trim();
    if key.is_empty() {
        return Err(ApiKeyError::Blank { variable });
    }
    // A header value must be visible ASCII: anything else could not be sent at all.
    if !key.bytes().all(|byte| byte.is_ascii_graphic()) {
        return Err(ApiKeyError::Malformed { variable });
    }
    Ok(Some(ApiKey::new(key.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_secret() {
        let key = ApiKey::new("sk-secret-123".into());
        assert!(!format!("{key} {key:?}").contains("secret"));
        assert_eq!(key.expose(), "sk-secret-123");
    }

    #[test]
    fn blank_and_malformed_keys_are_errors_that_do_not_echo_them() {
        let of = |value: &str| {
            check(
                API_KEY_VAR,
                Some(value.into()),
                "http://127.0.0.1:1/v1",
                false,
            )
        };
        assert!(matches!(of(""), Err(ApiKeyError::Blank { .. })));
        assert!(matches!(of(" \t\n"), Err(ApiKeyError::Blank { .. })));
        let malformed = of("sk-abc def").unwrap_err();
        assert!(matches!(malformed, ApiKeyError::Malformed { .. }));
        assert!(!malformed.to_string().contains("abc"));
        assert_eq!(of(" sk-abc\n").unwrap().unwrap().expose(), "sk-abc");
        assert!(
            super::check(API_KEY_VAR, None, "http://127.0.0.1:1/v1", false)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn only_loopback_apis_go_without_a_key() {
        assert!(is_loopback("http://127.0.0.1:8089"));
        assert!(is_loopback("http://user:pw@localhost:1/v1"));
        assert!(is_loopback("http://[::1]:80/"));
        assert!(!is_loopback("https://api.anthropic.com"));
        assert!(!is_loopback("https://127.0.0.1.example.com"));
        let error =
            check("ANTHROPIC_API_KEY", None, "https://api.anthropic.com", true).unwrap_err();
        assert!(error.to_string().contains("ANTHROPIC_API_KEY"), "{error}");
    }

    #[test]
    fn openai_needs_a_key_and_the_message_hides_url_passwords() {
        let error = check(API_KEY_VAR, None, "https://api.openai.com/v1", true).unwrap_err();
        assert!(matches!(error, ApiKeyError::Missing { .. }), "{error}");
        let error = ApiKeyError::Missing {
            variable: API_KEY_VAR,
            base_url: crate::redact::redact_userinfo("https://me:hunter2@example.com/v1"),
        };
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }
}
