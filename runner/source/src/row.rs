//! One input row, read through format-neutral accessors, and the problems one row can have.
//! What a row holds depends on its source; what it means (a value per column, the row as a
//! JSON object) is decided here, in one place.

use std::path::PathBuf;

use serde_json::{Map, Value as Json};

use crate::{ColumnKey, Columns, Value};

/// The values of a row, as the source gives them (not visible outside this crate: other
/// crates read rows through [`Row`]'s methods).
#[derive(Debug, Clone)]
pub(crate) enum Record {
    /// Text fields, positions as in the source's [`Columns`] (CSV).
    Fields(csv::StringRecord),
    /// A JSON object (JSON Lines).
    Object(Map<String, Json>),
}

/// One input row.
#[derive(Debug, Clone)]
pub struct Row {
    /// 1-based line of the file where the row starts.
    pub line: u64,
    /// The row's id, as the file spells it (a JSON number keeps its digits: `1e2`, `-0`).
    pub id: String,
    /// Its values.
    pub(crate) record: Record,
}

impl Row {
    /// The value of column `name`; `columns` are those of the source the row came from.
    #[inline]
    pub fn value(&self, columns: &Columns, name: &str) -> Option<Value<'_>> {
        match &self.record {
            Record::Fields(record) => columns
                .position(name)
                .and_then(|position| record.get(position))
                .map(Value::Text),
            Record::Object(object) => object.get(name).map(Value::Json),
        }
    }

    /// The value of a column looked up once with [`Columns::key`] (on the columns of the
    /// source this row came from): no name lookup per row for CSV.
    #[inline]
    pub fn get(&self, column: &ColumnKey) -> Option<Value<'_>> {
        match &self.record {
            Record::Fields(record) => column
                .position()
                .and_then(|position| record.get(position))
                .map(Value::Text),
            Record::Object(object) => object.get(column.name()).map(Value::Json),
        }
    }

    /// The names this row has values for: every column (CSV), or the object's keys in
    /// order (JSON Lines).
    pub fn names<'a>(&'a self, columns: &'a Columns) -> Names<'a> {
        Names(match &self.record {
            Record::Fields(_) => NamesOf::Columns(columns.names().iter()),
            Record::Object(object) => NamesOf::Keys(object.keys()),
        })
    }

    /// Append the row as JSON object text to `out`: every CSV column as a string, a JSON
    /// object as it is. Written straight into `out` (no intermediate map).
    pub fn write_json_object(&self, columns: &Columns, out: &mut Vec<u8>) {
        match &self.record {
            Record::Fields(record) => {
                out.push(b'{');
                for (index, (name, value)) in columns.names().iter().zip(record.iter()).enumerate()
                {
                    if index > 0 {
                        out.push(b',');
                    }
                    // Writing strings into a Vec cannot fail.
                    let _ = serde_json::to_writer(&mut *out, name);
                    out.push(b':');
                    let _ = serde_json::to_writer(&mut *out, value);
                }
                out.push(b'}');
            }
            Record::Object(object) => {
                let _ = serde_json::to_writer(&mut *out, object);
            }
        }
    }
}

/// The names a row has values for, from [`Row::names`].
#[derive(Debug, Clone)]
pub struct Names<'a>(NamesOf<'a>);

#[derive(Debug, Clone)]
enum NamesOf<'a> {
    Columns(std::slice::Iter<'a, String>),
    Keys(serde_json::map::Keys<'a>),
}

impl<'a> Iterator for Names<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        match &mut self.0 {
            NamesOf::Columns(names) => names.next().map(String::as_str),
            NamesOf::Keys(keys) => keys.next().map(String::as_str),
        }
    }
}

/// A problem with one row; the rest of the input can still be read.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{path}:{line}: {message}")]
pub struct RowError {
    /// The input file.
    pub path: PathBuf,
    /// 1-based line where the row starts.
    pub line: u64,
    /// What is wrong, with a hint.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv_row(fields: &[&str]) -> Row {
        Row {
            line: 2,
            id: fields[0].to_string(),
            record: Record::Fields(csv::StringRecord::from(fields.to_vec())),
        }
    }

    fn json_row(text: &str) -> Row {
        let Ok(Json::Object(object)) = serde_json::from_str(text) else {
            unreachable!("test rows are objects")
        };
        Row {
            line: 1,
            id: "1".to_string(),
            record: Record::Object(object),
        }
    }

    #[test]
    fn values_read_the_same_by_name_and_by_key() {
        let columns = Columns::new(vec!["id".into(), "text".into()]);
        let row = csv_row(&["1", "a \"b\""]);
        assert_eq!(row.value(&columns, "text"), Some(Value::Text("a \"b\"")));
        assert_eq!(row.get(&columns.key("text")), Some(Value::Text("a \"b\"")));
        assert_eq!(row.value(&columns, "nope"), None);
        let row = json_row(r#"{"id": 1, "n": 2, "extra": "x"}"#);
        let two = serde_json::json!(2);
        assert_eq!(row.value(&columns, "n"), Some(Value::Json(&two)));
        assert_eq!(row.get(&columns.key("n")), Some(Value::Json(&two)));
        assert_eq!(
            row.get(&columns.key("extra")).and_then(Value::as_str),
            Some("x")
        );
    }

    #[test]
    fn names_and_json_text_follow_the_row() {
        let columns = Columns::new(vec!["id".into(), "text".into()]);
        let row = csv_row(&["1", "a\"b"]);
        assert_eq!(row.names(&columns).collect::<Vec<_>>(), ["id", "text"]);
        let mut out = Vec::new();
        row.write_json_object(&columns, &mut out);
        assert_eq!(out, br#"{"id":"1","text":"a\"b"}"#);
        let row = json_row(r#"{"id": 1, "tags": ["x"]}"#);
        assert_eq!(row.names(&columns).collect::<Vec<_>>(), ["id", "tags"]);
        out.clear();
        row.write_json_object(&columns, &mut out);
        assert_eq!(out, br#"{"id":1,"tags":["x"]}"#);
    }
}
