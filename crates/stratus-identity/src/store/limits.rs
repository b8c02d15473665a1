//! The SQL of unified limits: registered limits and the project and domain limits of them.

use sqlx::FromRow;
use stratus_store::{now_micros, Db, Result};

use crate::model::{Limit, RegisteredLimit};

#[derive(FromRow)]
struct RegRow {
    id: String,
    service_id: String,
    region_id: Option<String>,
    resource_name: String,
    default_limit: i64,
    description: Option<String>,
}

impl From<RegRow> for RegisteredLimit {
    fn from(r: RegRow) -> Self {
        RegisteredLimit {
            id: r.id,
            service_id: r.service_id,
            region_id: r.region_id,
            resource_name: r.resource_name,
            default_limit: r.default_limit,
            description: r.description,
        }
    }
}

#[derive(FromRow)]
struct LimitRow {
    id: String,
    registered_limit_id: String,
    service_id: String,
    region_id: Option<String>,
    resource_name: String,
    project_id: Option<String>,
    domain_id: Option<String>,
    resource_limit: i64,
    description: Option<String>,
}

impl From<LimitRow> for Limit {
    fn from(r: LimitRow) -> Self {
        Limit {
            id: r.id,
            registered_limit_id: r.registered_limit_id,
            service_id: r.service_id,
            region_id: r.region_id,
            resource_name: r.resource_name,
            project_id: r.project_id,
            domain_id: r.domain_id,
            resource_limit: r.resource_limit,
            description: r.description,
        }
    }
}

const REG_COLS: &str = "id, service_id, region_id, resource_name, default_limit, description";
const LIMIT_SELECT: &str = "SELECT l.id, l.registered_limit_id, r.service_id, r.region_id, r.resource_name, \
     l.project_id, l.domain_id, l.resource_limit, l.description \
     FROM limits l JOIN registered_limits r ON r.id = l.registered_limit_id";

/// Inserts registered limits, all or none.
pub(crate) async fn insert_registered_limits(db: &Db, regs: &[RegisteredLimit]) -> Result<()> {
    let mut tx = db.begin_write().await?;
    for r in regs {
        sqlx::query(&format!("INSERT INTO registered_limits ({REG_COLS}, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"))
            .bind(&r.id)
            .bind(&r.service_id)
            .bind(r.region_id.clone())
            .bind(&r.resource_name)
            .bind(r.default_limit)
            .bind(r.description.clone())
            .bind(now_micros())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn get_registered_limit(db: &Db, id: &str) -> Result<Option<RegisteredLimit>> {
    Ok(sqlx::query_as::<_, RegRow>(&format!("SELECT {REG_COLS} FROM registered_limits WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .map(Into::into))
}

/// The registered limit of (service, region, resource), a missing region matching only a
/// missing region.
pub(crate) async fn find_registered_limit(
    db: &Db,
    service_id: &str,
    region_id: Option<&str>,
    resource_name: &str,
) -> Result<Option<RegisteredLimit>> {
    Ok(sqlx::query_as::<_, RegRow>(&format!(
        "SELECT {REG_COLS} FROM registered_limits WHERE service_id = $1 AND COALESCE(region_id, '') = $2 AND resource_name = $3"
    ))
    .bind(service_id)
    .bind(region_id.unwrap_or(""))
    .bind(resource_name)
    .fetch_optional(&db.pool)
    .await?
    .map(Into::into))
}

pub(crate) async fn list_registered_limits(
    db: &Db,
    service_id: Option<&str>,
    region_id: Option<&str>,
    resource_name: Option<&str>,
) -> Result<Vec<RegisteredLimit>> {
    let mut f = stratus_store::sql::Filters::new();
    f.eq("service_id", service_id).eq("region_id", region_id).eq("resource_name", resource_name);
    let sql = format!("SELECT {REG_COLS} FROM registered_limits{} ORDER BY created_at, id", f.sql());
    Ok(sqlx::query_as_with::<_, RegRow, _>(&sql, f.args())
        .fetch_all(&db.pool)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

pub(crate) async fn update_registered_limit(db: &Db, r: &RegisteredLimit) -> Result<()> {
    sqlx::query(
        "UPDATE registered_limits SET service_id = $1, region_id = $2, resource_name = $3, default_limit = $4, \
         description = $5 WHERE id = $6",
    )
    .bind(&r.service_id)
    .bind(r.region_id.clone())
    .bind(&r.resource_name)
    .bind(r.default_limit)
    .bind(r.description.clone())
    .bind(&r.id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub(crate) async fn registered_limit_in_use(db: &Db, id: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM limits WHERE registered_limit_id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await?;
    Ok(n > 0)
}

pub(crate) async fn delete_registered_limit(db: &Db, id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM registered_limits WHERE id = $1").bind(id).execute(&db.pool).await?;
    Ok(r.rows_affected() > 0)
}

/// Inserts limits (their registered limit resolved), all or none.
pub(crate) async fn insert_limits(db: &Db, limits: &[Limit]) -> Result<()> {
    let mut tx = db.begin_write().await?;
    for l in limits {
        sqlx::query(
            "INSERT INTO limits (id, registered_limit_id, project_id, domain_id, resource_limit, description, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&l.id)
        .bind(&l.registered_limit_id)
        .bind(l.project_id.clone())
        .bind(l.domain_id.clone())
        .bind(l.resource_limit)
        .bind(l.description.clone())
        .bind(now_micros())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn get_limit(db: &Db, id: &str) -> Result<Option<Limit>> {
    Ok(sqlx::query_as::<_, LimitRow>(&format!("{LIMIT_SELECT} WHERE l.id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .map(Into::into))
}

pub(crate) async fn list_limits(db: &Db) -> Result<Vec<Limit>> {
    Ok(sqlx::query_as::<_, LimitRow>(&format!("{LIMIT_SELECT} ORDER BY l.created_at, l.id"))
        .fetch_all(&db.pool)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

pub(crate) async fn update_limit(db: &Db, id: &str, resource_limit: i64, description: Option<String>) -> Result<()> {
    sqlx::query("UPDATE limits SET resource_limit = $1, description = $2 WHERE id = $3")
        .bind(resource_limit)
        .bind(description)
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub(crate) async fn delete_limit(db: &Db, id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM limits WHERE id = $1").bind(id).execute(&db.pool).await?;
    Ok(r.rows_affected() > 0)
}

/// Deletes the limits of a project or domain that is going away.
pub(crate) async fn delete_limits_of(db: &Db, column: &str, id: &str) -> Result<()> {
    let column = if column == "domain_id" { "domain_id" } else { "project_id" };
    sqlx::query(&format!("DELETE FROM limits WHERE {column} = $1")).bind(id).execute(&db.pool).await?;
    Ok(())
}
