//! `custom_id`s: unique per request, at most 64 characters of `[A-Za-z0-9_-]` (portable to
//! every provider), and joinable back to the source row from the batch file alone where the
//! id allows it.

/// Longest id that is used as-is after the `r-` prefix.
const MAX_DIRECT: usize = 62;
/// Longest id (in bytes) that is hex-encoded after the `x-` prefix.
const MAX_HEX_BYTES: usize = 31;

/// How a custom_id was made from a row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomIdKind {
    /// `r-<id>`: the id itself.
    Direct,
    /// `x-<hex of the id's UTF-8 bytes>`: reversible.
    Hex,
    /// `h-<128-bit hash>`: only the row map in the output folder joins it back.
    Hashed,
}

/// Append the custom_id for `row_id` to `out` (no allocation for the common forms).
pub fn write_custom_id(row_id: &str, out: &mut Vec<u8>) -> CustomIdKind {
    write_scoped(row_id, None, out)
}

/// The custom_ids of one job: scoped (`s<8 hex of the spec fingerprint>-<id>`) when its
/// provider's batches carry no metadata, so results name their job (see
/// `Codec::scoped_custom_ids`); plain otherwise.
#[derive(Debug, Clone, Copy, Default)]
pub struct CustomIds {
    scope: Option<[u8; 8]>,
}

impl CustomIds {
    /// The custom_ids of `job`.
    pub fn for_job(job: &batchlabel_spec::Job) -> Self {
        let mut scope = [b'0'; 8];
        let fingerprint = job.fingerprint.as_bytes();
        let scoped = batchlabel_providers::codec_for(job).scoped_custom_ids()
            && fingerprint.len() >= 8
            && fingerprint[..8].iter().all(u8::is_ascii_hexdigit);
        if scoped {
            scope.copy_from_slice(&fingerprint[..8]);
        }
        Self {
            scope: scoped.then_some(scope),
        }
    }

    /// Append the custom_id for `row_id` to `out`.
    pub fn write(&self, row_id: &str, out: &mut Vec<u8>) -> CustomIdKind {
        write_scoped(row_id, self.scope.as_ref(), out)
    }
}

fn write_scoped(row_id: &str, scope: Option<&[u8; 8]>, out: &mut Vec<u8>) -> CustomIdKind {
    // The scope takes room from the id: the whole stays within 64 characters.
    let room = match scope {
        Some(scope) => {
            out.push(b's');
            out.extend_from_slice(scope);
            out.push(b'-');
            batchlabel_core::SCOPE_LENGTH
        }
        None => 0,
    };
    let safe = row_id
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-');
    if safe && !row_id.is_empty() && row_id.len() <= MAX_DIRECT - room {
        out.extend_from_slice(b"r-");
        out.extend_from_slice(row_id.as_bytes());
        return CustomIdKind::Direct;
    }
    if row_id.len() <= MAX_HEX_BYTES - room / 2 {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        out.extend_from_slice(b"x-");
        for byte in row_id.bytes() {
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 15)]);
        }
        return CustomIdKind::Hex;
    }
    let hash = xxhash_rust::xxh3::xxh3_128(row_id.as_bytes());
    out.extend_from_slice(format!("h-{hash:032x}").as_bytes());
    CustomIdKind::Hashed
}

/// The custom_id for a row id. Distinct row ids always give distinct custom_ids (the three
/// prefixes keep the forms apart; hashes are 128-bit).
pub fn custom_id(row_id: &str) -> (String, CustomIdKind) {
    let mut out = Vec::with_capacity(64);
    let kind = write_custom_id(row_id, &mut out);
    (String::from_utf8(out).unwrap_or_default(), kind)
}

pub use batchlabel_core::row_id_of;

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(custom_id: &str) -> bool {
        custom_id.len() <= 64
            && custom_id
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
    }

    #[test]
    fn scoped_ids_stay_portable_and_join_back() {
        let scope = *b"0123abcd";
        for id in [
            "t1",
            &"a".repeat(52),
            &"a".repeat(53),
            "a b",
            &"é".repeat(40),
        ] {
            let mut out = Vec::new();
            let kind = write_scoped(id, Some(&scope), &mut out);
            let custom = String::from_utf8(out).unwrap();
            assert!(valid(&custom), "{custom}");
            assert!(custom.starts_with("s0123abcd-"), "{custom}");
            if kind != CustomIdKind::Hashed {
                assert_eq!(row_id_of(&custom).as_deref(), Some(id));
            }
        }
        assert_eq!(batchlabel_core::unscoped("s0123abcd-r-1"), "r-1");
        assert_eq!(batchlabel_core::unscoped("r-s0123abcd-1"), "r-s0123abcd-1");
    }

    #[test]
    fn every_form_is_portable_and_round_trips_where_promised() {
        for (id, kind) in [
            ("12345", CustomIdKind::Direct),
            ("a_b-C", CustomIdKind::Direct),
            ("user 7/ü", CustomIdKind::Hex),
            ("", CustomIdKind::Hex),
            (&"z".repeat(62), CustomIdKind::Direct),
            (&"z".repeat(63), CustomIdKind::Hashed),
            (&"é".repeat(40), CustomIdKind::Hashed),
        ] {
            let (custom, got) = custom_id(id);
            assert_eq!(got, kind, "{id}");
            assert!(valid(&custom), "{custom}");
            if kind != CustomIdKind::Hashed && !id.is_empty() && id.len() <= 62 {
                assert_eq!(row_id_of(&custom).as_deref(), Some(id));
            }
        }
    }

    #[test]
    fn forms_never_collide() {
        // An id that looks like another form's output still maps to a different custom_id.
        let (hex, _) = custom_id("a b");
        let (direct, _) = custom_id(hex.trim_start_matches("x-"));
        assert_ne!(hex, direct);
    }
}
