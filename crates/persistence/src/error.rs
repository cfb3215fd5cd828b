//! Mapping database errors to repository errors.

use kg_application::{Conflict, RepoError};
use sea_orm::{DbErr, RuntimeErr, SqlErr};

fn is_transient(err: &DbErr) -> bool {
    let sqlx = match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    match sqlx.as_ref() {
        sea_orm::sqlx::Error::Io(_)
        | sea_orm::sqlx::Error::PoolTimedOut
        | sea_orm::sqlx::Error::PoolClosed
        | sea_orm::sqlx::Error::WorkerCrashed => true,
        sea_orm::sqlx::Error::Database(db) => {
            // SQLite: 5 BUSY, 6 LOCKED (with extended codes 261, 262, 517…),
            // 13 FULL (the disk or the file system is full: it passes when
            // space returns).
            // PostgreSQL: class 08 connection exceptions, 57P0x shutdowns,
            // 40001/40P01 retryable, class 53 insufficient resources (53100
            // disk full, 53200 out of memory, 53300 too many connections).
            let code = db.code().unwrap_or_default();
            let sqlite_passing = code
                .parse::<i32>()
                .is_ok_and(|c| matches!(c & 0xff, 5 | 6 | 13));
            // 57014: a statement cancelled by statement_timeout.
            sqlite_passing
                || code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P0")
                || code == "57014"
                || code == "40001"
                || code == "40P01"
        }
        _ => false,
    }
}

/// The end a relationship insert found not live: PostgreSQL's trigger
/// (migration 17) refuses with `KG001` for the source, `KG002` for the
/// target.
fn dead_end(err: &DbErr) -> Option<Conflict> {
    let (DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))) = err
    else {
        return None;
    };
    let sea_orm::sqlx::Error::Database(db) = e.as_ref() else {
        return None;
    };
    match db.code().as_deref() {
        Some("KG001") => Some(Conflict::SourceNotLive),
        Some("KG002") => Some(Conflict::TargetNotLive),
        _ => None,
    }
}

/// Maps any database error: a dead end to its conflict, and otherwise
/// without a conflict interpretation.
pub(crate) fn db(err: DbErr) -> RepoError {
    if let Some(conflict) = dead_end(&err) {
        RepoError::Conflict(conflict)
    } else if is_transient(&err) {
        RepoError::DatabaseUnavailable(Box::new(err))
    } else {
        RepoError::Other(Box::new(err))
    }
}

/// Maps a database error, turning a unique-constraint violation into `conflict`.
pub(crate) fn unique_as(conflict: Conflict) -> impl FnOnce(DbErr) -> RepoError {
    move |err| match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => RepoError::Conflict(conflict),
        _ => db(err),
    }
}

/// A stored row that no longer satisfies the domain's rules.
#[derive(Debug, thiserror::Error)]
#[error("stored {table} row {id} is invalid: {reason}")]
pub(crate) struct CorruptRow {
    pub table: &'static str,
    pub id: uuid::Uuid,
    pub reason: String,
}

impl From<CorruptRow> for RepoError {
    fn from(err: CorruptRow) -> Self {
        Self::Other(Box::new(err))
    }
}
