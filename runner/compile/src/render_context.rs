//! What a template sees for one row, as minijinja objects that borrow the row instead of
//! building a fresh map per row (rendering runs a million times).

use std::sync::Arc;

use batchlabel_source::{Columns, Row};
use minijinja::Value;
use minijinja::value::{Enumerator, Object, ObjectRepr};

/// `row`: the row's columns by name.
#[derive(Debug)]
pub(crate) struct RowObject {
    pub(crate) row: Row,
    pub(crate) columns: Arc<Columns>,
}

impl RowObject {
    /// The value of `column` as minijinja sees it.
    pub(crate) fn column(&self, column: &str) -> Option<Value> {
        self.row
            .value(&self.columns, column)
            .map(|value| match value {
                batchlabel_source::Value::Text(text) => Value::from(text),
                batchlabel_source::Value::Json(value) => {
                    Value::from(minijinja::value::Serde(value))
                }
            })
    }
}

impl Object for RowObject {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.column(key.as_str()?)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let names: Vec<Value> = self.row.names(&self.columns).map(Value::from).collect();
        Enumerator::Values(names)
    }
}

/// The whole template context: `row`, `text`, `id`, `labels`, `job`.
#[derive(Debug)]
pub(crate) struct RenderContext {
    pub(crate) row: Arc<RowObject>,
    pub(crate) text_column: Option<Arc<str>>,
    pub(crate) labels: Value,
    pub(crate) job: Value,
}

impl Object for RenderContext {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "row" => Some(Value::from_dyn_object(self.row.clone())),
            "text" => self.row.column(self.text_column.as_deref()?),
            "id" => Some(Value::from(self.row.row.id.as_str())),
            "labels" => Some(self.labels.clone()),
            "job" => Some(self.job.clone()),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["row", "text", "id", "labels", "job"])
    }
}
