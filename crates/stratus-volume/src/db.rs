//! The Block Storage service's SQL. The same statements run on SQLite and PostgreSQL.

use std::collections::BTreeMap;

use sqlx::FromRow;
use stratus_store::sql::{finish, Filters, Page};
use stratus_store::{now_micros, Db, Result};

use crate::model::Volume;
use crate::status::Status;

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

const COLS: &str = "id, name, description, project_id, size, status, volume_type, availability_zone, bootable, \
     multiattach, source_volid, snapshot_id, image_id, metadata, image_metadata, created_at, updated_at, user_id, \
     admin_metadata";

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
    user_id: String,
    admin_metadata: String,
}

impl From<Row> for Volume {
    fn from(r: Row) -> Self {
        let map = |s: &str| serde_json::from_str::<BTreeMap<String, String>>(s).unwrap_or_default();
        Volume {
            // Only this module writes the status column, from the same enum.
            status: Status::parse(&r.status).unwrap_or(Status::Error),
            metadata: map(&r.metadata),
            image_metadata: map(&r.image_metadata),
            admin_metadata: map(&r.admin_metadata),
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
            user_id: r.user_id,
        }
    }
}

async fn insert_volume(tx: &mut sqlx::Transaction<'_, sqlx::Any>, v: &Volume) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO volumes ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
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
    .bind(&v.user_id)
    .bind(serde_json::to_string(&v.admin_metadata).unwrap_or_else(|_| "{}".into()))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(crate) async fn set_admin_metadata(db: &Db, id: &str, m: &BTreeMap<String, String>) -> Result<()> {
    sqlx::query("UPDATE volumes SET admin_metadata = $1, updated_at = $2 WHERE id = $3 AND deleted = 0")
        .bind(serde_json::to_string(m).unwrap_or_else(|_| "{}".into()))
        .bind(now_micros())
        .bind(id)
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

/// Volumes matching `f`, a page at a time (one row more than the limit).
pub(crate) async fn list(db: &Db, q: &crate::model::VolumeFilter, page: &Page) -> Result<Vec<Volume>> {
    let mut f = Filters::new();
    f.clause("deleted = 0")
        .eq("project_id", q.project_id.clone())
        .eq("name", q.name.clone())
        .eq("status", q.status.clone())
        .eq("availability_zone", q.availability_zone.clone())
        .eq("user_id", q.user_id.clone())
        .eq_flag("bootable", q.bootable);
    // Metadata is a JSON column: match it here, then cut the page.
    let by_metadata = !q.metadata.is_empty();
    let page_limit = page.limit;
    let unlimited;
    let page = if by_metadata {
        unlimited = Page {
            limit: None,
            ..page.clone()
        };
        &unlimited
    } else {
        page
    };
    let sql = format!("SELECT {COLS} FROM volumes{}", finish(&mut f, "volumes", page));
    let rows: Vec<Row> = sqlx::query_as_with(&sql, f.args()).fetch_all(&db.pool).await?;
    let mut out: Vec<Volume> = rows.into_iter().map(Into::into).collect();
    if by_metadata {
        out.retain(|v| q.metadata.iter().all(|(k, val)| v.metadata.get(k) == Some(val)));
        if let Some(l) = page_limit {
            out.truncate(l as usize + 1);
        }
    }
    Ok(out)
}

/// Changes what a user may change; `None` leaves a field as it is.
pub(crate) async fn update(db: &Db, id: &str, u: &crate::model::VolumeUpdate) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE volumes SET name = COALESCE($1, name), description = COALESCE($2, description), \
         metadata = COALESCE($3, metadata), bootable = COALESCE($4, bootable), updated_at = $5 \
         WHERE id = $6 AND deleted = 0",
    )
    .bind(&u.name)
    .bind(&u.description)
    .bind(
        u.metadata
            .as_ref()
            .map(|m| serde_json::to_string(m).unwrap_or_else(|_| "{}".into())),
    )
    .bind(u.bootable.map(i64::from))
    .bind(now_micros())
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// `os-reset_status`: the status an administrator says, whatever it was; with `detach`, the
/// volume's attachments are forgotten too.
pub(crate) async fn reset_status(db: &Db, id: &str, to: Status, detach: bool) -> Result<bool> {
    let mut tx = db.begin_write().await?;
    let r =
        sqlx::query("UPDATE volumes SET status = $1, extend_to = NULL, updated_at = $2 WHERE id = $3 AND deleted = 0")
            .bind(to.as_str())
            .bind(now_micros())
            .bind(id)
            .execute(&mut *tx)
            .await?;
    if detach {
        sqlx::query("DELETE FROM attachments WHERE volume_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(r.rows_affected() > 0)
}

/// Moves a volume from `from` to `to` (and optionally sets its size), atomically; false when
/// it was no longer in `from`.
pub(crate) async fn transition(db: &Db, id: &str, from: Status, to: Status, size: Option<u64>) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE volumes SET status = $1, size = COALESCE($2, size), extend_to = NULL, updated_at = $3 WHERE id = $4 AND status = $5 AND deleted = 0",
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

/// A project's volumes and their gigabytes, counting an extend in progress at its new size.
const VOLUME_USAGE: &str =
    "SELECT COUNT(*), CAST(SUM(CASE WHEN extend_to > size THEN extend_to ELSE size END) AS BIGINT) \
     FROM volumes WHERE project_id = $1 AND deleted = 0";
const SNAPSHOT_USAGE: &str =
    "SELECT COUNT(*), CAST(SUM(size) AS BIGINT) FROM snapshots WHERE project_id = $1 AND deleted = 0";

/// (volumes, gigabytes) a project holds.
pub(crate) async fn usage(db: &Db, project: &str) -> Result<(i64, i64)> {
    let (n, gb): (i64, Option<i64>) = sqlx::query_as(VOLUME_USAGE).bind(project).fetch_one(&db.pool).await?;
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

// ---------------------------------------------------------------- attachments

const ATT_COLS: &str =
    "id, volume_id, project_id, instance_uuid, status, attach_mode, connector, connection_info, created_at, updated_at";

#[derive(FromRow)]
struct AttRow {
    id: String,
    volume_id: String,
    project_id: String,
    instance_uuid: String,
    status: String,
    attach_mode: String,
    connector: Option<String>,
    connection_info: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl From<AttRow> for crate::model::Attachment {
    fn from(r: AttRow) -> Self {
        let json = |s: &Option<String>| s.as_deref().and_then(|s| serde_json::from_str(s).ok());
        crate::model::Attachment {
            connector: json(&r.connector),
            connection_info: json(&r.connection_info),
            id: r.id,
            volume_id: r.volume_id,
            project_id: r.project_id,
            instance_uuid: r.instance_uuid,
            status: r.status,
            attach_mode: r.attach_mode,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Records an attachment and moves its volume from `from` to `to`, in one transaction;
/// false (nothing written) when the volume was no longer in `from`.
pub(crate) async fn insert_attachment(db: &Db, a: &crate::model::Attachment, from: Status, to: Status) -> Result<bool> {
    let mut tx = db.begin_write().await?;
    let moved =
        sqlx::query("UPDATE volumes SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4 AND deleted = 0")
            .bind(to.as_str())
            .bind(a.created_at)
            .bind(&a.volume_id)
            .bind(from.as_str())
            .execute(&mut *tx)
            .await?;
    if moved.rows_affected() == 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    sqlx::query(&format!(
        "INSERT INTO attachments ({ATT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(&a.id)
    .bind(&a.volume_id)
    .bind(&a.project_id)
    .bind(&a.instance_uuid)
    .bind(&a.status)
    .bind(&a.attach_mode)
    .bind(a.connector.as_ref().map(|c| c.to_string()))
    .bind(a.connection_info.as_ref().map(|c| c.to_string()))
    .bind(a.created_at)
    .bind(a.updated_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

pub(crate) async fn get_attachment(db: &Db, id: &str) -> Result<Option<crate::model::Attachment>> {
    Ok(
        sqlx::query_as::<_, AttRow>(&format!("SELECT {ATT_COLS} FROM attachments WHERE id = $1"))
            .bind(id)
            .fetch_optional(&db.pool)
            .await?
            .map(Into::into),
    )
}

pub(crate) async fn attachments_of(db: &Db, volume_id: &str) -> Result<Vec<crate::model::Attachment>> {
    let rows: Vec<AttRow> = sqlx::query_as(&format!(
        "SELECT {ATT_COLS} FROM attachments WHERE volume_id = $1 ORDER BY created_at, id"
    ))
    .bind(volume_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub(crate) async fn attachments_of_project(db: &Db, project: &str) -> Result<Vec<crate::model::Attachment>> {
    let rows: Vec<AttRow> = sqlx::query_as(&format!(
        "SELECT {ATT_COLS} FROM attachments WHERE project_id = $1 ORDER BY created_at, id"
    ))
    .bind(project)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// The attachments of several volumes at once, for lists.
pub(crate) async fn attachments_of_many(db: &Db, volume_ids: &[String]) -> Result<Vec<crate::model::Attachment>> {
    if volume_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {ATT_COLS} FROM attachments WHERE volume_id IN ({}) ORDER BY created_at, id",
        stratus_store::sql::placeholders(volume_ids.len())
    );
    let args: Vec<stratus_store::sql::Val> = volume_ids.iter().map(|i| i.as_str().into()).collect();
    let rows: Vec<AttRow> = sqlx::query_as_with(&sql, stratus_store::sql::arguments(&args))
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Updates an attachment and moves its volume to `to` from any of `from`, in one transaction.
pub(crate) async fn update_attachment(
    db: &Db,
    a: &crate::model::Attachment,
    from: &[Status],
    to: Status,
) -> Result<bool> {
    let mut tx = db.begin_write().await?;
    let list: Vec<String> = (0..from.len()).map(|i| format!("${}", i + 4)).collect();
    let sql = format!(
        "UPDATE volumes SET status = $1, updated_at = $2 WHERE id = $3 AND deleted = 0 AND status IN ({})",
        list.join(", ")
    );
    let mut q = sqlx::query(&sql)
        .bind(to.as_str())
        .bind(a.updated_at)
        .bind(&a.volume_id);
    for s in from {
        q = q.bind(s.as_str());
    }
    if q.execute(&mut *tx).await?.rows_affected() == 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    sqlx::query(
        "UPDATE attachments SET status = $1, connector = $2, connection_info = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(&a.status)
    .bind(a.connector.as_ref().map(|c| c.to_string()))
    .bind(a.connection_info.as_ref().map(|c| c.to_string()))
    .bind(a.updated_at)
    .bind(&a.id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Deletes an attachment; the volume becomes `to` (available when it was the last one).
pub(crate) async fn delete_attachment(db: &Db, a: &crate::model::Attachment, to: Status) -> Result<()> {
    let mut tx = db.begin_write().await?;
    sqlx::query("DELETE FROM attachments WHERE id = $1")
        .bind(&a.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE volumes SET status = $1, updated_at = $2 WHERE id = $3 AND deleted = 0")
        .bind(to.as_str())
        .bind(now_micros())
        .bind(&a.volume_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------- snapshots

const SNAP_COLS: &str =
    "id, volume_id, project_id, name, description, size, status, created_at, updated_at, user_id, metadata";

#[derive(FromRow)]
struct SnapRow {
    id: String,
    volume_id: String,
    project_id: String,
    name: String,
    description: String,
    size: i64,
    status: String,
    created_at: i64,
    updated_at: i64,
    user_id: String,
    metadata: String,
}

impl From<SnapRow> for crate::model::Snapshot {
    fn from(r: SnapRow) -> Self {
        crate::model::Snapshot {
            id: r.id,
            volume_id: r.volume_id,
            project_id: r.project_id,
            name: r.name,
            description: r.description,
            size: r.size.max(0) as u64,
            status: r.status,
            created_at: r.created_at,
            updated_at: r.updated_at,
            user_id: r.user_id,
            metadata: serde_json::from_str(&r.metadata).unwrap_or_default(),
        }
    }
}

async fn insert_snapshot(conn: &mut sqlx::AnyConnection, s: &crate::model::Snapshot) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO snapshots ({SNAP_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    ))
    .bind(&s.id)
    .bind(&s.volume_id)
    .bind(&s.project_id)
    .bind(&s.name)
    .bind(&s.description)
    .bind(s.size as i64)
    .bind(&s.status)
    .bind(s.created_at)
    .bind(s.updated_at)
    .bind(&s.user_id)
    .bind(serde_json::to_string(&s.metadata).unwrap_or_else(|_| "{}".into()))
    .execute(conn)
    .await?;
    Ok(())
}

pub(crate) async fn get_snapshot(db: &Db, id: &str) -> Result<Option<crate::model::Snapshot>> {
    Ok(sqlx::query_as::<_, SnapRow>(&format!(
        "SELECT {SNAP_COLS} FROM snapshots WHERE id = $1 AND deleted = 0"
    ))
    .bind(id)
    .fetch_optional(&db.pool)
    .await?
    .map(Into::into))
}

pub(crate) async fn list_snapshots(
    db: &Db,
    q: &crate::model::SnapshotFilter,
    page: &Page,
) -> Result<Vec<crate::model::Snapshot>> {
    let mut f = Filters::new();
    f.clause("deleted = 0")
        .eq("project_id", q.project_id.clone())
        .eq("volume_id", q.volume_id.clone())
        .eq("name", q.name.clone())
        .eq("status", q.status.clone());
    let sql = format!("SELECT {SNAP_COLS} FROM snapshots{}", finish(&mut f, "snapshots", page));
    let rows: Vec<SnapRow> = sqlx::query_as_with(&sql, f.args()).fetch_all(&db.pool).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub(crate) async fn update_snapshot(db: &Db, id: &str, name: Option<&str>, description: Option<&str>) -> Result<()> {
    sqlx::query(
        "UPDATE snapshots SET name = COALESCE($1, name), description = COALESCE($2, description), updated_at = $3 \
         WHERE id = $4 AND deleted = 0",
    )
    .bind(name)
    .bind(description)
    .bind(now_micros())
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub(crate) async fn set_snapshot_metadata(
    db: &Db,
    id: &str,
    metadata: &std::collections::BTreeMap<String, String>,
) -> Result<()> {
    sqlx::query("UPDATE snapshots SET metadata = $1, updated_at = $2 WHERE id = $3 AND deleted = 0")
        .bind(serde_json::to_string(metadata).unwrap_or_else(|_| "{}".into()))
        .bind(now_micros())
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub(crate) async fn snapshot_count(db: &Db, volume_id: &str) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM snapshots WHERE volume_id = $1 AND deleted = 0")
            .bind(volume_id)
            .fetch_one(&db.pool)
            .await?,
    )
}

/// (snapshots, gigabytes) a project's snapshots hold.
pub(crate) async fn snapshot_usage(db: &Db, project: &str) -> Result<(i64, i64)> {
    let (n, gb): (i64, Option<i64>) = sqlx::query_as(SNAPSHOT_USAGE).bind(project).fetch_one(&db.pool).await?;
    Ok((n, gb.unwrap_or(0)))
}

pub(crate) async fn snapshot_transition(db: &Db, id: &str, from: &str, to: &str) -> Result<bool> {
    let r =
        sqlx::query("UPDATE snapshots SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4 AND deleted = 0")
            .bind(to)
            .bind(now_micros())
            .bind(id)
            .bind(from)
            .execute(&db.pool)
            .await?;
    Ok(r.rows_affected() > 0)
}

pub(crate) async fn mark_snapshot_deleted(db: &Db, id: &str) -> Result<()> {
    sqlx::query("UPDATE snapshots SET deleted = 1, status = 'deleted', updated_at = $1 WHERE id = $2")
        .bind(now_micros())
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub(crate) async fn snapshots_in_status(db: &Db, status: &str) -> Result<Vec<String>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM snapshots WHERE status = $1 AND deleted = 0")
            .bind(status)
            .fetch_all(&db.pool)
            .await?,
    )
}

// ---------------------------------------------------------------- volume types

#[derive(FromRow)]
struct TypeRow {
    id: String,
    name: String,
    description: String,
    is_public: i64,
    extra_specs: String,
}

impl From<TypeRow> for crate::model::VolumeType {
    fn from(r: TypeRow) -> Self {
        crate::model::VolumeType {
            id: r.id,
            name: r.name,
            description: r.description,
            is_public: r.is_public != 0,
            extra_specs: serde_json::from_str(&r.extra_specs).unwrap_or_default(),
        }
    }
}

pub(crate) async fn insert_type(db: &Db, t: &crate::model::VolumeType) -> Result<()> {
    sqlx::query("INSERT INTO volume_types (id, name, description, is_public, extra_specs, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(&t.id)
        .bind(&t.name)
        .bind(&t.description)
        .bind(t.is_public as i64)
        .bind(serde_json::to_string(&t.extra_specs).unwrap_or_else(|_| "{}".into()))
        .bind(now_micros())
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// A type by id or by name.
pub(crate) async fn find_type(db: &Db, id_or_name: &str) -> Result<Option<crate::model::VolumeType>> {
    Ok(sqlx::query_as::<_, TypeRow>(
        "SELECT id, name, description, is_public, extra_specs FROM volume_types WHERE id = $1 OR name = $1",
    )
    .bind(id_or_name)
    .fetch_optional(&db.pool)
    .await?
    .map(Into::into))
}

pub(crate) async fn list_types(db: &Db) -> Result<Vec<crate::model::VolumeType>> {
    let rows: Vec<TypeRow> = sqlx::query_as(
        "SELECT id, name, description, is_public, extra_specs FROM volume_types ORDER BY created_at, id",
    )
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub(crate) async fn update_type(db: &Db, t: &crate::model::VolumeType) -> Result<()> {
    sqlx::query("UPDATE volume_types SET name = $1, description = $2, is_public = $3 WHERE id = $4")
        .bind(&t.name)
        .bind(&t.description)
        .bind(t.is_public as i64)
        .bind(&t.id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub(crate) async fn set_extra_specs(db: &Db, id: &str, specs: &BTreeMap<String, String>) -> Result<()> {
    sqlx::query("UPDATE volume_types SET extra_specs = $1 WHERE id = $2")
        .bind(serde_json::to_string(specs).unwrap_or_else(|_| "{}".into()))
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// False when volumes still use the type.
pub(crate) async fn delete_type(db: &Db, id: &str, name: &str) -> Result<bool> {
    let mut tx = db.begin_write().await?;
    let used: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM volumes WHERE volume_type = $1 AND deleted = 0")
        .bind(name)
        .fetch_one(&mut *tx)
        .await?;
    if used > 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    sqlx::query("DELETE FROM volume_types WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

// ---------------------------------------------------------------- quotas

pub(crate) async fn quota_overrides(db: &Db, project: &str) -> Result<Vec<(String, i64)>> {
    Ok(
        sqlx::query_as("SELECT resource, hard_limit FROM quotas WHERE project_id = $1")
            .bind(project)
            .fetch_all(&db.pool)
            .await?,
    )
}

pub(crate) async fn set_quotas(db: &Db, project: &str, limits: &BTreeMap<String, i64>) -> Result<()> {
    let limits: Vec<(&str, i64)> = limits.iter().map(|(r, l)| (r.as_str(), *l)).collect();
    Ok(stratus_store::sql::set_project_limits(db, "quotas", project, &limits).await?)
}

pub(crate) async fn delete_quotas(db: &Db, project: &str) -> Result<()> {
    Ok(stratus_store::sql::delete_project_limits(db, "quotas", project).await?)
}

/// What a request adds to a project's usage.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Ask {
    pub volumes: i64,
    pub snapshots: i64,
    pub gigabytes: i64,
}

/// The project's usage, read inside a transaction that holds the project's quota lock.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Usage {
    pub volumes: i64,
    pub snapshots: i64,
    pub gigabytes: i64,
}

/// Opens a transaction holding the project's quota lock and reads its usage, so concurrent
/// requests of a project check and write one after another.
async fn quota_tx<'a>(db: &'a Db, project: &str) -> Result<(sqlx::Transaction<'a, sqlx::Any>, Usage)> {
    let mut tx = db.begin_write().await?;
    stratus_store::sql::lock_row(&mut tx, "quota_locks", "project_id", project).await?;
    let (volumes, vol_gb): (i64, Option<i64>) = sqlx::query_as(VOLUME_USAGE).bind(project).fetch_one(&mut *tx).await?;
    let (snapshots, snap_gb): (i64, Option<i64>) =
        sqlx::query_as(SNAPSHOT_USAGE).bind(project).fetch_one(&mut *tx).await?;
    Ok((
        tx,
        Usage {
            volumes,
            snapshots,
            gigabytes: vol_gb.unwrap_or(0) + snap_gb.unwrap_or(0),
        },
    ))
}

/// Inserts a volume if `check` accepts the project's usage; `check`'s error otherwise.
pub(crate) async fn insert_within_quota<E>(
    db: &Db,
    v: &Volume,
    check: impl FnOnce(Usage) -> std::result::Result<(), E>,
) -> Result<std::result::Result<(), E>> {
    let (mut tx, usage) = quota_tx(db, &v.project_id).await?;
    if let Err(e) = check(usage) {
        tx.rollback().await?;
        return Ok(Err(e));
    }
    insert_volume(&mut tx, v).await?;
    tx.commit().await?;
    Ok(Ok(()))
}

/// Inserts a snapshot if `check` accepts the project's usage.
pub(crate) async fn insert_snapshot_within_quota<E>(
    db: &Db,
    s: &crate::model::Snapshot,
    check: impl FnOnce(Usage) -> std::result::Result<(), E>,
) -> Result<std::result::Result<(), E>> {
    let (mut tx, usage) = quota_tx(db, &s.project_id).await?;
    if let Err(e) = check(usage) {
        tx.rollback().await?;
        return Ok(Err(e));
    }
    insert_snapshot(&mut tx, s).await?;
    tx.commit().await?;
    Ok(Ok(()))
}

/// Moves a volume from `from` to `extending` with its target size counted by the quota, if
/// `check` accepts the project's usage. `Ok(Ok(false))` when the volume left `from`.
pub(crate) async fn start_extend_within_quota<E>(
    db: &Db,
    v: &Volume,
    from: Status,
    new_size: u64,
    check: impl FnOnce(Usage) -> std::result::Result<(), E>,
) -> Result<std::result::Result<bool, E>> {
    let (mut tx, usage) = quota_tx(db, &v.project_id).await?;
    if let Err(e) = check(usage) {
        tx.rollback().await?;
        return Ok(Err(e));
    }
    let r = sqlx::query(
        "UPDATE volumes SET status = 'extending', extend_to = $1, updated_at = $2 WHERE id = $3 AND status = $4 AND deleted = 0",
    )
    .bind(new_size as i64)
    .bind(now_micros())
    .bind(&v.id)
    .bind(from.as_str())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Ok(r.rows_affected() > 0))
}
