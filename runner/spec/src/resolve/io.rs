//! Resolving `input` (a file, or a database and its query) and `output` (one sink and/or a
//! write-back into the input's own table).

use crate::job::{Input, InputFormat, Output, OutputFormat, WriteBack};
use crate::job_spec::{InputSpec, JobSpec, OutputSpec};

use super::Resolver;

/// The default PostgreSQL results table.
const DEFAULT_TABLE: &str = "batchlabel_results";

impl Resolver<'_> {
    pub(super) fn input(&mut self, spec: &JobSpec) -> Option<Input> {
        let input = &spec.input;
        let named: Vec<&str> = [
            ("csv", input.csv.is_some()),
            ("jsonl", input.jsonl.is_some()),
            ("parquet", input.parquet.is_some()),
            ("sqlite", input.sqlite.is_some()),
            ("postgres", input.postgres.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, given)| given.then_some(key))
        .collect();
        let key = match named.as_slice() {
            [key] => *key,
            [] => {
                let span = self.spans.key("/input");
                self.error(
                    "missing-field",
                    "`input` names no source".into(),
                    span,
                    "add `csv: rows.csv`, `jsonl: rows.jsonl`, `parquet: rows.parquet`, `sqlite: db.sqlite` (with `query`) or `postgres: DATABASE_URL` (with `query`)",
                );
                return None;
            }
            [first, second, ..] => {
                let span = self.spans.key(&format!("/input/{second}"));
                self.error(
                    "conflicting-fields",
                    format!("`input` names both `{first}` and `{second}`"),
                    span,
                    "name exactly one source",
                );
                return None;
            }
        };
        self.input_extras_fit(input, key);
        // Every problem is reported at once: the delimiter's even when the file is missing.
        let delimiter = (key == "csv").then(|| self.delimiter(input));
        let (path, format) = match key {
            "parquet" => {
                let path = self.path(input.parquet.as_deref()?);
                if !self.parquet_input_exists(&path) {
                    return None;
                }
                (path, InputFormat::Parquet)
            }
            "csv" | "jsonl" | "sqlite" => {
                let file = input.csv.as_ref().or(input.jsonl.as_ref());
                let file = file.or(input.sqlite.as_ref())?;
                let path = self.path(file);
                if !self.input_file_is_readable(&path, key) {
                    return None;
                }
                let format = match key {
                    "csv" => InputFormat::Csv {
                        delimiter: delimiter.unwrap_or(b','),
                    },
                    "jsonl" => InputFormat::Jsonl,
                    _ => InputFormat::Sqlite {
                        query: self.query(input, key)?,
                    },
                };
                (path, format)
            }
            _ => {
                let url_env = input.postgres.clone().unwrap_or_default();
                let named = self.is_env_name(&url_env, "/input/postgres");
                let query = self.query(input, key);
                let format = InputFormat::Postgres {
                    url_env: url_env.clone(),
                    query: query.filter(|_| named)?,
                };
                (format!("postgres:${url_env}").into(), format)
            }
        };
        Some(Input {
            path,
            format,
            id_column: input.id.clone(),
            text_column: input.text.clone(),
        })
    }

    /// `delimiter` only with CSV, `query` only with a database.
    fn input_extras_fit(&mut self, input: &InputSpec, key: &str) {
        if input.delimiter.is_some() && key != "csv" {
            let span = self.spans.key("/input/delimiter");
            self.error(
                "conflicting-fields",
                "`input.delimiter` only applies to `csv` input".into(),
                span,
                "remove it",
            );
        }
        if input.query.is_some() && matches!(key, "csv" | "jsonl" | "parquet") {
            let span = self.spans.key("/input/query");
            self.error(
                "conflicting-fields",
                format!("`input.query` only applies to `sqlite` and `postgres` input, not `{key}`"),
                span,
                "remove it, or read the rows from a database",
            );
        }
    }

    fn delimiter(&mut self, input: &InputSpec) -> u8 {
        match input.delimiter.as_deref() {
            None => b',',
            Some(text) if text.len() == 1 && text.is_ascii() => text.as_bytes()[0],
            Some("\\t") => b'\t',
            Some(_) => {
                let span = self.spans.value("/input/delimiter");
                self.error(
                    "invalid-value",
                    "`input.delimiter` must be one ASCII character".into(),
                    span,
                    "e.g. `delimiter: \";\"` or `delimiter: \"\\t\"`",
                );
                b','
            }
        }
    }

    fn query(&mut self, input: &InputSpec, key: &str) -> Option<String> {
        match input.query.as_deref().map(str::trim) {
            Some(query) if !query.is_empty() => Some(query.to_string()),
            given => {
                let span = if given.is_some() {
                    self.spans.value("/input/query")
                } else {
                    self.spans.key(&format!("/input/{key}"))
                };
                self.error(
                    "missing-field",
                    format!("a `{key}` input needs a `query` that selects its rows"),
                    span,
                    "e.g. `query: SELECT id, body FROM comments ORDER BY id`",
                );
                None
            }
        }
    }

    /// The input file exists and is a regular file (it is read more than once).
    fn input_file_is_readable(&mut self, path: &std::path::Path, key: &str) -> bool {
        let Err(problem) = crate::files::regular_file(path) else {
            return true;
        };
        let span = self.spans.value(&format!("/input/{key}"));
        let (message, help) = match &problem {
            crate::files::ReadError::Io(error) if error.kind() == std::io::ErrorKind::NotFound => (
                format!("input file `{}` does not exist", path.display()),
                "paths are relative to the folder of the spec file",
            ),
            // The input is read more than once (counted, checked, compiled), so a stream
            // cannot be one.
            _ => (
                problem.describe("input file", path),
                "name the file itself; a FIFO or device cannot be read twice",
            ),
        };
        self.error(problem.code(), message, span, help);
        false
    }

    /// A Parquet input is a file, a folder, or a glob whose folder exists (its files are
    /// listed when it is read).
    fn parquet_input_exists(&mut self, path: &std::path::Path) -> bool {
        let text = path.to_string_lossy();
        let glob = text.contains(['*', '?']);
        let exists = if glob {
            path.parent().is_some_and(std::path::Path::is_dir)
        } else {
            path.exists()
        };
        if !exists {
            let span = self.spans.value("/input/parquet");
            self.error(
                "file-not-found",
                format!("input `{}` does not exist", path.display()),
                span,
                "name a Parquet file, a folder of them, or a glob like `data/*.parquet`; paths are relative to the folder of the spec file",
            );
        }
        exists
    }

    /// A connection string is named by its environment variable, never written in the spec
    /// (which lives in git).
    fn is_env_name(&mut self, name: &str, pointer: &str) -> bool {
        let valid = !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if valid {
            return true;
        }
        let span = self.spans.value(pointer);
        let looks_like_url = name.contains("://") || name.contains('=') || name.contains('@');
        let (message, help) = if looks_like_url {
            (
                format!(
                    "`{}` must name an environment variable, not hold a connection string",
                    pointer.trim_start_matches('/').replace('/', ".")
                ),
                "the spec lives in git, where a password must not: `export DATABASE_URL=…` and write `DATABASE_URL` here",
            )
        } else {
            (
                format!(
                    "`{}` must be an environment variable's name (letters, digits, `_`)",
                    pointer.trim_start_matches('/').replace('/', ".")
                ),
                "e.g. `DATABASE_URL`",
            )
        };
        self.error("invalid-value", message, span, help);
        false
    }

    pub(super) fn output(
        &mut self,
        spec: &JobSpec,
        input: Option<&Input>,
    ) -> Result<Option<Output>, ()> {
        let Some(output) = &spec.output else {
            return Ok(None);
        };
        let resolved = self.write_back(spec, output, input);
        let write_back = resolved.clone().ok().flatten();
        let sink = self.sink(spec, output, write_back);
        if let (Ok(Some(sink)), Some(input)) = (&sink, input)
            && reads_its_own_output(input, sink)
        {
            let span = self.spans.value("/output/parquet");
            self.error(
                "output-over-input",
                format!(
                    "`output.parquet` is in the Parquet input's folder `{}`: the next run would read it as input",
                    input.path.display()
                ),
                span,
                "write the results to another folder, e.g. `out/results.parquet`",
            );
            return Err(());
        }
        // A write-back with errors (already reported) fails the output, after the sink's
        // own checks.
        resolved?;
        sink
    }

    /// The results sink (or the write-back alone).
    fn sink(
        &mut self,
        spec: &JobSpec,
        output: &OutputSpec,
        write_back: Option<WriteBack>,
    ) -> Result<Option<Output>, ()> {
        let given: Vec<(&str, &String)> = [
            ("csv", &output.csv),
            ("jsonl", &output.jsonl),
            ("parquet", &output.parquet),
            ("sqlite", &output.sqlite),
            ("postgres", &output.postgres),
        ]
        .into_iter()
        .filter_map(|(key, path)| path.as_ref().map(|path| (key, path)))
        .collect();
        let empty = given
            .iter()
            .map(|(key, path)| (*key, path.as_str()))
            .chain(output.errors.as_deref().map(|errors| ("errors", errors)))
            .find(|(_, path)| path.trim().is_empty() || path.ends_with('/'));
        if let Some((key, _)) = empty.filter(|(key, _)| *key != "postgres") {
            let span = self.spans.value(&format!("/output/{key}"));
            self.error(
                "invalid-value",
                format!("`output.{key}` must name a file"),
                span,
                "e.g. `out/results.csv`; paths are relative to the folder of the spec file",
            );
            return Err(());
        }
        if output.table.is_some() && output.postgres.is_none() {
            let span = self.spans.key("/output/table");
            self.error(
                "conflicting-fields",
                "`output.table` only applies to a `postgres` sink".into(),
                span,
                "remove it, or add `postgres: DATABASE_URL`",
            );
            return Err(());
        }
        let errors_beside = |resolver: &Self, path: &std::path::Path| {
            output.errors.as_ref().map_or_else(
                || path.with_extension("errors.jsonl"),
                |errors| resolver.path(errors),
            )
        };
        let errors_default = output.errors.as_ref().map_or_else(
            || self.path(&format!("out/{}.errors.jsonl", spec.name)),
            |errors| self.path(errors),
        );
        match given.as_slice() {
            [("postgres", url_env)] => {
                if !self.is_env_name(url_env, "/output/postgres") {
                    return Err(());
                }
                let table = output.table.clone().unwrap_or_else(|| DEFAULT_TABLE.into());
                Ok(Some(Output {
                    path: format!("postgres:${url_env}/{table}").into(),
                    format: OutputFormat::Postgres {
                        url_env: (*url_env).clone(),
                        table,
                    },
                    errors_path: errors_default.clone(),
                    write_back,
                }))
            }
            [(key, path)] => {
                let path = self.path(path);
                let format = match *key {
                    "csv" => OutputFormat::Csv,
                    "jsonl" => OutputFormat::Jsonl,
                    "parquet" => OutputFormat::Parquet,
                    _ => OutputFormat::Sqlite,
                };
                Ok(Some(Output {
                    errors_path: errors_beside(self, &path),
                    path,
                    format,
                    write_back,
                }))
            }
            [] if output.write_back.is_some() => Ok(Some(Output {
                path: std::path::PathBuf::new(),
                format: OutputFormat::WriteBackOnly,
                errors_path: errors_default.clone(),
                write_back,
            })),
            [] => {
                let span = self.spans.key("/output");
                self.error(
                    "missing-field",
                    "`output` names no sink".into(),
                    span,
                    "add `csv: out/results.csv`, `jsonl: …`, `parquet: …`, `sqlite: …`, `postgres: DATABASE_URL` or `write_back: …`",
                );
                Err(())
            }
            [_, (second, _), ..] => {
                let span = self.spans.key(&format!("/output/{second}"));
                self.error(
                    "conflicting-fields",
                    "`output` names more than one sink".into(),
                    span,
                    "name exactly one of `csv`, `jsonl`, `parquet`, `sqlite`, `postgres` (`write_back` may come with any)",
                );
                Err(())
            }
        }
    }
}

/// Whether a Parquet output lands among a Parquet input's files (a folder's `.parquet`
/// files, or a glob's folder).
fn reads_its_own_output(input: &Input, output: &Output) -> bool {
    if input.format != InputFormat::Parquet || output.format != OutputFormat::Parquet {
        return false;
    }
    let glob = input.path.to_string_lossy().contains(['*', '?']);
    let folder = if glob {
        input.path.parent()
    } else {
        Some(input.path.as_path())
    };
    folder.is_some_and(|folder| output.path.parent() == Some(folder))
}
