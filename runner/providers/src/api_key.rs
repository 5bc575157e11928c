//! An API key that cannot leak: `Debug` and `Display` print a redacted form, and the only
//! way to the secret is [`ApiKey::expose`], private to this crate (the `Authorization`
//! header and [`crate::redact`]). [`require`] reads and checks `$OPENAI_API_KEY` before any
//! work is done, so a blank or malformed key is reported before compiling, not after.

/// The variable the key is read from.
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

    /// The secret itself, for the `Authorization` header and redaction only.
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
        "`{API_KEY_VAR}` is set but empty; hint: export the key (`export {API_KEY_VAR}=sk-…`), or unset it for a server that needs no key"
    )]
    Blank,
    /// Spaces, tabs or control characters inside the key: it could not be sent as a header.
    #[error(
        "`{API_KEY_VAR}` contains whitespace or control characters inside the key; hint: copy the key again, without line breaks or spaces"
    )]
    Malformed,
    /// Not valid Unicode.
    #[error("`{API_KEY_VAR}` is not valid UTF-8; hint: copy the key again")]
    NotUnicode,
    /// No key, for an API that requires one.
    #[error(
        "no API key for {base_url}; hint: export {API_KEY_VAR}=…, or point the run at a compatible server with `--base-url` (e.g. `batchlabel serve`)"
    )]
    Missing {
        /// The API's base URL, without any password in it.
        base_url: String,
    },
}

/// The key from `$OPENAI_API_KEY` for the API at `base_url`, checked: `None` when unset
/// and the API is not OpenAI's; an error when it is set but blank or malformed, or unset
/// for OpenAI. Call it before compiling, so a bad key costs nothing.
pub fn require(base_url: &str) -> Result<Option<ApiKey>, ApiKeyError> {
    check(std::env::var_os(API_KEY_VAR), base_url)
}

/// [`require`] on the variable's value.
fn check(value: Option<std::ffi::OsString>, base_url: &str) -> Result<Option<ApiKey>, ApiKeyError> {
    let Some(value) = value else {
        if base_url.starts_with(OPENAI_API) {
            return Err(ApiKeyError::Missing {
                base_url: crate::redact::redact_userinfo(base_url),
            });
        }
        return Ok(None);
    };
    let value = value.into_string().map_err(|_| ApiKeyError::NotUnicode)?;
    // A trailing newline from `$(cat key.txt)`-style copies is harmless; inner spaces are not.
    let key = value.trim();
    if key.is_empty() {
        return Err(ApiKeyError::Blank);
    }
    if key
        .chars()
        .any(|character| character.is_whitespace() || character.is_control())
    {
        return Err(ApiKeyError::Malformed);
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
        let of = |value: &str| check(Some(value.into()), "http://127.0.0.1:1/v1");
        assert!(matches!(of(""), Err(ApiKeyError::Blank)));
        assert!(matches!(of(" \t\n"), Err(ApiKeyError::Blank)));
        let malformed = of("sk-abc def").unwrap_err();
        assert!(matches!(malformed, ApiKeyError::Malformed));
        assert!(!malformed.to_string().contains("abc"));
        assert_eq!(of(" sk-abc\n").unwrap().unwrap().expose(), "sk-abc");
        assert!(
            super::check(None, "http://127.0.0.1:1/v1")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn openai_needs_a_key_and_the_message_hides_url_passwords() {
        let error = check(None, "https://api.openai.com/v1").unwrap_err();
        assert!(matches!(error, ApiKeyError::Missing { .. }), "{error}");
        let error = ApiKeyError::Missing {
            base_url: crate::redact::redact_userinfo("https://me:hunter2@example.com/v1"),
        };
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }
}
