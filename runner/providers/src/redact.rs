//! Secrets out of messages. A provider's error body, a network error and a base URL are
//! text this crate does not control: a proxy may echo the `Authorization` header, a URL may
//! carry `user:password@` (which reqwest also sends as a `Basic` header, which may be echoed
//! back). Every message built from such text goes through [`Secrets::redact`].

use crate::ApiKey;

/// What a secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Keys shorter than this are not searched for verbatim: replacing every `abc` in a message
/// would garble it, and such a key is no real secret.
const MIN_KEY_LEN: usize = 4;

/// `text` without the API key, `Bearer` tokens, `sk-…` keys, secret query parameters and
/// URL passwords.
pub fn redact(text: &str, key: Option<&ApiKey>) -> String {
    Secrets::new(key, "").redact(text)
}

/// The secrets one client knows verbatim: its key, and the password of its base URL in
/// every form it may be echoed in (as written, percent-decoded, inside a `Basic` header).
#[derive(Clone, Default)]
pub struct Secrets {
    verbatim: Vec<ApiKey>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "Secrets({} hidden)", self.verbatim.len())
    }
}

impl Secrets {
    /// The secrets of a client with `key` talking to `base_url`.
    pub fn new(key: Option<&ApiKey>, base_url: &str) -> Self {
        let mut verbatim: Vec<String> = key
            .map(|key| key.expose().trim().to_string())
            .into_iter()
            .collect();
        if let Some((user, password)) = userinfo(base_url) {
            let user = percent_decode(user);
            let decoded = password.map(percent_decode);
            // reqwest turns the URL's userinfo into `Authorization: Basic base64(user:password)`.
            verbatim.push(base64(&format!(
                "{user}:{}",
                decoded.as_deref().unwrap_or_default()
            )));
            match password {
                Some(password) => verbatim.push(password.to_string()),
                // `https://TOKEN@host`: with no password, the user name is the credential.
                None => verbatim.push(user),
            }
            verbatim.extend(decoded);
        }
        verbatim.retain(|secret| secret.len() >= MIN_KEY_LEN);
        // Longest first, so a secret containing another is replaced whole.
        verbatim.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
        Self {
            verbatim: verbatim.into_iter().map(ApiKey::new).collect(),
        }
    }

    /// `text` with these secrets and anything shaped like a credential replaced.
    pub fn redact(&self, text: &str) -> String {
        let mut text = text.to_string();
        for secret in &self.verbatim {
            text = text.replace(secret.expose(), REDACTED);
        }
        scrub_shapes(&text)
    }
}

/// Remove what looks like a credential whoever it belongs to.
fn scrub_shapes(text: &str) -> String {
    let mut text = text.to_string();
    // Long enough to be a token, so "a bearer of news" stays as it is.
    text = redact_after(&text, "bearer ", 8, false);
    text = redact_after(&text, "sk-", 8, true);
    for parameter in SECRET_PARAMETERS {
        text = redact_after(&text, parameter, 1, true);
    }
    redact_userinfo(&text)
}

/// `batch` with the texts of its `errors` redacted: they are the provider's words, and the
/// runner prints them and stores them in its ledger.
pub(crate) fn redact_batch(
    mut batch: batchlabel_protocol::Batch,
    secrets: &Secrets,
) -> batchlabel_protocol::Batch {
    if let Some(errors) = &mut batch.errors {
        for error in &mut errors.data {
            error.message = secrets.redact(&error.message);
            error.code = secrets.redact(&error.code);
            error.param = error.param.as_deref().map(|param| secrets.redact(param));
        }
    }
    batch
}

/// Query or form parameters whose values are secrets.
const SECRET_PARAMETERS: [&str; 7] = [
    "api_key=",
    "api-key=",
    "apikey=",
    "access_token=",
    "token=",
    "password=",
    "secret=",
];

/// Characters a token or key is made of (base64, base64url, and `.~` of JWTs and URLs).
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'+' | b'/' | b'=')
}

/// Replace the token after each case-insensitive `marker` (at least `min_len` long);
/// with `word_start`, only where the marker does not continue a word (`task-…` is no key).
fn redact_after(text: &str, marker: &str, min_len: usize, word_start: bool) -> String {
    let lower = text.to_ascii_lowercase();
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = lower[from..].find(marker) {
        let start = from + found;
        let token_start = start + marker.len();
        let token_len = bytes[token_start..]
            .iter()
            .take_while(|byte| is_token_byte(**byte))
            .count();
        let at_word_start = start == 0 || !bytes[start - 1].is_ascii_alphanumeric();
        if token_len >= min_len && (at_word_start || !word_start) {
            out.push_str(&text[copied..token_start]);
            out.push_str(REDACTED);
            copied = token_start + token_len;
        }
        // Marker and token are ASCII, so this is a character boundary.
        from = token_start + token_len;
    }
    out.push_str(&text[copied..]);
    out
}

/// The userinfo of `url` (`user`, `password`), if it has one.
fn userinfo(url: &str) -> Option<(&str, Option<&str>)> {
    let after = &url[url.find("://")? + 3..];
    let authority = &after[..after.find(['/', '?', '#']).unwrap_or(after.len())];
    let info = &authority[..authority.rfind('@')?];
    Some(match info.split_once(':') {
        Some((user, password)) => (user, Some(password)),
        None => (info, None),
    })
}

/// `%XX` escapes decoded (invalid ones kept as they are).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes
            .get(index + 1..index + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (bytes[index], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                index += 3;
            }
            (byte, _) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Standard padded base64, as in a `Basic` header.
fn base64(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(text.len().div_ceil(3) * 4);
    for chunk in text.as_bytes().chunks(3) {
        let bits = chunk.iter().enumerate().fold(0u32, |bits, (index, byte)| {
            bits | (u32::from(*byte) << (16 - 8 * index))
        });
        for position in 0..4 {
            if position <= chunk.len() {
                out.push(char::from(
                    ALPHABET[((bits >> (18 - 6 * position)) & 63) as usize],
                ));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `scheme://user:password@host` → `scheme://***@host`, wherever a URL appears.
pub fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(found) = rest.find("://") {
        let authority_start = found + 3;
        out.push_str(&rest[..authority_start]);
        let after = &rest[authority_start..];
        let authority_len = after
            .find(|character: char| {
                matches!(
                    character,
                    '/' | '?' | '#' | '"' | '\'' | '<' | '>' | '`' | ')'
                ) || character.is_whitespace()
            })
            .unwrap_or(after.len());
        let authority = &after[..authority_len];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &after[authority_len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_and_key_shaped_tokens_are_removed() {
        let key = ApiKey::new("local-key-1234".into());
        let text = redact(
            "bad key local-key-1234; header was Authorization: Bearer abc.def-ghi, also sk-proj-AAAAbbbb1234 and task-12345678",
            Some(&key),
        );
        assert_eq!(
            text,
            "bad key [redacted]; header was Authorization: Bearer [redacted], also sk-[redacted] and task-12345678"
        );
    }

    #[test]
    fn url_passwords_and_secret_parameters_are_removed() {
        let text = redact(
            "cannot reach https://user:p%40ss@example.com:8443/v1?api_key=xyz&limit=5 (see http://plain.example/v1)",
            None,
        );
        assert_eq!(
            text,
            "cannot reach https://***@example.com:8443/v1?api_key=[redacted]&limit=5 (see http://plain.example/v1)"
        );
    }

    #[test]
    fn a_url_password_is_removed_in_every_form_it_is_sent_in() {
        let secrets = Secrets::new(None, "https://alice:p%40ss-word@proxy.example/v1");
        // base64("alice:p@ss-word")
        assert_eq!(base64("alice:p@ss-word"), "YWxpY2U6cEBzcy13b3Jk");
        let text = secrets.redact("got Basic YWxpY2U6cEBzcy13b3Jk and p@ss-word and p%40ss-word");
        assert_eq!(text, "got Basic [redacted] and [redacted] and [redacted]");
        assert_eq!(base64("ab"), "YWI=");
        assert_eq!(base64("a"), "YQ==");
    }

    #[test]
    fn text_without_secrets_is_unchanged() {
        let text = "upload: HTTP 400 (invalid_request): a bearer of bad news — “ünïcode” ok";
        assert_eq!(redact(text, Some(&ApiKey::new("k".into()))), text);
    }
}
