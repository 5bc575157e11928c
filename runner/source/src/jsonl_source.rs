//! JSON Lines input: one JSON object per line; blank lines are skipped.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::row::Record;
use crate::{Columns, InputIdentity, Row, RowError, Source, SourceError};

/// Rows of a JSON Lines file.
#[derive(Debug)]
pub struct JsonlSource {
    path: PathBuf,
    /// The path as text, for messages.
    location: String,
    reader: BufReader<File>,
    columns: Arc<Columns>,
    id_column: String,
    line: u64,
    bytes_read: u64,
    buffer: Vec<u8>,
    /// The first row, read early to learn the columns.
    pending: Option<Result<Row, RowError>>,
}

impl JsonlSource {
    /// Open `path`; the keys of its first object are taken as the columns.
    pub fn open(path: &Path, id_column: &str) -> Result<Self, SourceError> {
        // A BOM is stepped over here, so the first line parses like any other.
        let (file, bom) = crate::input_file::open(path)?;
        let mut source = Self {
            path: path.to_path_buf(),
            location: path.to_string_lossy().into_owned(),
            reader: BufReader::with_capacity(1 << 18, file),
            columns: Arc::new(Columns::default()),
            id_column: id_column.to_string(),
            line: 0,
            bytes_read: bom,
            buffer: Vec::new(),
            pending: None,
        };
        match source.read_row()? {
            None => Err(SourceError::Empty {
                path: path.to_path_buf(),
            }),
            Some(first) => {
                if let Ok(row) = &first
                    && let Record::Object(object) = &row.record
                {
                    source.columns = Arc::new(Columns::new(object.keys().cloned().collect()));
                }
                if let Err(error) = &first
                    && error.message.starts_with("no id")
                {
                    // The first row lacks the id key: most likely the key name is wrong.
                    let mut object_keys = Vec::new();
                    if let Ok(Value::Object(object)) =
                        serde_json::from_slice::<Value>(&source.buffer)
                    {
                        object_keys = object.keys().cloned().collect();
                    }
                    let columns = Columns::new(object_keys);
                    columns.require(id_column, "the row id (`input.id`)", path)?;
                }
                source.pending = Some(first);
                Ok(source)
            }
        }
    }

    /// Whether the first row parsed (so [`JsonlSource::columns`] are its keys).
    pub fn first_row_readable(&self) -> bool {
        !self.columns.names().is_empty()
    }

    /// The input file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read_row(&mut self) -> Result<Option<Result<Row, RowError>>, SourceError> {
        loop {
            self.buffer.clear();
            let read = self
                .reader
                .read_until(b'\n', &mut self.buffer)
                .map_err(|source| SourceError::Io {
                    path: self.path.clone(),
                    source,
                })?;
            if read == 0 {
                return Ok(None);
            }
            self.line += 1;
            self.bytes_read += read as u64;
            if self.buffer.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Ok(Some(self.parse_line()));
        }
    }

    fn parse_line(&self) -> Result<Row, RowError> {
        let error = |message: String| RowError {
            path: self.path.clone(),
            line: self.line,
            message,
        };
        let text = std::str::from_utf8(&self.buffer).map_err(|utf8| {
            error(format!(
                "invalid UTF-8 at byte {} of the line; hint: convert the file to UTF-8",
                utf8.valid_up_to()
            ))
        })?;
        if !text.trim_start().starts_with('{') {
            return Err(error("expected a JSON object on each line".to_string()));
        }
        let parsed = crate::jsonl_row::parse(text, &self.id_column)
            .map_err(|json| error(format!("invalid JSON at column {}: {json}", json.column())))?;
        if let Some(key) = parsed.duplicate_key {
            return Err(error(format!(
                "key `{key}` appears twice in the object; hint: keep one of them (which one was meant cannot be guessed)"
            )));
        }
        let id = self
            .id_text(parsed.raw_id.as_deref(), &parsed.object)
            .map_err(error)?;
        let object = parsed.object;
        Ok(Row {
            line: self.line,
            id,
            record: Record::Object(object),
        })
    }

    /// The id as the file spells it: a string's content, or a number's digits exactly as
    /// written (`1e2` stays `1e2`, not `100.0`).
    fn id_text(&self, raw: Option<&str>, object: &Map<String, Value>) -> Result<String, String> {
        let key = &self.id_column;
        match object.get(key) {
            Some(Value::String(text)) if !text.trim().is_empty() => Ok(text.clone()),
            Some(Value::String(_)) => Err(format!("empty id in key `{key}`")),
            // The raw text is there whenever the key is (see `jsonl_row`).
            Some(Value::Number(_)) => Ok(raw.unwrap_or_default().to_string()),
            Some(other) => Err(format!(
                "id key `{key}` holds {}; expected a string or a number",
                json_type(other)
            )),
            None => Err(format!("no id: the object has no key `{key}`")),
        }
    }
}

impl Source for JsonlSource {
    /// Keys of the first object.
    fn columns(&self) -> &Arc<Columns> {
        &self.columns
    }

    fn fixed_columns(&self) -> bool {
        false
    }

    /// Read up to `max` rows or row errors; `false` at the end of the file.
    fn next_chunk(
        &mut self,
        max: usize,
        out: &mut Vec<Result<Row, RowError>>,
    ) -> Result<bool, SourceError> {
        let mut count = 0;
        if let Some(first) = self.pending.take() {
            out.push(first);
            count += 1;
        }
        while count < max {
            match self.read_row()? {
                Some(row) => out.push(row),
                None => return Ok(false),
            }
            count += 1;
        }
        Ok(true)
    }

    fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Checked against the first row; when that row is unreadable there is nothing to check
    /// against (its row error says what is wrong).
    fn require_column(&self, column: &str, purpose: &str) -> Result<(), SourceError> {
        if !self.first_row_readable() {
            return Ok(());
        }
        self.columns.require(column, purpose, &self.path)
    }

    fn location(&self) -> &str {
        &self.location
    }

    fn identity(&self) -> Result<InputIdentity, SourceError> {
        crate::input_identity(&self.path)
    }
}

/// What kind of JSON value this is, for messages (the value itself may be long).
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn reads_objects_and_reports_bad_lines() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"{\"id\": 1, \"text\": \"a\"}\n\n{\"id\": \"b\"\n[1]\n{\"id\": \"c\", \"text\": \"z\"}\n").unwrap();
        let mut source = JsonlSource::open(file.path(), "id").unwrap();
        assert_eq!(source.columns().names(), ["id", "text"]);
        let mut rows = Vec::new();
        while source.next_chunk(10, &mut rows).unwrap() {}
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0].as_ref().unwrap().id, "1");
        assert!(
            rows[1]
                .as_ref()
                .unwrap_err()
                .message
                .contains("invalid JSON")
        );
        assert_eq!(rows[1].as_ref().unwrap_err().line, 3);
        assert!(
            rows[2]
                .as_ref()
                .unwrap_err()
                .message
                .contains("JSON object")
        );
        assert_eq!(rows[3].as_ref().unwrap().line, 5);
    }

    fn read_all(bytes: &[u8]) -> Vec<Result<Row, RowError>> {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(bytes).unwrap();
        let mut source = JsonlSource::open(file.path(), "id").unwrap();
        let mut rows = Vec::new();
        while source.next_chunk(10, &mut rows).unwrap() {}
        rows
    }

    #[test]
    fn ids_are_kept_as_written() {
        let rows = read_all(
            b"{\"id\": 1e2}\n{\"id\": 12345678901234567890}\n{\"id\": \"007\"}\n{\"id\": -0}\n",
        );
        let ids: Vec<&str> = rows
            .iter()
            .map(|row| row.as_ref().unwrap().id.as_str())
            .collect();
        assert_eq!(ids, ["1e2", "12345678901234567890", "007", "-0"]);
    }

    #[test]
    fn a_bom_before_the_first_object_is_skipped() {
        let rows = read_all(b"\xEF\xBB\xBF{\"id\": \"a\", \"text\": \"x\"}\n");
        assert_eq!(rows[0].as_ref().unwrap().id, "a");
    }

    #[test]
    fn a_repeated_key_is_a_row_error() {
        let rows = read_all(b"{\"id\": \"a\"}\n{\"id\": \"b\", \"id\": \"c\"}\n");
        let error = rows[1].as_ref().unwrap_err();
        assert_eq!(error.line, 2);
        assert!(
            error.message.contains("key `id` appears twice"),
            "{}",
            error.message
        );
    }

    #[test]
    fn a_null_or_object_id_names_its_type() {
        let rows = read_all(b"{\"id\": \"a\"}\n{\"id\": null}\n{\"id\": {\"x\": 1}}\n");
        assert!(rows[1].as_ref().unwrap_err().message.contains("holds null"));
        assert!(
            rows[2]
                .as_ref()
                .unwrap_err()
                .message
                .contains("holds an object")
        );
    }
}
