//! Reading the files a spec names (the spec itself, templates, plugins) with a size limit.
//!
//! Only regular files are read: opening a FIFO blocks until someone writes to it, and a
//! device such as `/dev/zero` never ends, so both are refused before they are opened. A
//! regular file is read up to its limit and no further, whatever its size claims.

use std::io::Read as _;
use std::path::Path;

/// Largest spec file read.
pub const MAX_SPEC_BYTES: u64 = 16 << 20;
/// Largest template file read.
pub const MAX_TEMPLATE_BYTES: u64 = 1 << 20;
/// Largest plugin (`.wasm`) read.
pub const MAX_PLUGIN_BYTES: u64 = 256 << 20;

/// Why a file could not be read; [`ReadError::describe`] says it with the file's name.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A folder where a file was expected.
    #[error("is a folder, not a file")]
    Folder,
    /// A FIFO, socket or device.
    #[error("is not a regular file (it is a FIFO, socket or device)")]
    NotRegular,
    /// Over the limit (in bytes) for its kind of file.
    #[error("is larger than the limit of {}", size_text(*.0))]
    TooLarge(u64),
    /// Missing, unreadable, …: what the OS said.
    #[error(transparent)]
    Io(std::io::Error),
}

impl ReadError {
    /// A stable diagnostic code for the kind of problem.
    pub fn code(&self) -> &'static str {
        match self {
            ReadError::Io(_) => "file-not-found",
            ReadError::Folder | ReadError::NotRegular => "not-a-file",
            ReadError::TooLarge(_) => "file-too-large",
        }
    }

    /// One sentence naming the file: "template file `a.j2` is larger than the limit of
    /// 1 MiB", or "cannot read template file `a.j2`: No such file or directory".
    pub fn describe(&self, what: &str, path: &Path) -> String {
        match self {
            ReadError::Io(error) => format!("cannot read {what} `{}`: {error}", path.display()),
            other => format!("{what} `{}` {other}", path.display()),
        }
    }
}

/// Check that `path` is a regular file (following links), without opening it.
pub fn regular_file(path: &Path) -> Result<(), ReadError> {
    let metadata = std::fs::metadata(path).map_err(ReadError::Io)?;
    if metadata.is_file() {
        Ok(())
    } else if metadata.is_dir() {
        Err(ReadError::Folder)
    } else {
        Err(ReadError::NotRegular)
    }
}

/// The bytes of the regular file at `path`, refused past `limit` bytes.
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    regular_file(path)?;
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    let mut bytes = Vec::new();
    // One byte past the limit tells "exactly at the limit" from "over it".
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge(limit));
    }
    Ok(bytes)
}

/// `limit` bytes for a person: `1 MiB`, `300 bytes`.
pub fn size_text(limit: u64) -> String {
    if limit >= 1 << 20 && limit.is_multiple_of(1 << 20) {
        format!("{} MiB", limit >> 20)
    } else if limit >= 1 << 10 && limit.is_multiple_of(1 << 10) {
        format!("{} KiB", limit >> 10)
    } else {
        format!("{limit} bytes")
    }
}

/// Text without a leading UTF-8 byte-order mark: editors hide it, so positions and
/// template output must not count it.
pub fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_devices_folders_and_missing_files() {
        let folder = tempfile::tempdir().unwrap();
        let device = Path::new("/dev/zero");
        assert_eq!(
            read_limited(device, 10)
                .unwrap_err()
                .describe("template file", device),
            "template file `/dev/zero` is not a regular file (it is a FIFO, socket or device)"
        );
        assert!(matches!(
            read_limited(folder.path(), 10),
            Err(ReadError::Folder)
        ));
        let missing = folder.path().join("missing");
        let error = read_limited(&missing, 10).unwrap_err();
        assert_eq!(error.code(), "file-not-found");
        assert!(
            error
                .describe("spec", Path::new("missing"))
                .starts_with("cannot read spec `missing`: No such file")
        );
    }

    #[test]
    fn reads_up_to_the_limit_and_no_further() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("t.j2");
        std::fs::write(&path, "0123456789").unwrap();
        assert_eq!(read_limited(&path, 10).unwrap(), b"0123456789");
        let error = read_limited(&path, 9).unwrap_err();
        assert_eq!(error.code(), "file-too-large");
        assert_eq!(
            error.describe("template file", Path::new("t.j2")),
            "template file `t.j2` is larger than the limit of 9 bytes"
        );
        assert_eq!(size_text(1 << 20), "1 MiB");
    }

    #[test]
    fn strips_only_a_leading_bom() {
        assert_eq!(without_bom("\u{feff}name: x"), "name: x");
        assert_eq!(without_bom("name: \u{feff}"), "name: \u{feff}");
    }
}
