//! The driver-facing writer: every result of a run, streamed from the ledger into the sink
//! its output names and the errors file. A request shared by duplicate rows fans out to each
//! of them (its tokens and cost count once).

use std::collections::{BTreeMap, HashMap};

use batchlabel_core::ResultState;
use batchlabel_ledger::{Ledger, ResultRow};
use batchlabel_spec::{Job, Output};

use crate::{ErrorsFile, FailedRow, Provenance, Sink, SinkError, open_sink, rfc3339};

/// What the sinks wrote.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct SinkCounts {
    /// Labeled rows written to the results.
    pub labeled_rows: u64,
    /// Failed rows written to the errors file.
    pub failed_rows: u64,
    /// Failed rows by reason.
    pub failures: BTreeMap<String, u64>,
    /// Labeled rows the write-back table had no row for (their ids are not in it).
    pub not_written_back: u64,
}

/// Write every result of `run_id` to `output`: labeled rows to its sink, failed rows to its
/// errors file; both replace their destination only once every row is written.
pub fn write_results(
    ledger: &Ledger,
    run_id: i64,
    job: &Job,
    output: &Output,
) -> Result<SinkCounts, SinkError> {
    let batch_ids = ledger.batch_ids()?;
    let links = ledger.row_links(run_id)?;
    let fields: Vec<&str> = job.labels.iter().map(|field| field.name.as_str()).collect();
    let lists: Vec<bool> = job
        .labels
        .iter()
        .map(|field| matches!(field.kind, batchlabel_spec::LabelKind::AnyOf { .. }))
        .collect();
    let sink = open_sink(output, &fields, &lists)?;
    let errors = ErrorsFile::create(&output.errors_path)?;
    let mut writer = RunWriter {
        job,
        run_id,
        batch_ids: &batch_ids,
        sink,
        errors,
        counts: SinkCounts::default(),
        last_time: (i64::MIN, String::new()),
    };
    ledger.for_each_result(run_id, |row| -> Result<(), SinkError> {
        let own = batchlabel_core::row_id_of(&row.custom_id);
        for (row_id, primary) in links.rows_of(&row.custom_id, own.as_deref()) {
            writer.row(&row, row_id, primary)?;
        }
        Ok(())
    })?;
    writer.finish()
}

/// The open outputs of one run and what was written so far.
struct RunWriter<'a> {
    job: &'a Job,
    run_id: i64,
    batch_ids: &'a HashMap<i64, String>,
    sink: Box<dyn Sink>,
    errors: ErrorsFile,
    counts: SinkCounts,
    /// The last `finished_at` and its RFC 3339 text (results come in bursts of one time).
    last_time: (i64, String),
}

impl RunWriter<'_> {
    /// Write `row`'s result for the source row `row_id` (`primary`: the row its tokens and
    /// cost belong to).
    fn row(&mut self, row: &ResultRow, row_id: &str, primary: bool) -> Result<(), SinkError> {
        if row.state == ResultState::Labeled {
            self.labeled(row, row_id, primary)
        } else {
            self.failed(row, row_id)
        }
    }

    fn labeled(&mut self, row: &ResultRow, row_id: &str, primary: bool) -> Result<(), SinkError> {
        self.counts.labeled_rows += 1;
        if self.last_time.0 != row.finished_at {
            self.last_time = (row.finished_at, rfc3339(row.finished_at));
        }
        let source = if row.cached_from_run.is_some() {
            "cache"
        } else if primary {
            "batch"
        } else {
            "duplicate"
        };
        let own_cost = primary && row.cached_from_run.is_none();
        let provenance = Provenance {
            model: &self.job.model.name,
            model_snapshot: row.model_snapshot.as_deref(),
            spec_fingerprint: &self.job.fingerprint,
            batch_id: batch_id(self.batch_ids, row),
            custom_id: &row.custom_id,
            attempt: row.attempt,
            input_tokens: if own_cost { row.input_tokens } else { 0 },
            output_tokens: if own_cost { row.output_tokens } else { 0 },
            cost_usd: if own_cost { row.cost } else { 0.0 },
            labeled_at: &self.last_time.1,
            source,
            run: row.cached_from_run.unwrap_or(self.run_id),
            packed_in: row.packed_in.as_deref(),
        };
        let output_json = row.output.as_deref().unwrap_or("null");
        self.sink.labeled(row_id, output_json, &provenance)
    }

    fn failed(&mut self, row: &ResultRow, row_id: &str) -> Result<(), SinkError> {
        self.counts.failed_rows += 1;
        *self
            .counts
            .failures
            .entry(row.reason.clone().unwrap_or_default())
            .or_default() += 1;
        self.errors.failed(&FailedRow {
            id: row_id,
            custom_id: &row.custom_id,
            reason: row.reason.as_deref(),
            detail: row.detail.as_deref(),
            attempts: row.attempt,
            output: row.output.as_deref(),
            batch_id: batch_id(self.batch_ids, row),
        })
    }

    /// Replace the errors file, then commit the results.
    fn finish(mut self) -> Result<SinkCounts, SinkError> {
        self.errors.commit()?;
        self.counts.not_written_back = self.sink.commit()?;
        Ok(self.counts)
    }
}

/// The batch that answered `row`, if its shard has one.
fn batch_id<'a>(batch_ids: &'a HashMap<i64, String>, row: &ResultRow) -> Option<&'a str> {
    row.shard_id
        .and_then(|id| batch_ids.get(&id))
        .map(String::as_str)
}
