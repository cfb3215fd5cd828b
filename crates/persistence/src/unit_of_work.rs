//! Units of work: several repositories writing into one transaction.

use std::sync::Arc;

use async_trait::async_trait;
use kg_application::{
    EntityRepository, EvidenceRepository, RelationshipRepository, RepoError, UnitOfWork, Work,
};
use sea_orm::{DatabaseConnection, DatabaseExecutor, DatabaseTransaction};

use crate::changes::Deferred;
use crate::error::db;
use crate::sql::begin_write;
use crate::{SeaOrmEntityRepository, SeaOrmEvidenceRepository, SeaOrmRelationshipRepository};

/// Begins units of work on a database: one write transaction each
/// (`BEGIN IMMEDIATE` on SQLite), in which every repository the work hands
/// out is built, so each of their writes is a savepoint inside it.
#[derive(Debug, Clone)]
pub struct SeaOrmUnitOfWork {
    db: DatabaseConnection,
}

impl SeaOrmUnitOfWork {
    /// Units of work over `db`.
    #[must_use]
    pub const fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait]
impl UnitOfWork for SeaOrmUnitOfWork {
    async fn begin(&self) -> Result<Box<dyn Work>, RepoError> {
        Ok(Box::new(SeaOrmWork {
            txn: begin_write(&self.db).await?,
            deferred: Arc::default(),
        }))
    }
}

/// An open transaction, and the audit and feed rows its writes hold back
/// until the commit; dropping it rolls back.
#[derive(Debug)]
struct SeaOrmWork {
    txn: DatabaseTransaction,
    deferred: Arc<Deferred>,
}

#[async_trait]
impl Work for SeaOrmWork {
    fn entities(&self) -> Box<dyn EntityRepository + '_> {
        Box::new(SeaOrmEntityRepository::in_work(
            DatabaseExecutor::from(&self.txn),
            self.deferred.clone(),
        ))
    }

    fn relationships(&self) -> Box<dyn RelationshipRepository + '_> {
        Box::new(SeaOrmRelationshipRepository::in_work(
            DatabaseExecutor::from(&self.txn),
            self.deferred.clone(),
        ))
    }

    fn evidence(&self) -> Box<dyn EvidenceRepository + '_> {
        Box::new(SeaOrmEvidenceRepository::in_work(
            DatabaseExecutor::from(&self.txn),
            self.deferred.clone(),
        ))
    }

    async fn commit(self: Box<Self>) -> Result<(), RepoError> {
        self.deferred.record(&self.txn).await?;
        self.txn.commit().await.map_err(db)
    }
}
