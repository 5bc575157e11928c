//! Packing (`batch.pack: N`): once a compile has written its shards, each shard's request
//! lines (one row each, the "items") are packed N at a time into one request — the shared
//! system prompt once, the rows' user messages as numbered items, the compact packed schema —
//! written beside them as `shard-NNNNN.packed.jsonl`, which is what is sent.
//! `shard-NNNNN.packs.jsonl` lists each pack's items. The runner splits a pack's answer back
//! into one answer per item, so every item is judged, recorded, cached and retried on its
//! own; retries are cut from the items file and go unpacked, so a failed item is asked again
//! alone.
//!
//! A request-builder plugin sees each row's unpacked request (it runs before packing); lines
//! it gave a conversation other than one user message (e.g. few-shot turns) are sent unpacked.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use batchlabel_protocol::pack::{PackField, packed_prompt, packed_schema};
use batchlabel_providers::{Codec, RequestEncoder, RequestShape};
use batchlabel_spec::{Job, LabelKind, PackAnswer};

use crate::CompileError;
use crate::tokens::TokenCounter;

/// What a packed shard's file is called, beside its items file `shard-NNNNN.jsonl`.
const PACKED_SUFFIX: &str = ".packed.jsonl";
/// The pack → items list, beside the items file.
const PACKS_SUFFIX: &str = ".packs.jsonl";

/// The label fields of `job` as a packed answer has them.
pub fn pack_fields(job: &Job) -> Vec<PackField<'_>> {
    job.labels
        .iter()
        .filter_map(|field| match &field.kind {
            LabelKind::OneOf { labels } => Some((field, labels, false)),
            LabelKind::AnyOf { labels, .. } => Some((field, labels, true)),
            LabelKind::Schema { .. } => None, // the spec refuses packing with these
        })
        .map(|(field, labels, many)| PackField {
            name: &field.name,
            labels: labels.iter().map(|label| label.name.as_str()).collect(),
            many,
            codes: job.batching.pack_answer == PackAnswer::Codes,
        })
        .collect()
}

/// The items file of a shard whose ledger path is `path` (itself when not packed).
pub fn items_path(path: &str) -> PathBuf {
    match path.strip_suffix(PACKED_SUFFIX) {
        Some(stem) => PathBuf::from(format!("{stem}.jsonl")),
        None => PathBuf::from(path),
    }
}

fn packs_path(path: &str) -> Option<PathBuf> {
    path.strip_suffix(PACKED_SUFFIX)
        .map(|stem| PathBuf::from(format!("{stem}{PACKS_SUFFIX}")))
}

/// The file a packed shard sends, beside its items.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PackedShard {
    /// File name inside the output folder (`shard-NNNNN.packed.jsonl`).
    pub file: String,
    /// Requests in it: packs, and lines sent alone.
    pub requests: u64,
    /// Its size in bytes.
    pub bytes: u64,
    /// Prompt tokens of its requests, output schemas included (estimates only).
    #[serde(skip)]
    pub input_tokens: u64,
}

/// Packs the request lines of one job.
pub(crate) struct Packer {
    size: usize,
    codec: Arc<dyn Codec>,
    encoder: Box<dyn RequestEncoder>,
    /// Counts prompt tokens when estimating, with the packed and the unpacked schema's tokens.
    counter: Option<(TokenCounter, u64, u64)>,
}

/// One row's request, ready to pack: custom_id, system prompt, user message.
type Item = (String, String, String);

impl Packer {
    /// The packer of `job`; `None` when it does not pack.
    pub(crate) fn for_job(job: &Job, count_tokens: bool) -> Result<Option<Self>, CompileError> {
        let size = job.batching.pack as usize;
        if size <= 1 {
            return Ok(None);
        }
        let codec = batchlabel_providers::codec_for(job);
        let fields = pack_fields(job);
        let schema = packed_schema(&fields);
        let mut parameters = job.model.parameters.clone();
        // The answer grows with the items: so does its cap.
        if let Some(cap) = crate::pack_output::packed_output_cap(job, &fields, size as u64) {
            parameters.insert("max_completion_tokens".into(), cap.into());
        }
        let shape = RequestShape {
            model: job.model.request_model(),
            parameters: &parameters,
            schema_name: &job.structured_output.name,
            schema: &schema,
        };
        let encoder = codec.encoder(&shape).map_err(CompileError::Setup)?;
        let counter = count_tokens.then(|| {
            let counter = TokenCounter::for_model(&job.model.name);
            let packed = counter.count(&schema.to_string());
            let unpacked = counter.count(&job.structured_output.schema.to_string());
            (counter, packed, unpacked)
        });
        Ok(Some(Self {
            size,
            codec,
            encoder,
            counter,
        }))
    }

    /// Write the packed file and its pack list beside the items file `file` in `directory`
    /// (atomically each).
    pub(crate) fn pack_shard(
        &self,
        directory: &Path,
        file: &str,
    ) -> Result<PackedShard, CompileError> {
        let items = directory.join(file);
        let stem = file.strip_suffix(".jsonl").unwrap_or(file);
        let packed_file = format!("{stem}{PACKED_SUFFIX}");
        let mut packed = Output::create(&directory.join(&packed_file))?;
        let mut packs = Output::create(&directory.join(format!("{stem}{PACKS_SUFFIX}")))?;
        let mut group: Vec<Item> = Vec::new();
        let handle =
            std::fs::File::open(&items).map_err(|source| CompileError::io(&items, source))?;
        for line in std::io::BufReader::with_capacity(1 << 20, handle).lines() {
            let line = line.map_err(|source| CompileError::io(&items, source))?;
            let custom_id = self
                .codec
                .request_custom_id(line.as_bytes())
                .ok_or_else(|| {
                    CompileError::Setup(format!("{}: unreadable shard line", items.display()))
                })?;
            let conversation = self.codec.conversation(&line).ok();
            let tokens = self.line_tokens(conversation.as_ref());
            let packable = conversation.and_then(|conversation| {
                match <[(String, String); 1]>::try_from(conversation.messages) {
                    Ok([(role, user)]) if role == "user" => {
                        Some((conversation.system.unwrap_or_default(), user))
                    }
                    _ => None,
                }
            });
            let Some((system, user)) = packable else {
                packed.write(format!("{line}\n").as_bytes(), tokens)?;
                continue;
            };
            if group.first().is_some_and(|first| first.1 != system) || group.len() == self.size {
                self.flush(&mut group, &mut packed, &mut packs)?;
            }
            group.push((custom_id, system, user));
        }
        self.flush(&mut group, &mut packed, &mut packs)?;
        let summary = PackedShard {
            file: packed_file,
            requests: packed.lines,
            bytes: packed.bytes,
            input_tokens: packed.tokens,
        };
        packs.commit()?;
        packed.commit()?;
        Ok(summary)
    }

    /// Prompt tokens of a line sent alone, its (unpacked) schema included; 0 when not counting.
    fn line_tokens(&self, conversation: Option<&batchlabel_providers::Conversation>) -> u64 {
        let (Some((counter, _, unpacked)), Some(conversation)) = (&self.counter, conversation)
        else {
            return 0;
        };
        let texts: Vec<&str> = conversation
            .system
            .iter()
            .map(String::as_str)
            .chain(
                conversation
                    .messages
                    .iter()
                    .map(|message| message.1.as_str()),
            )
            .collect();
        counter.chat_prompt(&texts) + unpacked
    }

    /// Write the group as one packed request (a group of one goes as it was asked).
    fn flush(
        &self,
        group: &mut Vec<Item>,
        packed: &mut Output,
        packs: &mut Output,
    ) -> Result<(), CompileError> {
        let ids: Vec<&str> = group.iter().map(|item| item.0.as_str()).collect();
        if ids.is_empty() {
            return Ok(());
        }
        let pack_id = pack_id(&ids);
        let users: Vec<&str> = group.iter().map(|item| item.2.as_str()).collect();
        let system = &group[0].1;
        let prompt = packed_prompt(&users);
        let encoder = &self.encoder;
        let mut line = Vec::with_capacity(prompt.len() + system.len() + 1024);
        line.extend_from_slice(encoder.line_start());
        line.extend_from_slice(pack_id.as_bytes());
        line.extend_from_slice(encoder.after_custom_id());
        line.extend_from_slice(encoder.body_head());
        if system.is_empty() {
            line.extend_from_slice(encoder.no_system_prefix());
        } else {
            line.extend_from_slice(&encoder.system_prefix(system));
        }
        encoder.write_message(&mut line, "user", &prompt);
        line.extend_from_slice(encoder.body_tail());
        line.extend_from_slice(encoder.line_end());
        let tokens = self.counter.as_ref().map_or(0, |(counter, schema, _)| {
            let texts: Vec<&str> = [system.as_str(), prompt.as_str()]
                .into_iter()
                .filter(|text| !text.is_empty())
                .collect();
            counter.chat_prompt(&texts) + schema
        });
        packed.write(&line, tokens)?;
        let entry = serde_json::json!({"pack": pack_id, "items": ids});
        packs.write(format!("{entry}\n").as_bytes(), 0)?;
        group.clear();
        Ok(())
    }
}

/// A pack's custom_id: the job scope of its items (if they carry one), then `pk-` and a hash
/// of the items' ids, so no two packs of a job share one.
fn pack_id(items: &[&str]) -> String {
    let first = items.first().copied().unwrap_or_default();
    let scope = &first[..first.len() - batchlabel_core::unscoped(first).len()];
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for item in items {
        hasher.update(item.as_bytes());
        hasher.update(b"\n");
    }
    format!("{scope}pk-{:016x}", hasher.digest())
}

/// A file written under a temporary name and renamed into place when complete.
struct Output {
    path: PathBuf,
    temporary: PathBuf,
    writer: std::io::BufWriter<std::fs::File>,
    bytes: u64,
    lines: u64,
    tokens: u64,
}

impl Output {
    fn create(path: &Path) -> Result<Self, CompileError> {
        let temporary = path.with_extension("part");
        let file = std::fs::File::create(&temporary)
            .map_err(|source| CompileError::io(&temporary, source))?;
        Ok(Self {
            path: path.to_path_buf(),
            temporary,
            writer: std::io::BufWriter::with_capacity(1 << 20, file),
            bytes: 0,
            lines: 0,
            tokens: 0,
        })
    }

    fn write(&mut self, line: &[u8], tokens: u64) -> Result<(), CompileError> {
        self.tokens += tokens;
        self.writer
            .write_all(line)
            .map_err(|source| CompileError::io(&self.temporary, source))?;
        self.bytes += line.len() as u64;
        self.lines += 1;
        Ok(())
    }

    fn commit(self) -> Result<(), CompileError> {
        let file = self
            .writer
            .into_inner()
            .map_err(|error| CompileError::io(&self.temporary, error.into_error()))?;
        file.sync_all()
            .map_err(|source| CompileError::io(&self.temporary, source))?;
        std::fs::rename(&self.temporary, &self.path)
            .map_err(|source| CompileError::io(&self.path, source))
    }
}

/// The packs of one shard: pack custom_id → its items' custom_ids, in item order.
pub struct Packs(HashMap<String, Vec<String>>);

impl Packs {
    /// The packs of the shard at ledger path `path`; `None` when it is not packed.
    pub fn of_shard(path: &str) -> Result<Option<Self>, CompileError> {
        let Some(packs_path) = packs_path(path) else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(&packs_path)
            .map_err(|source| CompileError::io(&packs_path, source))?;
        let mut packs = HashMap::new();
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            let entry: serde_json::Value = serde_json::from_str(line).map_err(|error| {
                CompileError::Setup(format!("{}: {error}", packs_path.display()))
            })?;
            let (Some(pack), Some(items)) = (entry["pack"].as_str(), entry["items"].as_array())
            else {
                return Err(CompileError::Setup(format!(
                    "{}: a line without `pack` and `items`",
                    packs_path.display()
                )));
            };
            let items = items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_string))
                .collect();
            packs.insert(pack.to_string(), items);
        }
        Ok(Some(Self(packs)))
    }

    /// The items of pack `custom_id`, when it is one.
    pub fn items(&self, custom_id: &str) -> Option<&[String]> {
        self.0.get(custom_id).map(Vec::as_slice)
    }
}
