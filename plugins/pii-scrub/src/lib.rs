//! pii-scrub (request builder): masks e-mail addresses, phone numbers, @handles and URLs in
//! the messages before they are sent, so they never reach the provider. Each kind can be
//! switched off or given its own mask; by default only `user` messages are scrubbed (the
//! system prompt is yours).
//!
//! ```yaml
//! plugins:
//!   request:
//!     uses: plugins/pii-scrub.wasm
//!     with: {urls: false, masks: {handle: "@user"}}
//! ```

use batchlabel_plugin_sdk::{
    Map, PluginError, PluginInfo, Request, RequestBuilder, RequestContext, Value,
    export_request_builder, json,
};

/// Which kinds to mask, and with what.
pub struct PiiScrub {
    email: Option<String>,
    phone: Option<String>,
    handle: Option<String>,
    url: Option<String>,
    roles: Vec<String>,
}

const TRAILING: &[char] = &['.', ',', ';', ':', '!', '?', ')', ']', '}', '"', '\'', '>'];

fn is_email_char(character: char) -> bool {
    character.is_ascii_alphanumeric() || matches!(character, '.' | '_' | '%' | '+' | '-')
}

fn is_handle_char(character: char) -> bool {
    character.is_ascii_alphanumeric() || character == '_'
}

/// Whether `token` has a URL start (`http://`, `https://`, `www.`, any case) at byte `at`.
fn url_at(token: &[u8], at: usize) -> bool {
    let rest = &token[at..];
    let starts = |prefix: &[u8]| {
        rest.len() >= prefix.len() && rest[..prefix.len()].eq_ignore_ascii_case(prefix)
    };
    starts(b"http://") || starts(b"https://") || starts(b"www.")
}

/// Where the first URL in `token` starts: `http://` / `https://` (any case) before a `://`,
/// or `www.`.
fn find_url(token: &str) -> Option<usize> {
    let bytes = token.as_bytes();
    for (at, byte) in bytes.iter().enumerate() {
        match byte {
            b':' if bytes[at + 1..].starts_with(b"//") => {
                for scheme in [at.wrapping_sub(5), at.wrapping_sub(4)] {
                    if scheme < at && url_at(bytes, scheme) {
                        return Some(scheme);
                    }
                }
            }
            b'.' if at >= 3 && bytes[at - 3..at].eq_ignore_ascii_case(b"www") => {
                return Some(at - 3);
            }
            _ => {}
        }
    }
    None
}

impl PiiScrub {
    /// `text` with every enabled kind of PII masked.
    pub fn scrub(&self, text: &str) -> String {
        // Most texts have nothing to mask: look before copying anything.
        let bytes = text.as_bytes();
        let digits = bytes.iter().filter(|byte| byte.is_ascii_digit()).count();
        let maybe_phone = self.phone.is_some() && digits >= 7;
        let maybe_token = bytes.contains(&b'@') || (self.url.is_some() && find_url(text).is_some());
        if !maybe_phone && !maybe_token {
            return text.to_string();
        }
        let tokens = if maybe_token {
            self.scrub_tokens(text)
        } else {
            text.to_string()
        };
        match &self.phone {
            Some(mask) if maybe_phone => scrub_phones(&tokens, mask),
            _ => tokens,
        }
    }

    /// URLs, e-mails and handles: one whitespace-separated token at a time.
    fn scrub_tokens(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while !rest.is_empty() {
            let space = rest.len() - rest.trim_start().len();
            out.push_str(&rest[..space]);
            rest = &rest[space..];
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            self.scrub_token(&rest[..end], &mut out);
            rest = &rest[end..];
        }
        out
    }

    fn scrub_token(&self, token: &str, out: &mut String) {
        if let Some(mask) = &self.url
            && let Some(start) = find_url(token)
        {
            let body = &token[start..];
            let kept = body.trim_end_matches(TRAILING);
            out.push_str(&token[..start]);
            out.push_str(mask);
            out.push_str(&body[kept.len()..]);
            return;
        }
        let Some(at) = token.find('@') else {
            out.push_str(token);
            return;
        };
        let local_start = token[..at]
            .char_indices()
            .rev()
            .take_while(|(_, character)| is_email_char(*character))
            .last()
            .map_or(at, |(index, _)| index);
        let domain = &token[at + 1..];
        let domain_end = domain
            .char_indices()
            .find(|(_, character)| !is_email_char(*character))
            .map_or(domain.len(), |(index, _)| index);
        let domain_text = domain[..domain_end].trim_end_matches(['.', '-']);
        let is_email = local_start < at
            && domain_text.contains('.')
            && domain_text
                .rsplit('.')
                .next()
                .is_some_and(|top| top.len() >= 2 && top.chars().all(|c| c.is_ascii_alphabetic()));
        if is_email {
            if let Some(mask) = &self.email {
                out.push_str(&token[..local_start]);
                out.push_str(mask);
                out.push_str(&domain[domain_text.len()..]);
            } else {
                out.push_str(token);
            }
            return;
        }
        // A handle: `@name` not glued to a word before it.
        let glued = token[..at].chars().next_back().is_some_and(is_handle_char);
        let name_end = domain
            .char_indices()
            .find(|(_, character)| !is_handle_char(*character))
            .map_or(domain.len(), |(index, _)| index);
        match &self.handle {
            Some(mask) if !glued && name_end > 0 => {
                out.push_str(&token[..at]);
                out.push_str(mask);
                self.scrub_token(&domain[name_end..], out);
            }
            _ => out.push_str(token),
        }
    }
}

/// Phone numbers: 7 to 15 digits, possibly with a leading `+`, spaces, dashes, dots and
/// brackets; fewer than 10 digits only when written with a separator or `+`, so plain numbers
/// (years, prices, counts) stay.
fn scrub_phones(text: &str, mask: &str) -> String {
    let characters: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut index = 0;
    while index < characters.len() {
        let (start, character) = characters[index];
        let starts = (character.is_ascii_digit() || character == '+' || character == '(')
            && characters
                .get(index.wrapping_sub(1))
                .is_none_or(|(_, before)| !before.is_alphanumeric());
        if !starts {
            index += 1;
            continue;
        }
        let (mut digits, mut separators, mut last_digit) = (0, 0, None);
        let mut cursor = index;
        while let Some((position, next)) = characters.get(cursor) {
            if next.is_ascii_digit() {
                digits += 1;
                last_digit = Some((cursor, *position));
            } else if matches!(next, ' ' | '-' | '.' | '(' | ')' | '+') {
                separators += 1;
                // Two separators in a row end the number (`1. 2.`).
                if characters.get(cursor + 1).is_some_and(|(_, after)| {
                    !after.is_ascii_digit() && !matches!(after, '(' | ' ')
                }) && !next.eq(&'(')
                {
                    break;
                }
            } else {
                break;
            }
            cursor += 1;
        }
        let Some((end_index, end)) = last_digit else {
            index += 1;
            continue;
        };
        let glued_after = characters
            .get(end_index + 1)
            .is_some_and(|(_, after)| after.is_alphanumeric());
        let formatted = separators > 0 || character == '+';
        if (7..=15).contains(&digits) && (digits >= 10 || formatted) && !glued_after {
            out.push_str(&text[copied..start]);
            out.push_str(mask);
            copied = end + 1;
            index = end_index + 1;
        } else {
            index = end_index + 1;
        }
    }
    out.push_str(&text[copied..]);
    out
}

fn mask(config: &Value, kind: &str, default: &str) -> Result<Option<String>, PluginError> {
    match &config[kind] {
        Value::Null | Value::Bool(true) => Ok(Some(
            config["masks"][kind]
                .as_str()
                .unwrap_or(default)
                .to_string(),
        )),
        Value::Bool(false) => Ok(None),
        other => Err(format!("`{kind}` must be true or false, not {other}").into()),
    }
}

impl RequestBuilder for PiiScrub {
    // It scrubs the rendered messages; the row's raw values are not needed.
    const READS_ROW: bool = false;

    fn info() -> PluginInfo {
        let switch = |what: &str| json!({"description": format!("Mask {what} (default true)."), "type": "boolean"});
        PluginInfo::new(
            "pii-scrub",
            env!("CARGO_PKG_VERSION"),
            json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "emails": switch("e-mail addresses"),
                    "phones": switch("phone numbers"),
                    "handles": switch("@handles"),
                    "urls": switch("URLs"),
                    "masks": {
                        "description": "Replacement text per kind.",
                        "type": "object",
                        "additionalProperties": false,
                        "properties": {
                            "emails": {"type": "string"}, "phones": {"type": "string"},
                            "handles": {"type": "string"}, "urls": {"type": "string"}
                        }
                    },
                    "roles": {
                        "description": "Message roles to scrub (default: user).",
                        "type": "array",
                        "items": {"enum": ["system", "user", "assistant"]}
                    }
                }
            }),
        )
    }

    fn configure(config: Value) -> Result<Self, PluginError> {
        let roles = match &config["roles"] {
            Value::Null => vec!["user".to_string()],
            Value::Array(roles) => roles
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => return Err("`roles` must be a list of message roles".into()),
        };
        Ok(Self {
            email: mask(&config, "emails", "[EMAIL]")?,
            phone: mask(&config, "phones", "[PHONE]")?,
            handle: mask(&config, "handles", "@user")?,
            url: mask(&config, "urls", "[URL]")?,
            roles,
        })
    }

    fn build(
        &self,
        _row: &Map<String, Value>,
        context: RequestContext,
    ) -> Result<Request, PluginError> {
        let mut messages = context.messages;
        for message in &mut messages {
            if self.roles.contains(&message.role) {
                message.content = self.scrub(&message.content);
            }
        }
        Ok(Request::messages(messages))
    }
}

export_request_builder!(PiiScrub);

#[cfg(test)]
mod tests {
    use super::*;
    use batchlabel_plugin_sdk::Message;

    fn scrubber(config: Value) -> PiiScrub {
        PiiScrub::configure(config).unwrap()
    }

    #[test]
    fn masks_every_kind() {
        let plugin = scrubber(json!({}));
        assert_eq!(
            plugin.scrub("mail jane.doe+x@example.co.uk, or call +1 (555) 123-4567 now"),
            "mail [EMAIL], or call [PHONE] now"
        );
        assert_eq!(
            plugin.scrub("@bob_99: see https://t.co/E2aJ?x=1)."),
            "@user: see [URL])."
        );
        assert_eq!(
            plugin.scrub("(www.example.com) 555-123-4567"),
            "([URL]) [PHONE]"
        );
        assert_eq!(plugin.scrub("ring 0049 30 1234567!"), "ring [PHONE]!");
    }

    #[test]
    fn leaves_ordinary_numbers_and_at_signs_alone() {
        let plugin = scrubber(json!({}));
        for text in [
            "In 2016 it cost 299.00 for 34 units",
            "1. Spoke 2. Paris 3. Emily",
            "promo code NGSBA105 and 5551234",
            "meet me @ 5pm",
            "a@b is not an email",
        ] {
            assert_eq!(plugin.scrub(text), text);
        }
    }

    #[test]
    fn kinds_can_be_switched_off_or_masked_differently() {
        let plugin = scrubber(json!({"urls": false, "masks": {"handles": "[HANDLE]"}}));
        assert_eq!(plugin.scrub("@ann http://x.org"), "[HANDLE] http://x.org");
        assert!(PiiScrub::configure(json!({"emails": "yes"})).is_err());
    }

    #[test]
    fn only_the_chosen_roles_are_scrubbed() {
        let plugin = scrubber(json!({}));
        let context = RequestContext {
            row_id: "1".into(),
            text_column: Some("text".into()),
            messages: vec![
                Message::new("system", "Write to help@example.com"),
                Message::new("user", "I am @carl, carl@example.com"),
            ],
        };
        let request = plugin.build(&Map::new(), context).unwrap();
        assert_eq!(request.messages[0].content, "Write to help@example.com");
        assert_eq!(request.messages[1].content, "I am @user, [EMAIL]");
        assert!(request.body_fields.is_empty());
    }
}
