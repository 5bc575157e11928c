//! Parsing one JSON Lines object in one pass, keeping the id exactly as written.
//!
//! A plain `serde_json::Value` forgets how a number was spelled (`1e2` comes back as
//! `100.0`, `12345678901234567890.0` loses digits), and an id must match the user's file
//! byte for byte. So the id key's value is captured as raw text while the rest of the
//! object is parsed as usual. A key given twice is reported, not silently overwritten.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// One parsed line.
pub(crate) struct ParsedObject {
    /// The object, every key once (the first occurrence).
    pub(crate) object: Map<String, Value>,
    /// The id key's value as written in the file, when the key is there.
    pub(crate) raw_id: Option<String>,
    /// The first key that appeared twice.
    pub(crate) duplicate_key: Option<String>,
}

/// Parse `text` (one line, known to start with `{` after whitespace) as a JSON object.
pub(crate) fn parse(text: &str, id_key: &str) -> Result<ParsedObject, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let parsed = ObjectSeed { id_key }.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(parsed)
}

struct ObjectSeed<'a> {
    id_key: &'a str,
}

impl<'de> DeserializeSeed<'de> for ObjectSeed<'_> {
    type Value = ParsedObject;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<ParsedObject, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ObjectSeed<'_> {
    type Value = ParsedObject;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ParsedObject, A::Error> {
        let mut parsed = ParsedObject {
            object: Map::with_capacity(map.size_hint().unwrap_or(8)),
            raw_id: None,
            duplicate_key: None,
        };
        while let Some(key) = map.next_key::<String>()? {
            let value = if key == self.id_key {
                let raw: &RawValue = map.next_value()?;
                // The raw text is valid JSON; only a number too large for an f64 (`1e400`)
                // fails to become a `Value`, and as an id it is still fine as text.
                let value = serde_json::from_str(raw.get())
                    .unwrap_or_else(|_| Value::String(raw.get().to_string()));
                if parsed.raw_id.is_none() {
                    parsed.raw_id = Some(raw.get().to_string());
                }
                value
            } else {
                map.next_value::<Value>()?
            };
            if parsed.object.contains_key(&key) {
                parsed.duplicate_key.get_or_insert(key);
            } else {
                parsed.object.insert(key, value);
            }
        }
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_keeps_its_spelling() {
        for (line, raw) in [
            (r#"{"id": 1e2, "t": 1}"#, "1e2"),
            (r#"{"id":12345678901234567890}"#, "12345678901234567890"),
            (r#"{"id": -0 }"#, "-0"),
            (r#"{"id": "007"}"#, r#""007""#),
            (r#"{"id": 1e400}"#, "1e400"),
        ] {
            let parsed = parse(line, "id").unwrap();
            assert_eq!(parsed.raw_id.as_deref(), Some(raw), "{line}");
        }
    }

    #[test]
    fn a_repeated_key_is_reported_and_the_first_kept() {
        let parsed = parse(r#"{"id": 1, "text": "a", "text": "b"}"#, "id").unwrap();
        assert_eq!(parsed.duplicate_key.as_deref(), Some("text"));
        assert_eq!(parsed.object["text"], "a");
    }
}
