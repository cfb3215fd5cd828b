//! A JSON column read as its text: the database's text is kept as it is,
//! checked as JSON but never parsed into a tree of values, so reading a row
//! costs what its text does. Writing it parses the text once, since the
//! drivers bind JSON as a value.

use std::sync::Arc;

use sea_orm::sea_query::{ArrayType, ColumnType, Nullable, ValueType, ValueTypeErr};
use sea_orm::{ColIdx, DbErr, QueryResult, RuntimeErr, TryGetError, TryGetable, Value};
use serde_json::value::RawValue;

/// The text of a JSON column.
#[derive(Clone, Debug)]
pub(crate) struct JsonText(pub(crate) Box<RawValue>);

impl JsonText {
    /// `value` as compact JSON text.
    pub(crate) fn of(value: &serde_json::Value) -> Result<Self, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(Self)
    }

    /// The text parsed into a value.
    pub(crate) fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(self.0.get())
    }
}

/// Two texts are equal when they are the same text.
impl PartialEq for JsonText {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

fn decode_error(e: sea_orm::sqlx::Error) -> TryGetError {
    TryGetError::DbErr(DbErr::Query(RuntimeErr::SqlxError(Arc::new(e))))
}

fn null<I: ColIdx>(idx: I) -> TryGetError {
    TryGetError::Null(format!("{idx:?}"))
}

impl TryGetable for JsonText {
    fn try_get_by<I: ColIdx>(res: &QueryResult, idx: I) -> Result<Self, TryGetError> {
        use sea_orm::sqlx::Row as _;
        let text: Option<Box<RawValue>> = if let Some(row) = res.try_as_pg_row() {
            row.try_get(idx.as_sqlx_postgres_index())
                .map_err(decode_error)?
        } else if let Some(row) = res.try_as_sqlite_row() {
            row.try_get(idx.as_sqlx_sqlite_index())
                .map_err(decode_error)?
        } else {
            // Neither driver (a mock connection): read it as a value.
            let value = Option::<serde_json::Value>::try_get_by(res, idx)?;
            value
                .map(|v| serde_json::value::to_raw_value(&v))
                .transpose()
                .map_err(|e| TryGetError::DbErr(DbErr::Type(e.to_string())))?
        };
        text.map(Self).ok_or_else(|| null(idx))
    }
}

impl From<JsonText> for Value {
    #[expect(
        clippy::expect_used,
        reason = "the text written is a Metadata's, checked to parse into a value when it was built; text read from a row becomes a domain value and is never written back"
    )]
    fn from(text: JsonText) -> Self {
        Self::Json(Some(Box::new(
            text.to_value().expect("JSON text parses into a value"),
        )))
    }
}

impl ValueType for JsonText {
    fn try_from(v: Value) -> Result<Self, ValueTypeErr> {
        match v {
            Value::Json(Some(value)) => Self::of(&value).map_err(|_| ValueTypeErr),
            _ => Err(ValueTypeErr),
        }
    }

    fn type_name() -> String {
        "JsonText".to_owned()
    }

    fn array_type() -> ArrayType {
        ArrayType::Json
    }

    fn column_type() -> ColumnType {
        ColumnType::Json
    }
}

impl Nullable for JsonText {
    fn null() -> Value {
        Value::Json(None)
    }
}
