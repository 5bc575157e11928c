//! Parquet input: a file, a folder of `.parquet` files or a glob, read in name order through
//! the record reader, row group by row group, projected to the columns the job uses. Ids may
//! be text, integers or UUIDs; the text column must be a string column (plain, large or
//! dictionary-encoded: all are UTF-8 byte arrays in the file).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::basic::{ConvertedType, LogicalType, Type as Physical};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::reader::RowIter;
use parquet::record::{Field, Row as ParquetRow};
use parquet::schema::types::{Type, TypePtr};
use serde_json::{Map, Value as Json};

use crate::parquet_files::parquet_files;
use crate::row::Record;
use crate::{Columns, InputIdentity, Row, RowError, Source, SourceError};

/// Column names in file order, and rows as JSON objects.
pub type Sample = (Vec<String>, Vec<Map<String, Json>>);

/// The first `max` rows of a Parquet input (every column), as JSON objects, with the column
/// names in file order: for looking at a file before a spec names its id.
pub fn sample_parquet(path: &Path, max: usize) -> Result<Sample, SourceError> {
    let files = parquet_files(path)?;
    let reader = open_file(&files[0])?;
    let root = reader
        .metadata()
        .file_metadata()
        .schema_descr()
        .root_schema();
    let names = root
        .get_fields()
        .iter()
        .map(|field| field.name().to_string())
        .collect();
    let mut rows = Vec::new();
    for row in RowIter::from_file_into(Box::new(reader)).take(max) {
        let row = row.map_err(|error| parquet_error(&files[0], error, ""))?;
        rows.push(
            row.get_column_iter()
                .map(|(name, field)| (name.clone(), field.to_json_value()))
                .collect(),
        );
    }
    Ok((names, rows))
}

/// Rows of one or more Parquet files.
pub struct ParquetSource {
    location: String,
    files: Vec<PathBuf>,
    next_file: usize,
    current: Option<(PathBuf, RowIter<'static>)>,
    columns: Arc<Columns>,
    projection: Vec<TypePtr>,
    id_column: String,
    id_is_uuid: bool,
    line: u64,
    bytes_done: u64,
}

impl std::fmt::Debug for ParquetSource {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ParquetSource")
            .field("location", &self.location)
            .field("files", &self.files.len())
            .finish_non_exhaustive()
    }
}

pub(crate) fn parquet_error(
    path: &Path,
    message: impl std::fmt::Display,
    hint: &str,
) -> SourceError {
    SourceError::Parquet {
        path: path.to_path_buf(),
        message: message.to_string(),
        hint: hint.to_string(),
    }
}

impl ParquetSource {
    /// Open `path` (a file, folder or glob), checking the id and text columns; `needed`:
    /// the columns to read (None: all).
    pub fn open(
        path: &Path,
        id_column: &str,
        text_column: Option<&str>,
        needed: Option<&[String]>,
    ) -> Result<Self, SourceError> {
        let files = parquet_files(path)?;
        let first = &files[0];
        let reader = open_file(first)?;
        let root = reader
            .metadata()
            .file_metadata()
            .schema_descr()
            .root_schema()
            .clone();
        let fields = root.get_fields();
        let names: Vec<String> = fields
            .iter()
            .map(|field| field.name().to_string())
            .collect();
        let columns = Columns::new(names);
        columns.require(id_column, "the row id (`input.id`)", first)?;
        let field = |name: &str| fields.iter().find(|field| field.name() == name);
        let id_is_uuid = match field(id_column) {
            Some(id) => check_id(first, id)?,
            None => false,
        };
        if let Some(text) = text_column {
            columns.require(text, "the text (`input.text`)", first)?;
            if let Some(text_field) = field(text) {
                check_text(first, text_field)?;
            }
        }
        let projection: Vec<TypePtr> = match needed {
            None => fields.to_vec(),
            Some(needed) => fields
                .iter()
                .filter(|field| {
                    needed.iter().any(|name| name == field.name())
                        || field.name() == id_column
                        || Some(field.name()) == text_column
                })
                .cloned()
                .collect(),
        };
        Ok(Self {
            location: path.to_string_lossy().into_owned(),
            files,
            next_file: 0,
            current: None,
            columns: Arc::new(columns),
            projection,
            id_column: id_column.to_string(),
            id_is_uuid,
            line: 0,
            bytes_done: 0,
        })
    }

    /// Open the next file, projected; `false` when none is left.
    fn advance(&mut self) -> Result<bool, SourceError> {
        if let Some((done, _)) = self.current.take() {
            self.bytes_done += std::fs::metadata(&done).map_or(0, |metadata| metadata.len());
        }
        let Some(path) = self.files.get(self.next_file).cloned() else {
            return Ok(false);
        };
        self.next_file += 1;
        let reader = open_file(&path)?;
        let schema = reader
            .metadata()
            .file_metadata()
            .schema_descr()
            .root_schema();
        for wanted in &self.projection {
            let same = schema.get_fields().iter().any(|field| field == wanted);
            if !same {
                return Err(parquet_error(
                    &path,
                    format!(
                        "column `{}` is missing or has another type than in `{}`",
                        wanted.name(),
                        self.files[0].display()
                    ),
                    "every file of a Parquet input needs the same columns",
                ));
            }
        }
        let projection = Type::group_type_builder(schema.name())
            .with_fields(self.projection.clone())
            .build()
            .map_err(|error| parquet_error(&path, error, ""))?;
        let rows = RowIter::from_file_into(Box::new(reader))
            .project(Some(projection))
            .map_err(|error| parquet_error(&path, error, ""))?;
        self.current = Some((path, rows));
        Ok(true)
    }

    fn row(&self, path: &Path, row: &ParquetRow) -> Result<Row, RowError> {
        let error = |message: String| RowError {
            path: path.to_path_buf(),
            line: self.line,
            message,
        };
        let mut object = Map::new();
        let mut id = None;
        for (name, field) in row.get_column_iter() {
            if *name == self.id_column {
                id = Some(
                    id_text(field, self.id_is_uuid)
                        .map_err(|message| error(format!("{message} in column `{name}`")))?,
                );
                if let (Field::Bytes(bytes), true) = (field, self.id_is_uuid) {
                    object.insert(name.clone(), Json::String(uuid_text(bytes.data())));
                    continue;
                }
            }
            object.insert(name.clone(), field.to_json_value());
        }
        Ok(Row {
            line: self.line,
            id: id.ok_or_else(|| error(format!("no id column `{}`", self.id_column)))?,
            record: Record::Object(object),
        })
    }
}

impl Source for ParquetSource {
    fn columns(&self) -> &Arc<Columns> {
        &self.columns
    }

    fn fixed_columns(&self) -> bool {
        true
    }

    fn next_chunk(
        &mut self,
        max: usize,
        out: &mut Vec<Result<Row, RowError>>,
    ) -> Result<bool, SourceError> {
        let mut taken = 0;
        while taken < max {
            if self.current.is_none() && !self.advance()? {
                return Ok(false);
            }
            let Some((path, rows)) = &mut self.current else {
                continue;
            };
            match rows.next() {
                Some(Ok(row)) => {
                    self.line += 1;
                    let path = path.clone();
                    out.push(self.row(&path, &row));
                    taken += 1;
                }
                Some(Err(error)) => {
                    return Err(parquet_error(
                        path,
                        error,
                        "the file may be damaged or use an unsupported feature",
                    ));
                }
                None => {
                    self.advance()?;
                }
            }
        }
        Ok(true)
    }

    fn bytes_read(&self) -> u64 {
        self.bytes_done
    }

    fn require_column(&self, column: &str, purpose: &str) -> Result<(), SourceError> {
        self.columns.require(column, purpose, &self.files[0])
    }

    fn location(&self) -> &str {
        &self.location
    }

    fn identity(&self) -> Result<InputIdentity, SourceError> {
        crate::files_identity(Path::new(&self.location))
    }
}

fn open_file(path: &Path) -> Result<SerializedFileReader<File>, SourceError> {
    let file = File::open(path).map_err(|source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    SerializedFileReader::new(file).map_err(|error| {
        parquet_error(
            path,
            format!("not a readable Parquet file: {error}"),
            "check the file is Parquet (a `.parquet` written by pandas, DuckDB, Spark, polars…)",
        )
    })
}

/// The id column: text, an integer, or a UUID (returned `true`).
fn check_id(path: &Path, id: &TypePtr) -> Result<bool, SourceError> {
    let problem = |what: String| {
        parquet_error(
            path,
            format!("id column `{}` is {what}", id.name()),
            "ids must be text, integers or UUIDs; cast the column when writing the file",
        )
    };
    if !id.is_primitive() {
        return Err(problem("a nested group".into()));
    }
    let logical = id.get_basic_info().logical_type_ref();
    match id.get_physical_type() {
        Physical::INT32 | Physical::INT64 => Ok(false),
        Physical::BYTE_ARRAY if is_text(id) => Ok(false),
        Physical::FIXED_LEN_BYTE_ARRAY if matches!(logical, Some(LogicalType::Uuid)) => Ok(true),
        other => Err(problem(format!("{other}"))),
    }
}

/// The text column must hold strings.
fn check_text(path: &Path, text: &TypePtr) -> Result<(), SourceError> {
    if text.is_primitive() && text.get_physical_type() == Physical::BYTE_ARRAY && is_text(text) {
        return Ok(());
    }
    let found = if text.is_primitive() {
        format!("{}", text.get_physical_type())
    } else {
        "a nested group".into()
    };
    Err(parquet_error(
        path,
        format!(
            "text column `{}` is {found}, not a string column",
            text.name()
        ),
        "name a string column as `input.text`, or write this one as strings",
    ))
}

fn is_text(column: &TypePtr) -> bool {
    let info = column.get_basic_info();
    matches!(
        info.logical_type_ref(),
        Some(LogicalType::String | LogicalType::Enum | LogicalType::Json)
    ) || matches!(
        info.converted_type(),
        ConvertedType::UTF8 | ConvertedType::ENUM | ConvertedType::JSON
    )
}

fn id_text(field: &Field, uuid: bool) -> Result<String, String> {
    match field {
        Field::Str(text) if !text.trim().is_empty() => Ok(text.clone()),
        Field::Str(_) => Err("empty id".into()),
        Field::Byte(_)
        | Field::Short(_)
        | Field::Int(_)
        | Field::Long(_)
        | Field::UByte(_)
        | Field::UShort(_)
        | Field::UInt(_)
        | Field::ULong(_) => Ok(field.to_string()),
        Field::Bytes(bytes) if uuid && bytes.data().len() == 16 => Ok(uuid_text(bytes.data())),
        Field::Null => Err("NULL id".into()),
        other => Err(format!("id {other} is not text, an integer or a UUID")),
    }
}

fn uuid_text(bytes: &[u8]) -> String {
    let hex = bytes.iter().fold(String::new(), |mut hex, byte| {
        use std::fmt::Write as _;
        let _ = write!(hex, "{byte:02x}");
        hex
    });
    if hex.len() != 32 {
        return hex;
    }
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_hyphenated() {
        assert_eq!(
            uuid_text(&[0xab; 16]),
            "abababab-abab-abab-abab-abababababab"
        );
    }
}
