//! The same queries on both backends: open, migrate, write, read, conflict, reopen.

use sqlx::Row;
use stratus_store::testing::TestLocation;
use stratus_store::{Backend, Db, StoreError};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("tests/migrations");

async fn roundtrip(backend: Backend) {
    let t = TestLocation::new(backend).await;
    let db = Db::open(&t.location, "things", &MIGRATOR).await.expect("open");
    assert_eq!(db.backend, backend);
    sqlx::query("INSERT INTO items (id, name, size, enabled) VALUES ($1, $2, $3, $4)")
        .bind("a")
        .bind("alpha")
        .bind(5_i64)
        .bind(1_i64)
        .execute(&db.pool)
        .await
        .expect("insert");
    let dup = sqlx::query("INSERT INTO items (id, name, size) VALUES ($1, $2, $3)")
        .bind("b")
        .bind("alpha")
        .bind(1_i64)
        .execute(&db.pool)
        .await
        .map_err(StoreError::from);
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    db.close().await;

    // Reopening applies nothing twice and keeps the data.
    let db = Db::open(&t.location, "things", &MIGRATOR).await.expect("reopen");
    let row = sqlx::query("SELECT name, size, enabled FROM items WHERE id = $1")
        .bind("a")
        .fetch_one(&db.pool)
        .await
        .expect("select");
    assert_eq!(row.get::<String, _>(0), "alpha");
    assert_eq!(row.get::<i64, _>(1), 5);
    assert_eq!(row.get::<i64, _>(2), 1);
    db.close().await;
    t.cleanup().await;
}

#[tokio::test]
async fn sqlite_roundtrip() {
    roundtrip(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_roundtrip() {
    roundtrip(Backend::Postgres).await;
}

#[tokio::test]
async fn services_are_isolated_by_schema_on_postgres() {
    let t = TestLocation::new(Backend::Postgres).await;
    let a = Db::open(&t.location, "alpha", &MIGRATOR).await.expect("alpha");
    let b = Db::open(&t.location, "beta", &MIGRATOR).await.expect("beta");
    sqlx::query("INSERT INTO items (id, name, size) VALUES ($1, $2, $3)")
        .bind("x")
        .bind("x")
        .bind(1_i64)
        .execute(&a.pool)
        .await
        .expect("insert in alpha");
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM items")
        .fetch_one(&b.pool)
        .await
        .expect("count");
    assert_eq!(n, 0, "beta must not see alpha's rows");
    a.close().await;
    b.close().await;
    t.cleanup().await;
}

#[test]
fn locations_parse() {
    use stratus_store::Location;
    assert!(matches!(Location::parse("sqlite:///tmp/x"), Ok(Location::Sqlite(_))));
    assert!(matches!(
        Location::parse("postgres://u@h/db"),
        Ok(Location::Postgres(_))
    ));
    assert!(Location::parse("mysql://x").is_err());
    assert!(Location::parse("sqlite://").is_err());
}
