//! What `batchlabel init --from DATA` learns from a data file's first rows: its columns,
//! which one is the id and which the text (each with the reason), and a few rows to show.

use std::path::Path;

use super::database_profile::{choose_table, is_sqlite, table_query};
pub(crate) use super::database_profile::{profile_postgres, quoted};

/// Rows read to profile a file.
pub(crate) const SAMPLE_ROWS: usize = 500;

/// The data's kind, from its extension, or its first bytes (SQLite), or being a folder or a
/// glob (Parquet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DataFormat {
    Csv {
        delimiter: u8,
    },
    Jsonl,
    /// A file, a folder of `.parquet` files, or a glob.
    Parquet,
    /// An SQLite database, read with this query (of this table; before the sample is read,
    /// both are empty).
    Sqlite {
        table: String,
        query: String,
        /// Columns left out of the query: they hold BLOBs, which are not text.
        left_out: Vec<String>,
    },
    /// A PostgreSQL database (its connection string in `$url_env`), read with this query (of
    /// this table).
    Postgres {
        url_env: String,
        table: String,
        query: String,
    },
}

impl DataFormat {
    pub(crate) fn of(path: &Path) -> Option<Self> {
        if path.to_string_lossy().contains(['*', '?']) || path.is_dir() {
            return Some(Self::Parquet);
        }
        if is_sqlite(path) {
            return Some(Self::Sqlite {
                table: String::new(),
                query: String::new(),
                left_out: Vec::new(),
            });
        }
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "csv" => Some(Self::Csv { delimiter: b',' }),
            "tsv" => Some(Self::Csv { delimiter: b'\t' }),
            "jsonl" | "ndjson" => Some(Self::Jsonl),
            "parquet" | "pq" => Some(Self::Parquet),
            _ => None,
        }
    }
}

/// A column chosen, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Choice {
    pub(crate) column: String,
    pub(crate) why: String,
}

/// A data file's first rows, profiled.
#[derive(Debug, Clone)]
pub(crate) struct Profile {
    pub(crate) format: DataFormat,
    pub(crate) columns: Vec<String>,
    /// The first rows (as text), for showing.
    pub(crate) rows: Vec<Vec<String>>,
    pub(crate) id: Option<Choice>,
    pub(crate) text: Option<Choice>,
    /// A column that looks like human labels (`gold`, `label`, …), for `eval --gold`.
    pub(crate) gold: Option<String>,
}

/// Read and profile the first rows of `path` (of its `table`, for a database).
pub(crate) fn profile(path: &Path, table: Option<&str>) -> Result<Profile, String> {
    let mut format = DataFormat::of(path).ok_or_else(|| {
        format!(
            "`{}`: unknown data format\nhint: `--from` takes a .csv, .tsv, .jsonl or .ndjson file, Parquet (a file, a folder or a glob), or an SQLite database; PostgreSQL: `--from-postgres VARIABLE`",
            path.display()
        )
    })?;
    if table.is_some() && !matches!(format, DataFormat::Sqlite { .. }) {
        return Err(format!(
            "`--table` picks a table of a database, and `{}` is not one",
            path.display()
        ));
    }
    let (columns, rows) = match &mut format {
        DataFormat::Csv { delimiter } => read_csv(path, *delimiter)?,
        DataFormat::Jsonl => read_jsonl(path)?,
        DataFormat::Parquet => read_parquet(path)?,
        DataFormat::Postgres { .. } => {
            return Err("a PostgreSQL database is named by `--from-postgres VARIABLE`".into());
        }
        DataFormat::Sqlite {
            table: chosen,
            query,
            left_out,
        } => {
            let tables =
                batchlabel_source::sqlite_tables(path).map_err(|error| error.to_string())?;
            *chosen = choose_table(&format!("`{}`", path.display()), &tables, table)?;
            let sample = format!("{} LIMIT {SAMPLE_ROWS}", table_query(chosen, None));
            let ((mut columns, objects), blobs) =
                batchlabel_source::sample_sqlite(path, &sample, SAMPLE_ROWS)
                    .map_err(|error| error.to_string())?;
            // A BLOB fails its row in a run: the query names the other columns instead.
            columns.retain(|column| !blobs.contains(column));
            *query = table_query(chosen, (!blobs.is_empty()).then_some(&columns[..]));
            *left_out = blobs;
            let rows = as_text(&columns, &objects);
            (columns, rows)
        }
    };
    profiled(format, columns, rows, &path.display().to_string())
}

/// The id, text and gold columns guessed from the sampled rows of `place`.
pub(crate) fn profiled(
    format: DataFormat,
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
    place: &str,
) -> Result<Profile, String> {
    if rows.is_empty() {
        return Err(format!("`{place}` has no rows"));
    }
    let id = guess_id(&columns, &rows);
    let text = guess_text(&columns, &rows, id.as_ref().map(|id| id.column.as_str()));
    let gold = columns
        .iter()
        .find(|name| {
            matches!(
                name.to_ascii_lowercase().as_str(),
                "gold" | "label" | "labels" | "target" | "class"
            )
        })
        .cloned();
    Ok(Profile {
        format,
        columns,
        rows,
        id,
        text,
        gold,
    })
}

fn read_csv(path: &Path, delimiter: u8) -> Result<(Vec<String>, Vec<Vec<String>>), String> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_path(path)
        .map_err(|error| format!("`{}`: {error}", path.display()))?;
    let columns: Vec<String> = reader
        .headers()
        .map_err(|error| format!("`{}`: {error}", path.display()))?
        .iter()
        .map(|name| name.trim_start_matches('\u{feff}').to_string())
        .collect();
    let mut rows = Vec::new();
    for record in reader.records().take(SAMPLE_ROWS) {
        let record = record.map_err(|error| format!("`{}`: {error}", path.display()))?;
        rows.push(record.iter().map(str::to_string).collect());
    }
    Ok((columns, rows))
}

fn read_jsonl(path: &Path) -> Result<(Vec<String>, Vec<Vec<String>>), String> {
    use std::io::BufRead as _;
    let file =
        std::fs::File::open(path).map_err(|error| format!("`{}`: {error}", path.display()))?;
    let mut objects = Vec::new();
    for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|error| format!("`{}`: {error}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(line.trim_start_matches('\u{feff}'))
            .map_err(|error| format!("`{}`:{}: {error}", path.display(), index + 1))?;
        let serde_json::Value::Object(object) = value else {
            return Err(format!(
                "`{}`:{}: a line is not a JSON object",
                path.display(),
                index + 1
            ));
        };
        objects.push(object);
        if objects.len() == SAMPLE_ROWS {
            break;
        }
    }
    let mut columns: Vec<String> = Vec::new();
    for object in &objects {
        for key in object.keys() {
            if !columns.contains(key) {
                columns.push(key.clone());
            }
        }
    }
    let rows = as_text(&columns, &objects);
    Ok((columns, rows))
}

fn read_parquet(path: &Path) -> Result<(Vec<String>, Vec<Vec<String>>), String> {
    let (columns, objects) =
        batchlabel_source::sample_parquet(path, SAMPLE_ROWS).map_err(|error| error.to_string())?;
    let rows = as_text(&columns, &objects);
    Ok((columns, rows))
}

/// JSON objects as rows of text cells in `columns` order (null and missing are empty).
pub(crate) fn as_text(
    columns: &[String],
    objects: &[serde_json::Map<String, serde_json::Value>],
) -> Vec<Vec<String>> {
    objects
        .iter()
        .map(|object| {
            columns
                .iter()
                .map(|column| match object.get(column) {
                    Some(serde_json::Value::String(text)) => text.clone(),
                    Some(serde_json::Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                })
                .collect()
        })
        .collect()
}

fn values(rows: &[Vec<String>], index: usize) -> impl Iterator<Item = &str> {
    rows.iter()
        .map(move |row| row.get(index).map_or("", String::as_str))
}

/// The id: a column whose sampled values are all present and distinct; one named like an id
/// first, else the first such column.
fn guess_id(columns: &[String], rows: &[Vec<String>]) -> Option<Choice> {
    let unique = |index: usize| {
        let mut seen = std::collections::HashSet::new();
        values(rows, index)
            .all(|value| !value.is_empty() && value.len() <= 128 && seen.insert(value))
    };
    let named = |name: &str| {
        let name = name.to_ascii_lowercase();
        name == "id"
            || name.ends_with("_id")
            || name.ends_with("id") && name.len() <= 6
            || name == "key"
            || name == "uuid"
    };
    let candidates: Vec<usize> = (0..columns.len()).filter(|index| unique(*index)).collect();
    let sampled = rows.len();
    if let Some(index) = candidates
        .iter()
        .copied()
        .find(|index| named(&columns[*index]))
    {
        return Some(Choice {
            column: columns[index].clone(),
            why: format!("named like an id, and its {sampled} sampled values are all distinct"),
        });
    }
    candidates.first().map(|index| Choice {
        column: columns[*index].clone(),
        why: format!(
            "the first column whose {sampled} sampled values are all present and distinct"
        ),
    })
}

/// The text: the column (other than the id) with the longest values on average, among
/// those whose values have spaces.
fn guess_text(columns: &[String], rows: &[Vec<String>], id: Option<&str>) -> Option<Choice> {
    let mut best: Option<(usize, f64)> = None;
    for (index, name) in columns.iter().enumerate() {
        if Some(name.as_str()) == id {
            continue;
        }
        let (mut length, mut with_spaces) = (0usize, 0usize);
        let mut distinct = std::collections::HashSet::new();
        for value in values(rows, index) {
            length += value.chars().count();
            with_spaces += usize::from(value.trim().contains(' '));
            distinct.insert(value);
        }
        let average = length as f64 / rows.len() as f64;
        // The same sentence on every row is boilerplate, not the text to label.
        let varied = rows.len() < 2 || distinct.len() > 1;
        if varied
            && with_spaces * 2 >= rows.len()
            && best.is_none_or(|(_, longest)| average > longest)
        {
            best = Some((index, average));
        }
    }
    best.map(|(index, average)| Choice {
        column: columns[index].clone(),
        why: format!(
            "the longest free text: {average:.0} characters on average, words separated by spaces"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(data: &[&[&str]]) -> Vec<Vec<String>> {
        data.iter()
            .map(|row| row.iter().map(|cell| (*cell).to_string()).collect())
            .collect()
    }

    #[test]
    fn the_id_is_distinct_and_the_text_is_the_longest_prose() {
        let columns: Vec<String> = ["comment_id", "author", "body", "gold"]
            .map(str::to_string)
            .to_vec();
        let data = rows(&[
            &["a1", "ann", "I loved this film so much", "POSITIVE"],
            &["a2", "bob", "Terrible plot and worse acting", "NEGATIVE"],
            &["a3", "ann", "It was fine I guess", "NEUTRAL"],
        ]);
        let id = guess_id(&columns, &data).unwrap();
        assert_eq!(id.column, "comment_id");
        assert!(id.why.contains("named like an id"), "{}", id.why);
        let text = guess_text(&columns, &data, Some("comment_id")).unwrap();
        assert_eq!(text.column, "body");
    }

    #[test]
    fn without_an_id_name_the_first_distinct_column_is_taken() {
        let columns: Vec<String> = ["author", "number", "message"].map(str::to_string).to_vec();
        let data = rows(&[
            &["ann", "10", "hello there friend"],
            &["ann", "11", "good morning to you"],
        ]);
        assert_eq!(guess_id(&columns, &data).unwrap().column, "number");
        let none = rows(&[&["ann", "1", "x"], &["ann", "1", "x"]]);
        assert_eq!(guess_id(&columns, &none), None);
        assert_eq!(guess_text(&columns, &none, None), None);
    }
}
