//! What `batchlabel init` learns from a database (see [`super::data_profile`]): whether a
//! file is SQLite, which table to read, and the query a spec reads it with.

use std::path::Path;

use super::data_profile::{DataFormat, Profile, SAMPLE_ROWS, as_text, profiled};

/// Whether `path` starts with SQLite's header (whatever its extension: `.db`, `.sqlite3`…).
pub(crate) fn is_sqlite(path: &Path) -> bool {
    let mut header = [0u8; 16];
    std::fs::File::open(path)
        .and_then(|mut file| std::io::Read::read_exact(&mut file, &mut header))
        .is_ok_and(|()| &header == b"SQLite format 3\0")
}

/// An SQL identifier, quoted (a `"` in it doubled).
pub(crate) fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The query `init` writes for `table`: every column (`*`), or those named, in order.
pub(crate) fn table_query(table: &str, columns: Option<&[String]>) -> String {
    let selected = columns.map_or_else(
        || "*".to_string(),
        |columns| {
            columns
                .iter()
                .map(|column| quoted(column))
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
    format!("SELECT {selected} FROM {}", quoted(table))
}

/// The table to read: `table` if the database has it, else its only one.
pub(crate) fn choose_table(
    place: &str,
    tables: &[String],
    table: Option<&str>,
) -> Result<String, String> {
    let listed = || {
        tables
            .iter()
            .map(|name| format!("`{name}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (table, tables) {
        (_, []) => Err(format!("{place} has no tables")),
        (Some(table), _) if tables.iter().any(|name| name == table) => Ok(table.to_string()),
        (Some(table), _) => Err(format!(
            "{place} has no table `{table}`; its tables: {}\nhint: `--table NAME` with one of them",
            listed()
        )),
        (None, [only]) => Ok(only.clone()),
        (None, _) => Err(format!(
            "{place} has {} tables: {}\nhint: name the one to label with `--table NAME`",
            tables.len(),
            listed()
        )),
    }
}

/// Profile the first rows of a PostgreSQL table (its only one, or `table`), the connection
/// string in `$url_env` (never printed: messages name the variable).
pub(crate) fn profile_postgres(url_env: &str, table: Option<&str>) -> Result<Profile, String> {
    let tables = batchlabel_source::postgres_tables(url_env).map_err(|error| error.to_string())?;
    let table = choose_table(&format!("the database in `${url_env}`"), &tables, table)?;
    let (query, (columns, objects)) =
        batchlabel_source::sample_postgres(url_env, &table, SAMPLE_ROWS)
            .map_err(|error| error.to_string())?;
    let rows = as_text(&columns, &objects);
    let format = DataFormat::Postgres {
        url_env: url_env.to_string(),
        table,
        query,
    };
    profiled(format, columns, rows, url_env)
}
