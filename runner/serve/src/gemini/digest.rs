//! A File's `sha256Hash` (base64 of the SHA-256 of its bytes, as Google reports it).

use sha2::Digest as _;

/// A running SHA-256 (records keep one while an upload's chunks arrive).
#[derive(Clone, Default)]
pub(crate) struct Sha256(sha2::Sha256);

impl std::fmt::Debug for Sha256 {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Sha256")
    }
}

impl Sha256 {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The digest, base64-encoded.
    pub(crate) fn finish_base64(self) -> String {
        base64(&self.0.finalize())
    }
}

/// The base64 SHA-256 of a file's bytes.
pub(crate) fn of_file(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 20];
    loop {
        match file.read(&mut buffer)? {
            0 => return Ok(hasher.finish_base64()),
            read => hasher.update(&buffer[..read]),
        }
    }
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let value = group.iter().enumerate().fold(0u32, |value, (index, byte)| {
            value | u32::from(*byte) << (16 - 8 * index)
        });
        for index in 0..4 {
            if index <= group.len() {
                out.push(char::from(
                    ALPHABET[(value >> (18 - 6 * index) & 63) as usize],
                ));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(pieces: &[&[u8]]) -> String {
        let mut hasher = Sha256::new();
        for piece in pieces {
            hasher.update(piece);
        }
        hasher.finish_base64()
    }

    #[test]
    fn matches_known_digests() {
        assert_eq!(digest(&[]), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
        assert_eq!(
            digest(&[b"abc"]),
            "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
        let long = vec![b'a'; 1000];
        assert_eq!(
            digest(&[&long]),
            digest(&[&long[..7], &long[7..100], &long[100..]])
        );
        assert_eq!(base64(b"ab"), "YWI=");
    }
}
