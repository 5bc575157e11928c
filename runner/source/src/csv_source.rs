//! CSV input: RFC 4180 with a header row, read record by record.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::row::Record;
use crate::{Columns, InputIdentity, Row, RowError, Source, SourceError};

/// Rows of a CSV file.
#[derive(Debug)]
pub struct CsvSource {
    path: PathBuf,
    /// The path as text, for messages.
    location: String,
    reader: csv::Reader<File>,
    columns: Arc<Columns>,
    id_position: usize,
    record: csv::ByteRecord,
    /// Length of the BOM skipped before the header: the reader's offsets start after it.
    bom: u64,
    /// Byte offset and line where the last record started, to check it at the end.
    last_record: Option<(u64, u64)>,
}

impl CsvSource {
    /// Open `path`, read its header and find `id_column`.
    pub fn open(path: &Path, delimiter: u8, id_column: &str) -> Result<Self, SourceError> {
        let (file, bom) = crate::input_file::open(path)?;
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(true)
            // Field counts are checked per row, so one short row is one clear error.
            .flexible(true)
            .buffer_capacity(1 << 18)
            .from_reader(file);
        let header = reader
            .byte_headers()
            .map_err(|error| header_error(path, &error))?
            .clone();
        if header.is_empty() {
            return Err(SourceError::Empty {
                path: path.to_path_buf(),
            });
        }
        let mut names = Vec::with_capacity(header.len());
        for (index, name) in header.iter().enumerate() {
            let name = std::str::from_utf8(name).map_err(|_| SourceError::Header {
                path: path.to_path_buf(),
                message: format!("column {} is not valid UTF-8", index + 1),
            })?;
            names.push(name.to_string());
        }
        let columns = Arc::new(Columns::from_header(names, path)?);
        columns.require(id_column, "the row id (`input.id`)", path)?;
        let id_position = columns.position(id_column).unwrap_or_default();
        Ok(Self {
            path: path.to_path_buf(),
            location: path.to_string_lossy().into_owned(),
            reader,
            columns,
            id_position,
            record: csv::ByteRecord::new(),
            bom,
            last_record: None,
        })
    }

    /// The input file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A quote left open swallows every later line into one field without any parse error:
    /// rows would vanish silently. An open quote can only end at the end of the file, so the
    /// last record's raw text having an odd number of quotes (and more than one line) gives
    /// it away.
    #[expect(clippy::naive_bytecount, reason = "one record's bytes, once per file")]
    fn unterminated_quote(&self) -> Result<Option<RowError>, SourceError> {
        use std::io::{Read, Seek, SeekFrom};
        let Some((byte, line)) = self.last_record else {
            return Ok(None);
        };
        let io_error = |source| SourceError::Io {
            path: self.path.clone(),
            source,
        };
        let mut file = File::open(&self.path).map_err(io_error)?;
        file.seek(SeekFrom::Start(self.bom + byte))
            .map_err(io_error)?;
        let mut tail = Vec::new();
        file.read_to_end(&mut tail).map_err(io_error)?;
        let quotes = tail.iter().filter(|&&byte| byte == b'"').count();
        // Only a record that ran over several lines can have swallowed rows; a stray quote in
        // an unquoted last field (which the reader accepts literally) is left alone.
        let body = tail.strip_suffix(b"\n").unwrap_or(&tail);
        let spans_lines = body.contains(&b'\n');
        Ok((quotes % 2 == 1 && spans_lines).then(|| RowError {
            path: self.path.clone(),
            line,
            message: "unterminated quoted field: a `\"` opened in this row is never closed, so every line after it was read into one field; hint: close the quote, or double `\"\"` a quote inside a quoted field".to_string(),
        }))
    }

    fn row(&self) -> Result<Row, RowError> {
        let line = self.record.position().map_or(0, csv::Position::line);
        let error = |message: String| RowError {
            path: self.path.clone(),
            line,
            message,
        };
        let expected = self.columns.names().len();
        if self.record.len() != expected {
            return Err(error(format!(
                "malformed CSV row: expected {expected} fields (as in the header), found {}; hint: quote fields that contain the delimiter, quotes or newlines",
                self.record.len()
            )));
        }
        let record = csv::StringRecord::from_byte_record(self.record.clone()).map_err(|utf8| {
            let field = utf8.utf8_error().field();
            let column = self
                .columns
                .names()
                .get(field)
                .map_or("?", String::as_str);
            error(format!(
                "invalid UTF-8 in column `{column}` (after byte {} of the field); hint: convert the file to UTF-8, e.g. `iconv -f latin1 -t utf-8`",
                utf8.utf8_error().valid_up_to()
            ))
        })?;
        let id = record.get(self.id_position).unwrap_or_default();
        if id.trim().is_empty() {
            return Err(error(format!(
                "empty id in column `{}`",
                self.columns.names()[self.id_position]
            )));
        }
        Ok(Row {
            line,
            id: id.to_string(),
            record: Record::Fields(record),
        })
    }
}

impl Source for CsvSource {
    fn columns(&self) -> &Arc<Columns> {
        &self.columns
    }

    fn fixed_columns(&self) -> bool {
        true
    }

    /// Read up to `max` rows or row errors; `false` at the end of the file.
    fn next_chunk(
        &mut self,
        max: usize,
        out: &mut Vec<Result<Row, RowError>>,
    ) -> Result<bool, SourceError> {
        for _ in 0..max {
            let read = self.reader.read_byte_record(&mut self.record);
            match read {
                Ok(false) => {
                    if let Some(error) = self.unterminated_quote()? {
                        out.push(Err(error));
                    }
                    return Ok(false);
                }
                Ok(true) => {
                    self.last_record = self
                        .record
                        .position()
                        .map(|position| (position.byte(), position.line()));
                    out.push(self.row());
                }
                Err(error) => {
                    let line = error.position().map_or(0, csv::Position::line);
                    if let csv::ErrorKind::Io(source) = error.into_kind() {
                        return Err(SourceError::Io {
                            path: self.path.clone(),
                            source,
                        });
                    }
                    out.push(Err(RowError {
                        path: self.path.clone(),
                        line,
                        message: "malformed CSV record".to_string(),
                    }));
                }
            }
        }
        Ok(true)
    }

    fn bytes_read(&self) -> u64 {
        self.bom + self.reader.position().byte()
    }

    fn require_column(&self, column: &str, purpose: &str) -> Result<(), SourceError> {
        self.columns.require(column, purpose, &self.path)
    }

    fn location(&self) -> &str {
        &self.location
    }

    fn identity(&self) -> Result<InputIdentity, SourceError> {
        crate::input_identity(&self.path)
    }
}

fn header_error(path: &Path, error: &csv::Error) -> SourceError {
    SourceError::Header {
        path: path.to_path_buf(),
        message: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn read_all(bytes: &[u8]) -> (Vec<Result<Row, RowError>>, tempfile::NamedTempFile) {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(bytes).unwrap();
        let mut source = CsvSource::open(file.path(), b',', "id").unwrap();
        let mut rows = Vec::new();
        while source.next_chunk(2, &mut rows).unwrap() {}
        (rows, file)
    }

    #[test]
    fn rows_carry_their_starting_line() {
        let (rows, _file) = read_all(b"id,text\n1,\"two\nlines\"\n2,plain\n");
        let lines: Vec<u64> = rows.iter().map(|row| row.as_ref().unwrap().line).collect();
        assert_eq!(lines, vec![2, 4]);
    }

    #[test]
    fn short_rows_and_bad_utf8_are_row_errors() {
        let (rows, _file) = read_all(b"id,text\n1,ok\n2\n3,caf\xe9\n4,fine\n");
        assert!(rows[0].is_ok());
        let short = rows[1].as_ref().unwrap_err();
        assert_eq!(short.line, 3);
        assert!(
            short.message.contains("expected 2 fields"),
            "{}",
            short.message
        );
        let utf8 = rows[2].as_ref().unwrap_err();
        assert_eq!(utf8.line, 4);
        assert!(
            utf8.message.contains("invalid UTF-8 in column `text`"),
            "{}",
            utf8.message
        );
        assert!(rows[3].is_ok());
    }

    #[test]
    fn a_stray_quote_on_the_last_line_is_not_an_open_quote() {
        let (rows, _file) = read_all(b"id,text\n1,ok\n2,5\" screen\n");
        assert!(rows.iter().all(Result::is_ok), "{rows:?}");
        let (rows, _file) = read_all(b"id,text\n1,ok\n2,\"open\n3,x\n");
        assert!(
            rows.last()
                .unwrap()
                .as_ref()
                .unwrap_err()
                .message
                .contains("unterminated")
        );
    }

    #[test]
    fn missing_id_column_suggests_a_close_name() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"ID,text\n1,x\n").unwrap();
        let error = CsvSource::open(file.path(), b',', "id").unwrap_err();
        match error {
            SourceError::MissingColumn { suggestion, .. } => {
                assert_eq!(suggestion.as_deref(), Some("ID"));
            }
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn a_bom_before_a_quoted_header_is_skipped() {
        let (rows, _file) = read_all(b"\xEF\xBB\xBF\"id\",\"text\"\n1,\"open\n2,x\n");
        let error = rows.last().unwrap().as_ref().unwrap_err();
        // The open-quote check re-reads the file from the record's offset, BOM included.
        assert_eq!(error.line, 2);
        assert!(error.message.contains("unterminated"), "{}", error.message);
        let (rows, _file) = read_all(b"\xEF\xBB\xBF\"id\",text\n7,x\n");
        assert_eq!(rows[0].as_ref().unwrap().id, "7");
    }

    #[test]
    fn a_repeated_header_name_is_refused_with_both_positions() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"id,text,label,text\n1,a,b,c\n").unwrap();
        let error = CsvSource::open(file.path(), b',', "id").unwrap_err();
        let (rows, _file) = read_all(b"id,text,,\n1,a,,\n");
        assert!(rows[0].is_ok(), "empty header cells may repeat");
        assert!(
            error
                .to_string()
                .contains("column `text` appears twice in the header (columns 2 and 4)"),
            "{error}"
        );
    }
}
