//! A PostgreSQL query, streamed through a cursor (a portal fetched a chunk at a time) in a
//! read-only, repeatable-read transaction: one consistent snapshot, never the whole result
//! in memory. The connection string comes from an environment variable and its password
//! never reaches a message.

use std::sync::mpsc::SyncSender;
use std::time::Duration;

use postgres::types::{Kind, Type};
use postgres::{Config, IsolationLevel};
use serde_json::Value as Json;

use super::{Message, QuerySource, RowSender, point_at};
use crate::SourceError;

/// Rows fetched from the cursor per round trip.
const FETCH: i32 = 1000;

/// Open `query` on the database whose connection string is in `$url_env`.
pub(crate) fn open_postgres(
    url_env: &str,
    query: &str,
    id_column: &str,
    text_column: Option<&str>,
) -> Result<QuerySource, SourceError> {
    let location = format!("postgres:${url_env}");
    let config = config_from_env(url_env)?;
    let (owned_query, id_column) = (query.to_string(), id_column.to_string());
    let text_column = text_column.map(str::to_string);
    let thread_location = location.clone();
    QuerySource::start(location, query, move |sender| {
        let reader = Reader {
            location: thread_location,
            query: owned_query,
            secret: secret_of(&config),
        };
        reader.read(&config, &id_column, text_column.as_deref(), sender);
    })
}

/// The connection settings in `$url_env`, with a 10-second connect timeout.
pub fn config_from_env(url_env: &str) -> Result<Config, SourceError> {
    let location = format!("postgres:${url_env}");
    let url = std::env::var(url_env).map_err(|_| SourceError::Database {
        location: location.clone(),
        message: format!("the environment variable `{url_env}` is not set"),
        hint: format!("export {url_env}=postgres://user:password@host:5432/database"),
    })?;
    let mut config: Config =
        super::tls::normalized(&url)
            .parse()
            .map_err(|_| SourceError::Database {
                location,
                message: format!("`{url_env}` does not hold a valid PostgreSQL connection string"),
                hint: "e.g. postgres://user:password@host:5432/database".into(),
            })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    Ok(config)
}

/// The password, to scrub from any message.
pub fn secret_of(config: &Config) -> Option<String> {
    config
        .get_password()
        .map(|password| String::from_utf8_lossy(password).into_owned())
        .filter(|password| !password.is_empty())
}

struct Reader {
    location: String,
    query: String,
    secret: Option<String>,
}

impl Reader {
    fn read(
        &self,
        config: &Config,
        id_column: &str,
        text_column: Option<&str>,
        sender: SyncSender<Message>,
    ) {
        let fail = |sender: &SyncSender<Message>, error: SourceError| {
            let _ = sender.send(Message::Failed(error));
        };
        let mut client = match super::tls::connect(config) {
            Ok(client) => client,
            Err(super::tls::ConnectError::Postgres(error)) => {
                return fail(&sender, self.error(&error));
            }
            Err(super::tls::ConnectError::Settings(message)) => {
                return fail(
                    &sender,
                    SourceError::Database {
                        location: self.location.clone(),
                        message,
                        hint: "PGSSLROOTCERT names a PEM file of CA certificates".into(),
                    },
                );
            }
        };
        let transaction = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start();
        let mut transaction = match transaction {
            Ok(transaction) => transaction,
            Err(error) => return fail(&sender, self.error(&error)),
        };
        let statement = match transaction.prepare(&self.query) {
            Ok(statement) => statement,
            Err(error) => return fail(&sender, self.error(&error)),
        };
        let columns = statement.columns();
        if let Some(column) = columns.iter().find(|column| !readable(column.type_())) {
            let name = column.name();
            return fail(
                &sender,
                SourceError::Database {
                    location: self.location.clone(),
                    message: format!(
                        "column `{name}` has type {}, which batchlabel does not read",
                        column.type_()
                    ),
                    hint: format!("cast it in the query: `{name}::text`"),
                },
            );
        }
        let types: Vec<Type> = columns
            .iter()
            .map(|column| column.type_().clone())
            .collect();
        let names = columns
            .iter()
            .map(|column| column.name().to_string())
            .collect();
        let Some(mut rows_out) = RowSender::columns(
            sender,
            names,
            id_column,
            text_column,
            self.location.clone().into(),
        ) else {
            return;
        };
        let portal = match transaction.bind(&statement, &[]) {
            Ok(portal) => portal,
            Err(error) => return rows_out.failed(self.error(&error)),
        };
        loop {
            let rows = match transaction.query_portal(&portal, FETCH) {
                Ok(rows) => rows,
                Err(error) => return rows_out.failed(self.error(&error)),
            };
            if rows.is_empty() {
                return rows_out.done();
            }
            for row in rows {
                let values = types
                    .iter()
                    .enumerate()
                    .map(|(index, kind)| value(&row, index, kind))
                    .collect::<Result<Vec<_>, _>>();
                let more = match values {
                    Ok(values) => rows_out.row(values),
                    Err(error) => rows_out.row_error(format!("cannot read a value: {error}")),
                };
                if !more {
                    return;
                }
            }
        }
    }

    /// A client or server error as a message: the server's words, the query with a caret at
    /// its position, a hint by SQLSTATE, never the password.
    fn error(&self, error: &postgres::Error) -> SourceError {
        let (message, hint) = match error.as_db_error() {
            Some(db) => {
                let caret = match db.position() {
                    Some(postgres::error::ErrorPosition::Original(position)) => {
                        point_at(&self.query, *position as usize)
                    }
                    _ => String::new(),
                };
                let hint = match db.code().code() {
                    "28P01" | "28000" => "check the user and password in the connection string",
                    "3D000" => "check the database name in the connection string",
                    "42P01" | "42703" | "42601" => "check the `input.query` in the spec",
                    _ => db.hint().unwrap_or("check the `input.query` in the spec"),
                };
                (format!("{}{caret}", db.message()), hint.to_string())
            }
            None if super::tls::is_tls(error) => (
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
        SourceError::Database {
            location: self.location.clone(),
            message: scrub(&message, self.secret.as_deref()),
            hint,
        }
    }
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

/// Types read as JSON values; others must be cast to text in the query.
fn readable(kind: &Type) -> bool {
    matches!(
        *kind,
        Type::TEXT
            | Type::VARCHAR
            | Type::BPCHAR
            | Type::NAME
            | Type::INT2
            | Type::INT4
            | Type::INT8
            | Type::FLOAT4
            | Type::FLOAT8
            | Type::BOOL
            | Type::UUID
            | Type::JSON
            | Type::JSONB
    ) || (matches!(kind.kind(), Kind::Simple) && kind.name() == "citext")
}

fn value(row: &postgres::Row, index: usize, kind: &Type) -> Result<Json, postgres::Error> {
    Ok(match *kind {
        Type::INT2 => row
            .try_get::<_, Option<i16>>(index)?
            .map_or(Json::Null, Json::from),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(index)?
            .map_or(Json::Null, Json::from),
        Type::INT8 => row
            .try_get::<_, Option<i64>>(index)?
            .map_or(Json::Null, Json::from),
        Type::FLOAT4 => row
            .try_get::<_, Option<f32>>(index)?
            .map_or(Json::Null, |number| Json::from(f64::from(number))),
        Type::FLOAT8 => row
            .try_get::<_, Option<f64>>(index)?
            .map_or(Json::Null, Json::from),
        Type::BOOL => row
            .try_get::<_, Option<bool>>(index)?
            .map_or(Json::Null, Json::from),
        Type::UUID => row
            .try_get::<_, Option<uuid::Uuid>>(index)?
            .map_or(Json::Null, |id| Json::String(id.to_string())),
        Type::JSON | Type::JSONB => row.try_get::<_, Option<Json>>(index)?.unwrap_or(Json::Null),
        _ => row
            .try_get::<_, Option<String>>(index)?
            .map_or(Json::Null, Json::String),
    })
}
