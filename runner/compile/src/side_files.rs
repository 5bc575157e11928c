//! The files a compile writes beside the shards that map rows to requests, and their one
//! reader each (the runner and the pilot read them): `row-map.csv` (rows whose request is
//! another row's, or whose id is hashed) and `failed-rows.jsonl` (rows the request plugin
//! failed on; they are never sent).

use std::io::BufRead;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The rows a request plugin failed on.
pub const FAILED_ROWS_FILE: &str = "failed-rows.jsonl";
/// Rows linked to another row's request.
pub const ROW_MAP_FILE: &str = "row-map.csv";

/// One row the request plugin failed on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FailedRow {
    /// The row's id.
    pub row_id: String,
    /// The custom_id its request would have had.
    pub custom_id: String,
    /// 1-based input line.
    pub line: u64,
    /// `plugin_rejected` or `plugin_error`.
    pub reason: String,
    /// What the plugin said, naming it and the row.
    pub detail: String,
}

/// One `row-map.csv` entry: `row_id` is answered by the request `custom_id`.
#[derive(Debug, Clone)]
pub struct RowMapEntry {
    /// The row.
    pub row_id: String,
    /// Its request.
    pub custom_id: String,
    /// Why it is listed (`duplicate`, `hashed id`).
    pub reason: String,
}

type Entries<T> = Box<dyn Iterator<Item = Result<T, String>>>;

/// The failed rows in a compile folder (none when there is no file).
pub fn failed_rows(directory: &Path) -> Result<Entries<FailedRow>, String> {
    let path = directory.join(FAILED_ROWS_FILE);
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Box::new(std::iter::empty()));
        }
        Err(error) => return Err(format!("{}: {error}", path.display())),
    };
    let name = path.display().to_string();
    Ok(Box::new(std::io::BufReader::new(file).lines().map(
        move |line| {
            let line = line.map_err(|error| format!("{name}: {error}"))?;
            serde_json::from_str(&line).map_err(|error| format!("{name}: {error}"))
        },
    )))
}

/// The row-map entries in a compile folder (none when there is no file).
pub fn row_map_entries(directory: &Path) -> Result<Entries<RowMapEntry>, String> {
    let path = directory.join(ROW_MAP_FILE);
    if !path.exists() {
        return Ok(Box::new(std::iter::empty()));
    }
    let name = path.display().to_string();
    let reader = csv::Reader::from_path(&path).map_err(|error| format!("{name}: {error}"))?;
    Ok(Box::new(reader.into_records().map(move |record| {
        let record = record.map_err(|error| format!("{name}: {error}"))?;
        Ok(RowMapEntry {
            row_id: record[0].to_string(),
            custom_id: record[1].to_string(),
            reason: record[2].to_string(),
        })
    })))
}
