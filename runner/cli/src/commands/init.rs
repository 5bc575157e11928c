//! `batchlabel init SPEC [--from DATA]`: write a starter spec — with `--from`, one reading that
//! file, its id and text columns guessed (and why), its first rows shown — whose labels are a
//! marked template to fill in; never over an existing file. Then the next commands. Its
//! `$schema` line names a schema file that exists (see [`super::schema`]).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::data_profile::{DataFormat, Profile, profile, profile_postgres, quoted};
use super::schema::SchemaReference;
use crate::ExitStatus;
use crate::args::InitArgs;
use crate::printer::{Printer, field};

pub(crate) fn init(args: &InitArgs, printer: Printer) -> ExitStatus {
    match write_spec(args) {
        Ok(report) => {
            printer.data(&report);
            ExitStatus::Success
        }
        Err(message) => {
            printer.message(&format!("error: {message}\n"));
            ExitStatus::Error
        }
    }
}

fn write_spec(args: &InitArgs) -> Result<String, String> {
    if args.spec.exists() || args.spec.is_symlink() {
        return Err(format!(
            "`{}` exists; refusing to overwrite it\nhint: name a new file, e.g. `batchlabel init job-2.yaml`",
            args.spec.display()
        ));
    }
    let directory = args
        .spec
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if args.table.is_some() && args.from.is_none() && args.from_postgres.is_none() {
        return Err("`--table` picks a table of the database `--from` names".into());
    }
    if let Some(url_env) = &args.from_postgres
        && !is_variable_name(url_env)
    {
        // Not echoed: it may be the connection string itself, password and all.
        return Err("`--from-postgres` takes the NAME of an environment variable that holds the connection string, not the string itself\nhint: `export DATABASE_URL=postgres://…` then `--from-postgres DATABASE_URL`".into());
    }
    let profile = match (&args.from, &args.from_postgres) {
        (Some(from), _) => Some(profile(from, args.table.as_deref())?),
        (None, Some(url_env)) => Some(profile_postgres(url_env, args.table.as_deref())?),
        (None, None) => None,
    };
    let name = job_name(&args.spec);
    // A PostgreSQL input is named by its variable: the connection string stays out of the spec.
    let input = args
        .from
        .as_deref()
        .map(|from| relative_to(from, directory))
        .or_else(|| args.from_postgres.clone());
    let schema = super::schema::reference(directory);
    let text = spec_text(&name, &schema, input.as_deref(), profile.as_ref());
    // `create_new`: a file that appeared since the check is not overwritten either.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&args.spec)
        .map_err(|error| format!("cannot write `{}`: {error}", args.spec.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .map_err(|error| format!("cannot write `{}`: {error}", args.spec.display()))?;
    let mut note = schema.note;
    if let Some(path) = &schema.write {
        // The spec is written; a schema that cannot be is only worth a line.
        // `create_new`: never over a file, even one that appeared since it was looked for.
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .and_then(|mut file| {
                std::io::Write::write_all(&mut file, super::schema::SCHEMA.as_bytes())
            });
        if let Err(error) = written {
            note = format!(
                "schema: cannot write `{}` ({error}); `batchlabel schema > {}` writes it",
                path.display(),
                path.display()
            );
        }
    }
    Ok(report(&args.spec, &note, profile.as_ref()))
}

/// Whether `name` can be an environment variable's name (letters, digits, `_`; no digit first).
fn is_variable_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|first| !first.is_ascii_digit())
        && name
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || character == '_')
}

/// The job name: the spec file's stem, in the characters a job name may have (it starts
/// with a letter or digit and has at most 64).
fn job_name(spec: &Path) -> String {
    let stem = spec
        .file_stem()
        .map_or_else(String::new, |stem| stem.to_string_lossy().into_owned());
    let name: String = stem
        .chars()
        .map(|character| {
            if character.is_ascii_alphanumeric() || character == '-' || character == '_' {
                character
            } else {
                '-'
            }
        })
        .skip_while(|character| !character.is_ascii_alphanumeric())
        .take(64)
        .collect();
    if name.is_empty() { "job".into() } else { name }
}

/// `path` as the spec (in `directory`) should name it: relative when both are relative; an
/// absolute path as it was given.
fn relative_to(path: &Path, directory: &Path) -> String {
    if path.is_absolute() {
        return path.to_string_lossy().into_owned();
    }
    let absolute = |path: &Path| std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let (path, directory) = (absolute(path), absolute(directory));
    let mut up = PathBuf::new();
    let mut base = directory.as_path();
    loop {
        if let Ok(rest) = path.strip_prefix(base) {
            return up.join(rest).to_string_lossy().into_owned();
        }
        match base.parent() {
            Some(parent) => {
                up.push("..");
                base = parent;
            }
            None => return path.to_string_lossy().into_owned(),
        }
    }
}

/// A YAML scalar for a column name: quoted when plain YAML would read it otherwise.
fn yaml_string(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

fn spec_text(
    name: &str,
    schema: &SchemaReference,
    input: Option<&str>,
    profile: Option<&Profile>,
) -> String {
    let mut text = format!(
        "# yaml-language-server: $schema={}\nname: {name}\n",
        schema.path
    );
    let id = profile.and_then(|profile| profile.id.as_ref());
    let text_column = profile.and_then(|profile| profile.text.as_ref());
    let format = profile.map(|profile| &profile.format);
    let kind = match format {
        Some(DataFormat::Jsonl) => "jsonl",
        Some(DataFormat::Parquet) => "parquet",
        Some(DataFormat::Sqlite { .. }) => "sqlite",
        Some(DataFormat::Postgres { .. }) => "postgres",
        _ => "csv",
    };
    let _ = writeln!(text, "input:");
    let _ = writeln!(
        text,
        "  {kind}: {}{}",
        yaml_string(input.unwrap_or("data.csv")),
        if input.is_none() {
            "   # TODO: your data (CSV, TSV, JSONL, Parquet; or sqlite/postgres + query)"
        } else {
            ""
        }
    );
    match format {
        Some(DataFormat::Csv { delimiter: b'\t' }) => {
            let _ = writeln!(text, "  delimiter: \"\\t\"");
        }
        Some(DataFormat::Sqlite { query, .. } | DataFormat::Postgres { query, .. }) => {
            // A stable order lets a run resume.
            let order = id.map_or_else(String::new, |id| {
                format!(" ORDER BY {}", quoted(&id.column))
            });
            let _ = writeln!(text, "  query: {}", yaml_string(&format!("{query}{order}")));
        }
        _ => {}
    }
    let _ = writeln!(
        text,
        "  id: {}{}",
        yaml_string(id.map_or("id", |id| id.column.as_str())),
        if id.is_none() {
            "   # TODO: the column with a unique id per row"
        } else {
            ""
        }
    );
    let _ = writeln!(
        text,
        "  text: {}{}",
        yaml_string(text_column.map_or("text", |text| text.column.as_str())),
        if text_column.is_none() {
            "   # TODO: the column with the text to label"
        } else {
            ""
        }
    );
    text.push_str(concat!(
        "prompt:\n",
        "  # TODO: say what to label and how (labels.<field> lists a field's labels and their\n",
        "  # definitions for a template loop; see specs/ for examples).\n",
        "  system: Label the text.\n",
        "  user: \"{{ text }}\"\n",
        "# TODO: fill in the labels: a field name, then its labels with a definition each\n",
        "# (`one_of` for one label per row, `any_of` for several; see the README).\n",
        "labels:\n",
        "  label:\n",
        "    one_of:\n",
        "      FIRST: TODO what this label means\n",
        "      SECOND: TODO what this label means\n",
        "model:\n",
        "  provider: openai          # or azure_openai, anthropic, gemini, mistral, local (offline)\n",
        "  name: gpt-4o-mini\n",
        "  temperature: 0\n",
    ));
    let _ = writeln!(text, "output:\n  csv: out/{name}.csv");
    text.push_str("batch:\n  max_attempts: 3\n");
    text
}

fn report(spec: &Path, schema_note: &str, profile: Option<&Profile>) -> String {
    let mut text = format!(
        "wrote {}\n{}\n",
        field(&spec.display().to_string()),
        field(schema_note)
    );
    if let Some(profile) = profile {
        if let DataFormat::Sqlite { left_out, .. } = &profile.format
            && !left_out.is_empty()
        {
            let _ = writeln!(
                text,
                "\nleft out of the query: {} (BLOB values, which are not text)",
                left_out
                    .iter()
                    .map(|column| field(column).into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if let DataFormat::Sqlite { table, .. } | DataFormat::Postgres { table, .. } =
            &profile.format
        {
            let _ = writeln!(
                text,
                "\ntable: {} (its rows, by a query you can edit: `input.query`)",
                field(table)
            );
        }
        let _ = writeln!(
            text,
            "\ncolumns: {}",
            profile
                .columns
                .iter()
                .map(|column| field(column).into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        );
        for (what, choice) in [("id", &profile.id), ("text", &profile.text)] {
            match choice {
                Some(choice) => {
                    let _ = writeln!(
                        text,
                        "  {what:<5} {}: {}",
                        field(&choice.column),
                        choice.why
                    );
                }
                None => {
                    let _ = writeln!(
                        text,
                        "  {what:<5} not found: fill in `input.{what}` (marked TODO)"
                    );
                }
            }
        }
        if let Some(gold) = &profile.gold {
            let _ = writeln!(
                text,
                "  gold  {} looks like human labels: `batchlabel eval SPEC --gold {}` scores a run against it",
                field(gold),
                field(gold)
            );
        }
        let _ = writeln!(text, "\nfirst rows:");
        for row in profile.rows.iter().take(3) {
            let cells: Vec<String> = profile
                .columns
                .iter()
                .zip(row)
                .map(|(column, value)| {
                    let short: String = value.chars().take(60).collect();
                    let more = if value.chars().count() > 60 {
                        "…"
                    } else {
                        ""
                    };
                    format!("{}={}{more}", field(column), field(&short))
                })
                .collect();
            let _ = writeln!(text, "  {}", cells.join("  "));
        }
    }
    let spec = spec.display();
    let _ = write!(
        text,
        "\nthe labels are a template: fill in `labels:` and the prompt (marked TODO), then\n  batchlabel check {spec}\n  batchlabel pilot {spec} --rows 20\n  batchlabel run {spec}\n"
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths() {
        assert_eq!(job_name(Path::new("dir/My Job.v2.yaml")), "My-Job-v2");
        // Spec names start with a letter or digit and have at most 64 characters.
        assert_eq!(job_name(Path::new("_draft.yaml")), "draft");
        assert_eq!(job_name(Path::new("--.yaml")), "job");
        assert_eq!(
            job_name(Path::new(&format!("{}.yaml", "a".repeat(80)))).len(),
            64
        );
        assert_eq!(
            relative_to(Path::new("data/x.csv"), Path::new(".")),
            "data/x.csv"
        );
        assert_eq!(
            relative_to(Path::new("data/x.csv"), Path::new("specs")),
            "../data/x.csv"
        );
        assert_eq!(yaml_string("a: b"), "\"a: b\"");
        assert!(is_variable_name("DATABASE_URL") && is_variable_name("_x1"));
        for bad in [
            "",
            "1X",
            "postgres://u:secret@h/db",
            "host=h password=secret",
        ] {
            assert!(!is_variable_name(bad), "{bad}");
        }
    }
}
