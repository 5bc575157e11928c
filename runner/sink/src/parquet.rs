//! The Parquet sink: typed columns — `id`; a string per `one_of` field, a list of strings per
//! `any_of` field, JSON text per raw-schema field; `labels` (the whole answer, JSON); the
//! provenance (strings, integers, `cost_usd` a double, `labeled_at` a UTC timestamp) —
//! in row groups of bounded size, into a `.partial` file renamed into place on commit.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use serde_json::Value;

use crate::provenance::ProvenanceValue;
use crate::{PROVENANCE, Provenance, Sink, SinkError, SinkHeader, partial};

/// Rows per row group: a few MB of labels in memory at most.
const ROW_GROUP: usize = 50_000;

/// One column's values for the row group being filled, with their definition and repetition
/// levels (optional values: 1 present, 0 null; lists: 0 null, 1 empty, 2 an element).
#[derive(Default)]
struct ColumnBuffer {
    text: Vec<ByteArray>,
    integers: Vec<i64>,
    reals: Vec<f64>,
    definitions: Vec<i16>,
    repetitions: Vec<i16>,
}

/// Labeled rows written as Parquet.
pub struct ParquetSink {
    path: PathBuf,
    temporary: PathBuf,
    writer: Option<SerializedFileWriter<File>>,
    fields: Vec<String>,
    lists: Vec<bool>,
    columns: Vec<ColumnBuffer>,
    rows: usize,
}

impl ParquetSink {
    /// Create the temporary file beside `path`.
    pub fn create(path: &Path) -> Result<Self, SinkError> {
        let temporary = partial::partial_path(path);
        partial::create(&temporary)?;
        Ok(Self {
            path: path.to_path_buf(),
            temporary,
            writer: None,
            fields: Vec::new(),
            lists: Vec::new(),
            columns: Vec::new(),
            rows: 0,
        })
    }

    fn error(&self, error: impl std::fmt::Display) -> SinkError {
        failed(&self.temporary, error)
    }

    /// Write the buffered rows as one row group.
    fn flush(&mut self) -> Result<(), SinkError> {
        if self.rows == 0 {
            return Ok(());
        }
        // The writer and the buffers are borrowed below: errors name the file directly.
        let temporary = &self.temporary;
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| failed(temporary, "not begun"))?;
        let mut group = writer
            .next_row_group()
            .map_err(|error| failed(temporary, error))?;
        let mut index = 0;
        while let Some(mut column) = group
            .next_column()
            .map_err(|error| failed(temporary, error))?
        {
            let buffer = std::mem::take(&mut self.columns[index]);
            let levels = (!buffer.definitions.is_empty()).then_some(buffer.definitions.as_slice());
            let repetitions =
                (!buffer.repetitions.is_empty()).then_some(buffer.repetitions.as_slice());
            let written = match column.untyped() {
                parquet::column::writer::ColumnWriter::ByteArrayColumnWriter(_) => column
                    .typed::<ByteArrayType>()
                    .write_batch(&buffer.text, levels, repetitions),
                parquet::column::writer::ColumnWriter::Int64ColumnWriter(_) => column
                    .typed::<Int64Type>()
                    .write_batch(&buffer.integers, levels, repetitions),
                _ => column
                    .typed::<DoubleType>()
                    .write_batch(&buffer.reals, levels, repetitions),
            };
            written
                .and_then(|_| column.close())
                .map_err(|error| failed(temporary, error))?;
            index += 1;
        }
        group.close().map_err(|error| failed(temporary, error))?;
        self.rows = 0;
        Ok(())
    }
}

/// A Parquet writer's failure, as an error writing `temporary`.
fn failed(temporary: &Path, error: impl std::fmt::Display) -> SinkError {
    SinkError::io(temporary, std::io::Error::other(error.to_string()))
}

/// The message type: `id`, the label fields, `labels`, the provenance.
fn schema(fields: &[String], lists: &[bool]) -> String {
    let mut lines = vec!["required binary id (STRING);".to_string()];
    for (field, list) in fields.iter().zip(lists) {
        lines.push(if *list {
            format!("optional group {field} (LIST) {{ repeated group list {{ required binary element (STRING); }} }}")
        } else {
            format!("optional binary {field} (STRING);")
        });
    }
    lines.push("optional binary labels (JSON);".into());
    for name in PROVENANCE {
        lines.push(match name {
            "attempt" | "input_tokens" | "output_tokens" | "run" => {
                format!("optional int64 {name};")
            }
            "cost_usd" => format!("optional double {name};"),
            "labeled_at" => format!("optional int64 {name} (TIMESTAMP(MILLIS,true));"),
            _ => format!("optional binary {name} (STRING);"),
        });
    }
    format!(
        "message batchlabel_results {{\n  {}\n}}",
        lines.join("\n  ")
    )
}

impl Sink for ParquetSink {
    fn begin(&mut self, header: &SinkHeader<'_>) -> Result<(), SinkError> {
        self.fields = crate::owned_fields(header);
        self.lists = header.lists.to_vec();
        self.lists.resize(self.fields.len(), false);
        let schema = parse_message_type(&schema(&self.fields, &self.lists))
            .map_err(|error| self.error(error))?;
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let file = File::options()
            .write(true)
            .truncate(true)
            .open(&self.temporary)
            .map_err(|error| SinkError::io(&self.temporary, error))?;
        let writer = SerializedFileWriter::new(file, Arc::new(schema), Arc::new(properties))
            .map_err(|error| self.error(error))?;
        self.writer = Some(writer);
        self.columns = (0..1 + self.fields.len() + 1 + PROVENANCE.len())
            .map(|_| ColumnBuffer::default())
            .collect();
        Ok(())
    }

    fn labeled(
        &mut self,
        row_id: &str,
        output_json: &str,
        provenance: &Provenance<'_>,
    ) -> Result<(), SinkError> {
        let output: Value = serde_json::from_str(output_json).unwrap_or(Value::Null);
        self.columns[0].text.push(ByteArray::from(row_id));
        for (index, (field, list)) in self.fields.iter().zip(&self.lists).enumerate() {
            let column = &mut self.columns[1 + index];
            push_label(column, output.get(field), *list);
        }
        let labels = &mut self.columns[1 + self.fields.len()];
        labels.text.push(ByteArray::from(output_json));
        labels.definitions.push(1);
        let first = 2 + self.fields.len();
        for (offset, (name, value)) in PROVENANCE.iter().zip(provenance.values()).enumerate() {
            push_provenance(&mut self.columns[first + offset], name, value);
        }
        self.rows += 1;
        if self.rows >= ROW_GROUP {
            self.flush()?;
        }
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> Result<u64, SinkError> {
        self.flush()?;
        let writer = self.writer.take().ok_or_else(|| self.error("not begun"))?;
        writer.close().map_err(|error| self.error(error))?;
        std::fs::rename(&self.temporary, &self.path)
            .map_err(|error| SinkError::io(&self.path, error))?;
        Ok(0)
    }
}

fn push_label(column: &mut ColumnBuffer, value: Option<&Value>, list: bool) {
    match (value, list) {
        (None | Some(Value::Null), true) => {
            column.definitions.push(0);
            column.repetitions.push(0);
        }
        (Some(Value::Array(items)), true) if items.is_empty() => {
            column.definitions.push(1);
            column.repetitions.push(0);
        }
        (Some(Value::Array(items)), true) => {
            for (index, item) in items.iter().enumerate() {
                column.text.push(ByteArray::from(text_of(item).as_str()));
                column.definitions.push(2);
                column.repetitions.push(i16::from(index > 0));
            }
        }
        (Some(other), true) => {
            column.text.push(ByteArray::from(text_of(other).as_str()));
            column.definitions.push(2);
            column.repetitions.push(0);
        }
        (None | Some(Value::Null), false) => column.definitions.push(0),
        (Some(value), false) => {
            column.text.push(ByteArray::from(text_of(value).as_str()));
            column.definitions.push(1);
        }
    }
}

/// A string as it is, anything else as JSON.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn push_provenance(column: &mut ColumnBuffer, name: &str, value: ProvenanceValue<'_>) {
    match value {
        ProvenanceValue::Text(None) => column.definitions.push(0),
        ProvenanceValue::Text(Some(text)) if name == "labeled_at" => match seconds_of(text) {
            Some(seconds) => {
                column.integers.push(seconds * 1000);
                column.definitions.push(1);
            }
            None => column.definitions.push(0),
        },
        ProvenanceValue::Text(Some(text)) => {
            column.text.push(ByteArray::from(text));
            column.definitions.push(1);
        }
        ProvenanceValue::Integer(number) => {
            column.integers.push(number);
            column.definitions.push(1);
        }
        ProvenanceValue::Real(number) => {
            column.reals.push(number);
            column.definitions.push(1);
        }
    }
}

/// Unix seconds of an RFC 3339 UTC time as [`crate::rfc3339`] writes it.
fn seconds_of(text: &str) -> Option<i64> {
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    // Howard Hinnant's days_from_civil.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_back_as_they_were_written() {
        for seconds in [0, 1_795_798_586, 951_782_400] {
            assert_eq!(seconds_of(&crate::rfc3339(seconds)), Some(seconds));
        }
    }

    #[test]
    fn the_schema_parses_with_lists_and_typed_provenance() {
        let text = schema(&["sentiment".into(), "topics".into()], &[false, true]);
        let parsed = parse_message_type(&text).unwrap();
        assert_eq!(parsed.get_fields().len(), 2 + 2 + PROVENANCE.len());
    }
}
