//! The PostgreSQL results table: created when missing (`id text primary key`, a text column
//! per label field, `labels jsonb`, the provenance columns typed), filled by `COPY` into a
//! temporary table and `INSERT … ON CONFLICT (id) DO UPDATE`, in one transaction.

use super::staged::Staged;
use super::{Connection, off_runtime, quote, quote_table};
use crate::{PROVENANCE, Provenance, Sink, SinkError, SinkHeader};

/// Labeled rows upserted into a PostgreSQL table.
pub struct PostgresSink {
    url_env: String,
    table: String,
    fields: Vec<String>,
    staged: Staged,
}

impl PostgresSink {
    /// Check, before anything is sent, that `table` can take the results of label `fields`.
    pub fn preflight(url_env: &str, table: &str, fields: &[String]) -> Result<(), SinkError> {
        let wanted: Vec<String> = columns(fields).into_iter().map(|(name, _)| name).collect();
        off_runtime(|| {
            let mut connection = Connection::open(url_env)?;
            super::results_table::check(&mut connection, table, &wanted)
        })
    }

    /// A sink into `table` of the database in `$url_env` (nothing is sent before commit).
    pub fn new(url_env: &str, table: &str) -> Result<Self, SinkError> {
        Ok(Self {
            url_env: url_env.to_string(),
            table: table.to_string(),
            fields: Vec::new(),
            staged: Staged::new()?,
        })
    }
}

/// The SQL type of each provenance column, in [`PROVENANCE`] order.
fn provenance_type(name: &str) -> &'static str {
    match name {
        "attempt" => "integer",
        "input_tokens" | "output_tokens" | "run" => "bigint",
        "cost_usd" => "double precision",
        "labeled_at" => "timestamptz",
        _ => "text",
    }
}

impl Sink for PostgresSink {
    fn begin(&mut self, header: &SinkHeader<'_>) -> Result<(), SinkError> {
        self.fields = crate::owned_fields(header);
        Ok(())
    }

    fn labeled(
        &mut self,
        row_id: &str,
        output_json: &str,
        provenance: &Provenance<'_>,
    ) -> Result<(), SinkError> {
        let output_json = super::jsonb_safe(output_json);
        let labels: Vec<String> = crate::label_cells(&self.fields, &output_json).collect();
        let provenance: Vec<Option<String>> = provenance
            .values()
            .iter()
            .map(|value| value.text())
            .collect();
        let cells = std::iter::once(Some(row_id))
            .chain(labels.iter().map(|cell| Some(cell.as_str())))
            .chain(std::iter::once(Some(output_json.as_ref())))
            .chain(provenance.iter().map(Option::as_deref));
        self.staged.row(cells)
    }

    fn commit(self: Box<Self>) -> Result<u64, SinkError> {
        let Self {
            url_env,
            table,
            fields,
            staged,
        } = *self;
        off_runtime(move || {
            let mut connection = Connection::open(&url_env)?;
            write(&mut connection, &table, &fields, staged)?;
            Ok(0)
        })
    }
}

/// The results table's columns and their types: `id`, a text column per label field,
/// `labels`, the provenance.
fn columns(fields: &[String]) -> Vec<(String, &'static str)> {
    let mut columns = vec![("id".to_string(), "text")];
    columns.extend(fields.iter().map(|field| (field.clone(), "text")));
    columns.push(("labels".into(), "jsonb"));
    columns.extend(
        PROVENANCE
            .iter()
            .map(|name| ((*name).to_string(), provenance_type(name))),
    );
    columns
}

fn write(
    connection: &mut Connection,
    table: &str,
    fields: &[String],
    staged: Staged,
) -> Result<(), SinkError> {
    let target = quote_table(table);
    let existing = super::results_table::existing_columns(connection, table)?;
    let columns: Vec<(String, &str)> = columns(fields)
        .into_iter()
        .map(|(name, kind)| (quote(&name), kind))
        .collect();
    let definitions: Vec<String> = columns
        .iter()
        .map(|(name, kind)| format!("{name} {kind}"))
        .collect();
    // Only what is missing is created or added: altering needs ownership of the table.
    let create = match &existing {
        None => format!(
            "CREATE TABLE {target} ({}, PRIMARY KEY (id));",
            definitions.join(", ")
        ),
        Some(existing) => columns
            .iter()
            .zip(&definitions)
            .filter(|((name, _), _)| !existing.iter().any(|have| quote(have) == *name))
            .map(|(_, definition)| format!("ALTER TABLE {target} ADD COLUMN {definition};"))
            .collect::<Vec<_>>()
            .join(" "),
    };
    let names: Vec<&str> = columns.iter().map(|(name, _)| name.as_str()).collect();
    let staging_columns: Vec<String> = names.iter().map(|name| format!("{name} text")).collect();
    let casts: Vec<String> = columns
        .iter()
        .map(|(name, kind)| format!("s.{name}::{kind}"))
        .collect();
    let updates: Vec<String> = names[1..]
        .iter()
        .map(|name| format!("{name} = excluded.{name}"))
        .collect();
    let setup = format!(
        "{create} CREATE TEMP TABLE batchlabel_staging ({}) ON COMMIT DROP;",
        staging_columns.join(", ")
    );
    let insert = format!(
        "INSERT INTO {target} ({}) SELECT {} FROM batchlabel_staging s \
         ON CONFLICT (id) DO UPDATE SET {}",
        names.join(", "),
        casts.join(", "),
        updates.join(", ")
    );
    let Connection { client, words } = connection;
    let error = |failure: &postgres::Error| words.error(failure);
    let mut transaction = client.transaction().map_err(|failure| error(&failure))?;
    transaction
        .batch_execute(&setup)
        .map_err(|failure| error(&failure))?;
    super::copy_staged(&mut transaction, staged, words)?;
    transaction
        .batch_execute(&insert)
        .map_err(|failure| error(&failure))?;
    transaction.commit().map_err(|failure| error(&failure))
}
