//! What the contract's cases share: shard files in a provider's own format, names unique
//! to a case, waiting for a batch to end, and reading its result files back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use batchlabel_providers::{
    BatchIdentity, BatchProvider, RemoteBatch, RequestShape, ResultLine, Tags,
};

/// How long a case waits for a batch to end.
const PATIENCE: Duration = Duration::from_mins(1);

/// A shard file written for a case.
#[derive(Debug, Clone)]
pub struct Shard {
    /// The file.
    pub path: PathBuf,
    /// The custom_ids of its requests, in order.
    pub custom_ids: Vec<String>,
    /// Its size in bytes.
    pub bytes: u64,
}

/// A token unique to this process and call: names and tags of one case never meet another's.
pub fn unique_token(case: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let count = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos());
    format!("{case}-{}-{nanos:09}-{count}", std::process::id())
}

/// The strict schema the contract's requests ask for.
pub fn contract_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "properties": {"sentiment": {"type": "string", "enum": ["POSITIVE", "NEGATIVE", "NEUTRAL"]}},
        "required": ["sentiment"],
        "additionalProperties": false
    })
}

/// Write a shard of `requests` requests (custom_ids `r-{name}-{i}`) in `provider`'s format
/// into `directory`.
pub fn write_shard(
    provider: &dyn BatchProvider,
    directory: &Path,
    name: &str,
    requests: usize,
) -> Shard {
    let parameters = serde_json::Map::new();
    let schema = contract_schema();
    let shape = RequestShape {
        model: "gpt-4o-mini",
        parameters: &parameters,
        schema_name: "contract",
        schema: &schema,
    };
    let encoder = provider
        .codec()
        .encoder(&shape)
        .expect("the codec's encoder");
    let mut text = Vec::new();
    let mut custom_ids = Vec::new();
    for index in 0..requests {
        let custom_id = format!("r-{name}-{index}");
        text.extend_from_slice(encoder.line_start());
        text.extend_from_slice(custom_id.as_bytes());
        text.extend_from_slice(encoder.after_custom_id());
        text.extend_from_slice(encoder.body_head());
        text.extend(encoder.system_prefix("Label the sentiment."));
        let message = format!("contract request {index}: this product is fine");
        encoder.write_message(&mut text, "user", &message);
        text.extend_from_slice(encoder.body_tail());
        text.extend_from_slice(encoder.line_end());
        custom_ids.push(custom_id);
    }
    let path = directory.join(format!("{name}.jsonl"));
    std::fs::write(&path, &text).expect("write the shard");
    Shard {
        path,
        custom_ids,
        bytes: text.len() as u64,
    }
}

/// Poll `batch_id` until it ends; panics after a minute.
pub async fn wait_until_terminal(provider: &dyn BatchProvider, batch_id: &str) -> RemoteBatch {
    let started = Instant::now();
    let mut pause = Duration::from_millis(2);
    loop {
        let batch = provider.poll(batch_id).await.expect("poll");
        assert_eq!(batch.id, batch_id, "poll answered another batch");
        if batch.state.is_terminal() {
            return batch;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "batch {batch_id} still {} after {PATIENCE:?}",
            batch.state.as_str()
        );
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Stage a shard and create a batch over it with `tags`.
pub(super) async fn submit(
    provider: &dyn BatchProvider,
    directory: &Path,
    case: &str,
    tags: &Tags,
) -> (Shard, RemoteBatch) {
    let token = unique_token(case);
    let shard = write_shard(provider, directory, &token, 3);
    let input = provider
        .stage_input(&shard.path, &format!("{token}.jsonl"))
        .await
        .expect("stage_input");
    let batch = provider.create(&input, tags).await.expect("create");
    if provider.identity() == BatchIdentity::Tagged {
        assert_eq!(batch.input_id.as_deref(), Some(input.id.as_str()));
    }
    (shard, batch)
}

pub(super) fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_string(), (*value).to_string()))
        .collect()
}

/// Every readable line of the files, by custom_id; panics on a line named twice or unreadable.
pub(super) fn read_results<'a>(
    provider: &dyn BatchProvider,
    files: impl IntoIterator<Item = &'a Option<PathBuf>>,
) -> BTreeMap<String, ResultLine> {
    let codec = provider.codec();
    let mut lines = BTreeMap::new();
    for path in files.into_iter().flatten() {
        let text = std::fs::read(path).expect("read a result file");
        for line in text.split(|byte| *byte == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let parsed = codec
                .decode_result_line(line)
                .unwrap_or_else(|| panic!("unreadable: {}", String::from_utf8_lossy(line)));
            let custom_id = parsed.custom_id.clone();
            assert!(
                lines.insert(custom_id.clone(), parsed).is_none(),
                "{custom_id} twice"
            );
        }
    }
    lines
}

pub(super) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}
