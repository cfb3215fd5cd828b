//! Fresh databases for tests: a new SQLite file by default, or a new
//! PostgreSQL database when `KG_TEST_DATABASE=postgres` (server from
//! `KG_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`).
//!
//! Built only with the `testing` feature. A [`TestDatabase`] is a guard: it
//! removes its database when it is dropped, whether the test passed, failed
//! or returned early through `?`.

use sea_orm::{ConnectionTrait, DbErr};

use crate::{DatabaseSettings, connect_for_migrations};

/// A database that exists only for one test, removed when this is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    /// The URL to connect to it.
    pub url: String,
    /// The server's admin URL and the database's name, until it is removed.
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

    /// The PostgreSQL server tests make their databases on, from
    /// `KG_TEST_POSTGRES_URL`.
    #[must_use]
    pub fn postgres_server_url() -> String {
        std::env::var("KG_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
    }

    /// Creates an empty database, without the schema.
    ///
    /// # Errors
    /// When the temporary directory or the PostgreSQL database cannot be made.
    pub async fn create() -> Result<Self, DbErr> {
        if Self::backend_name() == "postgres" {
            let admin = Self::postgres_server_url();
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

    /// Removes the database now, reporting a failure (dropping the guard
    /// removes it too, but can only log one). SQLite files go with the
    /// temporary directory.
    ///
    /// # Errors
    /// When the PostgreSQL database cannot be dropped.
    pub async fn remove(mut self) -> Result<(), DbErr> {
        match self.postgres.take() {
            Some((admin, name)) => drop_postgres(&admin, &name).await,
            None => Ok(()),
        }
    }

    /// The name of the PostgreSQL database the guard owns, if it owns one.
    #[must_use]
    pub fn postgres_name(&self) -> Option<&str> {
        self.postgres.as_ref().map(|(_, name)| name.as_str())
    }
}

async fn drop_postgres(admin: &str, name: &str) -> Result<(), DbErr> {
    let conn = connect_for_migrations(&DatabaseSettings::new(admin.to_owned())).await?;
    let dropped = conn
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
    conn.close().await?;
    dropped.map(|_| ())
}

impl Drop for TestDatabase {
    /// Drops the PostgreSQL database on a thread of its own, with its own
    /// runtime: `Drop` cannot await, and the test's runtime may be the one
    /// this runs on.
    fn drop(&mut self) {
        let Some((admin, name)) = self.postgres.take() else {
            return;
        };
        let removed = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| DbErr::Custom(e.to_string()))?;
            runtime.block_on(drop_postgres(&admin, &name))
        })
        .join();
        match removed {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "a test database could not be dropped"),
            Err(_) => tracing::warn!("the thread dropping a test database panicked"),
        }
    }
}
