//! SQL helpers every repository shares: how a write transaction begins,
//! placeholders for hand-written statements, live relationships by end,
//! LIKE escaping, the metadata-equality filter, prefix ranges, and stored
//! versions.

use kg_application::RepoError;
use kg_domain::Version;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseExecutor, DatabaseTransaction,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait, Value,
};

use crate::error::{CorruptRow, db};

/// What a repository runs on: a connection pool ([`sea_orm::DatabaseConnection`])
/// or a transaction ([`DatabaseTransaction`], or a [`sea_orm::DatabaseExecutor`]
/// borrowing one). On a transaction, each write of a repository is a
/// savepoint inside it, so several repositories can make one atomic change.
pub trait Executor:
    ConnectionTrait + TransactionTrait<Transaction = DatabaseTransaction> + Send + Sync
{
    /// Whether this is a transaction someone else holds (then a write must
    /// be a savepoint in it), not a pool.
    fn in_transaction(&self) -> bool;
}

impl Executor for DatabaseConnection {
    fn in_transaction(&self) -> bool {
        false
    }
}

impl Executor for DatabaseTransaction {
    fn in_transaction(&self) -> bool {
        true
    }
}

impl Executor for DatabaseExecutor<'_> {
    fn in_transaction(&self) -> bool {
        !matches!(self, DatabaseExecutor::Connection(_))
    }
}

/// Begins a transaction for a write. On SQLite it takes the write lock at
/// once (`BEGIN IMMEDIATE`), waiting up to the busy timeout, so a
/// transaction never fails half-way trying to upgrade a read lock.
pub(crate) async fn begin_write<C>(conn: &C) -> Result<DatabaseTransaction, RepoError>
where
    C: ConnectionTrait + TransactionTrait<Transaction = DatabaseTransaction>,
{
    let options = TransactionOptions {
        sqlite_transaction_mode: (conn.get_database_backend() == DatabaseBackend::Sqlite)
            .then_some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    };
    conn.begin_with_options(options).await.map_err(db)
}

/// The values a hand-written statement binds, each pushed where the text
/// names it: SQLite's `?` are positional, PostgreSQL's are numbered.
pub(crate) struct Binds {
    backend: DatabaseBackend,
    values: Vec<Value>,
}

impl Binds {
    /// No values yet, for a statement on `backend`.
    pub(crate) const fn new(backend: DatabaseBackend) -> Self {
        Self {
            backend,
            values: Vec::new(),
        }
    }

    /// Binds `value` and returns its placeholder, to write into the text
    /// at the place it is pushed.
    pub(crate) fn push(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        match self.backend {
            DatabaseBackend::Postgres => format!("${}", self.values.len()),
            _ => "?".to_owned(),
        }
    }

    /// The statement `sql`, with every value pushed.
    pub(crate) fn statement(self, sql: String) -> Statement {
        Statement::from_sql_and_values(self.backend, sql, self.values)
    }
}

/// A live relationship with `end` at `entity`: the condition for one side
/// of an OR over both ends. Each side carries `deleted_at IS NULL` itself
/// because SQLite plans the sides of an OR separately, and uses the
/// partial indexes over live rows by end only for a side that implies it.
pub(crate) fn live_end(
    end: crate::models::relationship::Column,
    entity: kg_domain::EntityId,
) -> sea_orm::Condition {
    use sea_orm::ColumnTrait as _;
    sea_orm::Condition::all()
        .add(end.eq(entity.as_uuid()))
        .add(crate::models::relationship::Column::DeletedAt.is_null())
}

/// `text` with LIKE's wildcards and escape character escaped (by `\`).
pub(crate) fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `metadata.key` equals `value`: a string member equal to it, or a number
/// or boolean whose JSON text is it. `key` is checked to be a plain name.
pub(crate) fn metadata_equals(backend: DatabaseBackend, key: &str, value: &str) -> Expr {
    if backend == DatabaseBackend::Postgres {
        Expr::cust_with_values(
            "(jsonb_typeof(\"metadata\" -> $1) IN ('string', 'number', 'boolean') AND (\"metadata\" ->> $2) = $3)",
            [key.to_owned(), key.to_owned(), value.to_owned()],
        )
    } else {
        let path = format!("$.\"{key}\"");
        Expr::cust_with_values(
            "(json_type(\"metadata\", ?) IN ('text', 'integer', 'real', 'true', 'false') AND \
             (CASE json_type(\"metadata\", ?) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' \
             ELSE CAST(json_extract(\"metadata\", ?) AS TEXT) END) = ?)",
            [path.clone(), path.clone(), path, value.to_owned()],
        )
    }
}

/// The smallest string greater than every string that starts with `prefix`
/// in byte order, or `None` when there is none (all `char::MAX`).
pub(crate) fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// A version read back from a row; the schema keeps it at 1 or more.
pub(crate) fn stored_version(
    table: &'static str,
    id: uuid::Uuid,
    v: i64,
) -> Result<Version, RepoError> {
    Version::from_stored(v).ok_or_else(|| {
        CorruptRow {
            table,
            id,
            reason: "version must be at least 1".to_owned(),
        }
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::prefix_upper_bound;

    #[test]
    fn the_prefix_bound_is_the_next_string_in_byte_order() {
        assert_eq!(prefix_upper_bound("abc").as_deref(), Some("abd"));
        assert_eq!(prefix_upper_bound("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_upper_bound("\u{10FFFF}"), None);
        // U+D7FF is followed by U+E000: surrogates are not chars.
        assert_eq!(prefix_upper_bound("\u{D7FF}").as_deref(), Some("\u{E000}"));
    }
}
