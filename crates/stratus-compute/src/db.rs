//! The Compute service's SQL. The same statements run on SQLite and PostgreSQL.

use std::collections::BTreeMap;

use sqlx::FromRow;
use stratus_store::{now_micros, Db, Result};

use crate::model::{Flavor, Keypair};

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

// ---------------------------------------------------------------- flavors

const FLAVOR_COLS: &str =
    "id, name, description, memory_mb, vcpus, root_gb, ephemeral_gb, swap, rxtx_factor, is_public, disabled, extra_specs";

#[derive(FromRow)]
struct FlavorRow {
    id: String,
    name: String,
    description: Option<String>,
    memory_mb: i64,
    vcpus: i64,
    root_gb: i64,
    ephemeral_gb: i64,
    swap: i64,
    rxtx_factor: f64,
    is_public: i64,
    disabled: i64,
    extra_specs: String,
}

impl From<FlavorRow> for Flavor {
    fn from(r: FlavorRow) -> Self {
        Flavor {
            id: r.id,
            name: r.name,
            description: r.description,
            memory_mb: r.memory_mb,
            vcpus: r.vcpus,
            root_gb: r.root_gb,
            ephemeral_gb: r.ephemeral_gb,
            swap: r.swap,
            rxtx_factor: r.rxtx_factor,
            is_public: r.is_public != 0,
            disabled: r.disabled != 0,
            extra_specs: serde_json::from_str(&r.extra_specs).unwrap_or_default(),
        }
    }
}

pub(crate) async fn insert_flavor(db: &Db, f: &Flavor) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO flavors ({FLAVOR_COLS}, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    ))
    .bind(&f.id)
    .bind(&f.name)
    .bind(&f.description)
    .bind(f.memory_mb)
    .bind(f.vcpus)
    .bind(f.root_gb)
    .bind(f.ephemeral_gb)
    .bind(f.swap)
    .bind(f.rxtx_factor)
    .bind(f.is_public as i64)
    .bind(f.disabled as i64)
    .bind(serde_json::to_string(&f.extra_specs).unwrap_or_else(|_| "{}".into()))
    .bind(now_micros())
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub(crate) async fn get_flavor(db: &Db, id: &str) -> Result<Option<Flavor>> {
    Ok(
        sqlx::query_as::<_, FlavorRow>(&format!("SELECT {FLAVOR_COLS} FROM flavors WHERE id = $1"))
            .bind(id)
            .fetch_optional(&db.pool)
            .await?
            .map(Into::into),
    )
}

/// Flavors in Nova's order (by id), public ones and, for `project`, the private ones it has
/// access to; every flavor when `project` is None.
pub(crate) async fn list_flavors(db: &Db, project: Option<&str>) -> Result<Vec<Flavor>> {
    let rows: Vec<FlavorRow> = match project {
        Some(p) => {
            sqlx::query_as(&format!(
                "SELECT {FLAVOR_COLS} FROM flavors WHERE is_public = 1 \
                 OR id IN (SELECT flavor_id FROM flavor_access WHERE project_id = $1) ORDER BY id"
            ))
            .bind(p)
            .fetch_all(&db.pool)
            .await?
        }
        None => {
            sqlx::query_as(&format!("SELECT {FLAVOR_COLS} FROM flavors ORDER BY id"))
                .fetch_all(&db.pool)
                .await?
        }
    };
    Ok(rows.into_iter().map(Into::into).collect())
}

pub(crate) async fn update_flavor(
    db: &Db,
    id: &str,
    description: Option<&str>,
    specs: Option<&BTreeMap<String, String>>,
) -> Result<()> {
    sqlx::query(
        "UPDATE flavors SET description = COALESCE($1, description), extra_specs = COALESCE($2, extra_specs), updated_at = $3 WHERE id = $4",
    )
    .bind(description)
    .bind(specs.map(|s| serde_json::to_string(s).unwrap_or_else(|_| "{}".into())))
    .bind(now_micros())
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub(crate) async fn delete_flavor(db: &Db, id: &str) -> Result<bool> {
    let mut tx = db.begin_write().await?;
    sqlx::query("DELETE FROM flavor_access WHERE flavor_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let r = sqlx::query("DELETE FROM flavors WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(r.rows_affected() > 0)
}

pub(crate) async fn flavor_access(db: &Db, id: &str) -> Result<Vec<String>> {
    Ok(
        sqlx::query_scalar("SELECT project_id FROM flavor_access WHERE flavor_id = $1 ORDER BY project_id")
            .bind(id)
            .fetch_all(&db.pool)
            .await?,
    )
}

pub(crate) async fn add_flavor_access(db: &Db, id: &str, project: &str) -> Result<()> {
    sqlx::query("INSERT INTO flavor_access (flavor_id, project_id) VALUES ($1, $2)")
        .bind(id)
        .bind(project)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub(crate) async fn remove_flavor_access(db: &Db, id: &str, project: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM flavor_access WHERE flavor_id = $1 AND project_id = $2")
        .bind(id)
        .bind(project)
        .execute(&db.pool)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Runs `make` once per deployment under `name`; false when it was done before.
pub(crate) async fn bootstrap_once(db: &Db, name: &str) -> Result<bool> {
    let r = sqlx::query("INSERT INTO bootstrap (name, done_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .bind(now_micros())
        .execute(&db.pool)
        .await?;
    Ok(r.rows_affected() > 0)
}

// ---------------------------------------------------------------- keypairs

const KEY_COLS: &str = "id, user_id, name, key_type, public_key, fingerprint, created_at";

#[derive(FromRow)]
struct KeyRow {
    id: i64,
    user_id: String,
    name: String,
    key_type: String,
    public_key: String,
    fingerprint: String,
    created_at: i64,
}

impl From<KeyRow> for Keypair {
    fn from(r: KeyRow) -> Self {
        Keypair {
            id: r.id,
            user_id: r.user_id,
            name: r.name,
            key_type: r.key_type,
            public_key: r.public_key,
            fingerprint: r.fingerprint,
            created_at: r.created_at,
        }
    }
}

/// Takes the lock row of `owner` (a project, a user or a server group) for the rest of the
/// transaction, so checks and writes of one owner run one after another.
pub(crate) async fn lock(tx: &mut sqlx::Transaction<'_, sqlx::Any>, owner: &str) -> Result<()> {
    Ok(stratus_store::sql::lock_row(tx, "quota_locks", "owner", owner).await?)
}

/// The next value of the sequence `name` (Nova's integer ids of aggregates and compute
/// hosts), taken in `tx`: its lock row counts the values given and stays locked to commit, so
/// concurrent takers get distinct values and a value is never given twice.
pub(crate) async fn next_id(tx: &mut sqlx::Transaction<'_, sqlx::Any>, name: &str) -> Result<i64> {
    let key = format!("seq:{name}");
    lock(tx, &key).await?;
    let taken: i64 = sqlx::query_scalar("SELECT version FROM quota_locks WHERE owner = $1")
        .bind(&key)
        .fetch_one(&mut **tx)
        .await?;
    Ok(taken + 1)
}

/// Inserts a keypair unless the user already holds `limit` of them (a negative limit is
/// none); `Ok(false)` when over the limit. The count and the insert run under the user's
/// quota lock, so concurrent creates cannot pass it together.
pub(crate) async fn insert_keypair(db: &Db, k: &Keypair, limit: i64) -> Result<bool> {
    let mut tx = db.begin_write().await?;
    lock(&mut tx, &format!("user:{}", k.user_id)).await?;
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM keypairs WHERE user_id = $1")
        .bind(&k.user_id)
        .fetch_one(&mut *tx)
        .await?;
    if limit >= 0 && count >= limit {
        tx.rollback().await?;
        return Ok(false);
    }
    sqlx::query(&format!(
        "INSERT INTO keypairs ({KEY_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    ))
    .bind(k.id)
    .bind(&k.user_id)
    .bind(&k.name)
    .bind(&k.key_type)
    .bind(&k.public_key)
    .bind(&k.fingerprint)
    .bind(k.created_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// How many keypairs `user` holds.
pub(crate) async fn count_keypairs(db: &Db, user: &str) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM keypairs WHERE user_id = $1")
        .bind(user)
        .fetch_one(&db.pool)
        .await?)
}

pub(crate) async fn get_keypair(db: &Db, user: &str, name: &str) -> Result<Option<Keypair>> {
    Ok(sqlx::query_as::<_, KeyRow>(&format!(
        "SELECT {KEY_COLS} FROM keypairs WHERE user_id = $1 AND name = $2"
    ))
    .bind(user)
    .bind(name)
    .fetch_optional(&db.pool)
    .await?
    .map(Into::into))
}

/// A user's keypairs by name, `limit` after `marker` (a name).
pub(crate) async fn list_keypairs(
    db: &Db,
    user: &str,
    marker: Option<&str>,
    limit: Option<u32>,
) -> Result<Vec<Keypair>> {
    let lim = limit.map(|l| format!(" LIMIT {}", l as u64 + 1)).unwrap_or_default();
    let rows: Vec<KeyRow> = sqlx::query_as(&format!(
        "SELECT {KEY_COLS} FROM keypairs WHERE user_id = $1 AND name > $2 ORDER BY name{lim}"
    ))
    .bind(user)
    .bind(marker.unwrap_or(""))
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub(crate) async fn delete_keypair(db: &Db, user: &str, name: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM keypairs WHERE user_id = $1 AND name = $2")
        .bind(user)
        .bind(name)
        .execute(&db.pool)
        .await?;
    Ok(r.rows_affected() > 0)
}

pub(crate) async fn set_quotas(db: &Db, project: &str, limits: &BTreeMap<String, i64>) -> Result<()> {
    let limits: Vec<(&str, i64)> = limits.iter().map(|(r, l)| (r.as_str(), *l)).collect();
    Ok(stratus_store::sql::set_project_limits(db, "compute_quotas", project, &limits).await?)
}

pub(crate) async fn delete_quotas(db: &Db, project: &str) -> Result<()> {
    Ok(stratus_store::sql::delete_project_limits(db, "compute_quotas", project).await?)
}
