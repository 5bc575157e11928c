//! batchlabel-sink: writing a finished run's results out of the ledger — each labeled row keyed
//! by its source id with its provenance (model and snapshot, spec fingerprint, batch,
//! custom_id, attempt, tokens, cost, time), as CSV, JSON Lines or SQLite (upsert), and each
//! failed row to the errors file (JSON Lines). Files are written to a `.partial` temporary
//! and renamed into place on commit, so readers see the old file or the whole new one.
//!
//! It does not run batches or change the ledger: it only reads results (batchlabel-ledger)
//! and the job's output settings (batchlabel-spec).

mod csv;
mod database;
mod error;
mod errors_file;
mod jsonl;
mod parquet;
mod partial;
mod provenance;
mod sqlite;
mod write;

use batchlabel_spec::{Output, OutputFormat};
use serde_json::Value;

pub use crate::csv::CsvSink;
pub use database::{PostgresSink, WriteBackSink, preflight_write_back};
pub use error::SinkError;
pub use errors_file::{ErrorsFile, FailedRow};
pub use jsonl::JsonlSink;
pub use parquet::ParquetSink;
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
    /// Per field, whether it holds a list of labels (`any_of`): a list column where the
    /// format has them (Parquet).
    pub lists: &'a [bool],
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

    /// Finish: move the temporary file over the destination, or commit the database
    /// transaction. Returns the rows the destination had no row for (a write-back whose
    /// table lacks some ids); 0 for sinks that insert.
    fn commit(self: Box<Self>) -> Result<u64, SinkError>;
}

/// Several sinks fed the same rows (the results and the write-back), committed in order.
struct Fanout(Vec<Box<dyn Sink>>);

impl Sink for Fanout {
    fn begin(&mut self, header: &SinkHeader<'_>) -> Result<(), SinkError> {
        self.0.iter_mut().try_for_each(|sink| sink.begin(header))
    }

    fn labeled(
        &mut self,
        row_id: &str,
        output_json: &str,
        provenance: &Provenance<'_>,
    ) -> Result<(), SinkError> {
        self.0
            .iter_mut()
            .try_for_each(|sink| sink.labeled(row_id, output_json, provenance))
    }

    fn commit(self: Box<Self>) -> Result<u64, SinkError> {
        let mut missing = 0;
        for sink in self.0 {
            missing += sink.commit()?;
        }
        Ok(missing)
    }
}

/// Open the sink `output` names (creating its folder) and begin it with the label `fields`
/// (`lists`: which hold lists of labels).
pub fn open_sink(
    output: &Output,
    fields: &[&str],
    lists: &[bool],
) -> Result<Box<dyn Sink>, SinkError> {
    let files = [
        output.writes_file().then_some(output.path.as_path()),
        Some(output.errors_path.as_path()),
    ];
    for parent in files
        .into_iter()
        .flatten()
        .filter_map(std::path::Path::parent)
    {
        std::fs::create_dir_all(parent).map_err(|source| SinkError::io(parent, source))?;
    }
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    match &output.format {
        OutputFormat::Csv => sinks.push(Box::new(CsvSink::create(&output.path)?)),
        OutputFormat::Jsonl => sinks.push(Box::new(JsonlSink::create(&output.path)?)),
        OutputFormat::Parquet => sinks.push(Box::new(ParquetSink::create(&output.path)?)),
        OutputFormat::Sqlite => sinks.push(Box::new(SqliteSink::open(&output.path)?)),
        OutputFormat::Postgres { url_env, table } => {
            sinks.push(Box::new(PostgresSink::new(url_env, table)?));
        }
        OutputFormat::WriteBackOnly => {}
    }
    if let Some(write_back) = &output.write_back {
        sinks.push(Box::new(WriteBackSink::new(write_back)?));
    }
    let mut sink: Box<dyn Sink> = Box::new(Fanout(sinks));
    sink.begin(&SinkHeader { fields, lists })?;
    Ok(sink)
}

/// Check, before anything is sent, that `job`'s results can be written where its output
/// names: a PostgreSQL results table can take them (see `database/results_table.rs`), a
/// write-back's table and columns exist with fitting types. File sinks are checked by the
/// write guard.
pub fn preflight(job: &batchlabel_spec::Job) -> Result<(), SinkError> {
    let Some(output) = &job.output else {
        return Ok(());
    };
    if let OutputFormat::Postgres { url_env, table } = &output.format {
        let fields: Vec<String> = job.labels.iter().map(|field| field.name.clone()).collect();
        PostgresSink::preflight(url_env, table, &fields)?;
    }
    if let Some(write_back) = &output.write_back {
        let longest = |name: &str| {
            let field = job.labels.iter().find(|field| field.name == name)?;
            match &field.kind {
                batchlabel_spec::LabelKind::OneOf { labels } => {
                    labels.iter().map(|label| label.name.chars().count()).max()
                }
                // A list is written as JSON text: at most `max` of the longest labels, each
                // quoted and separated, in brackets.
                batchlabel_spec::LabelKind::AnyOf { labels, max, .. } => {
                    let mut lengths: Vec<usize> = labels
                        .iter()
                        .map(|label| label.name.chars().count() + 3)
                        .collect();
                    lengths.sort_unstable_by(|left, right| right.cmp(left));
                    let most = max.map_or(lengths.len(), |max| max as usize);
                    Some(lengths.iter().take(most).sum::<usize>() + 2)
                }
                batchlabel_spec::LabelKind::Schema { .. } => None,
            }
        };
        preflight_write_back(write_back, &longest)?;
    }
    Ok(())
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
