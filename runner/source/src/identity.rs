//! What makes an input the same input when a run is resumed, without assuming a file.

use std::path::Path;

use crate::SourceError;

pub use batchlabel_core::InputIdentity;

/// The identity of the file at `path`, without opening it as a source. A file that cannot be
/// looked at is [`SourceError::Io`] with the operating system's error as it is.
pub fn input_identity(path: &Path) -> Result<InputIdentity, SourceError> {
    let metadata = std::fs::metadata(path).map_err(|source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let version = metadata
        .modified()
        .ok()
        .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |elapsed| elapsed.as_secs() as i64);
    Ok(InputIdentity {
        location: path.to_string_lossy().into_owned(),
        size: metadata.len() as i64,
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_its_path_size_and_modification_time() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("in.csv");
        std::fs::write(&path, b"id\n1\n").unwrap();
        let identity = input_identity(&path).unwrap();
        assert_eq!(identity.location, path.to_string_lossy());
        assert_eq!(identity.size, 5);
        assert!(identity.version > 0);
    }

    #[test]
    fn a_missing_file_is_an_io_error_naming_it() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("gone.csv");
        match input_identity(&path) {
            Err(SourceError::Io {
                path: named,
                source,
            }) => {
                assert_eq!(named, path);
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
