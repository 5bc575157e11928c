//! Pool embeddings kept between commands: `check`, `estimate`, `pilot` and `run` each compile,
//! and each would embed the whole examples pool again (a minute for 600 examples on 2 cores).
//! A file per (model file, texts) under the user's cache folder holds the vectors; a missing,
//! short or unreadable file is recomputed, never trusted.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Calls with fewer texts (a row at a time) are not cached: the lookup would cost more.
pub(crate) const CACHED_FROM: usize = 16;

/// `~/.cache/batchlabel/embeddings` (beside the models folder).
fn folder() -> PathBuf {
    let models = batchlabel_engine::default_model_dir();
    models.parent().map_or_else(
        || models.join("embeddings"),
        |cache| cache.join("embeddings"),
    )
}

/// The file for `texts` embedded by the model at `model`: its path, size and modification
/// time stand for its contents (a replaced model is a new key).
pub(crate) fn path_for(model: &Path, texts: &[String]) -> PathBuf {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(model.to_string_lossy().as_bytes());
    if let Ok(metadata) = std::fs::metadata(model) {
        hasher.update(&metadata.len().to_le_bytes());
        let modified = metadata
            .modified()
            .ok()
            .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |elapsed| elapsed.as_nanos());
        hasher.update(&modified.to_le_bytes());
    }
    for text in texts {
        hasher.update(&(text.len() as u64).to_le_bytes());
        hasher.update(text.as_bytes());
    }
    folder().join(format!("{:032x}.f32", hasher.digest128()))
}

/// The vectors stored at `path`, if it holds exactly `count` of them.
pub(crate) fn load(path: &Path, count: usize) -> Option<Vec<Vec<f32>>> {
    let bytes = std::fs::read(path).ok()?;
    let header = |at: usize| -> Option<usize> {
        let field: [u8; 8] = bytes.get(at..at + 8)?.try_into().ok()?;
        usize::try_from(u64::from_le_bytes(field)).ok()
    };
    let (stored, width) = (header(0)?, header(8)?);
    if stored != count || bytes.len() != 16 + stored.checked_mul(width)?.checked_mul(4)? {
        return None;
    }
    let values: Vec<f32> = bytes[16..]
        .chunks_exact(4)
        .map(|value| f32::from_le_bytes([value[0], value[1], value[2], value[3]]))
        .collect();
    Some(
        values
            .chunks(width.max(1))
            .map(<[f32]>::to_vec)
            .take(count)
            .collect(),
    )
}

/// Store `vectors` at `path` (whole or not at all: written aside, then renamed). A cache that
/// cannot be written is only slower next time.
pub(crate) fn store(path: &Path, vectors: &[Vec<f32>]) {
    let width = vectors.first().map_or(0, Vec::len);
    if vectors.iter().any(|vector| vector.len() != width) {
        return;
    }
    let mut bytes = Vec::with_capacity(16 + vectors.len() * width * 4);
    bytes.extend_from_slice(&(vectors.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&(width as u64).to_le_bytes());
    for value in vectors.iter().flatten() {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    let Some(folder) = path.parent() else { return };
    if std::fs::create_dir_all(folder).is_err() {
        return;
    }
    let aside = path.with_extension(format!("{}.part", std::process::id()));
    let written = std::fs::File::create(&aside).and_then(|mut file| {
        file.write_all(&bytes)?;
        file.sync_all()
    });
    if written.is_err() || std::fs::rename(&aside, path).is_err() {
        let _ = std::fs::remove_file(&aside);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_vectors_load_back_and_a_wrong_count_or_a_torn_file_does_not() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("a.f32");
        let vectors = vec![vec![0.6, 0.8], vec![1.0, 0.0], vec![0.0, -1.0]];
        store(&path, &vectors);
        assert_eq!(load(&path, 3), Some(vectors));
        assert_eq!(load(&path, 2), None);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert_eq!(load(&path, 3), None);
        assert_eq!(load(&folder.path().join("missing.f32"), 3), None);
    }

    #[test]
    fn the_key_follows_the_texts_and_the_model() {
        let texts = vec!["a".to_string(), "b".to_string()];
        let swapped = vec!["b".to_string(), "a".to_string()];
        let joined = vec!["ab".to_string()];
        let model = Path::new("/nonexistent/model.gguf");
        assert_eq!(path_for(model, &texts), path_for(model, &texts));
        assert_ne!(path_for(model, &texts), path_for(model, &swapped));
        assert_ne!(path_for(model, &texts), path_for(model, &joined));
        assert_ne!(
            path_for(model, &texts),
            path_for(Path::new("/nonexistent/other.gguf"), &texts)
        );
    }
}
