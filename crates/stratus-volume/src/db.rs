//! The Block Storage service's SQL. The same statements run on SQLite and PostgreSQL.

use std::collections::BTreeMap;

use sqlx::FromRow;
use stratus_store::{now_micros, Db, Result};

use crate::model::Volume;
use crate::status::Status;

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

const COLS: &str = "id, name, description, project_id, size, status, volume_type, availability_zone, bootable, \
     multiattach, source_volid, snapshot_id, image_id, metadata, image_metadata, created_at, updated_at";

#[derive(FromRow)]
struct Row {
    id: String,
    name: String,
    description: String,
    project_id: String,
    size: i64,
    status: String,
    volume_type: Option<String>,
    availability_zone: String,
    bootable: i64,
    multiattach: i64,
    source_volid: Option<String>,
    snapshot_id: Option<String>,
    image_id: Option<String>,
    metadata: String,
    image_metadata: String,
    created_at: i64,
    updated_at: i64,
}

impl From<Row> for Volume {
    fn from(r: Row) -> Self {
        let map = |s: &str| serde_json::from_str::<BTreeMap<String, String>>(s).unwrap_or_default();
        Volume {
            // Only this module writes the status column, from the same enum.
            status: Status::parse(&r.status).unwrap_or(Status::Error),
            metadata: map(&r.metadata),
            image_metadata: map(&r.image_metadata),
            id: r.id,
            name: r.name,
            description: r.description,
            project_id: r.project_id,
            size: r.size.max(0) as u64,
            volume_type: r.volume_type,
            availability_zone: r.availability_zone,
            bootable: r.bootable != 0,
            multiattach: r.multiattach != 0,
            source_volid: r.source_volid,
            snapshot_id: r.snapshot_id,
            image_id: r.image_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

pub(crate) async fn insert(db: &Db, v: &Volume) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO volumes ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
    ))
    .bind(&v.id)
    .bind(&v.name)
    .bind(&v.description)
    .bind(&v.project_id)
    .bind(v.size as i64)
    .bind(v.status.as_str())
    .bind(&v.volume_type)
    .bind(&v.availability_zone)
    .bind(v.bootable as i64)
    .bind(v.multiattach as i64)
    .bind(&v.source_volid)
    .bind(&v.snapshot_id)
    .bind(&v.image_id)
    .bind(serde_json::to_string(&v.metadata).unwrap_or_else(|_| "{}".into()))
    .bind(serde_json::to_string(&v.image_metadata).unwrap_or_else(|_| "{}".into()))
    .bind(v.created_at)
    .bind(v.updated_at)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub(crate) async fn get(db: &Db, id: &str) -> Result<Option<Volume>> {
    Ok(
        sqlx::query_as::<_, Row>(&format!("SELECT {COLS} FROM volumes WHERE id = $1 AND deleted = 0"))
            .bind(id)
            .fetch_optional(&db.pool)
            .await?
            .map(Into::into),
    )
}

pub(crate) async fn list(db: &Db, project: Option<&str>) -> Result<Vec<Volume>> {
    let rows: Vec<Row> = match project {
        Some(p) => {
            sqlx::query_as(&format!(
                "SELECT {COLS} FROM volumes WHERE deleted = 0 AND project_id = $1 ORDER BY created_at, id"
            ))
            .bind(p)
            .fetch_all(&db.pool)
            .await?
        }
        None => {
            sqlx::query_as(&format!(
                "SELECT {COLS} FROM volumes WHERE deleted = 0 ORDER BY created_at, id"
            ))
            .fetch_all(&db.pool)
            .await?
        }
    };
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Moves a volume from `from` to `to` (and optionally sets its size), atomically; false when
/// it was no longer in `from`.
pub(crate) async fn transition(db: &Db, id: &str, from: Status, to: Status, size: Option<u64>) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE volumes SET status = $1, size = COALESCE($2, size), updated_at = $3 WHERE id = $4 AND status = $5 AND deleted = 0",
    )
    .bind(to.as_str())
    .bind(size.map(|s| s as i64))
    .bind(now_micros())
    .bind(id)
    .bind(from.as_str())
    .execute(&db.pool)
    .await?;
    Ok(r.rows_affected() > 0)
}

pub(crate) async fn mark_deleted(db: &Db, id: &str) -> Result<()> {
    sqlx::query("UPDATE volumes SET deleted = 1, status = 'deleted', updated_at = $1 WHERE id = $2")
        .bind(now_micros())
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// (volumes, gigabytes) a project holds.
pub(crate) async fn usage(db: &Db, project: &str) -> Result<(i64, i64)> {
    let (n, gb): (i64, Option<i64>) =
        sqlx::query_as("SELECT COUNT(*), CAST(SUM(size) AS BIGINT) FROM volumes WHERE project_id = $1 AND deleted = 0")
            .bind(project)
            .fetch_one(&db.pool)
            .await?;
    Ok((n, gb.unwrap_or(0)))
}

pub(crate) async fn in_status(db: &Db, status: Status) -> Result<Vec<String>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM volumes WHERE status = $1 AND deleted = 0")
            .bind(status.as_str())
            .fetch_all(&db.pool)
            .await?,
    )
}
