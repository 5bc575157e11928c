//! A PostgreSQL query, streamed through a cursor (a portal fetched a chunk at a time) in a
//! read-only, repeatable-read transaction: one consistent snapshot, never the whole result
//! in memory. The connection string comes from an environment variable and its password
//! never reaches a message.

use std::sync::mpsc::SyncSender;

use postgres::types::{Kind, Type};
use postgres::{Config, IsolationLevel};
use serde_json::Value as Json;

use super::connection::{config_from_env, connect_worded, describe, open, secret_of};
use super::{Message, QuerySource, RowSender};
use crate::SourceError;
use crate::parquet_source::Sample;

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
    let config = config_from_env(url_env).map_err(|refusal| refusal.at(&location))?;
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
        let mut client = match connect_worded(config, self.secret.as_deref()) {
            Ok(client) => client,
            Err(refusal) => return fail(&sender, refusal.at(&self.location)),
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

    /// A client or server error about this query, worded (see [`describe`]).
    fn error(&self, error: &postgres::Error) -> SourceError {
        describe(error, self.secret.as_deref(), Some(&self.query)).at(&self.location)
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

/// The tables and views the user in `$url_env` can read, as `schema.table` (`public.` left
/// off), in name order: for looking at a database before a spec names its query.
pub fn postgres_tables(url_env: &str) -> Result<Vec<String>, SourceError> {
    let location = format!("postgres:${url_env}");
    let (mut client, secret) = open(url_env).map_err(|refusal| refusal.at(&location))?;
    let rows = client
        .query(
            "SELECT CASE WHEN table_schema = 'public' THEN table_name \
             ELSE table_schema || '.' || table_name END FROM information_schema.tables \
             WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
            &[],
        )
        .map_err(|error| describe(&error, secret.as_deref(), None).at(&location))?;
    Ok(rows.iter().map(|row| row.get::<_, String>(0)).collect())
}

/// A query reading every column of `table` (`name` or `schema.name`; a column of a type
/// batchlabel does not read is cast to text), and its first `max` rows.
pub fn sample_postgres(
    url_env: &str,
    table: &str,
    max: usize,
) -> Result<(String, Sample), SourceError> {
    let location = format!("postgres:${url_env}");
    let (mut client, secret) = open(url_env).map_err(|refusal| refusal.at(&location))?;
    let quote = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
    let from = match table.split_once('.') {
        Some((schema, name)) => format!("{}.{}", quote(schema), quote(name)),
        None => quote(table),
    };
    let fail = |error: &postgres::Error, query: &str| {
        describe(error, secret.as_deref(), Some(query)).at(&location)
    };
    let all = format!("SELECT * FROM {from}");
    let statement = client.prepare(&all).map_err(|error| fail(&error, &all))?;
    let selected: Vec<String> = statement
        .columns()
        .iter()
        .map(|column| {
            let name = quote(column.name());
            if readable(column.type_()) {
                name
            } else {
                format!("{name}::text AS {name}")
            }
        })
        .collect();
    let query = format!("SELECT {} FROM {from}", selected.join(", "));
    let limited = format!("{query} LIMIT {max}");
    let statement = client
        .prepare(&limited)
        .map_err(|error| fail(&error, &limited))?;
    let names: Vec<String> = statement
        .columns()
        .iter()
        .map(|column| column.name().to_string())
        .collect();
    let types: Vec<Type> = statement
        .columns()
        .iter()
        .map(|column| column.type_().clone())
        .collect();
    let rows = client
        .query(&statement, &[])
        .map_err(|error| fail(&error, &limited))?;
    let sample = rows
        .iter()
        .map(|row| {
            names
                .iter()
                .zip(&types)
                .enumerate()
                .map(|(index, (name, kind))| {
                    (name.clone(), value(row, index, kind).unwrap_or(Json::Null))
                })
                .collect()
        })
        .collect();
    Ok((query, (names, sample)))
}
