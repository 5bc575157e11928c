//! The SQLite sink: a `results` table keyed by the source id (a column per label field, the
//! whole output in `labels`, the provenance columns), each labeled row upserted, all in one
//! transaction that commit ends.

use std::path::{Path, PathBuf};

use rusqlite::Connection;
use rusqlite::types::Value as Sql;

use crate::{PROVENANCE, Provenance, Sink, SinkError, SinkHeader};

/// Labeled rows upserted into an SQLite database.
pub struct SqliteSink {
    connection: Connection,
    fields: Vec<String>,
    upsert: String,
    path: PathBuf,
}

impl SqliteSink {
    /// Open (creating) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, SinkError> {
        let connection = Connection::open(path).map_err(|error| SinkError::sqlite(path, error))?;
        Ok(Self {
            connection,
            fields: Vec::new(),
            upsert: String::new(),
            path: path.to_path_buf(),
        })
    }

    fn execute(&self, sql: &str) -> Result<(), SinkError> {
        self.connection
            .execute_batch(sql)
            .map_err(|error| SinkError::sqlite(&self.path, error))
    }
}

impl SqliteSink {
    /// A table an earlier release or spec made may lack a label field or a provenance column
    /// added since: they are added (existing rows keep NULL there).
    fn add_missing_columns(&self, fields: &[&str]) -> Result<(), SinkError> {
        let error = |error| SinkError::sqlite(&self.path, error);
        let existing: Vec<String> = self
            .connection
            .prepare("SELECT name FROM pragma_table_info('results')")
            .and_then(|mut statement| {
                statement
                    .query_map([], |row| row.get::<_, String>(0))?
                    .collect::<Result<_, _>>()
            })
            .map_err(error)?;
        let wanted = fields
            .iter()
            .copied()
            .chain(std::iter::once("labels"))
            .chain(PROVENANCE);
        for column in wanted {
            if !existing.iter().any(|name| name == column) {
                self.execute(&format!("ALTER TABLE results ADD COLUMN {}", quote(column)))?;
            }
        }
        Ok(())
    }
}

impl Sink for SqliteSink {
    fn begin(&mut self, header: &SinkHeader<'_>) -> Result<(), SinkError> {
        self.fields = crate::owned_fields(header);
        let mut columns = vec!["id TEXT PRIMARY KEY".to_string()];
        columns.extend(
            header
                .fields
                .iter()
                .map(|field| format!("{} TEXT", quote(field))),
        );
        columns.push("labels TEXT".into());
        columns.extend(PROVENANCE.iter().map(|name| format!("{} ", quote(name))));
        self.connection
            .execute(
                &format!("CREATE TABLE IF NOT EXISTS results({})", columns.join(", ")),
                [],
            )
            .map_err(|error| SinkError::sqlite(&self.path, error))?;
        self.add_missing_columns(header.fields)?;
        self.upsert = upsert_sql(header.fields);
        self.execute("BEGIN")
    }

    fn labeled(
        &mut self,
        row_id: &str,
        output_json: &str,
        provenance: &Provenance<'_>,
    ) -> Result<(), SinkError> {
        let mut values: Vec<Sql> = vec![row_id.to_string().into()];
        values.extend(crate::label_cells(&self.fields, output_json).map(Sql::from));
        values.push(output_json.to_string().into());
        values.extend(
            provenance
                .values()
                .map(crate::provenance::ProvenanceValue::sql),
        );
        self.connection
            .prepare_cached(&self.upsert)
            .and_then(|mut statement| statement.execute(rusqlite::params_from_iter(values)))
            .map(drop)
            .map_err(|error| SinkError::sqlite(&self.path, error))
    }

    fn commit(self: Box<Self>) -> Result<u64, SinkError> {
        self.execute("COMMIT").map(|()| 0)
    }
}

/// `INSERT … ON CONFLICT(id) DO UPDATE` over every column, numbered parameters in column order.
fn upsert_sql(fields: &[&str]) -> String {
    let columns: Vec<String> = std::iter::once("id".to_string())
        .chain(fields.iter().map(|field| quote(field)))
        .chain(std::iter::once("labels".to_string()))
        .chain(PROVENANCE.iter().map(|name| quote(name)))
        .collect();
    let placeholders: Vec<String> = (1..=columns.len())
        .map(|index| format!("?{index}"))
        .collect();
    let updates: Vec<String> = columns
        .iter()
        .skip(1)
        .map(|column| format!("{column} = excluded.{column}"))
        .collect();
    format!(
        "INSERT INTO results({}) VALUES ({}) ON CONFLICT(id) DO UPDATE SET {}",
        columns.join(", "),
        placeholders.join(", "),
        updates.join(", ")
    )
}

/// An SQL identifier, quoted.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
