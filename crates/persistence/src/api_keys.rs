//! The API key repository.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use kg_application::{ApiKeyRepository, AuditEntry, Page, PageRequest, RepoError};
use kg_domain::{ApiKey, ApiKeyId, ApiKeyName, Role, TokenDigest, User, UserId};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, JoinType, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use crate::audit;
use crate::convert::user_from_row;
use crate::error::{CorruptRow, db};
use crate::models::{api_key, user};
use crate::sql::begin_write;

/// API keys in the `api_keys` table.
#[derive(Debug, Clone)]
pub struct SeaOrmApiKeyRepository {
    db: DatabaseConnection,
}

impl SeaOrmApiKeyRepository {
    /// A repository over `db`.
    #[must_use]
    pub const fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn from_row(m: api_key::Model) -> Result<ApiKey, CorruptRow> {
    let corrupt = |reason: &str| CorruptRow {
        table: "api_keys",
        id: m.id,
        reason: reason.to_owned(),
    };
    let digest: [u8; 32] = m
        .digest
        .as_slice()
        .try_into()
        .map_err(|_| corrupt("digest is not 32 bytes"))?;
    let role = match m.role.as_str() {
        "editor" => Role::Editor,
        "viewer" => Role::Viewer,
        _ => return Err(corrupt("role is not editor or viewer")),
    };
    Ok(ApiKey {
        id: ApiKeyId::from_uuid(m.id),
        name: ApiKeyName::parse(&m.name).map_err(|e| corrupt(&format!("name {e}")))?,
        role,
        digest: TokenDigest::from_bytes(digest),
        created_by: UserId::from_uuid(m.created_by),
        created_at: m.created_at,
        expires_at: m.expires_at,
        revoked_at: m.revoked_at,
        last_used_at: m.last_used_at,
    })
}

#[async_trait]
impl ApiKeyRepository for SeaOrmApiKeyRepository {
    async fn create(&self, key: &ApiKey, entry: Option<&AuditEntry>) -> Result<(), RepoError> {
        let txn = begin_write(&self.db).await?;
        let row = api_key::ActiveModel {
            id: Set(key.id.as_uuid()),
            name: Set(key.name.as_str().to_owned()),
            role: Set(key.role.as_str().to_owned()),
            digest: Set(key.digest.as_bytes().to_vec()),
            created_by: Set(key.created_by.as_uuid()),
            created_at: Set(key.created_at),
            expires_at: Set(key.expires_at),
            revoked_at: Set(key.revoked_at),
            last_used_at: Set(key.last_used_at),
        };
        api_key::Entity::insert(row)
            .exec_without_returning(&txn)
            .await
            .map_err(db)?;
        audit::append(&txn, entry.map(std::slice::from_ref).unwrap_or_default()).await?;
        txn.commit().await.map_err(db)
    }

    async fn get(&self, id: ApiKeyId) -> Result<Option<ApiKey>, RepoError> {
        let row = api_key::Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await
            .map_err(db)?;
        Ok(row.map(from_row).transpose()?)
    }

    async fn find_by_digest_with_owner(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<(ApiKey, User)>, RepoError> {
        let row = api_key::Entity::find()
            .filter(api_key::Column::Digest.eq(digest.as_bytes().to_vec()))
            .join(
                JoinType::InnerJoin,
                api_key::Entity::belongs_to(user::Entity)
                    .from(api_key::Column::CreatedBy)
                    .to(user::Column::Id)
                    .into(),
            )
            .select_also(user::Entity)
            .one(&self.db)
            .await
            .map_err(db)?;
        match row {
            Some((key, Some(owner))) => Ok(Some((from_row(key)?, user_from_row(owner)?))),
            Some((_, None)) | None => Ok(None),
        }
    }

    async fn list(&self, page: PageRequest) -> Result<Page<ApiKey>, RepoError> {
        let mut query = api_key::Entity::find()
            .order_by_asc(api_key::Column::Id)
            .limit(u64::from(page.limit.get()) + 1);
        if let Some(after) = page.after {
            query = query.filter(api_key::Column::Id.gt(after.last_id()));
        }
        let rows = query.all(&self.db).await.map_err(db)?;
        let keys = rows
            .into_iter()
            .map(from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(keys, page.limit, |k| k.id.as_uuid()))
    }

    async fn revoke(
        &self,
        id: ApiKeyId,
        at: DateTime<Utc>,
        entry: Option<&AuditEntry>,
    ) -> Result<(), RepoError> {
        let txn = begin_write(&self.db).await?;
        let revoked = api_key::Entity::update_many()
            .col_expr(api_key::Column::RevokedAt, Expr::value(at))
            .filter(api_key::Column::Id.eq(id.as_uuid()))
            .filter(api_key::Column::RevokedAt.is_null())
            .exec(&txn)
            .await
            .map_err(db)?;
        if revoked.rows_affected == 0 {
            return Err(RepoError::NotFound);
        }
        audit::append(&txn, entry.map(std::slice::from_ref).unwrap_or_default()).await?;
        txn.commit().await.map_err(db)
    }

    async fn touch(&self, id: ApiKeyId, now: DateTime<Utc>) -> Result<(), RepoError> {
        // At most one write a minute per key, whatever the request rate.
        api_key::Entity::update_many()
            .col_expr(api_key::Column::LastUsedAt, Expr::value(now))
            .filter(api_key::Column::Id.eq(id.as_uuid()))
            .filter(
                Condition::any()
                    .add(api_key::Column::LastUsedAt.is_null())
                    .add(api_key::Column::LastUsedAt.lt(now - Duration::minutes(1))),
            )
            .exec(&self.db)
            .await
            .map(drop)
            .map_err(db)
    }
}
