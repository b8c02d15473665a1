//! Fresh stores for tests: a temporary directory for SQLite, a new database on the PostgreSQL
//! server for PostgreSQL (`STRATUS_TEST_POSTGRES`, default `postgres://postgres@127.0.0.1:5432/postgres`).
//! Each test gets its own, so tests run in parallel.

use std::str::FromStr;

use sqlx::any::AnyConnectOptions;
use sqlx::{Connection, Executor};

use crate::{install_drivers, Backend, Location};

pub fn postgres_admin_url() -> String {
    std::env::var("STRATUS_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A location nobody else uses. Keep it alive for the test's duration.
pub struct TestLocation {
    pub location: Location,
    _dir: Option<tempfile::TempDir>,
    pg_db: Option<String>,
}

impl TestLocation {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                TestLocation {
                    location: Location::sqlite_in(dir.path()),
                    _dir: Some(dir),
                    pg_db: None,
                }
            }
            Backend::Postgres => {
                install_drivers();
                let admin = postgres_admin_url();
                let name = format!("stratus_test_{}", uuid::Uuid::new_v4().simple());
                let opts = AnyConnectOptions::from_str(&admin).expect("postgres url");
                let mut conn = sqlx::AnyConnection::connect_with(&opts).await.unwrap_or_else(|e| {
                    panic!("PostgreSQL at {admin} is required by this test and is not reachable: {e}")
                });
                conn.execute(format!("CREATE DATABASE {name}").as_str())
                    .await
                    .expect("create test database");
                conn.close().await.ok();
                let (base, _) = admin.rsplit_once('/').expect("postgres url has a database");
                TestLocation {
                    location: Location::Postgres(format!("{base}/{name}")),
                    _dir: None,
                    pg_db: Some(name),
                }
            }
        }
    }

    /// Drops the test's PostgreSQL database (SQLite directories go with the value).
    pub async fn cleanup(self) {
        if let Some(name) = &self.pg_db {
            let admin = postgres_admin_url();
            if let Ok(opts) = AnyConnectOptions::from_str(&admin) {
                if let Ok(mut conn) = sqlx::AnyConnection::connect_with(&opts).await {
                    let _ = conn
                        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                        .await;
                    let _ = conn.close().await;
                }
            }
        }
    }
}
