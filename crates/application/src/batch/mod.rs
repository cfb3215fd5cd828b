//! Batch ingestion: up to 1,000 entities and 1,000 relationships in one
//! atomic write, entities upserted by `external_id`, relationships naming
//! their ends by id or by `external_id`.
//!
//! The decisions (create, update or leave unchanged; which ends a
//! relationship has) are made here, by a [`BatchPlanner`] the repository
//! consults inside its transaction, so the adapter only reads and writes.

mod items;
mod plan;
mod report;

pub use items::{Batch, BatchRelationship, EndRef, ExternalIds, MAX_BATCH_ITEMS};
pub use plan::{BatchPlanner, BatchWrites, StoredEntities};
pub use report::{BatchReport, ItemResult, Outcome};

use std::sync::Arc;

use kg_domain::{EntityId, RelationshipId};

use crate::{AppError, Clock, Keyed, RepoError, RequestContext, ResourceKind};
use plan::Plan;

/// Storage that applies a batch atomically.
#[async_trait::async_trait]
pub trait BatchRepository: Send + Sync {
    /// In one transaction: reads what `planner.lookup` names (locking it),
    /// asks the planner for the relationships' keys, reads the live
    /// relationships with those keys (locking them), asks for the writes
    /// and, unless `dry_run`, makes them with their audit and change rows.
    /// A dry run writes nothing. Each step is a bounded number of
    /// statements, whatever the batch's size.
    ///
    /// # Errors
    /// `Invalid` with the planner's violations; `Conflict(ExternalIdTaken)`
    /// when a concurrent write took an external id; `DatabaseUnavailable`; `Other`.
    async fn apply(
        &self,
        planner: &dyn BatchPlanner,
        dry_run: bool,
    ) -> Result<BatchReport, RepoError>;
}

/// Applying batches.
#[derive(Clone)]
pub struct BatchService {
    repo: Arc<dyn BatchRepository>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for BatchService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchService").finish_non_exhaustive()
    }
}

impl BatchService {
    /// A service over the given ports.
    #[must_use]
    pub fn new(repo: Arc<dyn BatchRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { repo, clock }
    }

    /// Applies a parsed batch atomically, or in a dry run reports what it
    /// would do and writes nothing.
    ///
    /// # Errors
    /// `Forbidden` for viewers; `Validation` naming each unresolvable item;
    /// `Conflict`; `DatabaseUnavailable`; `Internal`.
    pub async fn apply(
        &self,
        ctx: &RequestContext,
        batch: Batch,
        dry_run: bool,
    ) -> Result<BatchReport, AppError> {
        self.apply_keyed(ctx, batch, dry_run, None).await
    }

    /// Applies a batch and, for a keyed request, stores its response (built
    /// by `respond`) with the writes.
    ///
    /// # Errors
    /// As [`Self::apply`].
    #[tracing::instrument(skip_all, fields(entities = batch.entities.len(), relationships = batch.relationships.len(), dry_run))]
    pub async fn apply_keyed(
        &self,
        ctx: &RequestContext,
        batch: Batch,
        dry_run: bool,
        keyed: Keyed<'_, BatchReport>,
    ) -> Result<BatchReport, AppError> {
        ctx.actor.require_writer()?;
        let plan = Plan {
            new_ids: (0..batch.entities.len())
                .map(|i| {
                    batch
                        .entity_ids
                        .get(i)
                        .copied()
                        .flatten()
                        .unwrap_or_else(EntityId::generate)
                })
                .collect(),
            new_relationship_ids: (0..batch.relationships.len())
                .map(|i| {
                    batch
                        .relationship_ids
                        .get(i)
                        .copied()
                        .flatten()
                        .unwrap_or_else(RelationshipId::generate)
                })
                .collect(),
            batch,
            actor: ctx.actor.user_id,
            request_id: ctx.request_id.clone(),
            now: self.clock.now(),
            keyed: keyed.map(|(request, respond)| (request.clone(), respond)),
        };
        self.repo
            .apply(&plan, dry_run)
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::Entity))
    }
}
