//! Parsing a model's answer as JSON that means one thing: an object with the same key twice
//! (`{"sentiment": "POSITIVE", "sentiment": "NEGATIVE"}`) is ambiguous, and a parser that keeps
//! the last one silently picks a label the model may not have meant. Such answers are
//! rejected and asked again.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Parse `text` as JSON, refusing objects with a repeated key.
pub(crate) fn parse_unique_keys(text: &str) -> Result<Value, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = UniqueKeys.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

struct UniqueKeys;

impl<'de> DeserializeSeed<'de> for UniqueKeys {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueKeys {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_string()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(UniqueKeys)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "the key `{key}` appears twice in one object"
                )));
            }
            let value = map.next_value_seed(UniqueKeys)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_unique_keys;

    #[test]
    fn a_repeated_key_is_refused_at_any_depth_and_the_rest_parses_as_serde_json_does() {
        let error = parse_unique_keys(r#"{"a": "x", "a": "y"}"#).unwrap_err();
        assert!(
            error.to_string().contains("the key `a` appears twice"),
            "{error}"
        );
        assert!(parse_unique_keys(r#"{"a": [{"b": 1, "b": 2}]}"#).is_err());
        assert!(parse_unique_keys(r#"{"a": 1} trailing"#).is_err());
        let text = r#"{"a": [1, -2, 2.5, true, null, "s"], "b": {"c": "d"}}"#;
        assert_eq!(
            parse_unique_keys(text).unwrap(),
            serde_json::from_str::<serde_json::Value>(text).unwrap()
        );
    }
}
