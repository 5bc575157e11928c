//! The `.partial` temporary a results file is written to, and the rename that replaces the
//! destination with it.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::SinkError;

/// The temporary file a results file is written to before it is renamed into place: the
/// full name plus `.partial`, so two outputs never share one.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// Create (truncating) the temporary file at `temporary`.
pub(crate) fn create(temporary: &Path) -> Result<std::fs::File, SinkError> {
    std::fs::File::create(temporary).map_err(|source| SinkError::io(temporary, source))
}

/// Flush a finished temporary file and move it over `path` (readers see the old file or the
/// whole new one).
pub(crate) fn replace_file(
    mut file: impl Write,
    temporary: &Path,
    path: &Path,
) -> Result<(), SinkError> {
    file.flush()
        .map_err(|source| SinkError::io(temporary, source))?;
    drop(file);
    std::fs::rename(temporary, path).map_err(|source| SinkError::io(path, source))
}
