//! The JSON Lines sink: one `{"id", "labels", "provenance"}` object per labeled row, the
//! labels as the model wrote them; written to the `.partial` temporary and renamed on commit.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::value::RawValue;

use crate::partial::{self, partial_path};
use crate::{Provenance, Sink, SinkError, SinkHeader};

/// Labeled rows as JSON Lines.
pub struct JsonlSink {
    writer: BufWriter<std::fs::File>,
    path: PathBuf,
    temporary: PathBuf,
}

/// One line of the results.
#[derive(serde::Serialize)]
struct JsonlRecord<'a> {
    id: &'a str,
    labels: &'a RawValue,
    provenance: &'a Provenance<'a>,
}

impl JsonlSink {
    /// Create the temporary file next to `path`; `path` is untouched until commit.
    pub fn create(path: &Path) -> Result<Self, SinkError> {
        let temporary = partial_path(path);
        let file = partial::create(&temporary)?;
        Ok(Self {
            writer: BufWriter::with_capacity(1 << 20, file),
            path: path.to_path_buf(),
            temporary,
        })
    }
}

impl Sink for JsonlSink {
    fn begin(&mut self, _header: &SinkHeader<'_>) -> Result<(), SinkError> {
        Ok(())
    }

    fn labeled(
        &mut self,
        row_id: &str,
        output_json: &str,
        provenance: &Provenance<'_>,
    ) -> Result<(), SinkError> {
        let labels: &RawValue = serde_json::from_str(output_json)
            .map_err(|source| SinkError::StoredOutput { source })?;
        let record = JsonlRecord {
            id: row_id,
            labels,
            provenance,
        };
        serde_json::to_writer(&mut self.writer, &record)
            .map_err(|error| SinkError::io(&self.temporary, std::io::Error::other(error)))?;
        self.writer
            .write_all(b"\n")
            .map_err(|source| SinkError::io(&self.temporary, source))
    }

    fn commit(self: Box<Self>) -> Result<u64, SinkError> {
        partial::replace_file(self.writer, &self.temporary, &self.path).map(|()| 0)
    }
}
