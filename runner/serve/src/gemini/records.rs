//! Gemini files and batches on disk, under `gemini/` in the state folder:
//! `files/<id>.json` (a File's record) beside `files/<id>.bytes` (its content), and
//! `batches/<id>.json` (a batch: its internal batch, keys and, once over, how it ended).
//! Written atomically (temp + rename) before they are answered, so a restarted server serves
//! the same. Deleted files and batches stay as records marked deleted: the counters of what
//! was ever uploaded or created survive deletion and restarts.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::ServeError;

/// A File.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FileRecord {
    pub(crate) id: String,
    pub(crate) display_name: Option<String>,
    pub(crate) mime_type: String,
    pub(crate) size_bytes: u64,
    pub(crate) created_at: i64,
    pub(crate) sha256: String,
    /// `UPLOADED`, or `GENERATED` for a batch's responses file.
    pub(crate) source: String,
    #[serde(default)]
    pub(crate) deleted: bool,
}

/// A batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct BatchRecord {
    pub(crate) id: String,
    /// The internal (OpenAI-shaped) batch that runs it.
    pub(crate) batch_id: String,
    /// Without the `models/` prefix.
    pub(crate) model: String,
    pub(crate) display_name: String,
    /// `files/<id>`, as the create named it.
    pub(crate) input_file: String,
    pub(crate) created_at: i64,
    /// The input's keys, in input order.
    pub(crate) keys: Vec<String>,
    /// Set once the responses file is written (or the batch failed).
    #[serde(default)]
    pub(crate) ended: Option<Ended>,
    #[serde(default)]
    pub(crate) deleted: bool,
}

/// How a batch ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Ended {
    pub(crate) at: i64,
    /// `BATCH_STATE_SUCCEEDED`, `…_FAILED`, `…_CANCELLED` or `…_EXPIRED`.
    pub(crate) state: String,
    pub(crate) successful: u64,
    pub(crate) failed: u64,
    /// The responses file's id; none when nothing ran.
    pub(crate) responses_file: Option<String>,
    /// Why a failed batch failed: `(google.rpc code, message)`.
    #[serde(default)]
    pub(crate) error: Option<(u16, String)>,
}

/// A resumable upload under way (in memory only: a restart ends it, the client starts over).
pub(crate) struct Upload {
    pub(crate) file: FileRecord,
    /// `X-Goog-Upload-Header-Content-Length`, when the start gave it.
    pub(crate) declared: Option<u64>,
    pub(crate) received: u64,
    pub(crate) hasher: Option<super::digest::Sha256>,
    /// The file made by the final chunk, so a repeated final chunk gets the same answer.
    pub(crate) finished: Option<Arc<FileRecord>>,
}

/// Every Gemini file and batch, by id (ids sort by creation), and the uploads under way.
pub(crate) struct Records {
    folder: PathBuf,
    files: Mutex<BTreeMap<String, Arc<FileRecord>>>,
    batches: Mutex<BTreeMap<String, Arc<BatchRecord>>>,
    pub(crate) uploads: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Upload>>>>,
    /// Held while translating results, so one batch is never finished twice at once.
    pub(crate) finishing: Mutex<()>,
    sequence: AtomicU64,
    /// Answer states as `JOB_STATE_*` (the spelling of Google's SDK and REST guide) instead
    /// of the wire's `BATCH_STATE_*`, so clients are tested against both.
    pub(crate) job_state_names: AtomicBool,
}

fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn load_folder<T: serde::de::DeserializeOwned>(folder: &Path) -> Result<Vec<T>, ServeError> {
    let error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ServeError::State { path, source }
    };
    std::fs::create_dir_all(folder).map_err(error(folder))?;
    let mut items = Vec::new();
    for entry in std::fs::read_dir(folder).map_err(error(folder))? {
        let path = entry.map_err(error(folder))?.path();
        if path.extension().is_none_or(|extension| extension != "json") {
            continue;
        }
        let text = std::fs::read(&path).map_err(error(&path))?;
        let item = serde_json::from_slice(&text).map_err(|problem| {
            error(&path)(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                problem,
            ))
        })?;
        items.push(item);
    }
    Ok(items)
}

fn save_json(folder: &Path, id: &str, value: &impl Serialize) -> std::io::Result<()> {
    let temporary = folder.join(format!(".{id}.json.tmp"));
    std::fs::write(
        &temporary,
        serde_json::to_vec(value).map_err(std::io::Error::other)?,
    )?;
    std::fs::rename(&temporary, folder.join(format!("{id}.json")))
}

impl Records {
    pub(crate) fn new(state_dir: &Path) -> Self {
        Self {
            folder: state_dir.join("gemini"),
            files: Mutex::new(BTreeMap::new()),
            batches: Mutex::new(BTreeMap::new()),
            uploads: Mutex::new(HashMap::new()),
            finishing: Mutex::new(()),
            sequence: AtomicU64::new(1),
            job_state_names: AtomicBool::new(false),
        }
    }

    /// Read every record from the state folder.
    pub(crate) fn load(&self) -> Result<(), ServeError> {
        let files: Vec<FileRecord> = load_folder(&self.folder.join("files"))?;
        let batches: Vec<BatchRecord> = load_folder(&self.folder.join("batches"))?;
        let highest = files
            .iter()
            .map(|file| &file.id)
            .chain(batches.iter().map(|batch| &batch.id))
            .filter_map(|id| id.get(..10)?.parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        self.sequence.store(highest + 1, Ordering::Relaxed);
        let mut held = locked(&self.files);
        for file in files {
            held.insert(file.id.clone(), Arc::new(file));
        }
        let mut held = locked(&self.batches);
        for batch in batches {
            held.insert(batch.id.clone(), Arc::new(batch));
        }
        Ok(())
    }

    /// A new id: a sequence number (so ids sort by creation) and a random-looking tail, in
    /// the lower-case letters and digits of Google's resource ids.
    pub(crate) fn new_id(&self) -> String {
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos());
        let tail = xxhash_rust::xxh3::xxh3_64(&(nanos ^ u128::from(sequence)).to_le_bytes());
        format!("{sequence:010}{tail:016x}")
    }

    pub(crate) fn file_path(&self, id: &str) -> PathBuf {
        self.folder.join("files").join(format!("{id}.bytes"))
    }

    /// Where an upload's bytes go until its final chunk.
    pub(crate) fn part_path(&self, id: &str) -> PathBuf {
        self.folder.join("files").join(format!(".{id}.part"))
    }

    pub(crate) fn file(&self, id: &str) -> Option<Arc<FileRecord>> {
        locked(&self.files)
            .get(id)
            .filter(|file| !file.deleted)
            .cloned()
    }

    /// Every file ever made, deleted ones too, oldest first.
    pub(crate) fn all_files(&self) -> Vec<Arc<FileRecord>> {
        locked(&self.files).values().cloned().collect()
    }

    /// Record a file whose bytes are at [`Records::file_path`] (or at its part path).
    pub(crate) fn save_file(&self, file: FileRecord) -> std::io::Result<Arc<FileRecord>> {
        let part = self.part_path(&file.id);
        if part.exists() {
            std::fs::rename(&part, self.file_path(&file.id))?;
        }
        save_json(&self.folder.join("files"), &file.id, &file)?;
        let file = Arc::new(file);
        locked(&self.files).insert(file.id.clone(), Arc::clone(&file));
        Ok(file)
    }

    pub(crate) fn delete_file(&self, id: &str) -> std::io::Result<bool> {
        let Some(file) = self.file(id) else {
            return Ok(false);
        };
        let mut file = FileRecord::clone(&file);
        file.deleted = true;
        self.save_file(file)?;
        let _ = std::fs::remove_file(self.file_path(id));
        Ok(true)
    }

    pub(crate) fn batch(&self, id: &str) -> Option<Arc<BatchRecord>> {
        locked(&self.batches)
            .get(id)
            .filter(|batch| !batch.deleted)
            .cloned()
    }

    /// Every batch ever created, deleted ones too, oldest first.
    pub(crate) fn all_batches(&self) -> Vec<Arc<BatchRecord>> {
        locked(&self.batches).values().cloned().collect()
    }

    pub(crate) fn save_batch(&self, batch: BatchRecord) -> std::io::Result<Arc<BatchRecord>> {
        save_json(&self.folder.join("batches"), &batch.id, &batch)?;
        let batch = Arc::new(batch);
        locked(&self.batches).insert(batch.id.clone(), Arc::clone(&batch));
        Ok(batch)
    }

    /// A new upload session's token: 128 random bits (the std hasher's per-process random
    /// keys), since the token alone authorizes the chunks that follow.
    pub(crate) fn start_upload(&self, upload: Upload) -> String {
        use std::hash::{BuildHasher, Hasher};
        let random = || {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u64(self.sequence.load(Ordering::Relaxed));
            hasher.finish()
        };
        let token = format!("{:016x}{:016x}", random(), random());
        locked(&self.uploads).insert(token.clone(), Arc::new(tokio::sync::Mutex::new(upload)));
        token
    }

    pub(crate) fn upload(&self, token: &str) -> Option<Arc<tokio::sync::Mutex<Upload>>> {
        locked(&self.uploads).get(token).cloned()
    }
}
