//! The CSV sink: a header row (`id`, the label fields, the provenance columns), then one
//! record per labeled row; written to the `.partial` temporary and renamed on commit.

use std::io::BufWriter;
use std::path::{Path, PathBuf};

use crate::partial::{self, partial_path};
use crate::{PROVENANCE, Provenance, Sink, SinkError, SinkHeader};

/// Labeled rows as CSV.
pub struct CsvSink {
    writer: csv::Writer<BufWriter<std::fs::File>>,
    fields: Vec<String>,
    path: PathBuf,
    temporary: PathBuf,
}

impl CsvSink {
    /// Create the temporary file next to `path`; `path` is untouched until commit.
    pub fn create(path: &Path) -> Result<Self, SinkError> {
        let temporary = partial_path(path);
        let file = partial::create(&temporary)?;
        Ok(Self {
            writer: csv::Writer::from_writer(BufWriter::with_capacity(1 << 20, file)),
            fields: Vec::new(),
            path: path.to_path_buf(),
            temporary,
        })
    }
}

impl Sink for CsvSink {
    fn begin(&mut self, header: &SinkHeader<'_>) -> Result<(), SinkError> {
        self.fields = crate::owned_fields(header);
        let names: Vec<&str> = std::iter::once("id")
            .chain(header.fields.iter().copied())
            .chain(PROVENANCE)
            .collect();
        let error = |source| SinkError::csv(&self.temporary, source);
        self.writer.write_record(&names).map_err(error)
    }

    fn labeled(
        &mut self,
        row_id: &str,
        output_json: &str,
        provenance: &Provenance<'_>,
    ) -> Result<(), SinkError> {
        let error = |source| SinkError::csv(&self.temporary, source);
        self.writer.write_field(row_id).map_err(error)?;
        for cell in crate::label_cells(&self.fields, output_json) {
            self.writer.write_field(cell).map_err(error)?;
        }
        for value in provenance.values() {
            self.writer
                .write_field(value.cell().as_bytes())
                .map_err(error)?;
        }
        self.writer.write_record(None::<&[u8]>).map_err(error)
    }

    fn commit(self: Box<Self>) -> Result<u64, SinkError> {
        let Self {
            writer,
            path,
            temporary,
            ..
        } = *self;
        let file = writer
            .into_inner()
            .map_err(|error| SinkError::io(&temporary, error.into_error()))?;
        partial::replace_file(file, &temporary, &path).map(|()| 0)
    }
}
