//! Rows staged in a temporary file in PostgreSQL's COPY text format, so a run of any size is
//! written in bounded memory and sent in one `COPY … FROM STDIN` at commit.

use std::io::{BufWriter, Seek, Write};

use crate::SinkError;

/// A temporary file of COPY text rows (tab-separated, `\N` for NULL).
pub(crate) struct Staged {
    file: BufWriter<std::fs::File>,
    /// Rows staged.
    pub(crate) rows: u64,
}

impl Staged {
    pub(crate) fn new() -> Result<Self, SinkError> {
        let file =
            tempfile::tempfile().map_err(|error| SinkError::io(&std::env::temp_dir(), error))?;
        Ok(Self {
            file: BufWriter::with_capacity(1 << 16, file),
            rows: 0,
        })
    }

    /// Stage one row of cells (`None` is NULL).
    pub(crate) fn row<'a>(
        &mut self,
        cells: impl IntoIterator<Item = Option<&'a str>>,
    ) -> Result<(), SinkError> {
        let mut line = Vec::new();
        for (index, cell) in cells.into_iter().enumerate() {
            if index > 0 {
                line.push(b'\t');
            }
            match cell {
                None => line.extend_from_slice(b"\\N"),
                // PostgreSQL text cannot hold NUL: it becomes U+FFFD, so one odd answer cannot
                // block every later write of the run.
                Some(text) if text.contains('\0') => {
                    escape_into(&text.replace('\0', "\u{fffd}"), &mut line);
                }
                Some(text) => escape_into(text, &mut line),
            }
        }
        line.push(b'\n');
        self.rows += 1;
        self.file
            .write_all(&line)
            .map_err(|error| SinkError::io(&std::env::temp_dir(), error))
    }

    /// The staged bytes, from the start, for COPY.
    pub(crate) fn reader(self) -> Result<impl std::io::BufRead, SinkError> {
        let io = |error| SinkError::io(&std::env::temp_dir(), error);
        let mut file = self
            .file
            .into_inner()
            .map_err(|error| io(error.into_error()))?;
        file.rewind().map_err(io)?;
        Ok(std::io::BufReader::with_capacity(1 << 16, file))
    }
}

/// COPY text escaping: backslash, tab, newline and carriage return.
fn escape_into(text: &str, out: &mut Vec<u8>) {
    for byte in text.bytes() {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            other => out.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn cells_are_escaped_and_null_is_marked() {
        let mut staged = Staged::new().unwrap();
        staged
            .row([Some("a\tb\\c\nd"), None, Some(""), Some("x\0y")])
            .unwrap();
        let mut text = String::new();
        staged.reader().unwrap().read_to_string(&mut text).unwrap();
        assert_eq!(text, "a\\tb\\\\c\\nd\t\\N\t\tx\u{fffd}y\n");
    }
}
