//! Fresh databases for tests: a new SQLite file by default, or a new
//! PostgreSQL database when `KG_TEST_DATABASE=postgres` (server from
//! `KG_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`).

use sea_orm::{ConnectionTrait, DbErr};

use crate::{DatabaseSettings, connect_for_migrations};

/// A database that exists only for one test.
#[derive(Debug)]
pub struct TestDatabase {
    /// The URL to connect to it.
    pub url: String,
    postgres: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// Which backend the tests run on, from `KG_TEST_DATABASE`.
    #[must_use]
    pub fn backend_name() -> &'static str {
        match std::env::var("KG_TEST_DATABASE").as_deref() {
            Ok("postgres") => "postgres",
            _ => "sqlite",
        }
    }

    /// Creates an empty database, without the schema.
    ///
    /// # Errors
    /// When the temporary directory or the PostgreSQL database cannot be made.
    pub async fn create() -> Result<Self, DbErr> {
        if Self::backend_name() == "postgres" {
            let admin = std::env::var("KG_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
            let name = format!("kg_test_{}", uuid::Uuid::new_v4().simple());
            let conn = connect_for_migrations(&DatabaseSettings::new(admin.clone())).await?;
            conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await?;
            conn.close().await?;
            let base = admin
                .rsplit_once('/')
                .map_or(admin.as_str(), |(base, _)| base);
            Ok(Self {
                url: format!("{base}/{name}"),
                postgres: Some((admin, name)),
                _dir: None,
            })
        } else {
            let dir = tempfile::tempdir().map_err(|e| DbErr::Custom(e.to_string()))?;
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("kg.db").display());
            Ok(Self {
                url,
                postgres: None,
                _dir: Some(dir),
            })
        }
    }

    /// Creates a database and applies every migration.
    ///
    /// # Errors
    /// As [`create`](Self::create), or when a migration fails.
    pub async fn migrated() -> Result<Self, DbErr> {
        let db = Self::create().await?;
        let conn = connect_for_migrations(&DatabaseSettings::new(db.url.clone())).await?;
        kg_migration::run(&conn, kg_migration::MigrationCommand::Up).await?;
        conn.close().await?;
        Ok(db)
    }

    /// Removes the database. SQLite files go with the temporary directory.
    ///
    /// # Errors
    /// When the PostgreSQL database cannot be dropped.
    pub async fn remove(self) -> Result<(), DbErr> {
        if let Some((admin, name)) = &self.postgres {
            let conn = connect_for_migrations(&DatabaseSettings::new(admin.clone())).await?;
            conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await?;
            conn.close().await?;
        }
        Ok(())
    }
}
