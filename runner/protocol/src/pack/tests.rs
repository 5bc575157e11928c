//! Packed prompts, schemas and answers.

use serde_json::json;

use super::*;

fn fields() -> Vec<PackField<'static>> {
    vec![
        PackField {
            name: "sentiment",
            labels: vec!["POSITIVE", "NEGATIVE"],
            many: false,
            codes: false,
        },
        PackField {
            name: "themes",
            labels: vec!["price", "support"],
            many: true,
            codes: false,
        },
    ]
}

#[test]
fn the_prompt_numbers_items_and_reads_back() {
    let prompt = packed_prompt(&["first\n3 line two", "2 is part of the text", "third\r\n"]);
    assert!(prompt.ends_with("\n1 first 3 line two\n2 2 is part of the text\n3 third  "));
    let items = packed_items(&prompt);
    assert_eq!(
        items,
        vec![
            (1, "first 3 line two"),
            (2, "2 is part of the text"),
            (3, "third  ")
        ]
    );
}

#[test]
fn answers_split_per_item() {
    let content = r#"{"sentiment":{"POSITIVE":[1,3],"NEGATIVE":[3,9]},"themes":{"price":[1,2],"support":[]}}"#;
    let items = split_answer(&fields(), content, 4).unwrap();
    assert_eq!(
        items[0],
        Some(json!({"sentiment": "POSITIVE", "themes": ["price"]}))
    );
    // Item 2 has no sentiment: its own validation names the missing field.
    assert_eq!(items[1], Some(json!({"themes": ["price"]})));
    // Two labels of a one_of field: kept, so validation rejects them.
    assert_eq!(
        items[2],
        Some(json!({"sentiment": ["POSITIVE", "NEGATIVE"], "themes": []}))
    );
    // Item 4 is nowhere (9 is out of range and ignored).
    assert_eq!(items[3], None);
}

#[test]
fn a_broken_answer_is_an_error() {
    assert!(split_answer(&fields(), "{\"sentiment\": {", 2).is_err());
    assert!(split_answer(&fields(), "[1, 2]", 2).is_err());
}

#[test]
fn the_schema_is_recognised() {
    let schema = packed_schema(&fields());
    assert!(is_packed_schema(&schema));
    assert_eq!(
        schema["properties"]["sentiment"]["required"],
        json!(["POSITIVE", "NEGATIVE"])
    );
    assert!(!is_packed_schema(
        &json!({"type": "object", "properties": {"sentiment": {"type": "string"}}})
    ));
}

#[test]
fn codes_answer_one_character_per_line_in_order() {
    let mut fields = fields();
    fields[0].codes = true;
    let schema = packed_schema(&fields);
    assert!(is_packed_schema(&schema));
    let sentiment = &schema["properties"]["sentiment"];
    assert_eq!(sentiment["type"], "string");
    assert_eq!(
        code_labels(sentiment),
        vec![('0', "POSITIVE".to_string()), ('1', "NEGATIVE".to_string())]
    );
    let content = r#"{"sentiment":"01 0x","themes":{"price":[2],"support":[]}}"#;
    let items = split_answer(&fields, content, 4).unwrap();
    assert_eq!(
        items[0],
        Some(json!({"sentiment": "POSITIVE", "themes": []}))
    );
    assert_eq!(
        items[1],
        Some(json!({"sentiment": "NEGATIVE", "themes": ["price"]}))
    );
    // A code that names no label is kept, for the line's own validation to reject.
    assert_eq!(items[3], Some(json!({"sentiment": "x", "themes": []})));
    // Codes that do not line up with the lines reject the whole answer.
    let short = r#"{"sentiment":"010","themes":{"price":[],"support":[]}}"#;
    assert!(
        split_answer(&fields, short, 4)
            .unwrap_err()
            .contains("3 code(s) for 4")
    );
    assert!(split_answer(&fields, r#"{"themes":{}}"#, 4).is_err());
}
