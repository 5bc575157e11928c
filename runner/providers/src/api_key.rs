//! An API key that cannot leak: `Debug` and `Display` print a redacted form, and the only
//! way to the secret is [`ApiKey::expose`], used when building the `Authorization` header.

/// A secret API key.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wrap a key.
    pub fn new(key: String) -> Self {
        Self(key)
    }

    /// The secret itself, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
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

#[cfg(test)]
mod tests {
    #[test]
    fn never_prints_the_secret() {
        let key = super::ApiKey::new("sk-secret-123".into());
        assert!(!format!("{key} {key:?}").contains("secret"));
        assert_eq!(key.expose(), "sk-secret-123");
    }
}
