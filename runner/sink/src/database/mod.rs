//! Database sinks: a PostgreSQL results table, and the write-back into the user's own table
//! (PostgreSQL or SQLite). Rows are staged while the run streams them and written in one
//! transaction at commit, so a reader (or a killed run) sees all of a run's rows or none,
//! and writing them again (a resumed run) leaves the same table.
//!
//! PostgreSQL work runs on a thread of its own: the synchronous client drives its own
//! runtime, which cannot nest in the async runner's.

mod postgres_sink;
mod results_table;
mod staged;
mod write_back;

pub use postgres_sink::PostgresSink;
pub use write_back::{WriteBackSink, preflight_write_back};

use batchlabel_source::postgres_connection::{
    ConnectError, config_from_env, connect, connection_message, is_tls, scrub, secret_of,
};

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
        let config = config_from_env(url_env).map_err(|error| SinkError::Database {
            location: location.clone(),
            message: error.to_string(),
            hint: String::new(),
        })?;
        let secret = secret_of(&config);
        match connect(&config) {
            Ok(client) => Ok(Self {
                client,
                words: Words { location, secret },
            }),
            Err(ConnectError::Postgres(error)) => Err(word(&location, secret.as_deref(), &error)),
            Err(ConnectError::Settings(message)) => Err(SinkError::Database {
                location,
                message,
                hint: "PGSSLROOTCERT names a PEM file of CA certificates".into(),
            }),
        }
    }
}

impl Words {
    /// `error` as a [`SinkError`], without the password.
    pub(crate) fn error(&self, error: &postgres::Error) -> SinkError {
        word(&self.location, self.secret.as_deref(), error)
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

fn word(location: &str, secret: Option<&str>, error: &postgres::Error) -> SinkError {
    let (message, hint) = match error.as_db_error() {
        Some(db) => (
            db.message().to_string(),
            match db.code().code() {
                "28P01" | "28000" => "check the user and password in the connection string",
                "42501" => "the database user needs the right to create and write this table",
                _ => db.hint().unwrap_or(""),
            }
            .to_string(),
        ),
        None if is_tls(error) => (
            connection_message(error),
            "the server's TLS certificate did not verify: for a private CA, set PGSSLROOTCERT to its PEM file"
                .into(),
        ),
        None => (
            connection_message(error),
            "is the server running and reachable at the host and port in the connection string?"
                .into(),
        ),
    };
    SinkError::Database {
        location: location.to_string(),
        message: scrub(&message, secret),
        hint,
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
