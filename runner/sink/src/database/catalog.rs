//! What PostgreSQL's catalog says of a table's columns: the one read both database sinks
//! make before they write (the write-back's targets, the results table's missing columns).

use super::{Connection, quote_table};
use crate::SinkError;

/// One column of the user's table: its name and type, and its kind (`S` text, `N` number,
/// `D` time, `U` json…, PostgreSQL's `typcategory`; SQLite's declared type).
#[derive(Debug, Clone)]
pub(crate) struct Column {
    pub(crate) name: String,
    pub(crate) kind: String,
    /// The type without its modifier, to cast to: an explicit cast to `varchar(5)` would
    /// silently cut a longer label, an assignment raises an error instead.
    pub(crate) cast: String,
    pub(crate) category: char,
    /// The most characters it holds (`varchar(n)`, `char(n)`).
    pub(crate) max_length: Option<usize>,
}

/// The columns of `table`, or None when it does not exist.
pub(crate) fn columns(
    connection: &mut Connection,
    table: &str,
) -> Result<Option<Vec<Column>>, SinkError> {
    let rows = connection
        .client
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), t.typcategory::text, \
             t.typname::text, format_type(a.atttypid, NULL), \
             CASE WHEN t.typname IN ('varchar', 'bpchar') AND a.atttypmod > 4 \
             THEN a.atttypmod - 4 END FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
             WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
            &[&quote_table(table)],
        )
        .map_err(|failure| connection.words.error(&failure))?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        rows.iter()
            .map(|row| {
                let type_name: String = row.get(3);
                let category: String = row.get(2);
                Column {
                    name: row.get(0),
                    kind: row.get(1),
                    cast: row.get(4),
                    max_length: row.get::<_, Option<i32>>(5).map(|length| length as usize),
                    category: if type_name == "json" || type_name == "jsonb" {
                        'J'
                    } else {
                        category.chars().next().unwrap_or('X')
                    },
                }
            })
            .collect(),
    ))
}
