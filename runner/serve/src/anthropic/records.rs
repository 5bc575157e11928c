//! Message batches on disk: `anthropic/<msgbatch id>.json` maps a message batch to its
//! internal batch, custom_ids and answer forms; once the internal batch is over, its output
//! and error files are translated once into `anthropic/<id>.results.jsonl` (shuffled) and the
//! final counts are recorded. Written atomically, so a restarted server serves the same.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use batchlabel_protocol::BatchStatus;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::translate::{Form, to_message};
use crate::ServeError;
use crate::routes::AppState;

/// A message batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    pub(crate) id: String,
    /// The internal (OpenAI-shaped) batch that runs it.
    pub(crate) batch_id: String,
    pub(crate) created_at: i64,
    pub(crate) custom_ids: Vec<String>,
    /// One per custom_id, in the same order.
    pub(crate) forms: Vec<Form>,
    /// Set once the results file is written.
    #[serde(default)]
    pub(crate) ended: Option<Ended>,
}

/// How a message batch ended.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct Ended {
    pub(crate) at: i64,
    pub(crate) counts: Counts,
}

/// `request_counts`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub(crate) struct Counts {
    pub(crate) processing: u64,
    pub(crate) succeeded: u64,
    pub(crate) errored: u64,
    pub(crate) canceled: u64,
    pub(crate) expired: u64,
}

/// All message batches, by id (ids sort by creation).
pub(crate) struct Records {
    folder: PathBuf,
    by_id: Mutex<BTreeMap<String, Arc<Record>>>,
    /// Held while translating results, so one batch is never translated twice at once.
    finishing: Mutex<()>,
    /// Most requests per message batch.
    pub(crate) max_requests: AtomicU64,
}

impl Records {
    pub(crate) fn new(state_dir: &Path) -> Self {
        Self {
            folder: state_dir.join("anthropic"),
            by_id: Mutex::new(BTreeMap::new()),
            finishing: Mutex::new(()),
            max_requests: AtomicU64::new(super::DEFAULT_MAX_REQUESTS),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<Record>>> {
        self.by_id
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Read every record from the state folder.
    pub(crate) fn load(&self) -> Result<(), ServeError> {
        let error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ServeError::State { path, source }
        };
        std::fs::create_dir_all(&self.folder).map_err(error(&self.folder))?;
        let mut records = self.lock();
        for entry in std::fs::read_dir(&self.folder).map_err(error(&self.folder))? {
            let path = entry.map_err(error(&self.folder))?.path();
            if path.extension().is_none_or(|extension| extension != "json") {
                continue;
            }
            let text = std::fs::read(&path).map_err(error(&path))?;
            let record: Record = serde_json::from_slice(&text).map_err(|problem| {
                error(&path)(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    problem,
                ))
            })?;
            records.insert(record.id.clone(), Arc::new(record));
        }
        Ok(())
    }

    pub(crate) fn get(&self, id: &str) -> Option<Arc<Record>> {
        self.lock().get(id).cloned()
    }

    /// Every record, oldest first.
    pub(crate) fn all(&self) -> Vec<Arc<Record>> {
        self.lock().values().cloned().collect()
    }

    pub(crate) fn save(&self, record: Record) -> std::io::Result<Arc<Record>> {
        let path = self.folder.join(format!("{}.json", record.id));
        let temporary = self.folder.join(format!(".{}.json.tmp", record.id));
        std::fs::write(
            &temporary,
            serde_json::to_vec(&record).map_err(std::io::Error::other)?,
        )?;
        std::fs::rename(&temporary, &path)?;
        let record = Arc::new(record);
        self.lock().insert(record.id.clone(), Arc::clone(&record));
        Ok(record)
    }

    pub(crate) fn results_path(&self, id: &str) -> PathBuf {
        self.folder.join(format!("{id}.results.jsonl"))
    }

    pub(crate) fn delete(&self, id: &str) -> std::io::Result<()> {
        self.lock().remove(id);
        let _ = std::fs::remove_file(self.results_path(id));
        std::fs::remove_file(self.folder.join(format!("{id}.json")))
    }
}

/// The record, with its results written if its internal batch is over.
pub(crate) fn finish_if_done(state: &AppState, id: &str) -> std::io::Result<Option<Arc<Record>>> {
    let Some(record) = state.anthropic.get(id) else {
        return Ok(None);
    };
    if record.ended.is_some() {
        return Ok(Some(record));
    }
    let Some(batch) = state.store.batch(&record.batch_id) else {
        return Ok(Some(record));
    };
    if !batch.status.is_terminal() {
        return Ok(Some(record));
    }
    let _finishing = state
        .anthropic
        .finishing
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Another caller may have finished it while this one waited.
    let Some(record) = state.anthropic.get(id) else {
        return Ok(None);
    };
    if record.ended.is_some() {
        return Ok(Some(record));
    }
    let mut lines = Vec::with_capacity(record.custom_ids.len());
    let mut counts = Counts::default();
    let index: HashMap<&str, usize> = record
        .custom_ids
        .iter()
        .enumerate()
        .map(|(index, custom_id)| (custom_id.as_str(), index))
        .collect();
    let mut seen = vec![false; record.custom_ids.len()];
    for file_id in [&batch.output_file_id, &batch.error_file_id]
        .into_iter()
        .flatten()
    {
        let content = std::fs::read(state.store.content_path(file_id))?;
        for raw in content.split(|byte| *byte == b'\n') {
            if raw.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let (custom_id, line) = translate_line(&record, &index, raw, &mut counts);
            if let Some(position) = custom_id.and_then(|custom_id| index.get(custom_id.as_str())) {
                seen[*position] = true;
            }
            lines.push(line);
        }
    }
    // Requests the internal batch never wrote a line for: a batch failed or cancelled before
    // it ran (or cancelled by a restart) ends them all alike; in a completed batch they are
    // lines an injected fault left out, and stay out.
    let unseen_result = match batch.status {
        BatchStatus::Cancelled => Some(json!({"type": "canceled"})),
        BatchStatus::Expired => Some(json!({"type": "expired"})),
        BatchStatus::Failed => {
            let message = batch
                .errors
                .as_ref()
                .and_then(|errors| errors.data.first())
                .map_or("The batch failed.", |error| error.message.as_str());
            Some(errored("api_error", message))
        }
        _ => None,
    };
    for (position, custom_id) in record.custom_ids.iter().enumerate() {
        if seen[position] {
            continue;
        }
        let Some(result) = &unseen_result else {
            // Counted as the provider would: it did run.
            counts.succeeded += 1;
            continue;
        };
        count(&mut counts, result);
        lines.push(json!({"custom_id": custom_id, "result": result}).to_string());
    }
    // Results come in no particular order, as Anthropic warns: shuffle, reproducibly.
    lines.sort_by_cached_key(|line| xxhash_rust::xxh3::xxh3_64(format!("{id}{line}").as_bytes()));
    let path = state.anthropic.results_path(id);
    let temporary = path.with_extension("jsonl.tmp");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&temporary)?);
    for line in &lines {
        writeln!(file, "{line}")?;
    }
    file.flush()?;
    drop(file);
    std::fs::rename(&temporary, &path)?;
    let at = [
        batch.completed_at,
        batch.cancelled_at,
        batch.expired_at,
        batch.failed_at,
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or_else(crate::now);
    let mut record = Record::clone(&record);
    record.ended = Some(Ended { at, counts });
    state.anthropic.save(record).map(Some)
}

fn errored(kind: &str, message: &str) -> Value {
    json!({"type": "errored", "error": {"type": "error", "error": {"type": kind, "message": message}}})
}

fn count(counts: &mut Counts, result: &Value) {
    match result["type"].as_str() {
        Some("succeeded") => counts.succeeded += 1,
        Some("canceled") => counts.canceled += 1,
        Some("expired") => counts.expired += 1,
        _ => counts.errored += 1,
    }
}

#[derive(Deserialize)]
struct OutputLine {
    custom_id: String,
    #[serde(default)]
    response: Option<OutputResponse>,
    #[serde(default)]
    error: Option<OutputError>,
}

#[derive(Deserialize)]
struct OutputResponse {
    status_code: u16,
    body: Box<serde_json::value::RawValue>,
}

#[derive(Deserialize)]
struct OutputError {
    code: String,
    #[serde(default)]
    message: String,
}

/// One internal output or error line → a result line (and its custom_id, when readable).
fn translate_line(
    record: &Record,
    index: &HashMap<&str, usize>,
    raw: &[u8],
    counts: &mut Counts,
) -> (Option<String>, String) {
    let Ok(line) = serde_json::from_slice::<OutputLine>(raw) else {
        // A line the fault injector cut in half: cut the translated line too.
        return broken_line(raw, counts);
    };
    let result = match (&line.response, &line.error) {
        (Some(response), _) => {
            let form = index
                .get(line.custom_id.as_str())
                .and_then(|position| record.forms.get(*position))
                .unwrap_or(&Form::Text);
            let seed = format!("{}/{}", record.id, line.custom_id);
            match to_message(
                response.status_code,
                response.body.get(),
                form,
                &seed,
                "batch",
            ) {
                Ok(message) => json!({"type": "succeeded", "message": message}),
                Err(failure) => errored(failure.kind, &failure.message),
            }
        }
        (None, Some(error)) if error.code == "batch_expired" => json!({"type": "expired"}),
        (None, Some(error)) if error.code == "batch_cancelled" => json!({"type": "canceled"}),
        (None, Some(error)) => errored("invalid_request_error", &error.message),
        (None, None) => errored("api_error", "the request has no result"),
    };
    count(counts, &result);
    let text = json!({"custom_id": line.custom_id, "result": result}).to_string();
    (Some(line.custom_id), text)
}

/// The first half of a result line for a malformed internal line, counted as succeeded (the
/// provider thinks it delivered it).
fn broken_line(raw: &[u8], counts: &mut Counts) -> (Option<String>, String) {
    counts.succeeded += 1;
    let text = String::from_utf8_lossy(raw);
    let custom_id = text.find("\"custom_id\":").and_then(|start| {
        let rest = &text[start + "\"custom_id\":".len()..];
        serde_json::Deserializer::from_str(rest)
            .into_iter::<String>()
            .next()
            .and_then(Result::ok)
    });
    let whole =
        json!({"custom_id": custom_id.clone().unwrap_or_default(), "result": {"type": "succeeded",
        "message": {"id": "msg_broken", "type": "message", "role": "assistant", "content": []}}})
        .to_string();
    let mut cut = whole.len() / 2;
    while !whole.is_char_boundary(cut) {
        cut -= 1;
    }
    (custom_id, whole[..cut].to_string())
}
