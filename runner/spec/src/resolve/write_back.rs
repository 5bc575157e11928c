//! Resolving `output.write_back`: labels written into the input's own table.

use crate::job::{Database, Input, InputFormat, PROVENANCE_COLUMNS, WriteBack};
use crate::job_spec::{JobSpec, OutputSpec};

use super::Resolver;

impl Resolver<'_> {
    pub(super) fn write_back(
        &mut self,
        spec: &JobSpec,
        output: &OutputSpec,
        input: Option<&Input>,
    ) -> Result<Option<WriteBack>, ()> {
        let Some(write_back) = &output.write_back else {
            return Ok(None);
        };
        // Without a resolved input (its own errors are reported) the rest is still checked.
        let database = match input.map(|input| &input.format) {
            Some(InputFormat::Sqlite { .. }) => Some(Database::Sqlite(
                input.map(|input| input.path.clone()).unwrap_or_default(),
            )),
            Some(InputFormat::Postgres { url_env, .. }) => {
                Some(Database::Postgres(url_env.clone()))
            }
            Some(_) => {
                let span = self.spans.key("/output/write_back");
                self.error(
                    "conflicting-fields",
                    "`output.write_back` updates the input's own table, so the input must be `sqlite` or `postgres`".into(),
                    span,
                    "read the rows with `input.sqlite` / `input.postgres` and a `query`, or write results with `output.csv` …",
                );
                None
            }
            None => None,
        };
        let mut ok = true;
        if write_back.columns.is_empty() {
            let span = self.spans.key("/output/write_back/columns");
            self.error(
                "missing-field",
                "`write_back.columns` names no label field to write".into(),
                span,
                "e.g. `columns: {sentiment: sentiment_label}`",
            );
            ok = false;
        }
        for field in write_back.columns.keys() {
            if !spec.labels.contains_key(field) {
                let span = self
                    .spans
                    .key(&format!("/output/write_back/columns/{field}"));
                let hint = crate::did_you_mean(field, spec.labels.keys().map(String::as_str))
                    .map_or_else(
                        || "name a field of `labels`".to_string(),
                        |close| format!("did you mean `{close}`?"),
                    );
                self.error(
                    "unknown-field",
                    format!("`{field}` is not a label field"),
                    span,
                    &hint,
                );
                ok = false;
            }
        }
        for name in write_back.provenance.keys() {
            if !PROVENANCE_COLUMNS.contains(&name.as_str()) {
                let span = self
                    .spans
                    .key(&format!("/output/write_back/provenance/{name}"));
                let hint = format!("one of: {}", PROVENANCE_COLUMNS.join(", "));
                self.error(
                    "unknown-field",
                    format!("`{name}` is not a provenance name"),
                    span,
                    &hint,
                );
                ok = false;
            }
        }
        let columns: Vec<&String> = write_back
            .columns
            .values()
            .chain(write_back.provenance.values())
            .collect();
        if let Some(repeated) = columns
            .iter()
            .enumerate()
            .find_map(|(index, column)| columns[..index].contains(column).then_some(column))
        {
            let span = self.spans.key("/output/write_back");
            self.error(
                "conflicting-fields",
                format!("column `{repeated}` receives two values"),
                span,
                "give each label field and provenance its own column",
            );
            ok = false;
        }
        let id_column = write_back.id_column.as_ref().unwrap_or(&spec.input.id);
        if columns.contains(&id_column) {
            let span = self.spans.key("/output/write_back");
            self.error(
                "conflicting-fields",
                format!("the id column `{id_column}` would receive a value: rows are found by it"),
                span,
                "write labels and provenance into other columns",
            );
            ok = false;
        }
        let Some(database) = database.filter(|_| ok) else {
            return Err(());
        };
        Ok(Some(WriteBack {
            database,
            table: write_back.table.clone(),
            id_column: write_back
                .id_column
                .clone()
                .unwrap_or_else(|| spec.input.id.clone()),
            columns: write_back
                .columns
                .iter()
                .map(|(field, column)| (field.clone(), column.clone()))
                .collect(),
            provenance: write_back
                .provenance
                .iter()
                .map(|(name, column)| (name.clone(), column.clone()))
                .collect(),
        }))
    }
}
