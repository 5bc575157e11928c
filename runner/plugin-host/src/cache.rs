//! Compiled components cached on disk, keyed by the `.wasm`'s sha256 and the engine's
//! compatibility hash, so a run after the first loads a plugin in well under a millisecond
//! instead of compiling it (100–400 ms). The folder is created private (0700): loading a
//! compiled artifact runs native code, so only files this process family wrote are loaded.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

fn artifact_path(directory: &Path, engine: &Engine, sha256: &str) -> PathBuf {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    directory.join(format!("{sha256}-{:016x}.cwasm", hasher.finish()))
}

fn private_folder(directory: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(directory)
}

/// The component for `bytes` (sha256 `sha256`): from the cache when it holds a compatible
/// artifact, else compiled (and cached; a cache that cannot be written is skipped).
pub(crate) fn component(
    engine: &Engine,
    cache_dir: Option<&Path>,
    bytes: &[u8],
    sha256: &str,
) -> wasmtime::Result<Component> {
    let Some(directory) = cache_dir else {
        return Component::new(engine, bytes);
    };
    let path = artifact_path(directory, engine, sha256);
    if path.is_file() {
        // SAFETY: the file was written by `Component::serialize` of this same engine
        // configuration (the compatibility hash is in its name) into a folder only this user
        // can write; wasmtime still checks the header and refuses a mismatch, in which case
        // the component is compiled again below.
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize_file(engine, &path) };
        if let Ok(component) = loaded {
            return Ok(component);
        }
    }
    let component = Component::new(engine, bytes)?;
    if let Ok(serialized) = component.serialize() {
        let _ = store(directory, &path, &serialized);
    }
    Ok(component)
}

/// Write `bytes` to `path` atomically (a unique temporary file, then rename), so two
/// processes compiling the same plugin never see half a file.
fn store(directory: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    private_folder(directory)?;
    let mut temporary = tempfile::NamedTempFile::new_in(directory)?;
    temporary.write_all(bytes)?;
    temporary.persist(path).map_err(|error| error.error)?;
    Ok(())
}
