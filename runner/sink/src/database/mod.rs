//! Database sinks: a PostgreSQL results table, and the write-back into the user's own table
//! (PostgreSQL or SQLite). Rows are staged while the run streams them and written in one
//! transaction at commit, so a reader (or a killed run) sees all of a run's rows or none,
//! and writing them again (a resumed run) leaves the same table.
//!
//! PostgreSQL work runs on a thread of its own: the synchronous client drives its own
//! runtime, which cannot nest in the async runner's.

mod catalog;
mod postgres_sink;
mod results_table;
mod staged;
mod write_back;

pub use postgres_sink::PostgresSink;
pub use write_back::{WriteBackSink, preflight_write_back};

use batchlabel_source::postgres_connection::{Refusal, describe, open};

use crate::SinkError;

/// Run `work` on its own thread (outside any async runtime) and wait for it.
pub(crate) fn off_runtime<T: Send>(
    work: impl FnOnce() -> Result<T, SinkError> + Send,
) -> Result<T, SinkError> {
    std::thread::scope(|scope| {
        scope.spawn(work).join().unwrap_or_else(|_| {
            Err(SinkError::Database {
                location: "postgres".into(),
                message: "the database writer panicked".into(),
                hint: String::new(),
            })
        })
    })
}

/// A connection to the database in `$url_env`, and a way to word its errors without the
/// password.
pub(crate) struct Connection {
    pub(crate) client: postgres::Client,
    pub(crate) words: Words,
}

/// How errors of one connection are worded: its location, and the password to keep out.
pub(crate) struct Words {
    location: String,
    secret: Option<String>,
}

impl Connection {
    pub(crate) fn open(url_env: &str) -> Result<Self, SinkError> {
        let location = format!("postgres:${url_env}");
        match open(url_env) {
            Ok((client, secret)) => Ok(Self {
                client,
                words: Words { location, secret },
            }),
            Err(refusal) => Err(at(&location, refusal)),
        }
    }
}

impl Words {
    /// `error` as a [`SinkError`], without the password.
    pub(crate) fn error(&self, error: &postgres::Error) -> SinkError {
        at(
            &self.location,
            describe(error, self.secret.as_deref(), None),
        )
    }

    /// A problem found by a check (a missing table or column…).
    pub(crate) fn problem(&self, message: String, hint: &str) -> SinkError {
        SinkError::Database {
            location: self.location.clone(),
            message,
            hint: hint.to_string(),
        }
    }
}

/// A worded failure as the error of the output at `location`.
fn at(location: &str, refusal: Refusal) -> SinkError {
    SinkError::Database {
        location: location.to_string(),
        message: refusal.message,
        hint: refusal.hint,
    }
}

/// A PostgreSQL table name as SQL, read as PostgreSQL reads one: written with quotes, as it
/// is; else each dot-separated part folded to lower case and quoted (`Analytics.Labels` →
/// `"analytics"."labels"`, the table PostgreSQL itself would name).
pub(crate) fn quote_table(table: &str) -> String {
    if table.contains('"') {
        return table.to_string();
    }
    table
        .split('.')
        .map(|part| quote(&part.to_lowercase()))
        .collect::<Vec<_>>()
        .join(".")
}

/// An identifier, quoted.
pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Send the staged rows into the temporary table `batchlabel_staging`.
pub(crate) fn copy_staged(
    transaction: &mut postgres::Transaction<'_>,
    staged: staged::Staged,
    words: &Words,
) -> Result<(), SinkError> {
    use std::io::Write as _;
    let mut reader = staged.reader()?;
    let mut writer = transaction
        .copy_in("COPY batchlabel_staging FROM STDIN")
        .map_err(|failure| words.error(&failure))?;
    std::io::copy(&mut reader, &mut writer)
        .and_then(|_| writer.flush())
        .map_err(|failure| words.problem(format!("sending the rows failed: {failure}"), ""))?;
    writer.finish().map_err(|failure| words.error(&failure))?;
    Ok(())
}

/// JSON text PostgreSQL's `jsonb` accepts: a `\u0000` in a string (which jsonb refuses)
/// becomes U+FFFD. Text without one is returned as it is.
pub(crate) fn jsonb_safe(json: &str) -> std::borrow::Cow<'_, str> {
    if !json.contains("\\u0000") {
        return std::borrow::Cow::Borrowed(json);
    }
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(mut value) => {
            without_nul(&mut value);
            std::borrow::Cow::Owned(value.to_string())
        }
        Err(_) => std::borrow::Cow::Borrowed(json),
    }
}

/// Replace NUL in every string of `value` with U+FFFD.
pub(crate) fn without_nul(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(text) if text.contains('\0') => {
            *text = text.replace('\0', "\u{fffd}");
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(without_nul),
        serde_json::Value::Object(map) => map.values_mut().for_each(without_nul),
        _ => {}
    }
}
