//! The write-back: the user's own table (PostgreSQL or SQLite) updated in place — only the
//! columns the spec names, only the rows of this run, matched by the id column — in one
//! transaction at commit. [`preflight_write_back`] checks the table and its columns before
//! anything is sent, so no money is spent on results that could not be written.

use std::path::PathBuf;

use batchlabel_spec::{Database, WriteBack};
use serde_json::Value;

use super::catalog::Column;
use super::staged::Staged;
use super::{Connection, off_runtime, quote, quote_table};
use crate::{PROVENANCE, Provenance, Sink, SinkError, SinkHeader};

/// Check that the write-back can be done: the database is reachable, the table exists, and
/// it has the id column and each target column with a type that can hold its value.
/// `longest`: per label field, the longest text it can write (None: unbounded), checked
/// against a `varchar(n)` / `char(n)` target.
pub fn preflight_write_back(
    write_back: &WriteBack,
    longest: &dyn Fn(&str) -> Option<usize>,
) -> Result<(), SinkError> {
    let columns = match &write_back.database {
        Database::Postgres(url_env) => off_runtime(|| {
            let mut connection = Connection::open(url_env)?;
            postgres_columns(&mut connection, &write_back.table)
        })?,
        Database::Sqlite(path) => sqlite_columns(path, &write_back.table)?,
    };
    let targets = targets(write_back, &columns)?;
    for ((field, _), column) in write_back.columns.iter().zip(&targets[1..]) {
        if let (Some(limit), Some(needed)) = (column.max_length, longest(field))
            && needed > limit
        {
            return Err(SinkError::Database {
                location: location_of(write_back),
                message: format!(
                    "column `{}` of `{}` is {}, but label `{field}` can be {needed} characters long",
                    column.name, write_back.table, column.kind
                ),
                hint: "widen the column (`ALTER TABLE … TYPE text`)".into(),
            });
        }
    }
    Ok(())
}

fn location_of(write_back: &WriteBack) -> String {
    match &write_back.database {
        Database::Postgres(url_env) => format!("postgres:${url_env}"),
        Database::Sqlite(path) => path.to_string_lossy().into_owned(),
    }
}

/// The table's columns, `Err` when it does not exist.
fn postgres_columns(connection: &mut Connection, table: &str) -> Result<Vec<Column>, SinkError> {
    super::catalog::columns(connection, table)?.ok_or_else(|| {
        connection.words.problem(
            format!("the write-back table `{table}` does not exist"),
            "check `output.write_back.table` (schema-qualify it if needed: `public.comments`)",
        )
    })
}

fn sqlite_columns(path: &std::path::Path, table: &str) -> Result<Vec<Column>, SinkError> {
    let connection =
        rusqlite::Connection::open(path).map_err(|error| SinkError::sqlite(path, error))?;
    let mut statement = connection
        .prepare("SELECT name, type FROM pragma_table_info(?1)")
        .map_err(|error| SinkError::sqlite(path, error))?;
    let columns: Vec<Column> = statement
        .query_map([table], |row| {
            Ok(Column {
                name: row.get(0)?,
                kind: row.get(1)?,
                cast: String::new(),
                category: 'S',
                max_length: None,
            })
        })
        .and_then(Iterator::collect)
        .map_err(|error| SinkError::sqlite(path, error))?;
    if columns.is_empty() {
        return Err(SinkError::Database {
            location: path.to_string_lossy().into_owned(),
            message: format!("the write-back table `{table}` does not exist"),
            hint: "check `output.write_back.table`".into(),
        });
    }
    Ok(columns)
}

/// The id column and each target column (label fields, then provenance), checked.
fn targets(write_back: &WriteBack, columns: &[Column]) -> Result<Vec<Column>, SinkError> {
    let location = location_of(write_back);
    let table = &write_back.table;
    let find = |name: &str, purpose: &str| {
        columns
            .iter()
            .find(|column| column.name == name)
            .cloned()
            .ok_or_else(|| SinkError::Database {
                location: location.clone(),
                message: format!("table `{table}` has no column `{name}` ({purpose})"),
                hint: format!(
                    "its columns: {}",
                    columns
                        .iter()
                        .map(|column| column.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    };
    let mut found = vec![find(&write_back.id_column, "the id column")?];
    let wrong_type = |column: &Column, what: &str, expected: &str| SinkError::Database {
        location: location.clone(),
        message: format!(
            "column `{}` of `{table}` is {}, which cannot hold {what}",
            column.name, column.kind
        ),
        hint: format!("use a {expected} column, or alter its type"),
    };
    for (field, name) in &write_back.columns {
        let column = find(name, &format!("for label `{field}`"))?;
        if !matches!(column.category, 'S' | 'J') {
            return Err(wrong_type(
                &column,
                &format!("label `{field}`"),
                "text or jsonb",
            ));
        }
        found.push(column);
    }
    for (provenance, name) in &write_back.provenance {
        let column = find(name, &format!("for provenance `{provenance}`"))?;
        let fits = match provenance.as_str() {
            "cost_usd" => {
                column.category == 'S'
                    || (column.category == 'N'
                        && !["smallint", "integer", "bigint"].contains(&column.cast.as_str()))
            }
            "attempt" | "input_tokens" | "output_tokens" | "run" => {
                matches!(column.category, 'N' | 'S')
            }
            "labeled_at" => matches!(column.category, 'D' | 'S'),
            _ => column.category == 'S',
        };
        if !fits {
            return Err(wrong_type(
                &column,
                &format!("provenance `{provenance}`"),
                "matching",
            ));
        }
        found.push(column);
    }
    Ok(found)
}

/// Labeled rows written back into the user's table.
pub struct WriteBackSink {
    write_back: WriteBack,
    staged: Staged,
}

impl WriteBackSink {
    /// A write-back (nothing is written before commit).
    pub fn new(write_back: &WriteBack) -> Result<Self, SinkError> {
        Ok(Self {
            write_back: write_back.clone(),
            staged: Staged::new()?,
        })
    }
}

impl Sink for WriteBackSink {
    fn begin(&mut self, _header: &SinkHeader<'_>) -> Result<(), SinkError> {
        Ok(())
    }

    /// Stage the id, each label field as JSON, each provenance value as text.
    fn labeled(
        &mut self,
        row_id: &str,
        output_json: &str,
        provenance: &Provenance<'_>,
    ) -> Result<(), SinkError> {
        let mut output: Value = serde_json::from_str(output_json).unwrap_or(Value::Null);
        super::without_nul(&mut output);
        let labels: Vec<Option<String>> = self
            .write_back
            .columns
            .iter()
            .map(|(field, _)| output.get(field).map(Value::to_string))
            .collect();
        let values = provenance.values();
        let provenance: Vec<Option<String>> = self
            .write_back
            .provenance
            .iter()
            .map(|(name, _)| {
                let index = PROVENANCE.iter().position(|known| known == name)?;
                values[index].text()
            })
            .collect();
        let cells = std::iter::once(Some(row_id))
            .chain(labels.iter().map(Option::as_deref))
            .chain(provenance.iter().map(Option::as_deref));
        self.staged.row(cells)
    }

    fn commit(self: Box<Self>) -> Result<u64, SinkError> {
        let Self { write_back, staged } = *self;
        match &write_back.database {
            Database::Postgres(url_env) => off_runtime(|| {
                let mut connection = Connection::open(url_env)?;
                update_postgres(&mut connection, &write_back, staged)
            }),
            Database::Sqlite(path) => update_sqlite(path, &write_back, staged),
        }
    }
}

/// `UPDATE table SET … FROM staging WHERE id = staging.id`; returns the rows not found.
fn update_postgres(
    connection: &mut Connection,
    write_back: &WriteBack,
    staged: Staged,
) -> Result<u64, SinkError> {
    let columns = postgres_columns(connection, &write_back.table)?;
    let targets = targets(write_back, &columns)?;
    let staging: Vec<String> = (0..targets.len())
        .map(|index| format!("c{index} text"))
        .collect();
    let sets: Vec<String> = targets
        .iter()
        .enumerate()
        .skip(1)
        .map(|(index, column)| {
            let value = if index <= write_back.columns.len() {
                // Labels are staged as JSON: a json column takes it as it is, a text column
                // takes a string label's text and anything else's JSON text.
                if column.category == 'J' {
                    format!("s.c{index}::{}", column.cast)
                } else {
                    format!("(s.c{index}::jsonb #>> '{{}}')::{}", column.cast)
                }
            } else {
                format!("s.c{index}::{}", column.cast)
            };
            format!("{} = {value}", quote(&column.name))
        })
        .collect();
    let id = &targets[0];
    let update = format!(
        "UPDATE {} AS t SET {} FROM batchlabel_staging s WHERE t.{} = s.c0::{}",
        quote_table(&write_back.table),
        sets.join(", "),
        quote(&id.name),
        id.cast
    );
    let rows = staged.rows;
    let Connection { client, words } = connection;
    let error = |failure: &postgres::Error| words.error(failure);
    let mut transaction = client.transaction().map_err(|failure| error(&failure))?;
    transaction
        .batch_execute(&format!(
            "CREATE TEMP TABLE batchlabel_staging ({}) ON COMMIT DROP",
            staging.join(", ")
        ))
        .map_err(|failure| error(&failure))?;
    super::copy_staged(&mut transaction, staged, words)?;
    let updated = transaction
        .execute(&update, &[])
        .map_err(|failure| error(&failure))?;
    transaction.commit().map_err(|failure| error(&failure))?;
    Ok(rows.saturating_sub(updated))
}

/// The same for SQLite: one prepared `UPDATE` per row, in one transaction.
fn update_sqlite(path: &PathBuf, write_back: &WriteBack, staged: Staged) -> Result<u64, SinkError> {
    use std::io::BufRead as _;
    let sqlite = |error| SinkError::sqlite(path, error);
    let columns = sqlite_columns(path, &write_back.table)?;
    let targets = targets(write_back, &columns)?;
    let sets: Vec<String> = targets
        .iter()
        .enumerate()
        .skip(1)
        .map(|(index, column)| format!("{} = ?{}", quote(&column.name), index + 1))
        .collect();
    let update = format!(
        "UPDATE {} SET {} WHERE {} = ?1",
        quote(&write_back.table),
        sets.join(", "),
        quote(&targets[0].name)
    );
    let mut connection = rusqlite::Connection::open(path).map_err(sqlite)?;
    let transaction = connection.transaction().map_err(sqlite)?;
    let mut missing = 0;
    {
        let mut statement = transaction.prepare(&update).map_err(sqlite)?;
        let labels = write_back.columns.len();
        for line in staged.reader()?.lines() {
            let line = line.map_err(|error| SinkError::io(path, error))?;
            let values: Vec<rusqlite::types::Value> = line
                .split('\t')
                .enumerate()
                .map(|(index, cell)| sqlite_value(index, cell, labels))
                .collect();
            let changed = statement
                .execute(rusqlite::params_from_iter(values))
                .map_err(sqlite)?;
            missing += u64::from(changed == 0);
        }
    }
    transaction.commit().map_err(sqlite)?;
    Ok(missing)
}

/// A staged cell as the SQLite value to bind: the id (cell 0) as an integer when it is one
/// (a column without a declared type compares 1 and '1' as different); a label as its text
/// when a string, NULL when null, else JSON text; provenance as text.
fn sqlite_value(index: usize, cell: &str, labels: usize) -> rusqlite::types::Value {
    use rusqlite::types::Value as Sql;
    let Some(text) = unescape(cell) else {
        return Sql::Null;
    };
    if index == 0 {
        return match text.parse::<i64>() {
            Ok(number) if number.to_string() == text => Sql::Integer(number),
            _ => Sql::Text(text),
        };
    }
    if (1..=labels).contains(&index) {
        return match serde_json::from_str::<Value>(&text) {
            Ok(Value::String(label)) => Sql::Text(label),
            Ok(Value::Null) => Sql::Null,
            _ => Sql::Text(text),
        };
    }
    Sql::Text(text)
}

/// A COPY text cell back to its text (`\N` is NULL).
fn unescape(cell: &str) -> Option<String> {
    if cell == "\\N" {
        return None;
    }
    let mut text = String::with_capacity(cell.len());
    let mut chars = cell.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            text.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => text.push('\t'),
            Some('n') => text.push('\n'),
            Some('r') => text.push('\r'),
            Some(other) => text.push(other),
            None => {}
        }
    }
    Some(text)
}
