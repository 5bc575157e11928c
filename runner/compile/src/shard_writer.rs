//! Splits request lines into batch files within the provider's limits (requests and bytes
//! per file), one model per file. In dry mode it only keeps the tallies (for `estimate`).

use std::path::{Path, PathBuf};

use batchlabel_spec::BatchLimits;
use serde::Serialize;

use crate::background_writer::BackgroundWriter;

/// One batch file and what is in it.
#[derive(Debug, Clone, Serialize)]
pub struct ShardSummary {
    /// File name inside the output folder.
    pub file: String,
    /// Requests (lines) in it.
    pub requests: u64,
    /// Its size in bytes.
    pub bytes: u64,
    /// custom_id of its first line.
    pub first_custom_id: String,
    /// custom_id of its last line.
    pub last_custom_id: String,
    /// Prompt tokens of its requests (estimates only).
    #[serde(skip)]
    pub input_tokens: u64,
    /// With `batch.pack`, the packed file that is sent instead (these lines are its items).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packed: Option<crate::pack::PackedShard>,
}

impl ShardSummary {
    /// The file that is sent: the packed one when packed.
    pub fn sent_file(&self) -> &str {
        self.packed
            .as_ref()
            .map_or(&self.file, |packed| &packed.file)
    }

    /// The size of the file that is sent.
    pub fn sent_bytes(&self) -> u64 {
        self.packed
            .as_ref()
            .map_or(self.bytes, |packed| packed.bytes)
    }
}

/// Writes lines into `shard-00001.jsonl`, `shard-00002.jsonl`, … (or counts them when dry).
pub struct ShardWriter {
    directory: Option<PathBuf>,
    limits: BatchLimits,
    files: Option<BackgroundWriter>,
    shards: Vec<ShardSummary>,
}

impl ShardWriter {
    /// Write into `directory`; `None` for a dry run.
    pub fn new(directory: Option<&Path>, limits: BatchLimits) -> Self {
        Self {
            directory: directory.map(Path::to_path_buf),
            limits,
            files: directory.map(|_| BackgroundWriter::new()),
            shards: Vec::new(),
        }
    }

    /// Append one line (which the caller checked fits in an empty file).
    pub fn write(
        &mut self,
        line: &[u8],
        custom_id: &str,
        input_tokens: u64,
    ) -> std::io::Result<()> {
        let fits = self.shards.last().is_some_and(|shard| {
            shard.requests < self.limits.max_requests_per_file
                && shard.bytes + line.len() as u64 <= self.limits.max_bytes_per_file
        });
        if !fits {
            self.open_next()?;
        }
        if let Some(files) = &mut self.files {
            files.write(line)?;
        }
        if let Some(shard) = self.shards.last_mut() {
            if shard.requests == 0 {
                shard.first_custom_id = custom_id.to_string();
            }
            shard.requests += 1;
            shard.bytes += line.len() as u64;
            shard.input_tokens += input_tokens;
            custom_id.clone_into(&mut shard.last_custom_id);
        }
        Ok(())
    }

    fn open_next(&mut self) -> std::io::Result<()> {
        let file = format!("shard-{:05}.jsonl", self.shards.len() + 1);
        if let (Some(directory), Some(files)) = (&self.directory, &mut self.files) {
            files.open(directory.join(&file))?;
        }
        self.shards.push(ShardSummary {
            file,
            requests: 0,
            bytes: 0,
            first_custom_id: String::new(),
            last_custom_id: String::new(),
            input_tokens: 0,
            packed: None,
        });
        Ok(())
    }

    /// The 1-based number of the shard written last.
    pub fn current_number(&self) -> usize {
        self.shards.len()
    }

    /// Flush and return the shards.
    pub fn finish(mut self) -> std::io::Result<Vec<ShardSummary>> {
        if let Some(files) = &mut self.files {
            files.finish()?;
        }
        Ok(self.shards)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_requests_and_on_bytes() {
        let limits = BatchLimits {
            max_requests_per_file: 3,
            max_bytes_per_file: 25,
            max_attempts: 1,
        };
        let mut writer = ShardWriter::new(None, limits);
        for index in 0..7 {
            let line = if index == 4 {
                "x".repeat(20)
            } else {
                "0123456789".to_string()
            };
            writer
                .write(line.as_bytes(), &format!("r-{index}"), 0)
                .unwrap();
        }
        let shards = writer.finish().unwrap();
        let shape: Vec<(u64, u64)> = shards
            .iter()
            .map(|shard| (shard.requests, shard.bytes))
            .collect();
        assert_eq!(shape, vec![(2, 20), (2, 20), (1, 20), (2, 20)]);
        assert_eq!(shards[1].first_custom_id, "r-2");
        assert_eq!(shards[1].last_custom_id, "r-3");
    }
}
