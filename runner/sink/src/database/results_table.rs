//! What the PostgreSQL results table must be for the upsert to work, checked before any batch
//! is sent: an existing table keyed by a text `id` (a unique index on exactly `id`, for `ON
//! CONFLICT`) that this user may write, and may alter if a column is missing; a missing table
//! in a schema that exists and where this user may create it.

use super::{Connection, quote_table};
use crate::SinkError;

/// The table's column names, or None when it does not exist.
pub(crate) fn existing_columns(
    connection: &mut Connection,
    table: &str,
) -> Result<Option<Vec<String>>, SinkError> {
    let columns = super::catalog::columns(connection, table)?;
    Ok(columns.map(|columns| columns.into_iter().map(|column| column.name).collect()))
}

/// Check that the results can be upserted into `table` with `wanted` columns.
pub(crate) fn check(
    connection: &mut Connection,
    table: &str,
    wanted: &[String],
) -> Result<(), SinkError> {
    let quoted = quote_table(table);
    let Some(existing) = existing_columns(connection, table)? else {
        return check_creatable(connection, table);
    };
    let query = |connection: &mut Connection, sql: &str| {
        connection
            .client
            .query_one(sql, &[&quoted])
            .map(|row| row.get::<_, bool>(0))
            .map_err(|failure| connection.words.error(&failure))
    };
    let keyed = query(
        connection,
        "SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a \
         ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
         WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indnkeyatts = 1 \
         AND a.attname = 'id' AND format_type(a.atttypid, NULL) IN ('text', 'character varying'))",
    )?;
    if !keyed {
        return Err(connection.words.problem(
            format!("the results table `{table}` exists but is not keyed by a text `id` (a primary key or unique index on exactly `id`)"),
            "name a new table in `output.table` (batchlabel creates it), or add `PRIMARY KEY (id)` with `id text`",
        ));
    }
    if !query(
        connection,
        "SELECT has_table_privilege($1, 'INSERT, UPDATE')",
    )? {
        return Err(connection.words.problem(
            format!("this user may not insert into and update `{table}`"),
            "GRANT INSERT, UPDATE on it, or name another table in `output.table`",
        ));
    }
    let missing = wanted.iter().any(|column| !existing.contains(column));
    if missing
        && !query(
            connection,
            "SELECT pg_has_role(c.relowner, 'USAGE') FROM pg_class c WHERE c.oid = to_regclass($1)",
        )?
    {
        return Err(connection.words.problem(
            format!(
                "`{table}` lacks columns this job writes, and this user does not own it to add them"
            ),
            "add the label and provenance columns (see the README's schema), or name a new table",
        ));
    }
    Ok(())
}

/// A missing table: its schema must exist and allow this user to create in it.
fn check_creatable(connection: &mut Connection, table: &str) -> Result<(), SinkError> {
    let schema = table
        .rsplit_once('.')
        .map(|(schema, _)| schema.trim_matches('"').to_string());
    let row = connection
        .client
        .query_one(
            "SELECT n.nspname::text, has_schema_privilege(n.oid, 'CREATE') FROM pg_namespace n \
             WHERE n.nspname = coalesce($1, current_schema())",
            &[&schema.as_deref().map(str::to_lowercase)],
        )
        .ok();
    match row.map(|row| (row.get::<_, String>(0), row.get::<_, bool>(1))) {
        Some((_, true)) => Ok(()),
        Some((name, false)) => Err(connection.words.problem(
            format!(
                "`{table}` does not exist, and this user may not create tables in schema `{name}`"
            ),
            "create the table (see the README's schema) or GRANT CREATE ON SCHEMA to this user",
        )),
        None => Err(connection.words.problem(
            format!("the schema of `{table}` does not exist"),
            "create it (`CREATE SCHEMA …`) or name a table in an existing schema",
        )),
    }
}
