//! batchlabel-sink: writing a finished run's results out of the ledger — each labeled row keyed
//! by its source id with its provenance (model and snapshot, spec fingerprint, batch,
//! custom_id, attempt, tokens, cost, time), as CSV, JSON Lines or SQLite (upsert), and each
//! failed row to the errors file (JSON Lines). Files are written to a `.partial` temporary
//! and renamed into place on commit, so readers see the old file or the whole new one.
//!
//! It does not run batches or change the ledger: it only reads results (batchlabel-ledger)
//! and the job's output settings (batchlabel-spec).

mod csv;
mod error;
mod errors_file;
mod jsonl;
mod partial;
mod provenance;
mod sqlite;
mod write;

use batchlabel_spec::{Output, OutputFormat};
use serde_json::Value;

pub use crate::csv::CsvSink;
pub use error::SinkError;
pub use errors_file::{ErrorsFile, FailedRow};
pub use jsonl::JsonlSink;
pub use partial::partial_path;
pub use provenance::{PROVENANCE, Provenance, rfc3339};
pub use sqlite::SqliteSink;
pub use write::{SinkCounts, write_results};

/// What a sink learns before the first row: the label fields, in spec order (a column each in
/// CSV and SQLite).
#[derive(Debug, Clone, Copy)]
pub struct SinkHeader<'a> {
    /// The label field names.
    pub fields: &'a [&'a str],
}

/// Where labeled rows go. [`open_sink`] opens one and calls [`Sink::begin`]; the caller then
/// gives it every labeled row and commits it. A sink dropped without [`Sink::commit`] leaves
/// the destination as it was.
pub trait Sink {
    /// Start the output: remember the label fields and write what comes before the rows (the
    /// CSV header, the SQLite table and transaction).
    fn begin(&mut self, header: &SinkHeader<'_>) -> Result<(), SinkError>;

    /// Write one labeled row: its source id, the model's output (JSON text) and where it came
    /// from.
    fn labeled(
        &mut self,
        row_id: &str,
        output_json: &str,
        provenance: &Provenance<'_>,
    ) -> Result<(), SinkError>;

    /// Finish: move the temporary file over the destination, or commit the SQLite
    /// transaction.
    fn commit(self: Box<Self>) -> Result<(), SinkError>;
}

/// Open the sink `output` names (creating its folder) and begin it with the label `fields`.
pub fn open_sink(output: &Output, fields: &[&str]) -> Result<Box<dyn Sink>, SinkError> {
    if let Some(parent) = output.path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| SinkError::io(parent, source))?;
    }
    let mut sink: Box<dyn Sink> = match output.format {
        OutputFormat::Csv => Box::new(CsvSink::create(&output.path)?),
        OutputFormat::Jsonl => Box::new(JsonlSink::create(&output.path)?),
        OutputFormat::Sqlite => Box::new(SqliteSink::open(&output.path)?),
    };
    sink.begin(&SinkHeader { fields })?;
    Ok(sink)
}

/// The label fields of a stored output as text cells, in `fields` order: strings as they
/// are, null (or a missing field, or an output that is not JSON) empty, anything else as JSON.
pub(crate) fn label_cells<'a>(
    fields: &'a [String],
    output_json: &str,
) -> impl Iterator<Item = String> + 'a {
    let parsed: Value = serde_json::from_str(output_json).unwrap_or(Value::Null);
    fields
        .iter()
        .map(move |field| match &parsed[field.as_str()] {
            Value::String(text) => text.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        })
}

/// The label field names, owned (sinks keep them between rows).
pub(crate) fn owned_fields(header: &SinkHeader<'_>) -> Vec<String> {
    header
        .fields
        .iter()
        .map(|field| (*field).to_string())
        .collect()
}

#[cfg(test)]
mod tests;
