//! What a request asks for: its messages, and the fields of its `response_format` schema in
//! order, each with how it will be decoded (label scoring or a grammar).

use serde_json::Value;

use crate::EngineError;

/// How one output field is decided.
#[derive(Debug, Clone)]
pub(crate) enum FieldKind {
    /// One of these labels: scored.
    OneOf(Vec<String>),
    /// A set of these labels: generated under a grammar.
    AnyOf {
        labels: Vec<String>,
        min: usize,
        max: usize,
    },
    /// Anything this schema allows: generated under a grammar made from it.
    Schema(Value),
}

#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub(crate) name: String,
    pub(crate) kind: FieldKind,
}

#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) messages: Vec<(String, String)>,
    pub(crate) fields: Vec<Field>,
}

fn strings(value: &Value) -> Option<Vec<String>> {
    value
        .as_array()?
        .iter()
        .map(|item| item.as_str().map(str::to_string))
        .collect()
}

pub(crate) fn parse(body: &str) -> Result<Request, EngineError> {
    let body: Value = serde_json::from_str(body)
        .map_err(|error| EngineError::BadRequest(format!("the body is not JSON: {error}")))?;
    let messages = body["messages"]
        .as_array()
        .ok_or_else(|| EngineError::BadRequest("the body has no `messages`".into()))?
        .iter()
        .map(|message| {
            (
                message["role"].as_str().unwrap_or("user").to_string(),
                message["content"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let schema = &body["response_format"]["json_schema"]["schema"];
    let properties = schema["properties"].as_object().ok_or_else(|| {
        EngineError::BadRequest(
            "the local model needs a `json_schema` response_format with object properties".into(),
        )
    })?;
    let fields = properties
        .iter()
        .map(|(name, property)| {
            let kind = if let Some(labels) = strings(&property["enum"]) {
                FieldKind::OneOf(labels)
            } else if property["type"] == "array"
                && let Some(labels) = strings(&property["items"]["enum"])
            {
                let max = property["maxItems"]
                    .as_u64()
                    .map_or(labels.len(), |max| max as usize)
                    .min(labels.len());
                FieldKind::AnyOf {
                    min: property["minItems"].as_u64().unwrap_or(0) as usize,
                    max,
                    labels,
                }
            } else {
                FieldKind::Schema(property.clone())
            };
            Field {
                name: name.clone(),
                kind,
            }
        })
        .collect();
    Ok(Request { messages, fields })
}

/// A GBNF alternation of the labels as JSON strings: `"\"a\"" | "\"b\""`.
pub(crate) fn quoted_alternatives(labels: &[String]) -> String {
    let items: Vec<String> = labels
        .iter()
        .map(|label| {
            let quoted = serde_json::to_string(label).unwrap_or_default();
            serde_json::to_string(&quoted).unwrap_or_default()
        })
        .collect();
    items.join(" | ")
}

/// The grammar of a JSON array of distinct-looking labels with `min..=max` items.
pub(crate) fn any_of_grammar(labels: &[String], min: usize, max: usize) -> String {
    let item = format!("item ::= {}", quoted_alternatives(labels));
    let body = match (min, max) {
        (_, 0) => "\"[]\"".to_string(),
        (0, max) => format!("\"[\" ( item ( \", \" item ){{0,{}}} )? \"]\"", max - 1),
        (min, max) => format!(
            "\"[\" item ( \", \" item ){{{},{}}} \"]\"",
            min - 1,
            max.max(min) - 1
        ),
    };
    format!("root ::= {body}\n{item}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_keep_schema_order_and_kinds() {
        let body = serde_json::json!({"messages": [{"role": "user", "content": "hi"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object",
            "properties": {"topics": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}, "maxItems": 1},
                           "sentiment": {"type": "string", "enum": ["p", "n"]},
                           "note": {"type": "string"}}}}}});
        let request = parse(&body.to_string()).unwrap();
        let names: Vec<&str> = request
            .fields
            .iter()
            .map(|field| field.name.as_str())
            .collect();
        assert_eq!(names, ["topics", "sentiment", "note"]);
        assert!(matches!(
            request.fields[0].kind,
            FieldKind::AnyOf { min: 0, max: 1, .. }
        ));
        assert!(
            matches!(&request.fields[1].kind, FieldKind::OneOf(labels) if labels == &["p", "n"])
        );
        assert!(matches!(request.fields[2].kind, FieldKind::Schema(_)));
    }

    #[test]
    fn any_of_grammars_bound_the_count() {
        let labels = vec!["joy".to_string(), "anger".to_string()];
        let grammar = any_of_grammar(&labels, 1, 2);
        assert!(
            grammar.starts_with("root ::= \"[\" item ( \", \" item ){0,1} \"]\""),
            "{grammar}"
        );
        assert!(
            grammar.contains(r#"item ::= "\"joy\"" | "\"anger\"""#),
            "{grammar}"
        );
        assert!(any_of_grammar(&labels, 0, 2).contains("( item ( \", \" item ){0,1} )?"));
    }
}
