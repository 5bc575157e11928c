//! Sinks: the run's results, written from the ledger and keyed by the source id, with
//! provenance (model and snapshot, spec fingerprint, batch, custom_id, attempt, tokens, cost,
//! time), as CSV, JSON Lines or SQLite (upsert); failed rows go to the errors file. A request
//! shared by duplicate rows fans out to each of them (its tokens and cost count once).

use batchlabel_core::ResultState;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use batchlabel_spec::{Job, Output, OutputFormat};
use rusqlite::params;
use serde_json::{Value, json};

use crate::LifecycleError;
use batchlabel_ledger::Ledger;

/// What the sinks wrote.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct SinkCounts {
    /// Labeled rows written to the results.
    pub labeled_rows: u64,
    /// Failed rows written to the errors file.
    pub failed_rows: u64,
    /// Failed rows by reason.
    pub failures: std::collections::BTreeMap<String, u64>,
}

enum Writer {
    Csv(Box<csv::Writer<BufWriter<std::fs::File>>>),
    Jsonl(BufWriter<std::fs::File>),
    Sqlite(rusqlite::Connection),
}

const PROVENANCE: [&str; 12] = [
    "model",
    "model_snapshot",
    "spec_fingerprint",
    "batch_id",
    "custom_id",
    "attempt",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "labeled_at",
    "source",
    "run",
];

/// Write every result of `run_id` to `output`.
pub(crate) fn write_results(
    ledger: &Ledger,
    run_id: i64,
    job: &Job,
    output: &Output,
) -> Result<SinkCounts, LifecycleError> {
    let batch_ids = ledger.batch_ids()?;
    let links = ledger.row_links(run_id)?;
    if let Some(parent) = output.path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| LifecycleError::io(parent, source))?;
    }
    let fields: Vec<&str> = job.labels.iter().map(|field| field.name.as_str()).collect();
    let temporary = partial_path(&output.path);
    let errors_temporary = partial_path(&output.errors_path);
    let mut writer = match output.format {
        OutputFormat::Csv => {
            let file = std::fs::File::create(&temporary)
                .map_err(|source| LifecycleError::io(&temporary, source))?;
            let mut writer = csv::Writer::from_writer(BufWriter::with_capacity(1 << 20, file));
            let header: Vec<&str> = std::iter::once("id")
                .chain(fields.iter().copied())
                .chain(PROVENANCE)
                .collect();
            writer
                .write_record(&header)
                .map_err(|error| csv_error(&temporary, &error))?;
            Writer::Csv(Box::new(writer))
        }
        OutputFormat::Jsonl => {
            let file = std::fs::File::create(&temporary)
                .map_err(|source| LifecycleError::io(&temporary, source))?;
            Writer::Jsonl(BufWriter::with_capacity(1 << 20, file))
        }
        OutputFormat::Sqlite => Writer::Sqlite(open_sqlite(&output.path, &fields)?),
    };
    if let Writer::Sqlite(connection) = &writer {
        connection
            .execute_batch("BEGIN")
            .map_err(|error| sqlite_error(&output.path, &error))?;
    }
    let errors_file = std::fs::File::create(&errors_temporary)
        .map_err(|source| LifecycleError::io(&errors_temporary, source))?;
    let mut errors = BufWriter::new(errors_file);
    let mut counts = SinkCounts::default();
    let mut upsert_sql = None;
    let mut last_time = (i64::MIN, String::new());
    ledger.for_each_result(run_id, |row| -> Result<(), LifecycleError> {
        let own = batchlabel_compile::row_id_of(&row.custom_id);
        let row_ids = links.rows_of(&row.custom_id, own.as_deref());
        for (row_id, primary) in row_ids {
            if row.state == ResultState::Labeled {
                counts.labeled_rows += 1;
                let source = if row.cached_from_run.is_some() {
                    "cache"
                } else if primary {
                    "batch"
                } else {
                    "duplicate"
                };
                let own_cost = primary && row.cached_from_run.is_none();
                if last_time.0 != row.finished_at {
                    last_time = (row.finished_at, rfc3339(row.finished_at));
                }
                let provenance = Provenance {
                    model: &job.model.name,
                    model_snapshot: row.model_snapshot.as_deref(),
                    spec_fingerprint: &job.fingerprint,
                    batch_id: row
                        .shard_id
                        .and_then(|id| batch_ids.get(&id))
                        .map(String::as_str),
                    custom_id: &row.custom_id,
                    attempt: row.attempt,
                    input_tokens: if own_cost { row.input_tokens } else { 0 },
                    output_tokens: if own_cost { row.output_tokens } else { 0 },
                    cost_usd: if own_cost { row.cost } else { 0.0 },
                    labeled_at: &last_time.1,
                    source,
                    run: row.cached_from_run.unwrap_or(run_id),
                };
                write_one(
                    &mut writer,
                    &output.path,
                    &temporary,
                    row_id,
                    &fields,
                    row.output.as_deref().unwrap_or("null"),
                    &provenance,
                    &mut upsert_sql,
                )?;
            } else {
                counts.failed_rows += 1;
                *counts
                    .failures
                    .entry(row.reason.clone().unwrap_or_default())
                    .or_default() += 1;
                let line = json!({
                    "id": row_id,
                    "custom_id": row.custom_id,
                    "reason": row.reason,
                    "detail": row.detail,
                    "attempts": row.attempt,
                    "output": row.output,
                    "batch_id": row.shard_id.and_then(|id| batch_ids.get(&id)),
                });
                writeln!(errors, "{line}")
                    .map_err(|source| LifecycleError::io(&errors_temporary, source))?;
            }
        }
        Ok(())
    })?;
    replace_file(errors, &errors_temporary, &output.errors_path)?;
    match writer {
        Writer::Csv(writer) => {
            let file = writer
                .into_inner()
                .map_err(|error| LifecycleError::io(&temporary, error.into_error()))?;
            replace_file(file, &temporary, &output.path)?;
        }
        Writer::Jsonl(writer) => replace_file(writer, &temporary, &output.path)?,
        Writer::Sqlite(connection) => connection
            .execute_batch("COMMIT")
            .map_err(|error| sqlite_error(&output.path, &error))?,
    }
    Ok(counts)
}

/// Where one labeled row came from.
#[derive(serde::Serialize)]
struct Provenance<'a> {
    model: &'a str,
    model_snapshot: Option<&'a str>,
    spec_fingerprint: &'a str,
    batch_id: Option<&'a str>,
    custom_id: &'a str,
    attempt: i64,
    input_tokens: i64,
    output_tokens: i64,
    cost_usd: f64,
    labeled_at: &'a str,
    source: &'a str,
    run: i64,
}

impl Provenance<'_> {
    /// The fields as text, in [`PROVENANCE`] order (CSV cells; empty for none).
    fn cells(&self) -> [std::borrow::Cow<'_, str>; 12] {
        use std::borrow::Cow::{Borrowed, Owned};
        [
            Borrowed(self.model),
            Borrowed(self.model_snapshot.unwrap_or("")),
            Borrowed(self.spec_fingerprint),
            Borrowed(self.batch_id.unwrap_or("")),
            Borrowed(self.custom_id),
            Owned(self.attempt.to_string()),
            Owned(self.input_tokens.to_string()),
            Owned(self.output_tokens.to_string()),
            Owned(self.cost_usd.to_string()),
            Borrowed(self.labeled_at),
            Borrowed(self.source),
            Owned(self.run.to_string()),
        ]
    }

    fn sql_values(&self) -> [rusqlite::types::Value; 12] {
        use rusqlite::types::Value as Sql;
        let text =
            |value: Option<&str>| value.map_or(Sql::Null, |text| Sql::Text(text.to_string()));
        [
            text(Some(self.model)),
            text(self.model_snapshot),
            text(Some(self.spec_fingerprint)),
            text(self.batch_id),
            text(Some(self.custom_id)),
            Sql::Integer(self.attempt),
            Sql::Integer(self.input_tokens),
            Sql::Integer(self.output_tokens),
            Sql::Real(self.cost_usd),
            text(Some(self.labeled_at)),
            text(Some(self.source)),
            Sql::Integer(self.run),
        ]
    }
}

#[derive(serde::Serialize)]
struct JsonlRecord<'a> {
    id: &'a str,
    labels: &'a serde_json::value::RawValue,
    provenance: &'a Provenance<'a>,
}

fn cell(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "one row's parts, passed straight through"
)]
fn write_one(
    writer: &mut Writer,
    path: &Path,
    temporary: &Path,
    row_id: &str,
    fields: &[&str],
    labels: &str,
    provenance: &Provenance<'_>,
    upsert_sql: &mut Option<String>,
) -> Result<(), LifecycleError> {
    match writer {
        Writer::Csv(writer) => {
            let parsed: Value = serde_json::from_str(labels).unwrap_or(Value::Null);
            let csv = |error: csv::Error| csv_error(temporary, &error);
            writer.write_field(row_id).map_err(csv)?;
            for field in fields {
                writer.write_field(cell(&parsed[*field])).map_err(csv)?;
            }
            for value in provenance.cells() {
                writer.write_field(value.as_bytes()).map_err(csv)?;
            }
            writer.write_record(None::<&[u8]>).map_err(csv)?;
        }
        Writer::Jsonl(writer) => {
            let labels: &serde_json::value::RawValue =
                serde_json::from_str(labels).map_err(|error| {
                    LifecycleError::Internal(format!("a stored output is not JSON: {error}"))
                })?;
            let record = JsonlRecord {
                id: row_id,
                labels,
                provenance,
            };
            serde_json::to_writer(&mut *writer, &record)
                .map_err(|error| LifecycleError::io(temporary, std::io::Error::other(error)))?;
            writer
                .write_all(b"\n")
                .map_err(|source| LifecycleError::io(temporary, source))?;
        }
        Writer::Sqlite(connection) => {
            let sql = upsert_sql.get_or_insert_with(|| {
                let columns: Vec<String> = std::iter::once("id".to_string())
                    .chain(fields.iter().map(|field| quote(field)))
                    .chain(std::iter::once("labels".to_string()))
                    .chain(PROVENANCE.iter().map(|name| quote(name)))
                    .collect();
                let placeholders: Vec<String> = (1..=columns.len())
                    .map(|index| format!("?{index}"))
                    .collect();
                let updates: Vec<String> = columns[1..]
                    .iter()
                    .map(|column| format!("{column} = excluded.{column}"))
                    .collect();
                format!(
                    "INSERT INTO results({}) VALUES ({}) ON CONFLICT(id) DO UPDATE SET {}",
                    columns.join(", "),
                    placeholders.join(", "),
                    updates.join(", ")
                )
            });
            let parsed: Value = serde_json::from_str(labels).unwrap_or(Value::Null);
            let mut values: Vec<rusqlite::types::Value> = vec![row_id.to_string().into()];
            values.extend(
                fields
                    .iter()
                    .map(|field| rusqlite::types::Value::from(cell(&parsed[*field]))),
            );
            values.push(labels.to_string().into());
            values.extend(provenance.sql_values());
            connection
                .prepare_cached(sql)
                .and_then(|mut statement| statement.execute(rusqlite::params_from_iter(values)))
                .map_err(|error| sqlite_error(path, &error))?;
        }
    }
    Ok(())
}

/// Flush a finished temporary file and move it over `path` (readers see the old file or the
/// whole new one).
fn replace_file(mut file: impl Write, temporary: &Path, path: &Path) -> Result<(), LifecycleError> {
    file.flush()
        .map_err(|source| LifecycleError::io(temporary, source))?;
    drop(file);
    std::fs::rename(temporary, path).map_err(|source| LifecycleError::io(path, source))
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn open_sqlite(path: &Path, fields: &[&str]) -> Result<rusqlite::Connection, LifecycleError> {
    let connection =
        rusqlite::Connection::open(path).map_err(|error| sqlite_error(path, &error))?;
    let mut columns = vec!["id TEXT PRIMARY KEY".to_string()];
    columns.extend(fields.iter().map(|field| format!("{} TEXT", quote(field))));
    columns.push("labels TEXT".into());
    columns.extend(PROVENANCE.iter().map(|name| format!("{} ", quote(name))));
    connection
        .execute(
            &format!("CREATE TABLE IF NOT EXISTS results({})", columns.join(", ")),
            params![],
        )
        .map_err(|error| sqlite_error(path, &error))?;
    Ok(connection)
}

fn csv_error(path: &Path, error: &csv::Error) -> LifecycleError {
    LifecycleError::Internal(format!("cannot write `{}`: {error}", path.display()))
}

fn sqlite_error(path: &Path, error: &rusqlite::Error) -> LifecycleError {
    LifecycleError::Internal(format!("cannot write `{}`: {error}", path.display()))
}

/// Unix seconds as an RFC 3339 UTC time.
pub fn rfc3339(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let rest = seconds.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The temporary file a results file is written to before it is renamed into place: the
/// full name plus `.partial`, so two outputs never share one.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_times() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_795_478_400), "2026-11-24T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400 + 3661), "2000-02-29T01:01:01Z");
    }
}
