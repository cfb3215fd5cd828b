//! Reading what happened: the change feed, an entity's history, and the
//! audit log.

use std::sync::Arc;

use kg_domain::EntityId;

use crate::{
    AppError, AuditFilter, AuditLog, AuditRecord, ChangeFeed, ChangePage, FeedRequest, Limit,
    Position, RequestContext, ResourceKind,
};

/// A page of audit rows and where the next one starts, if there is more.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditPage {
    /// The rows, oldest first.
    pub items: Vec<AuditRecord>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Position>,
}

/// The read side of the change feed and the audit log.
#[derive(Clone)]
pub struct HistoryService {
    feed: Arc<dyn ChangeFeed>,
    audit: Arc<dyn AuditLog>,
}

impl std::fmt::Debug for HistoryService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistoryService").finish_non_exhaustive()
    }
}

impl HistoryService {
    /// A service over the given ports.
    #[must_use]
    pub fn new(feed: Arc<dyn ChangeFeed>, audit: Arc<dyn AuditLog>) -> Self {
        Self { feed, audit }
    }

    /// Changes to entities and relationships after a position, in commit
    /// order. Any authenticated principal may follow the feed.
    ///
    /// # Errors
    /// `DatabaseUnavailable`; `Internal`.
    pub async fn changes(
        &self,
        _ctx: &RequestContext,
        request: FeedRequest,
    ) -> Result<ChangePage, AppError> {
        self.feed
            .read(request)
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::Entity))
    }

    /// Who changed an entity, when, in which request, and how, oldest first.
    /// A deleted entity keeps its history.
    ///
    /// # Errors
    /// `NotFound` when the entity never existed; `DatabaseUnavailable`; `Internal`.
    pub async fn entity_history(
        &self,
        _ctx: &RequestContext,
        id: EntityId,
        after: Position,
        limit: Limit,
    ) -> Result<AuditPage, AppError> {
        let filter = AuditFilter {
            target_id: Some(id.as_uuid()),
            target_type: Some("entity".to_owned()),
            ..AuditFilter::default()
        };
        let page = self.read(&filter, after, limit).await?;
        if page.items.is_empty() && after == Position::START {
            return Err(AppError::NotFound(ResourceKind::Entity));
        }
        Ok(page)
    }

    /// The audit log, filtered; admins only.
    ///
    /// # Errors
    /// `Forbidden` unless the actor is an admin; `DatabaseUnavailable`; `Internal`.
    pub async fn audit(
        &self,
        ctx: &RequestContext,
        filter: &AuditFilter,
        after: Position,
        limit: Limit,
    ) -> Result<AuditPage, AppError> {
        ctx.actor.require_admin()?;
        self.read(filter, after, limit).await
    }

    async fn read(
        &self,
        filter: &AuditFilter,
        after: Position,
        limit: Limit,
    ) -> Result<AuditPage, AppError> {
        let (items, next) = self
            .audit
            .list(filter, after, limit)
            .await
            .map_err(|e| AppError::from_repo(e, ResourceKind::Entity))?;
        Ok(AuditPage { items, next })
    }
}
