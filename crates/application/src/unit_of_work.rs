//! One atomic change across several repositories.

use crate::{EntityRepository, EvidenceRepository, RelationshipRepository, RepoError};

/// Starts units of work: changes that several repositories make together,
/// stored all at once or not at all. A use case that must, say, re-point
/// relationships and retire an entity in one step begins a [`Work`], makes
/// every change through the repositories it hands out, and commits.
#[async_trait::async_trait]
pub trait UnitOfWork: Send + Sync {
    /// Begins a unit of work. While it is open it may hold the store's
    /// write lock (SQLite has one writer), so keep it short.
    ///
    /// # Errors
    /// `DatabaseUnavailable` when the store cannot start one in time; `Other`.
    async fn begin(&self) -> Result<Box<dyn Work>, RepoError>;
}

/// An open unit of work. Each repository method called through it keeps its
/// own contract (its checks, its audit and change-feed rows), and a method
/// that fails leaves no trace of itself; but nothing is visible to anyone
/// else until [`commit`](Self::commit), and dropping the work without
/// committing undoes every change made through it. Its audit and feed rows
/// are written at the commit, in the order of the changes.
///
/// Call its repositories one after another, never concurrently (as with
/// `join!`): each call is a nested step of the one work, and overlapping
/// steps would undo or release each other.
#[async_trait::async_trait]
pub trait Work: Send + Sync {
    /// The entities, as this work sees and changes them.
    fn entities(&self) -> Box<dyn EntityRepository + '_>;

    /// The relationships, as this work sees and changes them.
    fn relationships(&self) -> Box<dyn RelationshipRepository + '_>;

    /// The evidence, as this work sees and changes it.
    fn evidence(&self) -> Box<dyn EvidenceRepository + '_>;

    /// Stores every change made through this work, at once.
    ///
    /// # Errors
    /// `DatabaseUnavailable`; `Other`. Nothing is stored then.
    async fn commit(self: Box<Self>) -> Result<(), RepoError>;
}
