//! Rows from a database query (SQLite, PostgreSQL). The database is read on its own thread,
//! which hands rows over in small chunks through a bounded channel: a cursor's rows are never
//! all in memory, and dropping the source ends the query (the next hand-over fails).
//!
//! Its identity is not a file's size and time but a digest of the rows as they stream (ids
//! and values), so a changed table is a changed input.

pub(crate) mod connection;
mod postgres;
mod sqlite;
mod tls;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender};

use serde_json::{Map, Value as Json};

use crate::row::Record;
use crate::{Columns, InputIdentity, Row, RowError, Source, SourceError};

pub(crate) use self::postgres::open_postgres;
pub use self::postgres::{postgres_tables, sample_postgres};
pub(crate) use self::sqlite::open_sqlite;
pub use self::sqlite::{sample_sqlite, sqlite_tables};

/// Rows per hand-over, and hand-overs in flight: a few thousand rows at most in memory.
const CHUNK: usize = 512;
const CHUNKS_IN_FLIGHT: usize = 4;

/// What the reading thread sends.
pub(crate) enum Message {
    /// The result columns, first.
    Columns(Vec<String>),
    /// Some rows.
    Rows(Vec<Result<Row, RowError>>),
    /// The query failed (before or while streaming).
    Failed(SourceError),
    /// Every row was sent.
    Done,
}

/// The reading thread's end: builds rows from column values and sends them in chunks.
pub(crate) struct RowSender {
    sender: SyncSender<Message>,
    chunk: Vec<Result<Row, RowError>>,
    names: Vec<String>,
    id_index: usize,
    text_index: Option<usize>,
    path: PathBuf,
    line: u64,
}

impl RowSender {
    /// Send the columns; `Err` when a needed column is not among them (sent as the failure).
    pub(crate) fn columns(
        sender: SyncSender<Message>,
        names: Vec<String>,
        id_column: &str,
        text_column: Option<&str>,
        path: PathBuf,
    ) -> Option<Self> {
        // A name twice (`SELECT c.id, u.id`) would leave one of the two unreadable.
        let columns = Columns::from_header(names.clone(), &path).and_then(|columns| {
            columns
                .require(id_column, "the row id (`input.id`)", &path)
                .map(|()| columns)
        });
        let columns = match columns {
            Ok(columns) => columns,
            Err(error) => {
                let _ = sender.send(Message::Failed(error));
                return None;
            }
        };
        let id_index = columns.position(id_column)?;
        let text_index = text_column.and_then(|text| columns.position(text));
        sender.send(Message::Columns(names.clone())).ok()?;
        Some(Self {
            sender,
            chunk: Vec::with_capacity(CHUNK),
            names,
            id_index,
            text_index,
            path,
            line: 0,
        })
    }

    /// Add one result row, its values in column order; `false` once the reader is gone.
    pub(crate) fn row(&mut self, values: Vec<Json>) -> bool {
        self.line += 1;
        let row = self.build(values);
        self.push(row)
    }

    /// A problem with the next row that is not about one value (the row cannot be read);
    /// `false` once the reader is gone.
    pub(crate) fn row_error(&mut self, message: String) -> bool {
        self.line += 1;
        let error = RowError {
            path: self.path.clone(),
            line: self.line,
            message,
        };
        self.push(Err(error))
    }

    /// Queue a row, handing the chunk over when full.
    fn push(&mut self, row: Result<Row, RowError>) -> bool {
        self.chunk.push(row);
        if self.chunk.len() < CHUNK {
            return true;
        }
        let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK));
        self.sender.send(Message::Rows(chunk)).is_ok()
    }

    /// Every row is sent.
    pub(crate) fn done(mut self) {
        let chunk = std::mem::take(&mut self.chunk);
        if !chunk.is_empty() && self.sender.send(Message::Rows(chunk)).is_err() {
            return;
        }
        let _ = self.sender.send(Message::Done);
    }

    /// The query failed while streaming.
    pub(crate) fn failed(self, error: SourceError) {
        let _ = self.sender.send(Message::Failed(error));
    }

    fn build(&self, values: Vec<Json>) -> Result<Row, RowError> {
        let error = |message: String| RowError {
            path: self.path.clone(),
            line: self.line,
            message,
        };
        let id_name = &self.names[self.id_index];
        let id = match &values[self.id_index] {
            Json::String(text) if !text.trim().is_empty() => text.clone(),
            Json::String(_) => return Err(error(format!("empty id in column `{id_name}`"))),
            Json::Number(number) => number.to_string(),
            Json::Null => {
                return Err(error(format!(
                    "NULL id in column `{id_name}`; hint: every row needs an id (`WHERE {id_name} IS NOT NULL`)"
                )));
            }
            other => {
                return Err(error(format!(
                    "id column `{id_name}` holds {}; expected text, an integer or a UUID",
                    kind(other)
                )));
            }
        };
        if let Some(index) = self.text_index
            && !matches!(values[index], Json::String(_) | Json::Null)
        {
            let name = &self.names[index];
            return Err(error(format!(
                "text column `{name}` holds {}, not text; hint: cast it in the query (`CAST({name} AS TEXT)`)",
                kind(&values[index])
            )));
        }
        let object: Map<String, Json> = self.names.iter().cloned().zip(values).collect();
        Ok(Row {
            line: self.line,
            id,
            record: Record::Object(object),
        })
    }
}

fn kind(value: &Json) -> &'static str {
    match value {
        Json::Null => "NULL",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "text",
        Json::Array(_) => "an array",
        Json::Object(_) => "a JSON object",
    }
}

impl connection::Refusal {
    /// As the error of the input at `location`.
    pub(crate) fn at(self, location: &str) -> SourceError {
        SourceError::Database {
            location: location.to_string(),
            message: self.message,
            hint: self.hint,
        }
    }
}

/// A query's rows behind the [`Source`] trait.
pub struct QuerySource {
    location: String,
    query: String,
    columns: Arc<Columns>,
    receiver: Receiver<Message>,
    pending: VecDeque<Result<Row, RowError>>,
    finished: bool,
    rows: u64,
    bytes: u64,
    digest: xxhash_rust::xxh3::Xxh3,
    scratch: Vec<u8>,
}

impl std::fmt::Debug for QuerySource {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("QuerySource")
            .field("location", &self.location)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl QuerySource {
    /// Start `read` on its own thread and wait for the columns (or the failure).
    pub(crate) fn start(
        location: String,
        query: &str,
        read: impl FnOnce(SyncSender<Message>) + Send + 'static,
    ) -> Result<Self, SourceError> {
        let (sender, receiver) = std::sync::mpsc::sync_channel(CHUNKS_IN_FLIGHT);
        std::thread::Builder::new()
            .name("batchlabel-query".into())
            .spawn(move || read(sender))
            .map_err(|source| SourceError::Io {
                path: location.clone().into(),
                source,
            })?;
        let names = match receiver.recv() {
            Ok(Message::Columns(names)) => names,
            Ok(Message::Failed(error)) => return Err(error),
            _ => {
                return Err(SourceError::Database {
                    location,
                    message: "the query thread ended before the columns".into(),
                    hint: String::new(),
                });
            }
        };
        Ok(Self {
            location,
            query: query.to_string(),
            columns: Arc::new(Columns::new(names)),
            receiver,
            pending: VecDeque::new(),
            finished: false,
            rows: 0,
            bytes: 0,
            digest: xxhash_rust::xxh3::Xxh3::new(),
            scratch: Vec::new(),
        })
    }

    fn take(&mut self, row: Result<Row, RowError>) -> Result<Row, RowError> {
        self.rows += 1;
        self.scratch.clear();
        match &row {
            Ok(row) => {
                self.scratch.extend_from_slice(row.id.as_bytes());
                self.scratch.push(0);
                row.write_json_object(&self.columns, &mut self.scratch);
            }
            Err(error) => self.scratch.extend_from_slice(error.message.as_bytes()),
        }
        self.scratch.push(b'\n');
        self.bytes += self.scratch.len() as u64;
        self.digest.update(&self.scratch);
        row
    }
}

impl Source for QuerySource {
    fn columns(&self) -> &Arc<Columns> {
        &self.columns
    }

    fn fixed_columns(&self) -> bool {
        true
    }

    fn next_chunk(
        &mut self,
        max: usize,
        out: &mut Vec<Result<Row, RowError>>,
    ) -> Result<bool, SourceError> {
        let mut taken = 0;
        while taken < max {
            if let Some(row) = self.pending.pop_front() {
                let row = self.take(row);
                out.push(row);
                taken += 1;
                continue;
            }
            if self.finished {
                return Ok(false);
            }
            match self.receiver.recv() {
                Ok(Message::Rows(rows)) => self.pending.extend(rows),
                Ok(Message::Done) => self.finished = true,
                Ok(Message::Failed(error)) => return Err(error),
                Ok(Message::Columns(_)) | Err(_) => {
                    return Err(SourceError::Database {
                        location: self.location.clone(),
                        message: "the query ended early".into(),
                        hint: String::new(),
                    });
                }
            }
        }
        Ok(!(self.finished && self.pending.is_empty()))
    }

    fn bytes_read(&self) -> u64 {
        self.bytes
    }

    fn require_column(&self, column: &str, purpose: &str) -> Result<(), SourceError> {
        self.columns
            .require(column, purpose, std::path::Path::new(&self.location))
    }

    fn location(&self) -> &str {
        &self.location
    }

    /// The rows read so far: their count and a digest of them (call it once every row is
    /// read), with the query's own digest in the location.
    fn identity(&self) -> Result<InputIdentity, SourceError> {
        let query = xxhash_rust::xxh3::xxh3_64(self.query.as_bytes());
        Ok(InputIdentity {
            location: format!("{} query {query:016x}", self.location),
            size: self.rows as i64,
            version: self.digest.digest() as i64,
        })
    }
}

/// The identity of a query input: every row (up to `limit`) read and digested.
pub fn query_identity(
    source: &mut dyn Source,
    limit: Option<u64>,
) -> Result<InputIdentity, SourceError> {
    let mut chunk = Vec::new();
    let mut read = 0u64;
    let limit = limit.unwrap_or(u64::MAX);
    loop {
        chunk.clear();
        let wanted = (limit - read).min(4096) as usize;
        let more = source.next_chunk(wanted, &mut chunk)?;
        read += chunk.len() as u64;
        if !more || read >= limit {
            return source.identity();
        }
    }
}

/// The query with a caret under `position` (1-based, in characters), for an error message.
pub(crate) fn point_at(query: &str, position: usize) -> String {
    let mut start = 0;
    for line in query.split_inclusive('\n') {
        let length = line.chars().count();
        if position <= start + length {
            let column = position.saturating_sub(start + 1);
            let line = line.trim_end_matches(['\n', '\r']);
            return format!("\n    {line}\n    {}^", " ".repeat(column));
        }
        start += length;
    }
    String::new()
}

#[cfg(test)]
mod tests;
