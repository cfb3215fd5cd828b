//! Every refresh token a session has issued, by digest: whether it is still
//! unspent, and when it was spent.
//!
//! A session used to hold only the digest of its current token, so any
//! other token presented for it (a spent one, or one forged from the
//! session id a token carries) looked alike and revoked the session. Now a
//! token that was never issued is refused without effect, and only a token
//! really issued and already spent counts as reuse. A spent token may be
//! presented once more within a short grace (a client's double refresh),
//! and `graced_at` records that it was. `parent` is the token a token was
//! issued for: the two answers of a double refresh share it, and the first
//! of them to be used spends the other. The current digests of live
//! sessions are carried over as unspent tokens; a token's row goes with its
//! session.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Digest,
    SessionId,
    IssuedAt,
    SpentAt,
    GracedAt,
    Parent,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    // SHA-256 of the token; the token itself is never stored.
                    .col(
                        ColumnDef::new(RefreshTokens::Digest)
                            .binary_len(32)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(RefreshTokens::SessionId).uuid().not_null())
                    .col(
                        ColumnDef::new(RefreshTokens::IssuedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(RefreshTokens::SpentAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(RefreshTokens::GracedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(RefreshTokens::Parent).binary_len(32).null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_refresh_tokens_session")
                            .from(RefreshTokens::Table, RefreshTokens::SessionId)
                            .to(Sessions::Table, Sessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_refresh_tokens_session")
                    .table(RefreshTokens::Table)
                    .col(RefreshTokens::SessionId)
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO refresh_tokens (digest, session_id, issued_at) \
                 SELECT refresh_digest, id, last_used_at FROM sessions WHERE revoked_at IS NULL",
            )
            .await
            .map(drop)
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RefreshTokens::Table).to_owned())
            .await
    }
}
