//! Exact "seen before?" over any number of keys in fixed memory.
//!
//! A Bloom filter of fixed size answers "certainly new" for almost every key; every key is
//! also appended to a log file on disk. Keys the filter calls "maybe seen" are only
//! *suspects*: at the end, one pass over the log settles which of them really repeat. Memory
//! is the filter (8 MiB) plus the suspects, so it does not grow with the input, only with the
//! number of real duplicates (and a small false-positive rate).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// 2^26 bits = 8 MiB per set: about 0.2% false positives at 5M keys.
pub(crate) const FILTER_BITS_LOG2: u32 = 26;
/// Bits set per key, all inside one 512-bit block (one cache line): a "blocked" Bloom
/// filter costs one cache miss per key instead of one per bit.
const HASHES: u32 = 6;
const BLOCK_WORDS: usize = 8;

/// A Bloom filter plus an on-disk log of `(key, payload)`.
pub struct SeenSet {
    bits: Vec<u64>,
    /// Log entries not yet written; flushed in large writes (entries are tiny and many).
    pending: Vec<u8>,
    log: File,
    log_path: PathBuf,
}

const PENDING_BYTES: usize = 1 << 20;

impl SeenSet {
    /// A set whose log lives at `log_path` (created, truncated), with a filter of
    /// 2^`bits_log2` bits (at least one 512-bit block); small filters only make more suspects,
    /// never wrong answers.
    pub fn with_filter_bits(log_path: &Path, bits_log2: u32) -> std::io::Result<Self> {
        Ok(Self {
            bits: vec![0; 1 << (bits_log2.max(9) - 6)],
            pending: Vec::with_capacity(PENDING_BYTES),
            log: File::create(log_path)?,
            log_path: log_path.to_path_buf(),
        })
    }

    /// Read (without changing) the first word of `key`'s block: a cheap way to pull it into
    /// the cache ahead of [`SeenSet::insert`].
    pub fn peek(&self, key: u128) -> u64 {
        let blocks = self.bits.len() / BLOCK_WORDS;
        self.bits[((key as u64 as usize) & (blocks - 1)) * BLOCK_WORDS]
    }

    /// Add `key`; `true` when it may have been added before (a suspect).
    pub fn insert(&mut self, key: u128) -> bool {
        let blocks = self.bits.len() / BLOCK_WORDS;
        let block = (key as u64 as usize) & (blocks - 1);
        let block = &mut self.bits[block * BLOCK_WORDS..(block + 1) * BLOCK_WORDS];
        let mut bits = (key >> 64) as u64;
        let mut present = true;
        for _ in 0..HASHES {
            // 9 bits pick one of the block's 512 bits.
            let bit = (bits & 511) as usize;
            bits >>= 9;
            let (word, mask) = (bit >> 6, 1u64 << (bit & 63));
            if block[word] & mask == 0 {
                present = false;
                block[word] |= mask;
            }
        }
        present
    }

    /// Record `key` with `payload` in the log.
    pub fn log(&mut self, key: u128, payload: &[u8]) -> std::io::Result<()> {
        self.pending.extend_from_slice(&key.to_le_bytes());
        self.pending
            .extend_from_slice(&(payload.len() as u32).to_le_bytes());
        self.pending.extend_from_slice(payload);
        if self.pending.len() >= PENDING_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.log.write_all(&self.pending)?;
        self.pending.clear();
        Ok(())
    }

    /// Every logged payload of each key in `wanted`, in log order.
    pub fn lookup(
        &mut self,
        wanted: &HashSet<u128>,
    ) -> std::io::Result<HashMap<u128, Vec<Vec<u8>>>> {
        self.flush()?;
        let mut found: HashMap<u128, Vec<Vec<u8>>> = HashMap::new();
        if wanted.is_empty() {
            return Ok(found);
        }
        let mut reader = BufReader::with_capacity(1 << 16, File::open(&self.log_path)?);
        let mut key_bytes = [0u8; 16];
        let mut length_bytes = [0u8; 4];
        let mut payload = Vec::new();
        loop {
            match reader.read_exact(&mut key_bytes) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(error) => return Err(error),
            }
            reader.read_exact(&mut length_bytes)?;
            payload.resize(u32::from_le_bytes(length_bytes) as usize, 0);
            reader.read_exact(&mut payload)?;
            let key = u128::from_le_bytes(key_bytes);
            if wanted.contains(&key) {
                found.entry(key).or_default().push(payload.clone());
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_exactly_the_repeated_keys() {
        let directory = tempfile::tempdir().unwrap();
        let mut set =
            SeenSet::with_filter_bits(&directory.path().join("log"), FILTER_BITS_LOG2).unwrap();
        let mut suspects = HashSet::new();
        for key in (0..200_000u128).chain([5, 77, 5]) {
            let hashed = u128::from(xxhash_rust::xxh3::xxh3_64(&key.to_le_bytes())) << 64 | key;
            if set.insert(hashed) {
                suspects.insert(hashed);
            }
            set.log(hashed, &key.to_le_bytes()[..4]).unwrap();
        }
        let found = set.lookup(&suspects).unwrap();
        let repeated: Vec<usize> = found
            .values()
            .filter(|payloads| payloads.len() > 1)
            .map(Vec::len)
            .collect();
        let mut repeated = repeated;
        repeated.sort_unstable();
        assert_eq!(repeated, vec![2, 3]);
    }
}
