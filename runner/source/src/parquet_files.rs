//! The files of a Parquet input (a file, a folder's `.parquet` files, or a glob), in name
//! order, and their identity for resuming a run.

use std::path::{Path, PathBuf};

use crate::parquet_source::parquet_error;
use crate::{InputIdentity, SourceError};

/// The identity of a Parquet input: its files' names, sizes and modification times.
pub fn files_identity(path: &Path) -> Result<InputIdentity, SourceError> {
    let mut digest = xxhash_rust::xxh3::Xxh3::new();
    let mut size = 0;
    for file in parquet_files(path)? {
        let one = crate::input_identity(&file)?;
        digest.update(one.location.as_bytes());
        digest.update(&one.size.to_le_bytes());
        digest.update(&one.version.to_le_bytes());
        size += one.size;
    }
    Ok(InputIdentity {
        location: path.to_string_lossy().into_owned(),
        size,
        version: digest.digest() as i64,
    })
}

/// The files of a Parquet input, in name order.
pub(crate) fn parquet_files(path: &Path) -> Result<Vec<PathBuf>, SourceError> {
    let text = path.to_string_lossy();
    let (folder, pattern) = if text.contains(['*', '?']) {
        let pattern = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned());
        (
            path.parent().unwrap_or(Path::new(".")).to_path_buf(),
            pattern,
        )
    } else if path.is_dir() {
        (path.to_path_buf(), Some("*.parquet".to_string()))
    } else if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    } else {
        return Err(SourceError::Missing {
            path: path.to_path_buf(),
        });
    };
    let pattern = pattern.unwrap_or_default();
    let entries = std::fs::read_dir(&folder).map_err(|source| SourceError::Io {
        path: folder.clone(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|file| file.is_file())
        .filter(|file| {
            file.file_name()
                .is_some_and(|name| wildcard(&pattern, &name.to_string_lossy()))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(parquet_error(
            path,
            format!("no file matches `{pattern}`"),
            "name a Parquet file, a folder of `.parquet` files, or a glob like `data/*.parquet`",
        ));
    }
    Ok(files)
}

/// `*` and `?` wildcards over a file name.
fn wildcard(pattern: &str, name: &str) -> bool {
    let (pattern, name): (Vec<char>, Vec<char>) =
        (pattern.chars().collect(), name.chars().collect());
    let (mut p, mut n, mut star, mut mark) = (0, 0, None, 0);
    while n < name.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == name[n]) {
            p += 1;
            n += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some(p);
            mark = n;
            p += 1;
        } else if let Some(at) = star {
            p = at + 1;
            mark += 1;
            n = mark;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_names() {
        assert!(wildcard("*.parquet", "part-1.parquet"));
        assert!(wildcard("part-?.parquet", "part-1.parquet"));
        assert!(!wildcard("*.parquet", "part-1.csv"));
        assert!(wildcard("*", "x"));
    }
}
