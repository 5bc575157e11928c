//! Opening an input file: say what a path is when it is not a readable regular file, and
//! step over a UTF-8 byte order mark.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::SourceError;

/// The UTF-8 byte order mark some editors (Excel, Notepad) put at the start of a file.
pub(crate) const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Open `path` for reading, positioned after a UTF-8 BOM if it starts with one; also returns
/// the BOM's length (0 or 3), so byte offsets can be mapped back to the file.
pub(crate) fn open(path: &Path) -> Result<(File, u64), SourceError> {
    // Look before opening: opening a FIFO blocks until something writes to it.
    let metadata = std::fs::metadata(path).map_err(|source| io_error(path, source))?;
    if let Some(what) = not_regular(metadata.file_type()) {
        return Err(SourceError::NotAFile {
            path: path.to_path_buf(),
            what,
        });
    }
    let mut file = File::open(path).map_err(|source| io_error(path, source))?;
    let bom = skip_bom(&mut file).map_err(|source| io_error(path, source))?;
    Ok((file, bom))
}

/// A missing file gets a plain message rather than the OS's "No such file or directory (os error 2)".
fn io_error(path: &Path, source: std::io::Error) -> SourceError {
    if source.kind() == std::io::ErrorKind::NotFound {
        return SourceError::Missing {
            path: path.to_path_buf(),
        };
    }
    SourceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a path is, in words, when it is not a regular file.
fn not_regular(file_type: std::fs::FileType) -> Option<&'static str> {
    if file_type.is_file() {
        return None;
    }
    if file_type.is_dir() {
        return Some("is a directory, not a file");
    }
    Some(special_kind(file_type))
}

#[cfg(unix)]
fn special_kind(file_type: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_fifo() {
        "is not a regular file (a FIFO)"
    } else if file_type.is_socket() {
        "is not a regular file (a socket)"
    } else if file_type.is_char_device() {
        "is not a regular file (a character device)"
    } else if file_type.is_block_device() {
        "is not a regular file (a block device)"
    } else {
        "is not a regular file"
    }
}

#[cfg(not(unix))]
fn special_kind(_file_type: std::fs::FileType) -> &'static str {
    "is not a regular file"
}

/// Step over a leading BOM; returns how many bytes were skipped.
fn skip_bom(file: &mut File) -> std::io::Result<u64> {
    let mut start = [0u8; 3];
    let mut filled = 0;
    while filled < start.len() {
        match file.read(&mut start[filled..])? {
            0 => break,
            read => filled += read,
        }
    }
    let skipped = if start[..filled] == *BOM { 3 } else { 0 };
    file.seek(SeekFrom::Start(skipped))?;
    Ok(skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_named_as_one() {
        let folder = tempfile::tempdir().unwrap();
        let error = open(folder.path()).unwrap_err();
        assert!(
            error.to_string().ends_with("is a directory, not a file"),
            "{error}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_named_as_one_without_blocking_on_it() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("pipe.jsonl");
        let made = std::process::Command::new("mkfifo").arg(&path).status();
        if !made.is_ok_and(|status| status.success()) {
            return; // no mkfifo here: nothing to test against
        }
        // Opening a FIFO with no writer would block forever; the check comes first.
        let error = crate::open_source(&path, &crate::Format::Jsonl, "id", None).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("input `{}` is not a regular file (a FIFO)", path.display())
        );
    }

    #[test]
    fn a_missing_file_says_so_with_its_path() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("nope.csv");
        let error = open(&path).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("input `{}` does not exist", path.display())
        );
    }

    #[test]
    fn the_bom_is_skipped_and_counted() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("bom.csv");
        std::fs::write(&path, b"\xEF\xBB\xBFid\n").unwrap();
        let (mut file, skipped) = open(&path).unwrap();
        let mut rest = String::new();
        file.read_to_string(&mut rest).unwrap();
        assert_eq!((skipped, rest.as_str()), (3, "id\n"));
        std::fs::write(&path, b"id").unwrap();
        assert_eq!(open(&path).unwrap().1, 0);
    }
}
