//! The server's state on disk: `files/<id>.json` (the file object) beside `files/<id>.jsonl`
//! (its bytes) and `batches/<id>.json`. Every change is written atomically (temp + rename)
//! before it is answered, so a restarted server knows everything it ever acknowledged.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use batchlabel_protocol::{Batch, FileObject};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ServeError;

pub(crate) struct Store {
    directory: PathBuf,
    inner: Mutex<Inner>,
    /// Held while the store is open: one server per state folder.
    _lock: std::fs::File,
}

#[derive(Default)]
struct Inner {
    /// In creation order (ids sort the same way).
    files: Vec<FileObject>,
    /// Deleted files, kept as tombstones (`files/<id>.deleted`) so the counters of what was
    /// ever uploaded survive deletion and restarts.
    deleted: Vec<FileObject>,
    batches: Vec<Batch>,
    /// Batches created through the Azure front end (`batches/<id>.azure` markers).
    azure: std::collections::HashSet<String>,
    next_sequence: u64,
}

fn state_error(path: &Path) -> impl FnOnce(std::io::Error) -> ServeError + '_ {
    move |source| ServeError::State {
        path: path.to_path_buf(),
        source,
    }
}

impl Store {
    pub(crate) fn open(directory: &Path) -> Result<Self, ServeError> {
        let mut inner = Inner::default();
        for folder in ["files", "batches"] {
            let path = directory.join(folder);
            std::fs::create_dir_all(&path).map_err(state_error(&path))?;
        }
        let lock_path = directory.join("serve.lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(state_error(&lock_path))?;
        if lock.try_lock().is_err() {
            return Err(ServeError::Locked {
                path: directory.to_path_buf(),
            });
        }
        inner.files = load_all(&directory.join("files"), "json")?;
        inner.deleted = load_all(&directory.join("files"), "deleted")?;
        inner.batches = load_all(&directory.join("batches"), "json")?;
        inner.azure = markers(&directory.join("batches"), "azure")?;
        inner.files.sort_by(|a, b| a.id.cmp(&b.id));
        inner.batches.sort_by(|a, b| a.id.cmp(&b.id));
        inner.next_sequence = inner
            .files
            .iter()
            .chain(&inner.deleted)
            .map(|file| &file.id)
            .chain(inner.batches.iter().map(|batch| &batch.id))
            .filter_map(|id| sequence_of(id))
            .max()
            .map_or(1, |max| max + 1);
        Ok(Self {
            directory: directory.to_path_buf(),
            inner: Mutex::new(inner),
            _lock: lock,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new id: a sequence number (so ids sort by creation) and a random-looking tail.
    pub(crate) fn new_id(&self, prefix: &str) -> String {
        let mut inner = self.lock();
        let sequence = inner.next_sequence;
        inner.next_sequence += 1;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos());
        let tail = xxhash_rust::xxh3::xxh3_64(&(nanos ^ u128::from(sequence)).to_le_bytes());
        format!("{prefix}{sequence:010}{tail:016x}")
    }

    pub(crate) fn content_path(&self, file_id: &str) -> PathBuf {
        self.directory
            .join("files")
            .join(format!("{file_id}.jsonl"))
    }

    /// A temporary path to write a file's bytes into before [`Store::add_file`].
    pub(crate) fn upload_path(&self, file_id: &str) -> PathBuf {
        self.directory
            .join("files")
            .join(format!(".{file_id}.part"))
    }

    pub(crate) fn add_file(&self, file: FileObject) -> std::io::Result<()> {
        let staged = self.upload_path(&file.id);
        if staged.exists() {
            std::fs::rename(&staged, self.content_path(&file.id))?;
        }
        write_json(&self.directory.join("files"), &file.id, &file)?;
        self.lock().files.push(file);
        Ok(())
    }

    pub(crate) fn delete_file(&self, file_id: &str) -> std::io::Result<bool> {
        let mut inner = self.lock();
        let Some(position) = inner.files.iter().position(|file| file.id == file_id) else {
            return Ok(false);
        };
        let file = inner.files.remove(position);
        inner.deleted.push(file);
        drop(inner);
        let _ = std::fs::remove_file(self.content_path(file_id));
        let folder = self.directory.join("files");
        std::fs::rename(
            folder.join(format!("{file_id}.json")),
            folder.join(format!("{file_id}.deleted")),
        )?;
        Ok(true)
    }

    /// The files deleted so far (their objects as they were).
    pub(crate) fn deleted_files(&self) -> Vec<FileObject> {
        self.lock().deleted.clone()
    }

    pub(crate) fn file(&self, file_id: &str) -> Option<FileObject> {
        self.lock()
            .files
            .iter()
            .find(|file| file.id == file_id)
            .cloned()
    }

    pub(crate) fn files(&self) -> Vec<FileObject> {
        self.lock().files.clone()
    }

    pub(crate) fn batch(&self, batch_id: &str) -> Option<Batch> {
        self.lock()
            .batches
            .iter()
            .find(|batch| batch.id == batch_id)
            .cloned()
    }

    pub(crate) fn batches(&self) -> Vec<Batch> {
        self.lock().batches.clone()
    }

    pub(crate) fn add_batch(&self, batch: Batch) -> std::io::Result<()> {
        write_json(&self.directory.join("batches"), &batch.id, &batch)?;
        self.lock().batches.push(batch);
        Ok(())
    }

    /// Remember that a batch came through the Azure front end (its validation rules and
    /// result files differ); written before the batch so a restart keeps it.
    pub(crate) fn mark_azure(&self, batch_id: &str) -> std::io::Result<()> {
        std::fs::write(
            self.directory
                .join("batches")
                .join(format!("{batch_id}.azure")),
            b"",
        )?;
        self.lock().azure.insert(batch_id.to_string());
        Ok(())
    }

    pub(crate) fn is_azure(&self, batch_id: &str) -> bool {
        self.lock().azure.contains(batch_id)
    }

    /// Change a batch and persist it; `persist: false` only updates memory (live counters).
    pub(crate) fn update_batch<T>(
        &self,
        batch_id: &str,
        persist: bool,
        change: impl FnOnce(&mut Batch) -> T,
    ) -> std::io::Result<Option<(T, Batch)>> {
        let mut inner = self.lock();
        let Some(batch) = inner.batches.iter_mut().find(|batch| batch.id == batch_id) else {
            return Ok(None);
        };
        let answer = change(batch);
        let snapshot = batch.clone();
        if persist {
            // Written under the lock: two threads changing one batch at once (a cancel
            // arriving while its worker moves it on) must not share the temporary file, nor
            // leave the older state on disk.
            write_json(&self.directory.join("batches"), batch_id, &snapshot)?;
        }
        drop(inner);
        Ok(Some((answer, snapshot)))
    }
}

fn sequence_of(id: &str) -> Option<u64> {
    let digits = id.split_once(['-', '_'])?.1.get(..10)?;
    digits.parse().ok()
}

/// Every `*.<extension>` file in `folder`, parsed as JSON.
fn load_all<T: DeserializeOwned>(folder: &Path, extension: &str) -> Result<Vec<T>, ServeError> {
    let mut items = Vec::new();
    for entry in std::fs::read_dir(folder).map_err(state_error(folder))? {
        let path = entry.map_err(state_error(folder))?.path();
        if path.extension().is_some_and(|found| found == extension) {
            let text = std::fs::read(&path).map_err(state_error(&path))?;
            let item = serde_json::from_slice(&text).map_err(|error| ServeError::State {
                path: path.clone(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, error),
            })?;
            items.push(item);
        }
    }
    Ok(items)
}

/// The ids of the `<id>.<extension>` files in `folder`.
fn markers(
    folder: &Path,
    extension: &str,
) -> Result<std::collections::HashSet<String>, ServeError> {
    let mut ids = std::collections::HashSet::new();
    for entry in std::fs::read_dir(folder).map_err(state_error(folder))? {
        let path = entry.map_err(state_error(folder))?.path();
        if path.extension().is_some_and(|found| found == extension)
            && let Some(id) = path.file_stem().and_then(|stem| stem.to_str())
        {
            ids.insert(id.to_string());
        }
    }
    Ok(ids)
}

fn write_json(folder: &Path, id: &str, value: &impl Serialize) -> std::io::Result<()> {
    let path = folder.join(format!("{id}.json"));
    let temporary = folder.join(format!(".{id}.json.tmp"));
    let text = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, &path)
}
