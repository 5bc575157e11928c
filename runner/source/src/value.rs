//! One value of a row, whatever format it was read from.

/// A row's value for one column, borrowed from the row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// Text, as a CSV field is (every CSV value is text).
    Text(&'a str),
    /// A JSON value, as a JSON Lines object holds (a string, a number, an array…).
    Json(&'a serde_json::Value),
}

impl<'a> Value<'a> {
    /// The value when it is text: a CSV field, or a JSON string (not a number or other JSON).
    #[inline]
    pub fn as_str(self) -> Option<&'a str> {
        match self {
            Value::Text(text) => Some(text),
            Value::Json(value) => value.as_str(),
        }
    }

    /// The value as JSON: text becomes a JSON string.
    pub fn to_json(self) -> serde_json::Value {
        match self {
            Value::Text(text) => serde_json::Value::String(text.to_string()),
            Value::Json(value) => value.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_text_and_json_strings_are_text() {
        let number = serde_json::json!(7);
        let string = serde_json::json!("seven");
        assert_eq!(Value::Text("7").as_str(), Some("7"));
        assert_eq!(Value::Json(&string).as_str(), Some("seven"));
        assert_eq!(Value::Json(&number).as_str(), None);
        assert_eq!(Value::Text("7").to_json(), serde_json::json!("7"));
        assert_eq!(Value::Json(&number).to_json(), number);
    }
}
