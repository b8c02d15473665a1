//! The data layer every Stratus service stores through.
//!
//! One [`Db`] per service, on either backend, running the same queries: SQLite files under the
//! data directory (one file per service, WAL) for one machine, or one PostgreSQL database with a
//! schema per service for many. Each service brings its own migrations and owns its own tables.
//!
//! This crate must not know any service's tables or queries; it gives connections, migrations,
//! and errors with the distinctions services act on (not found, conflict, the rest).
//!
//! Portability rules the services follow: `$1` placeholders, TEXT ids, BIGINT times and
//! integer booleans, no RETURNING-less upserts that differ between the two.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, ConnectOptions, Connection, Executor};

pub mod sql;
#[cfg(feature = "testing")]
pub mod testing;

pub use sqlx;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique or foreign-key constraint refused the write.
    #[error("the write conflicts with existing data")]
    Conflict(#[source] sqlx::Error),
    #[error("database error")]
    Backend(#[source] sqlx::Error),
    #[error("applying migrations of the {service} schema")]
    Migrate {
        service: String,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    #[error("invalid database location '{0}': use sqlite://DIR or postgres://...")]
    Location(String),
    /// A stored record could not be read back (a JSON column that does not parse).
    #[error("a stored record is unreadable: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e.as_database_error() {
            Some(d) if d.is_unique_violation() || d.is_foreign_key_violation() => StoreError::Conflict(e),
            _ => StoreError::Backend(e),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where the stores live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A directory holding one SQLite file per service.
    Sqlite(PathBuf),
    /// A PostgreSQL database URL; each service gets its own schema in it.
    Postgres(String),
}

impl Location {
    /// `sqlite://DIR`, `postgres://...` or `postgresql://...`.
    pub fn parse(s: &str) -> Result<Self> {
        if let Some(dir) = s.strip_prefix("sqlite://") {
            if dir.is_empty() {
                return Err(StoreError::Location(s.to_owned()));
            }
            Ok(Location::Sqlite(PathBuf::from(dir)))
        } else if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Ok(Location::Postgres(s.to_owned()))
        } else {
            Err(StoreError::Location(s.to_owned()))
        }
    }

    pub fn sqlite_in(dir: &Path) -> Self {
        Location::Sqlite(dir.to_owned())
    }

    pub fn backend(&self) -> Backend {
        match self {
            Location::Sqlite(_) => Backend::Sqlite,
            Location::Postgres(_) => Backend::Postgres,
        }
    }
}

/// A service's connection pool.
#[derive(Debug, Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
}

fn install_drivers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(sqlx::any::install_default_drivers);
}

/// Service names become schema and file names; keep them to what is safe in both.
fn check_service_name(service: &str) -> Result<()> {
    if service.is_empty() || !service.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        return Err(StoreError::Location(format!("service name '{service}'")));
    }
    Ok(())
}

impl Db {
    /// Opens (creating if needed) the store of `service` and applies its migrations.
    pub async fn open(location: &Location, service: &str, migrator: &Migrator) -> Result<Db> {
        install_drivers();
        check_service_name(service)?;
        let db = match location {
            Location::Sqlite(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| StoreError::Backend(sqlx::Error::Io(e)))?;
                let url = format!("sqlite://{}?mode=rwc", dir.join(format!("{service}.db")).display());
                let opts = AnyConnectOptions::from_str(&url)?.disable_statement_logging();
                let pool = AnyPoolOptions::new()
                    .max_connections(8)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            // WAL lets readers run beside the writer; busy_timeout makes writers
                            // queue instead of failing while another commits.
                            conn.execute(
                                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; \
                                 PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect_with(opts)
                    .await?;
                Db {
                    pool,
                    backend: Backend::Sqlite,
                }
            }
            Location::Postgres(url) => {
                let opts = AnyConnectOptions::from_str(url)?.disable_statement_logging();
                {
                    let mut conn = sqlx::AnyConnection::connect_with(&opts).await?;
                    // Concurrent first starts race on CREATE SCHEMA; IF NOT EXISTS is not
                    // atomic in PostgreSQL, so a unique violation here means another won.
                    match conn
                        .execute(format!("CREATE SCHEMA IF NOT EXISTS {service}").as_str())
                        .await
                    {
                        Ok(_) => {}
                        Err(e) if e.as_database_error().is_some_and(|d| d.is_unique_violation()) => {}
                        Err(e) => return Err(e.into()),
                    }
                    conn.close().await?;
                }
                let set_path = format!("SET search_path TO {service}");
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .after_connect(move |conn, _meta| {
                        let set_path = set_path.clone();
                        Box::pin(async move {
                            conn.execute(set_path.as_str()).await?;
                            Ok(())
                        })
                    })
                    .connect_with(opts)
                    .await?;
                Db {
                    pool,
                    backend: Backend::Postgres,
                }
            }
        };
        migrator.run(&db.pool).await.map_err(|source| StoreError::Migrate {
            service: service.to_owned(),
            source,
        })?;
        tracing::debug!(service, backend = ?db.backend, "store open");
        Ok(db)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A transaction that writes. On SQLite it takes the write lock at BEGIN (`BEGIN
    /// IMMEDIATE`): a deferred transaction that reads first and writes later cannot wait for
    /// another writer (SQLite answers "database is locked" at once rather than risk a
    /// deadlock), while one that starts as a writer queues behind `busy_timeout`. PostgreSQL
    /// locks rows as it goes and needs nothing special.
    pub async fn begin_write(&self) -> std::result::Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }
}

/// Now, in Unix microseconds: the one time representation stored.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Integer booleans, the portable representation.
pub fn flag(b: bool) -> i64 {
    b as i64
}
