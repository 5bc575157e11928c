//! An SQLite database read with a query, opened read-only (the input is never written).

use std::path::{Path, PathBuf};
use std::sync::mpsc::SyncSender;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use serde_json::Value as Json;

use super::{Message, QuerySource, RowSender, point_at};
use crate::SourceError;
use crate::parquet_source::Sample;

/// Open `query` on the database at `path`.
pub(crate) fn open_sqlite(
    path: &Path,
    query: &str,
    id_column: &str,
    text_column: Option<&str>,
) -> Result<QuerySource, SourceError> {
    if !path.is_file() {
        return Err(SourceError::Missing {
            path: path.to_path_buf(),
        });
    }
    let location = path.to_string_lossy().into_owned();
    let (path, owned_query) = (path.to_path_buf(), query.to_string());
    let (id_column, text_column) = (id_column.to_string(), text_column.map(str::to_string));
    QuerySource::start(location, query, move |sender| {
        read(
            &path,
            &owned_query,
            &id_column,
            text_column.as_deref(),
            sender,
        );
    })
}

fn read(
    path: &Path,
    query: &str,
    id_column: &str,
    text_column: Option<&str>,
    sender: SyncSender<Message>,
) {
    let fail = |sender: &SyncSender<Message>, error: &rusqlite::Error| {
        let _ = sender.send(Message::Failed(database_error(path, query, error)));
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = match Connection::open_with_flags(path, flags) {
        Ok(connection) => connection,
        Err(error) => return fail(&sender, &error),
    };
    let mut statement = match connection.prepare(query) {
        Ok(statement) => statement,
        Err(error) => return fail(&sender, &error),
    };
    if !statement.readonly() {
        let _ = sender.send(Message::Failed(SourceError::Database {
            location: path.to_string_lossy().into_owned(),
            message: "the input query would change the database".into(),
            hint: "an input query only reads: `SELECT …`".into(),
        }));
        return;
    }
    let names: Vec<String> = statement
        .column_names()
        .into_iter()
        .map(str::to_string)
        .collect();
    let width = names.len();
    let names_for_errors = names.clone();
    let Some(mut rows_out) =
        RowSender::columns(sender, names, id_column, text_column, path.to_path_buf())
    else {
        return;
    };
    let mut rows = match statement.query([]) {
        Ok(rows) => rows,
        Err(error) => return rows_out.failed(database_error(path, query, &error)),
    };
    loop {
        match rows.next() {
            Ok(Some(row)) => {
                let values = (0..width).map(|index| match row.get_ref(index) {
                    Ok(value) => json_of(value).map_err(|problem| {
                        format!("column `{}` {problem}", names_for_errors[index])
                    }),
                    Err(error) => Err(format!("cannot read column {index}: {error}")),
                });
                let values = values.collect::<Result<Vec<_>, String>>();
                let more = match values {
                    Ok(values) => rows_out.row(values),
                    Err(message) => rows_out.row_error(message),
                };
                if !more {
                    return;
                }
            }
            Ok(None) => return rows_out.done(),
            Err(error) => return rows_out.failed(database_error(path, query, &error)),
        }
    }
}

/// The tables and views of the SQLite database at `path` (not SQLite's own), by name: for
/// looking at a database before a spec names its query.
pub fn sqlite_tables(path: &Path) -> Result<Vec<String>, SourceError> {
    let connection = open_read_only(path)?;
    let fail = |error: rusqlite::Error| database_error(path, "", &error);
    let mut statement = connection
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') \
             AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
        )
        .map_err(fail)?;
    let names = statement
        .query_map([], |row| row.get::<_, String>(0))
        .map_err(fail)?;
    names.collect::<Result<_, _>>().map_err(fail)
}

/// The first `max` rows of `query` on the SQLite database at `path`, as JSON objects, with
/// the result's column names; and the columns that held a BLOB (read as null here, and an
/// error in a run: a BLOB is not text).
pub fn sample_sqlite(
    path: &Path,
    query: &str,
    max: usize,
) -> Result<(Sample, Vec<String>), SourceError> {
    let connection = open_read_only(path)?;
    let fail = |error: rusqlite::Error| database_error(path, query, &error);
    let mut statement = connection.prepare(query).map_err(fail)?;
    let names: Vec<String> = statement
        .column_names()
        .into_iter()
        .map(str::to_string)
        .collect();
    let mut rows = statement.query([]).map_err(fail)?;
    let (mut sample, mut blobs) = (Vec::new(), Vec::new());
    while sample.len() < max {
        let Some(row) = rows.next().map_err(fail)? else {
            break;
        };
        let mut object = serde_json::Map::new();
        for (index, name) in names.iter().enumerate() {
            let value = row.get_ref(index).ok();
            if matches!(value, Some(ValueRef::Blob(_))) && !blobs.contains(name) {
                blobs.push(name.clone());
            }
            let value = value
                .and_then(|value| json_of(value).ok())
                .unwrap_or(Json::Null);
            object.insert(name.clone(), value);
        }
        sample.push(object);
    }
    Ok(((names, sample), blobs))
}

/// The database at `path`, read-only; a missing file is not created.
fn open_read_only(path: &Path) -> Result<Connection, SourceError> {
    if !path.is_file() {
        return Err(SourceError::Missing {
            path: path.to_path_buf(),
        });
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    Connection::open_with_flags(path, flags).map_err(|error| database_error(path, "", &error))
}

/// A stored value as JSON; a BLOB is not text and cannot be labeled.
fn json_of(value: ValueRef<'_>) -> Result<Json, String> {
    Ok(match value {
        ValueRef::Null => Json::Null,
        ValueRef::Integer(number) => Json::from(number),
        ValueRef::Real(number) => {
            serde_json::Number::from_f64(number).map_or(Json::Null, Json::Number)
        }
        ValueRef::Text(bytes) => Json::String(
            std::str::from_utf8(bytes)
                .map_err(|error| {
                    format!(
                        "holds invalid UTF-8 at byte {}; hint: store text as UTF-8",
                        error.valid_up_to()
                    )
                })?
                .to_string(),
        ),
        ValueRef::Blob(_) => {
            return Err(
                "holds a BLOB, which is not text; hint: select text columns, or `CAST(col AS TEXT)`".into(),
            );
        }
    })
}

fn database_error(path: &Path, query: &str, error: &rusqlite::Error) -> SourceError {
    let location: PathBuf = path.to_path_buf();
    let (message, caret) = match error {
        rusqlite::Error::SqlInputError { msg, offset, .. } if *offset >= 0 => {
            let position = query
                .char_indices()
                .take_while(|(byte, _)| *byte < *offset as usize)
                .count()
                + 1;
            (msg.clone(), point_at(query, position))
        }
        other => (other.to_string(), String::new()),
    };
    SourceError::Database {
        location: location.to_string_lossy().into_owned(),
        message: format!("{message}{caret}"),
        hint: if query.is_empty() {
            "is it an SQLite database, readable by you?".into()
        } else {
            "check the `input.query` in the spec".into()
        },
    }
}
