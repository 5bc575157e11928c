//! Exact "seen before?" over any number of keys in fixed memory.
//!
//! A Bloom filter of fixed size answers "certainly new" for almost every key; every key is
//! also appended to a log file on disk. Keys the filter calls "maybe seen" are only
//! *suspects*: at the end, one pass over the log settles which of them really repeat. Memory
//! is the filter (8 MiB) plus the suspects, so it does not grow with the input, only with the
//! number of real duplicates (and a small false-positive rate).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

const FILTER_BITS_LOG2: u32 = 26;
const HASHES: u64 = 5;

/// A Bloom filter plus an on-disk log of `(key, payload)`.
pub struct SeenSet {
    bits: Vec<u64>,
    log: BufWriter<File>,
    log_path: PathBuf,
}

impl SeenSet {
    /// A set whose log lives at `log_path` (created, truncated).
    pub fn create(log_path: &Path) -> std::io::Result<Self> {
        Ok(Self {
            bits: vec![0; 1 << (FILTER_BITS_LOG2 - 6)],
            log: BufWriter::with_capacity(1 << 16, File::create(log_path)?),
            log_path: log_path.to_path_buf(),
        })
    }

    /// Add `key`; `true` when it may have been added before (a suspect).
    pub fn insert(&mut self, key: u128) -> bool {
        let low = key as u64;
        let high = (key >> 64) as u64 | 1;
        let mask = (1u64 << FILTER_BITS_LOG2) - 1;
        let mut present = true;
        for round in 0..HASHES {
            let bit = low.wrapping_add(round.wrapping_mul(high)) & mask;
            let (word, offset) = ((bit >> 6) as usize, bit & 63);
            if self.bits[word] & (1 << offset) == 0 {
                present = false;
                self.bits[word] |= 1 << offset;
            }
        }
        present
    }

    /// Record `key` with `payload` in the log.
    pub fn log(&mut self, key: u128, payload: &[u8]) -> std::io::Result<()> {
        self.log.write_all(&key.to_le_bytes())?;
        self.log.write_all(&(payload.len() as u32).to_le_bytes())?;
        self.log.write_all(payload)
    }

    /// Every logged payload of each key in `wanted`, in log order.
    pub fn lookup(&mut self, wanted: &HashSet<u128>) -> std::io::Result<HashMap<u128, Vec<Vec<u8>>>> {
        self.log.flush()?;
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
        let mut set = SeenSet::create(&directory.path().join("log")).unwrap();
        let mut suspects = HashSet::new();
        for key in (0..200_000u128).chain([5, 77, 5]) {
            let hashed = u128::from(xxhash_rust::xxh3::xxh3_64(&key.to_le_bytes())) << 64 | key;
            if set.insert(hashed) {
                suspects.insert(hashed);
            }
            set.log(hashed, &key.to_le_bytes()[..4]).unwrap();
        }
        let found = set.lookup(&suspects).unwrap();
        let repeated: Vec<usize> = found.values().filter(|payloads| payloads.len() > 1).map(Vec::len).collect();
        let mut repeated = repeated;
        repeated.sort_unstable();
        assert_eq!(repeated, vec![2, 3]);
    }
}
