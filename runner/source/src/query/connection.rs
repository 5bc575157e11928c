//! Reaching PostgreSQL from the environment variable a spec names, shared by the source and
//! the sinks: the settings, the connection (TLS as `sslmode` asks, see `tls.rs`), and every
//! failure worded once — what happened and what to do, never the password.

use std::time::Duration;

use postgres::{Client, Config};

use super::point_at;
use super::tls::{ConnectError, connect, is_tls};

/// A failure, worded: what happened (the server's words, the password scrubbed) and a hint.
#[derive(Debug)]
pub struct Refusal {
    /// What happened.
    pub message: String,
    /// What to do.
    pub hint: String,
}

/// The connection settings in `$url_env`, with a 10-second connect timeout.
pub fn config_from_env(url_env: &str) -> Result<Config, Refusal> {
    let url = std::env::var(url_env).map_err(|_| Refusal {
        message: format!("the environment variable `{url_env}` is not set"),
        hint: format!("export {url_env}=postgres://user:password@host:5432/database"),
    })?;
    let mut config: Config = super::tls::normalized(&url).parse().map_err(|_| Refusal {
        message: format!("`{url_env}` does not hold a valid PostgreSQL connection string"),
        hint: "e.g. postgres://user:password@host:5432/database".into(),
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    Ok(config)
}

/// Connect to the database in `$url_env`; the client, and the password to keep out of
/// later messages.
pub fn open(url_env: &str) -> Result<(Client, Option<String>), Refusal> {
    let config = config_from_env(url_env)?;
    let secret = secret_of(&config);
    let client = connect_worded(&config, secret.as_deref())?;
    Ok((client, secret))
}

/// Connect with `config`, a failure worded.
pub fn connect_worded(config: &Config, secret: Option<&str>) -> Result<Client, Refusal> {
    connect(config).map_err(|error| match error {
        ConnectError::Postgres(error) => describe(&error, secret, None),
        ConnectError::Settings(message) => Refusal {
            message,
            hint: "PGSSLROOTCERT names a PEM file of CA certificates".into(),
        },
    })
}

/// A client or server error, worded: the server's message (with `query` shown and a caret
/// at the server's position, when the error is about a query), a hint by SQLSTATE, or why the
/// server could not be reached.
pub fn describe(error: &postgres::Error, secret: Option<&str>, query: Option<&str>) -> Refusal {
    const QUERY_HINT: &str = "check the `input.query` in the spec";
    let (message, hint) = match error.as_db_error() {
        Some(db) => {
            let caret = match (db.position(), query) {
                (Some(postgres::error::ErrorPosition::Original(position)), Some(query)) => {
                    point_at(query, *position as usize)
                }
                _ => String::new(),
            };
            let hint = match (db.code().code(), query.is_some()) {
                ("28P01" | "28000", _) => "check the user and password in the connection string",
                ("3D000", _) => "check the database name in the connection string",
                ("42P01" | "42703" | "42601", true) => QUERY_HINT,
                ("42501", false) => "the database user needs the right to create and write this table",
                _ => db.hint().unwrap_or(if query.is_some() { QUERY_HINT } else { "" }),
            };
            (format!("{}{caret}", db.message()), hint.to_string())
        }
        None if is_tls(error) => (
            connection_message(error),
            "the server's TLS certificate did not verify: for a private CA, set PGSSLROOTCERT to its PEM file"
                .to_string(),
        ),
        None => (
            connection_message(error),
            "is the server running and reachable at the host and port in the connection string?"
                .to_string(),
        ),
    };
    Refusal {
        message: scrub(&message, secret),
        hint,
    }
}

/// The password, to scrub from any message.
pub fn secret_of(config: &Config) -> Option<String> {
    config
        .get_password()
        .map(|password| String::from_utf8_lossy(password).into_owned())
        .filter(|password| !password.is_empty())
}

/// The client's error with its cause (`error connecting to server: Connection refused`).
pub fn connection_message(error: &postgres::Error) -> String {
    let mut message = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        let text = inner.to_string();
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        cause = inner.source();
    }
    message
}

/// `text` without `secret` in it.
pub fn scrub(text: &str, secret: Option<&str>) -> String {
    match secret {
        Some(secret) if secret.len() >= 3 => text.replace(secret, "***"),
        _ => text.to_string(),
    }
}
