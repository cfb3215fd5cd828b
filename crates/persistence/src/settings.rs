//! The maintenance switch in `service_settings`.

use async_trait::async_trait;
use kg_application::{AuditEntry, ModeState, ModeStore, RepoError, ServiceMode};
use kg_domain::UserId;
use sea_orm::sea_query::OnConflict;
use sea_orm::{DatabaseConnection, EntityTrait, Set};

use crate::audit;
use crate::error::{CorruptRow, db};
use crate::models::service_setting::{self, Column as S};
use crate::sql::begin_write;

const MODE: &str = "mode";

/// The switch, shared by every instance through the database.
#[derive(Debug, Clone)]
pub struct SeaOrmModeStore {
    db: DatabaseConnection,
}

impl SeaOrmModeStore {
    /// A store over `db`.
    #[must_use]
    pub const fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait]
impl ModeStore for SeaOrmModeStore {
    async fn get(&self) -> Result<ModeState, RepoError> {
        let Some(row) = service_setting::Entity::find_by_id(MODE)
            .one(&self.db)
            .await
            .map_err(db)?
        else {
            return Ok(ModeState::default());
        };
        let mode = ServiceMode::parse(&row.value).ok_or_else(|| CorruptRow {
            table: "service_settings",
            id: uuid::Uuid::nil(),
            reason: format!("mode {:?} is unknown", row.value),
        })?;
        Ok(ModeState {
            mode,
            changed_at: Some(row.changed_at),
            changed_by: Some(UserId::from_uuid(row.changed_by)),
        })
    }

    async fn set(&self, state: &ModeState, entry: &AuditEntry) -> Result<(), RepoError> {
        let txn = begin_write(&self.db).await?;
        service_setting::Entity::insert(service_setting::ActiveModel {
            name: Set(MODE.to_owned()),
            value: Set(state.mode.as_str().to_owned()),
            changed_at: Set(state.changed_at.unwrap_or(entry.at)),
            changed_by: Set(state.changed_by.unwrap_or(entry.actor).as_uuid()),
        })
        .on_conflict(
            OnConflict::column(S::Name)
                .update_columns([S::Value, S::ChangedAt, S::ChangedBy])
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await
        .map_err(db)?;
        audit::append(&txn, std::slice::from_ref(entry)).await?;
        txn.commit().await.map_err(db)
    }
}
