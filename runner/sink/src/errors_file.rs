//! The errors file: one JSON object per failed row (JSON Lines, whatever the results
//! format); written to the `.partial` temporary and renamed on commit.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::SinkError;
use crate::partial::{self, partial_path};

/// One failed row, as the errors file holds it (keys in this order).
#[derive(Debug, Clone, serde::Serialize)]
pub struct FailedRow<'a> {
    /// The source id.
    pub id: &'a str,
    /// The request.
    pub custom_id: &'a str,
    /// Why it failed.
    pub reason: Option<&'a str>,
    /// The failure's detail.
    pub detail: Option<&'a str>,
    /// Which attempt ended it.
    pub attempts: i64,
    /// The last answer, if any (as text).
    pub output: Option<&'a str>,
    /// The batch that answered last.
    pub batch_id: Option<&'a str>,
}

/// The failed rows of a run, shared by every results format.
pub struct ErrorsFile {
    writer: BufWriter<std::fs::File>,
    path: PathBuf,
    temporary: PathBuf,
}

impl ErrorsFile {
    /// Create the temporary file next to `path`; `path` is untouched until commit.
    pub fn create(path: &Path) -> Result<Self, SinkError> {
        let temporary = partial_path(path);
        let file = partial::create(&temporary)?;
        Ok(Self {
            writer: BufWriter::new(file),
            path: path.to_path_buf(),
            temporary,
        })
    }

    /// Write one failed row.
    pub fn failed(&mut self, failure: &FailedRow<'_>) -> Result<(), SinkError> {
        let io = |source| SinkError::io(&self.temporary, source);
        serde_json::to_writer(&mut self.writer, failure)
            .map_err(|error| io(std::io::Error::from(error)))?;
        self.writer.write_all(b"\n").map_err(io)
    }

    /// Move the finished file over the destination.
    pub fn commit(self) -> Result<(), SinkError> {
        partial::replace_file(self.writer, &self.temporary, &self.path)
    }
}
