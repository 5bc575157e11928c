//! Batch jobs on disk: `mistral/<job id>.json` maps a job to its internal batch and keeps what
//! the batch does not (input files, model, metadata, the fate drawn at create). Once the batch
//! is over its error file is translated once into Mistral's shape (every line's `error` set)
//! and the job is marked ended. Written atomically, so a restarted server serves the same.
//!
//! The output file needs no translation: the processor's output lines are already Mistral's
//! (`{"id", "custom_id", "response": {"status_code": 200, "body"}, "error": null}`), so the
//! internal batch's output file is served as the job's `output_file` as it is.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use batchlabel_protocol::{Batch, FileObject};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::ServeError;
use crate::routes::AppState;

/// A batch job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Job {
    pub(crate) id: String,
    /// The internal (OpenAI-shaped) batch that runs it.
    pub(crate) batch_id: String,
    pub(crate) input_files: Vec<String>,
    pub(crate) endpoint: String,
    /// The job's model, else the first line's.
    pub(crate) model: Option<String>,
    pub(crate) metadata: Option<Map<String, Value>>,
    pub(crate) timeout_hours: u64,
    pub(crate) created_at: i64,
    /// Requests in its input (what `total_requests` says before the batch counts them).
    pub(crate) requests: u64,
    /// `expired` or `cancelled` when a fault was drawn for it at create.
    #[serde(default)]
    pub(crate) fate: Option<String>,
    /// Set once its error file is translated.
    #[serde(default)]
    pub(crate) ended: Option<Ended>,
}

/// What a job has once its batch is over.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Ended {
    /// The translated error file, when the batch wrote one.
    pub(crate) error_file: Option<String>,
}

/// All jobs, by id (ids sort by creation).
pub(crate) struct Records {
    folder: PathBuf,
    by_id: Mutex<BTreeMap<String, Arc<Job>>>,
    /// Held while translating an error file, so one job is never finished twice at once.
    finishing: Mutex<()>,
}

impl Records {
    pub(crate) fn new(state_dir: &Path) -> Self {
        Self {
            folder: state_dir.join("mistral"),
            by_id: Mutex::new(BTreeMap::new()),
            finishing: Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<Job>>> {
        self.by_id
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Read every job from the state folder.
    pub(crate) fn load(&self) -> Result<(), ServeError> {
        let error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ServeError::State { path, source }
        };
        std::fs::create_dir_all(&self.folder).map_err(error(&self.folder))?;
        let mut jobs = self.lock();
        for entry in std::fs::read_dir(&self.folder).map_err(error(&self.folder))? {
            let path = entry.map_err(error(&self.folder))?.path();
            if path.extension().is_none_or(|extension| extension != "json") {
                continue;
            }
            let text = std::fs::read(&path).map_err(error(&path))?;
            let job: Job = serde_json::from_slice(&text).map_err(|problem| {
                error(&path)(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    problem,
                ))
            })?;
            jobs.insert(job.id.clone(), Arc::new(job));
        }
        Ok(())
    }

    pub(crate) fn get(&self, id: &str) -> Option<Arc<Job>> {
        self.lock().get(id).cloned()
    }

    /// The job an internal batch runs, if any.
    pub(crate) fn by_batch(&self, batch_id: &str) -> Option<Arc<Job>> {
        self.lock()
            .values()
            .find(|job| job.batch_id == batch_id)
            .cloned()
    }

    /// Every job, oldest first.
    pub(crate) fn all(&self) -> Vec<Arc<Job>> {
        self.lock().values().cloned().collect()
    }

    pub(crate) fn save(&self, job: Job) -> std::io::Result<Arc<Job>> {
        std::fs::create_dir_all(&self.folder)?;
        let path = self.folder.join(format!("{}.json", job.id));
        let temporary = self.folder.join(format!(".{}.json.tmp", job.id));
        std::fs::write(
            &temporary,
            serde_json::to_vec(&job).map_err(std::io::Error::other)?,
        )?;
        std::fs::rename(&temporary, &path)?;
        let job = Arc::new(job);
        self.lock().insert(job.id.clone(), Arc::clone(&job));
        Ok(job)
    }
}

/// The job and its batch, with the job finished if the batch is over.
pub(crate) fn finish_if_done(
    state: &AppState,
    id: &str,
) -> std::io::Result<Option<(Arc<Job>, Option<Batch>)>> {
    let Some(job) = state.mistral.get(id) else {
        return Ok(None);
    };
    let batch = state.store.batch(&job.batch_id);
    let Some(over) = batch.as_ref().filter(|batch| batch.status.is_terminal()) else {
        return Ok(Some((job, batch)));
    };
    if job.ended.is_some() {
        return Ok(Some((job, batch)));
    }
    let _finishing = state
        .mistral
        .finishing
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Another caller may have finished it while this one waited.
    let Some(job) = state.mistral.get(id) else {
        return Ok(None);
    };
    if job.ended.is_some() {
        return Ok(Some((job, batch)));
    }
    let error_file = match &over.error_file_id {
        Some(file_id) => Some(translate_error_file(state, &job.id, file_id)?),
        None => None,
    };
    let mut job = Job::clone(&job);
    job.ended = Some(Ended { error_file });
    let job = state.mistral.save(job)?;
    Ok(Some((job, batch)))
}

/// Copy the internal error file as the job's, every line with its `error` set; returns the
/// new file's id.
fn translate_error_file(state: &AppState, job_id: &str, file_id: &str) -> std::io::Result<String> {
    let reader = std::io::BufReader::with_capacity(
        1 << 20,
        std::fs::File::open(state.store.content_path(file_id))?,
    );
    let new_id = state.store.new_id("file-");
    let staged = state.store.upload_path(&new_id);
    let mut writer = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&staged)?);
    let mut bytes = 0u64;
    for raw in reader.split(b'\n') {
        let raw = raw?;
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let line = error_line(&raw);
        let line = line.as_ref().map_or(&raw[..], String::as_bytes);
        writer.write_all(line)?;
        writer.write_all(b"\n")?;
        bytes += line.len() as u64 + 1;
    }
    writer.flush()?;
    drop(writer);
    let now = crate::now();
    state.store.add_file(FileObject {
        id: new_id.clone(),
        object: "file".into(),
        bytes,
        created_at: now,
        filename: format!("{job_id}_error.jsonl"),
        purpose: "batch_output".into(),
        status: Some("processed".into()),
        expires_at: Some(now + 2_592_000),
    })?;
    Ok(new_id)
}

/// An error line with `error` set from its non-200 response (its body's error message and
/// code); `None` keeps the line as it is: it has its `error` already (a request cancelled or
/// expired), or is a line an injected fault cut (the client must cope with it, as with
/// the output file's).
fn error_line(raw: &[u8]) -> Option<String> {
    let mut line = serde_json::from_slice::<Map<String, Value>>(raw).ok()?;
    if !line.get("error").is_none_or(Value::is_null) {
        return None;
    }
    let response = line.get("response")?;
    let status = response["status_code"].as_u64()?;
    let detail = &response["body"]["error"];
    let message = detail["message"].as_str().map_or_else(
        || format!("The request failed with HTTP {status}."),
        str::to_string,
    );
    let code = [&detail["code"], &detail["type"]]
        .into_iter()
        .find_map(Value::as_str)
        .map_or_else(|| status.to_string(), str::to_string);
    line.insert("error".into(), json!({"message": message, "code": code}));
    Some(Value::Object(line).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_get_their_error_from_the_response() {
        let line = br#"{"id":"r","custom_id":"a","response":{"status_code":500,"body":{"error":{"message":"boom","type":"server_error","code":null}}},"error":null}"#;
        let translated: Value = serde_json::from_str(&error_line(line).unwrap()).unwrap();
        assert_eq!(
            translated["error"],
            json!({"message": "boom", "code": "server_error"})
        );
        assert_eq!(translated["response"]["status_code"], 500);
        let cancelled = br#"{"id":"r","custom_id":"a","response":null,"error":{"code":"batch_cancelled","message":"m"}}"#;
        assert_eq!(error_line(cancelled), None);
        assert_eq!(error_line(br#"{"id":"r","custom_id":"#), None);
    }
}
