//! The SQL of instances, their actions, compute nodes and claims.

use std::collections::BTreeMap;

use sqlx::FromRow;
use stratus_store::{now_micros, Db, Result};

use crate::model::{ActionEvent, ComputeNode, Instance, InstanceAction};

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

const COLS: &str = "id, name, project_id, user_id, flavor, vcpus, memory_mb, root_gb, image_id, host, vm_state, \
     task_state, power_state, availability_zone, key_name, key_data, user_data, metadata, config_drive, \
     requested_networks, addresses, ports, fault, locked, attempts, alternates, claimed, task_deadline, \
     launched_at, created_at, updated_at, block_devices, description, tags, attrs, terminated_at, zone_from_host";

#[derive(FromRow)]
struct Row {
    id: String,
    name: String,
    project_id: String,
    user_id: String,
    flavor: String,
    image_id: Option<String>,
    host: Option<String>,
    vm_state: String,
    task_state: Option<String>,
    power_state: i64,
    availability_zone: Option<String>,
    key_name: Option<String>,
    key_data: Option<String>,
    user_data: Option<String>,
    metadata: String,
    config_drive: i64,
    requested_networks: String,
    addresses: String,
    ports: String,
    fault: Option<String>,
    locked: i64,
    attempts: String,
    alternates: String,
    claimed: i64,
    task_deadline: Option<i64>,
    launched_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    block_devices: String,
    description: Option<String>,
    tags: String,
    attrs: String,
    terminated_at: Option<i64>,
    zone_from_host: i64,
}

impl TryFrom<Row> for Instance {
    type Error = stratus_store::StoreError;
    fn try_from(r: Row) -> Result<Self> {
        let bad = |what: &str, e: serde_json::Error| {
            stratus_store::StoreError::Corrupt(format!("instance {} {what}: {e}", r.id))
        };
        Ok(Instance {
            flavor: serde_json::from_str(&r.flavor).map_err(|e| bad("flavor", e))?,
            requested_networks: serde_json::from_str(&r.requested_networks).map_err(|e| bad("networks", e))?,
            block_devices: serde_json::from_str(&r.block_devices).unwrap_or_default(),
            description: r.description,
            tags: serde_json::from_str(&r.tags).map_err(|e| bad("tags", e))?,
            attrs: serde_json::from_str(&r.attrs).unwrap_or_default(),
            metadata: serde_json::from_str(&r.metadata).unwrap_or_default(),
            addresses: serde_json::from_str(&r.addresses).unwrap_or_default(),
            ports: serde_json::from_str(&r.ports).unwrap_or_default(),
            fault: r.fault.as_deref().and_then(|f| serde_json::from_str(f).ok()),
            attempts: serde_json::from_str(&r.attempts).unwrap_or_default(),
            alternates: serde_json::from_str(&r.alternates).unwrap_or_default(),
            id: r.id.clone(),
            name: r.name.clone(),
            project_id: r.project_id.clone(),
            user_id: r.user_id.clone(),
            image_id: r.image_id.clone(),
            host: r.host.clone(),
            vm_state: r.vm_state.clone(),
            task_state: r.task_state.clone(),
            power_state: r.power_state,
            availability_zone: r.availability_zone.clone(),
            zone_from_host: r.zone_from_host != 0,
            key_name: r.key_name.clone(),
            key_data: r.key_data.clone(),
            user_data: r.user_data.clone(),
            config_drive: r.config_drive != 0,
            locked: r.locked != 0,
            claimed: r.claimed != 0,
            task_deadline: r.task_deadline,
            launched_at: r.launched_at,
            terminated_at: r.terminated_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// What a project's live instances use, for quotas.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub instances: i64,
    pub cores: i64,
    pub ram: i64,
    pub server_groups: i64,
}

/// What a project's live instances use, read on `conn` (a transaction holding the project's
/// lock, or the pool).
async fn usage_on<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(conn: E, project: &str) -> Result<Usage> {
    let (instances, cores, ram, server_groups): (i64, Option<i64>, Option<i64>, i64) = sqlx::query_as(
        "SELECT COUNT(*), CAST(SUM(vcpus) AS BIGINT), CAST(SUM(memory_mb) AS BIGINT), \
         (SELECT COUNT(*) FROM server_groups WHERE project_id = $1) FROM instances \
         WHERE project_id = $1 AND deleted = 0",
    )
    .bind(project)
    .fetch_one(conn)
    .await?;
    Ok(Usage {
        instances,
        cores: cores.unwrap_or(0),
        ram: ram.unwrap_or(0),
        server_groups,
    })
}

pub(crate) async fn usage(db: &Db, project: &str) -> Result<Usage> {
    usage_on(&db.pool, project).await
}

/// What one user's live instances of a project use.
async fn user_usage_on<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    conn: E,
    project: &str,
    user: &str,
) -> Result<Usage> {
    let (instances, cores, ram): (i64, Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(*), CAST(SUM(vcpus) AS BIGINT), CAST(SUM(memory_mb) AS BIGINT) FROM instances \
         WHERE project_id = $1 AND user_id = $2 AND deleted = 0",
    )
    .bind(project)
    .bind(user)
    .fetch_one(conn)
    .await?;
    Ok(Usage {
        instances,
        cores: cores.unwrap_or(0),
        ram: ram.unwrap_or(0),
        server_groups: 0,
    })
}

pub(crate) async fn user_usage(db: &Db, project: &str, user: &str) -> Result<Usage> {
    user_usage_on(&db.pool, project, user).await
}

/// Builds past their deadline.
pub(crate) async fn overdue(db: &Db, now: i64) -> Result<Vec<Instance>> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLS} FROM instances WHERE deleted = 0 AND vm_state = 'building' AND task_deadline < $1"
    ))
    .bind(now)
    .fetch_all(&db.pool)
    .await?;
    rows.into_iter().map(TryInto::try_into).collect()
}

/// Inserts an instance and its `create` action (and its membership of `group`) if `check`
/// accepts the project's usage and the group's live member count, under the project's quota
/// lock and the group's lock.
pub(crate) async fn insert_within_quota<E>(
    db: &Db,
    i: &Instance,
    request_id: &str,
    group: Option<&str>,
    check: impl FnOnce(Usage, Usage, Option<i64>) -> std::result::Result<(), E>,
) -> Result<std::result::Result<(), E>> {
    let mut tx = db.begin_write().await?;
    crate::db::lock(&mut tx, &format!("project:{}", i.project_id)).await?;
    let members = match group {
        Some(g) => {
            crate::db::lock(&mut tx, &format!("group:{g}")).await?;
            Some(
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM server_group_members m JOIN instances i ON i.id = m.instance_id \
                     WHERE m.group_id = $1 AND i.deleted = 0",
                )
                .bind(g)
                .fetch_one(&mut *tx)
                .await?,
            )
        }
        None => None,
    };
    let project_usage = usage_on(&mut *tx, &i.project_id).await?;
    let user_usage = user_usage_on(&mut *tx, &i.project_id, &i.user_id).await?;
    if let Err(e) = check(project_usage, user_usage, members) {
        tx.rollback().await?;
        return Ok(Err(e));
    }
    sqlx::query(&format!(
        "INSERT INTO instances ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
         $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37)"
    ))
    .bind(&i.id)
    .bind(&i.name)
    .bind(&i.project_id)
    .bind(&i.user_id)
    .bind(json(&i.flavor))
    .bind(i.flavor.vcpus)
    .bind(i.flavor.memory_mb)
    .bind(i.flavor.root_gb)
    .bind(&i.image_id)
    .bind(&i.host)
    .bind(&i.vm_state)
    .bind(&i.task_state)
    .bind(i.power_state)
    .bind(&i.availability_zone)
    .bind(&i.key_name)
    .bind(&i.key_data)
    .bind(&i.user_data)
    .bind(json(&i.metadata))
    .bind(i.config_drive as i64)
    .bind(json(&i.requested_networks))
    .bind(json(&i.addresses))
    .bind(json(&i.ports))
    .bind(i.fault.as_ref().map(json))
    .bind(i.locked as i64)
    .bind(json(&i.attempts))
    .bind(json(&i.alternates))
    .bind(i.claimed as i64)
    .bind(i.task_deadline)
    .bind(i.launched_at)
    .bind(i.created_at)
    .bind(i.updated_at)
    .bind(json(&i.block_devices))
    .bind(&i.description)
    .bind(json(&i.tags))
    .bind(json(&i.attrs))
    .bind(i.terminated_at)
    .bind(i.zone_from_host as i64)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO instance_actions (instance_id, request_id, action, project_id, user_id, start_time) \
         VALUES ($1, $2, 'create', $3, $4, $5)",
    )
    .bind(&i.id)
    .bind(request_id)
    .bind(&i.project_id)
    .bind(&i.user_id)
    .bind(i.created_at)
    .execute(&mut *tx)
    .await?;
    if let Some(g) = group {
        sqlx::query("INSERT INTO server_group_members (group_id, instance_id) VALUES ($1, $2)")
            .bind(g)
            .bind(&i.id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(Ok(()))
}

pub(crate) async fn get(db: &Db, id: &str) -> Result<Option<Instance>> {
    match sqlx::query_as::<_, Row>(&format!("SELECT {COLS} FROM instances WHERE id = $1 AND deleted = 0"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
    {
        Some(r) => Ok(Some(r.try_into()?)),
        None => Ok(None),
    }
}

/// An instance, deleted or not (Nova's `read_deleted='yes'`).
pub(crate) async fn get_even_deleted(db: &Db, id: &str) -> Result<Option<Instance>> {
    match sqlx::query_as::<_, Row>(&format!(
        "SELECT {COLS} FROM instances WHERE id = $1 ORDER BY deleted LIMIT 1"
    ))
    .bind(id)
    .fetch_optional(&db.pool)
    .await?
    {
        Some(r) => Ok(Some(r.try_into()?)),
        None => Ok(None),
    }
}

/// Live instances, of one project or all, newest first.
pub(crate) async fn list(db: &Db, project: Option<&str>, host: Option<&str>) -> Result<Vec<Instance>> {
    let mut f = stratus_store::sql::Filters::new();
    f.clause("deleted = 0").eq("project_id", project).eq("host", host);
    let sql = format!(
        "SELECT {COLS} FROM instances{} ORDER BY created_at DESC, id DESC",
        f.sql()
    );
    let rows: Vec<Row> = sqlx::query_as_with(&sql, f.args()).fetch_all(&db.pool).await?;
    rows.into_iter().map(TryInto::try_into).collect()
}

/// The instances of `project` (None: every project) changed at or after `since`, deleted ones
/// included, newest first: what Nova's `changes-since` lists.
pub(crate) async fn list_changed_since(db: &Db, project: Option<&str>, since: i64) -> Result<Vec<Instance>> {
    let mut f = stratus_store::sql::Filters::new();
    f.eq("project_id", project).raw(|p| format!("updated_at >= {p}"), since);
    let sql = format!(
        "SELECT {COLS} FROM instances{} ORDER BY created_at DESC, id DESC",
        f.sql()
    );
    let rows: Vec<Row> = sqlx::query_as_with(&sql, f.args()).fetch_all(&db.pool).await?;
    rows.into_iter().map(TryInto::try_into).collect()
}

/// Instances (deleted ones too) that ran during `[begin, end)`: launched before `end` and not
/// terminated before `begin` (Nova's `get_active_by_window_joined`), of one project or all,
/// in creation order, `limit` of them after the instance `after` (its creation time and id).
pub(crate) async fn active_in_window(
    db: &Db,
    begin: i64,
    end: i64,
    project: Option<&str>,
    after: Option<(i64, &str)>,
    limit: u32,
) -> Result<Vec<Instance>> {
    let mut f = stratus_store::sql::Filters::new();
    f.raw(|p| format!("(terminated_at IS NULL OR terminated_at > {p})"), begin)
        .raw(|p| format!("launched_at < {p}"), end)
        .eq("project_id", project);
    if let Some((created, id)) = after {
        let c = f.bind(created);
        let c2 = f.bind(created);
        let i = f.bind(id);
        f.clause(format!("(created_at > {c} OR (created_at = {c2} AND id > {i}))"));
    }
    let sql = format!(
        "SELECT {COLS} FROM instances{} ORDER BY created_at, id LIMIT {limit}",
        f.sql()
    );
    let rows: Vec<Row> = sqlx::query_as_with(&sql, f.args()).fetch_all(&db.pool).await?;
    rows.into_iter().map(TryInto::try_into).collect()
}

/// Writes the changeable fields of `i` if its task state is still `expected` (None: any).
/// False when another writer moved it first.
pub(crate) async fn save(db: &Db, i: &Instance, expected: Option<Option<&str>>) -> Result<bool> {
    let mut sql = String::from(
        "UPDATE instances SET name = $1, host = $2, vm_state = $3, task_state = $4, power_state = $5, \
         metadata = $6, addresses = $7, ports = $8, fault = $9, locked = $10, attempts = $11, alternates = $12, \
         task_deadline = $13, launched_at = $14, updated_at = $15, availability_zone = $16, description = $17, \
         tags = $18, attrs = $19, zone_from_host = $20 WHERE id = $21 AND deleted = 0",
    );
    if expected.is_some() {
        sql.push_str(" AND COALESCE(task_state, '') = $22");
    }
    let mut q = sqlx::query(&sql)
        .bind(&i.name)
        .bind(&i.host)
        .bind(&i.vm_state)
        .bind(&i.task_state)
        .bind(i.power_state)
        .bind(json(&i.metadata))
        .bind(json(&i.addresses))
        .bind(json(&i.ports))
        .bind(i.fault.as_ref().map(json))
        .bind(i.locked as i64)
        .bind(json(&i.attempts))
        .bind(json(&i.alternates))
        .bind(i.task_deadline)
        .bind(i.launched_at)
        .bind(now_micros())
        .bind(&i.availability_zone)
        .bind(&i.description)
        .bind(json(&i.tags))
        .bind(json(&i.attrs))
        .bind(i.zone_from_host as i64)
        .bind(&i.id);
    if let Some(e) = expected {
        q = q.bind(e.unwrap_or("").to_owned());
    }
    Ok(q.execute(&db.pool).await?.rows_affected() > 0)
}

/// Marks an instance deleted, releasing its claim in the same transaction.
pub(crate) async fn mark_deleted(db: &Db, i: &Instance) -> Result<()> {
    let mut tx = db.begin_write().await?;
    let released = sqlx::query("UPDATE instances SET claimed = 0 WHERE id = $1 AND claimed = 1")
        .bind(&i.id)
        .execute(&mut *tx)
        .await?;
    if released.rows_affected() > 0 {
        if let Some(h) = &i.host {
            release_on(&mut tx, h, i).await?;
        }
    }
    sqlx::query("DELETE FROM volume_attachments WHERE instance_id = $1")
        .bind(&i.id)
        .execute(&mut *tx)
        .await?;
    // Nova's terminated_at: what os-simple-tenant-usage bills up to.
    sqlx::query(
        "UPDATE instances SET deleted = 1, vm_state = 'deleted', task_state = NULL, updated_at = $1, \
         terminated_at = COALESCE(terminated_at, $1), deleted_at = $1 WHERE id = $2",
    )
    .bind(now_micros())
    .bind(&i.id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn release_on(tx: &mut sqlx::Transaction<'_, sqlx::Any>, host: &str, i: &Instance) -> Result<()> {
    sqlx::query(
        "UPDATE compute_nodes SET vcpus_used = vcpus_used - $1, memory_mb_used = memory_mb_used - $2, \
         disk_gb_used = disk_gb_used - $3 WHERE host = $4",
    )
    .bind(i.flavor.vcpus)
    .bind(i.flavor.memory_mb)
    .bind(i.flavor.root_gb)
    .bind(host)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Claims the instance's resources on `host` unless that would pass the host's capacity
/// times the ratios; records the host on the instance in the same transaction.
pub(crate) async fn claim(
    db: &Db,
    i: &Instance,
    host: &str,
    ratios: &crate::scheduler::Ratios,
    group: Option<&crate::groups::ServerGroup>,
) -> Result<bool> {
    let mut tx = db.begin_write().await?;
    // A hard group policy is checked again here, under the group's lock, so that two
    // concurrent boots of one group cannot both pass the scheduler's (earlier) look.
    if let Some(g) = group.filter(|g| {
        matches!(
            g.policy,
            crate::scheduler::GroupPolicy::Affinity | crate::scheduler::GroupPolicy::AntiAffinity
        )
    }) {
        crate::db::lock(&mut tx, &format!("group:{}", g.id)).await?;
        let hosts: Vec<String> = sqlx::query_scalar(
            "SELECT i.host FROM instances i JOIN server_group_members m ON m.instance_id = i.id \
             WHERE m.group_id = $1 AND i.deleted = 0 AND i.claimed = 1 AND i.host IS NOT NULL AND i.id <> $2",
        )
        .bind(&g.id)
        .bind(&i.id)
        .fetch_all(&mut *tx)
        .await?;
        let here = hosts.iter().filter(|h| *h == host).count();
        let breaks = match g.policy {
            crate::scheduler::GroupPolicy::AntiAffinity => here >= g.max_server_per_host.unwrap_or(1) as usize,
            _ => hosts.iter().any(|h| h != host),
        };
        if breaks {
            tx.rollback().await?;
            return Ok(false);
        }
    }
    let r = sqlx::query(
        "UPDATE compute_nodes SET vcpus_used = vcpus_used + $1, memory_mb_used = memory_mb_used + $2, \
         disk_gb_used = disk_gb_used + $3 WHERE host = $4 AND enabled = 1 \
         AND vcpus_used + $1 <= vcpus * $5 AND memory_mb_used + $2 <= memory_mb * $6 AND disk_gb_used + $3 <= disk_gb * $7",
    )
    .bind(i.flavor.vcpus)
    .bind(i.flavor.memory_mb)
    .bind(i.flavor.root_gb)
    .bind(host)
    .bind(ratios.cpu)
    .bind(ratios.ram)
    .bind(ratios.disk)
    .execute(&mut *tx)
    .await?;
    if r.rows_affected() == 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    let r = sqlx::query("UPDATE instances SET claimed = 1, host = $1 WHERE id = $2 AND claimed = 0 AND deleted = 0")
        .bind(host)
        .bind(&i.id)
        .execute(&mut *tx)
        .await?;
    if r.rows_affected() == 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    tx.commit().await?;
    Ok(true)
}

/// Gives back an instance's claim, once.
pub(crate) async fn release(db: &Db, i: &Instance) -> Result<()> {
    let mut tx = db.begin_write().await?;
    let released = sqlx::query("UPDATE instances SET claimed = 0 WHERE id = $1 AND claimed = 1")
        .bind(&i.id)
        .execute(&mut *tx)
        .await?;
    if released.rows_affected() > 0 {
        if let Some(h) = &i.host {
            release_on(&mut tx, h, i).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------- actions

pub(crate) async fn start_action(db: &Db, i: &Instance, request_id: &str, action: &str, user_id: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO instance_actions (instance_id, request_id, action, project_id, user_id, start_time) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (instance_id, request_id) DO NOTHING",
    )
    .bind(&i.id)
    .bind(request_id)
    .bind(action)
    .bind(&i.project_id)
    .bind(user_id)
    .bind(now_micros())
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub(crate) async fn finish_action(db: &Db, instance: &str, request_id: &str, message: Option<&str>) -> Result<()> {
    sqlx::query("UPDATE instance_actions SET finish_time = $1, message = COALESCE($2, message) WHERE instance_id = $3 AND request_id = $4")
        .bind(now_micros())
        .bind(message)
        .bind(instance)
        .bind(request_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// The request id of an instance's `create` action.
pub(crate) async fn create_request_id(db: &Db, instance: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT request_id FROM instance_actions WHERE instance_id = $1 AND action = 'create'")
            .bind(instance)
            .fetch_optional(&db.pool)
            .await?,
    )
}

/// Ends the newest unfinished action of a kind (the agent knows the kind, not the request).
pub(crate) async fn finish_action_named(db: &Db, instance: &str, action: &str, ok: bool) -> Result<()> {
    sqlx::query(
        "UPDATE instance_actions SET finish_time = $1, message = $2 WHERE instance_id = $3 AND action = $4 AND finish_time IS NULL",
    )
    .bind(now_micros())
    .bind(if ok { None } else { Some("Error") })
    .bind(instance)
    .bind(action)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Ends the `create` action of an instance (its request id is not known to the agent).
pub(crate) async fn finish_action_for_create(db: &Db, instance: &str) -> Result<()> {
    sqlx::query("UPDATE instance_actions SET finish_time = $1 WHERE instance_id = $2 AND action = 'create' AND finish_time IS NULL")
        .bind(now_micros())
        .bind(instance)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Ends every event of a request that is still open as an error with `details`: the step it
/// stood for was interrupted (a failure elsewhere, a restart) and will never report.
pub(crate) async fn finish_open_events(db: &Db, instance: &str, request_id: &str, details: &str) -> Result<()> {
    sqlx::query(
        "UPDATE instance_action_events SET finish_time = $1, result = 'Error', details = $2 \
         WHERE instance_id = $3 AND request_id = $4 AND finish_time IS NULL",
    )
    .bind(now_micros())
    .bind(details)
    .bind(instance)
    .bind(request_id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub(crate) async fn start_event(
    db: &Db,
    instance: &str,
    request_id: &str,
    event: &str,
    host: Option<&str>,
) -> Result<()> {
    let seq: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(MAX(seq), 0) + 1 AS BIGINT) FROM instance_action_events WHERE instance_id = $1 AND request_id = $2",
    )
    .bind(instance)
    .bind(request_id)
    .fetch_one(&db.pool)
    .await?;
    sqlx::query(
        "INSERT INTO instance_action_events (instance_id, request_id, event, seq, start_time, host) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(instance)
    .bind(request_id)
    .bind(event)
    .bind(seq)
    .bind(now_micros())
    .bind(host)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub(crate) async fn finish_event(
    db: &Db,
    instance: &str,
    request_id: &str,
    event: &str,
    ok: bool,
    details: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "UPDATE instance_action_events SET finish_time = $1, result = $2, details = $3 \
         WHERE instance_id = $4 AND request_id = $5 AND event = $6 AND finish_time IS NULL",
    )
    .bind(now_micros())
    .bind(if ok { "Success" } else { "Error" })
    .bind(details)
    .bind(instance)
    .bind(request_id)
    .bind(event)
    .execute(&db.pool)
    .await?;
    Ok(())
}

#[derive(FromRow)]
struct ActionRow {
    instance_id: String,
    request_id: String,
    action: String,
    project_id: String,
    user_id: String,
    start_time: i64,
    finish_time: Option<i64>,
    message: Option<String>,
}

#[derive(FromRow)]
struct EventRow {
    request_id: String,
    event: String,
    start_time: i64,
    finish_time: Option<i64>,
    result: Option<String>,
    host: Option<String>,
    details: Option<String>,
}

pub(crate) async fn actions(db: &Db, instance: &str) -> Result<Vec<InstanceAction>> {
    let rows: Vec<ActionRow> = sqlx::query_as(
        "SELECT instance_id, request_id, action, project_id, user_id, start_time, finish_time, message \
         FROM instance_actions WHERE instance_id = $1 ORDER BY start_time DESC",
    )
    .bind(instance)
    .fetch_all(&db.pool)
    .await?;
    let events: Vec<EventRow> = sqlx::query_as(
        "SELECT request_id, event, start_time, finish_time, result, host, details FROM instance_action_events \
         WHERE instance_id = $1 ORDER BY seq",
    )
    .bind(instance)
    .fetch_all(&db.pool)
    .await?;
    let mut by_req: BTreeMap<String, Vec<ActionEvent>> = BTreeMap::new();
    for e in events {
        by_req.entry(e.request_id).or_default().push(ActionEvent {
            event: e.event,
            start_time: e.start_time,
            finish_time: e.finish_time,
            result: e.result,
            host: e.host,
            details: e.details,
        });
    }
    Ok(rows
        .into_iter()
        .map(|r| InstanceAction {
            events: by_req.remove(&r.request_id).unwrap_or_default(),
            instance_id: r.instance_id,
            request_id: r.request_id,
            action: r.action,
            project_id: r.project_id,
            user_id: r.user_id,
            start_time: r.start_time,
            finish_time: r.finish_time,
            message: r.message,
        })
        .collect())
}

// ---------------------------------------------------------------- compute nodes

const NODE_COLS: &str = "host, service_id, availability_zone, hypervisor_type, hypervisor_version, vcpus, memory_mb, \
     disk_gb, vcpus_used, memory_mb_used, disk_gb_used, enabled, disabled_reason, heartbeat_at, host_ip";

#[derive(FromRow)]
struct NodeRow {
    id: i64,
    host: String,
    service_id: String,
    availability_zone: String,
    hypervisor_type: String,
    hypervisor_version: i64,
    vcpus: i64,
    memory_mb: i64,
    disk_gb: i64,
    vcpus_used: i64,
    memory_mb_used: i64,
    disk_gb_used: i64,
    enabled: i64,
    disabled_reason: Option<String>,
    heartbeat_at: i64,
    host_ip: Option<String>,
    running_vms: i64,
    current_workload: i64,
}

impl From<NodeRow> for ComputeNode {
    fn from(r: NodeRow) -> Self {
        ComputeNode {
            id: r.id,
            host: r.host,
            service_id: r.service_id,
            availability_zone: r.availability_zone,
            hypervisor_type: r.hypervisor_type,
            hypervisor_version: r.hypervisor_version,
            vcpus: r.vcpus,
            memory_mb: r.memory_mb,
            disk_gb: r.disk_gb,
            vcpus_used: r.vcpus_used,
            memory_mb_used: r.memory_mb_used,
            disk_gb_used: r.disk_gb_used,
            enabled: r.enabled != 0,
            disabled_reason: r.disabled_reason,
            heartbeat_at: r.heartbeat_at,
            host_ip: r.host_ip,
            running_vms: r.running_vms,
            current_workload: r.current_workload,
        }
    }
}

/// Registers a host or refreshes its resources and heartbeat; usage stays as claimed. A new
/// host takes the next integer id of the `compute_nodes` sequence.
pub(crate) async fn report_node(db: &Db, n: &ComputeNode) -> Result<()> {
    let refreshed = sqlx::query(
        "UPDATE compute_nodes SET availability_zone = $1, hypervisor_type = $2, hypervisor_version = $3, \
         vcpus = $4, memory_mb = $5, disk_gb = $6, heartbeat_at = $7, host_ip = $8 WHERE host = $9",
    )
    .bind(&n.availability_zone)
    .bind(&n.hypervisor_type)
    .bind(n.hypervisor_version)
    .bind(n.vcpus)
    .bind(n.memory_mb)
    .bind(n.disk_gb)
    .bind(n.heartbeat_at)
    .bind(&n.host_ip)
    .bind(&n.host)
    .execute(&db.pool)
    .await?;
    if refreshed.rows_affected() > 0 {
        return Ok(());
    }
    let mut tx = db.begin_write().await?;
    let id = crate::db::next_id(&mut tx, "compute_nodes").await?;
    // Another process may have registered the host meanwhile: then only refresh it.
    sqlx::query(&format!(
        "INSERT INTO compute_nodes ({NODE_COLS}, created_at, id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, 0, 0, 1, NULL, $9, $11, $9, $10) \
         ON CONFLICT (host) DO UPDATE SET availability_zone = $3, hypervisor_type = $4, hypervisor_version = $5, \
         vcpus = $6, memory_mb = $7, disk_gb = $8, heartbeat_at = $9, host_ip = $11"
    ))
    .bind(&n.host)
    .bind(&n.service_id)
    .bind(&n.availability_zone)
    .bind(&n.hypervisor_type)
    .bind(n.hypervisor_version)
    .bind(n.vcpus)
    .bind(n.memory_mb)
    .bind(n.disk_gb)
    .bind(n.heartbeat_at)
    .bind(id)
    .bind(&n.host_ip)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The compute hosts by id, each with the zone its aggregates give it (their
/// `availability_zone` metadata, several joined by commas as Nova shows them) or else the one
/// its agent reports.
pub(crate) async fn nodes(db: &Db) -> Result<Vec<ComputeNode>> {
    let rows: Vec<NodeRow> = sqlx::query_as(&format!(
        "SELECT id, {NODE_COLS}, \
         (SELECT COUNT(*) FROM instances i WHERE i.host = compute_nodes.host AND i.deleted = 0) AS running_vms, \
         (SELECT COUNT(*) FROM instances i WHERE i.host = compute_nodes.host AND i.deleted = 0 \
          AND i.vm_state = 'building') AS current_workload \
         FROM compute_nodes ORDER BY id"
    ))
    .fetch_all(&db.pool)
    .await?;
    let zones = crate::aggregates::zones_by_host(db).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let mut n = ComputeNode::from(r);
            if let Some(z) = zones.get(&n.host) {
                n.availability_zone = z.iter().cloned().collect::<Vec<_>>().join(",");
            }
            n
        })
        .collect())
}

pub(crate) async fn quota_class_overrides(db: &Db, class: &str) -> Result<Vec<(String, i64)>> {
    Ok(
        sqlx::query_as("SELECT resource, hard_limit FROM compute_quota_classes WHERE class_name = $1")
            .bind(class)
            .fetch_all(&db.pool)
            .await?,
    )
}

pub(crate) async fn set_quota_class(db: &Db, class: &str, limits: &BTreeMap<String, i64>) -> Result<()> {
    let mut tx = db.begin_write().await?;
    for (r, v) in limits {
        sqlx::query("DELETE FROM compute_quota_classes WHERE class_name = $1 AND resource = $2")
            .bind(class)
            .bind(r)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO compute_quota_classes (class_name, resource, hard_limit) VALUES ($1, $2, $3)")
            .bind(class)
            .bind(r)
            .bind(v)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn user_quota_overrides(db: &Db, project: &str, user: &str) -> Result<Vec<(String, i64)>> {
    Ok(
        sqlx::query_as("SELECT resource, hard_limit FROM compute_user_quotas WHERE project_id = $1 AND user_id = $2")
            .bind(project)
            .bind(user)
            .fetch_all(&db.pool)
            .await?,
    )
}

pub(crate) async fn set_user_quotas(db: &Db, project: &str, user: &str, limits: &BTreeMap<String, i64>) -> Result<()> {
    let mut tx = db.begin_write().await?;
    for (r, v) in limits {
        sqlx::query("DELETE FROM compute_user_quotas WHERE project_id = $1 AND user_id = $2 AND resource = $3")
            .bind(project)
            .bind(user)
            .bind(r)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO compute_user_quotas (project_id, user_id, resource, hard_limit) VALUES ($1, $2, $3, $4)",
        )
        .bind(project)
        .bind(user)
        .bind(r)
        .bind(v)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Removes one user's limits, or (`None`) every user's of the project.
pub(crate) async fn delete_user_quotas(db: &Db, project: &str, user: Option<&str>) -> Result<()> {
    match user {
        Some(u) => {
            sqlx::query("DELETE FROM compute_user_quotas WHERE project_id = $1 AND user_id = $2")
                .bind(project)
                .bind(u)
                .execute(&db.pool)
                .await?
        }
        None => {
            sqlx::query("DELETE FROM compute_user_quotas WHERE project_id = $1")
                .bind(project)
                .execute(&db.pool)
                .await?
        }
    };
    Ok(())
}

pub(crate) async fn quota_overrides(db: &Db, project: &str) -> Result<Vec<(String, i64)>> {
    Ok(
        sqlx::query_as("SELECT resource, hard_limit FROM compute_quotas WHERE project_id = $1")
            .bind(project)
            .fetch_all(&db.pool)
            .await?,
    )
}

// ---------------------------------------------------------------- volume attachments

/// A volume attached (or being attached) to a server.
#[derive(Debug, Clone, PartialEq, FromRow, serde::Serialize, serde::Deserialize)]
pub struct VolumeAttachment {
    pub instance_id: String,
    pub volume_id: String,
    pub attachment_id: String,
    pub device: String,
    pub status: String,
    pub delete_on_termination: i64,
}

pub(crate) async fn insert_volume_attachment(db: &Db, a: &VolumeAttachment) -> Result<()> {
    sqlx::query(
        "INSERT INTO volume_attachments (instance_id, volume_id, attachment_id, device, status, created_at, \
         delete_on_termination) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&a.instance_id)
    .bind(&a.volume_id)
    .bind(&a.attachment_id)
    .bind(&a.device)
    .bind(&a.status)
    .bind(now_micros())
    .bind(a.delete_on_termination)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub(crate) async fn volume_attachments(db: &Db, instance: &str) -> Result<Vec<VolumeAttachment>> {
    Ok(sqlx::query_as(
        "SELECT instance_id, volume_id, attachment_id, device, status, delete_on_termination FROM volume_attachments \
         WHERE instance_id = $1 ORDER BY device",
    )
    .bind(instance)
    .fetch_all(&db.pool)
    .await?)
}

/// The volume attachments of many instances in one query (a page of a server list).
pub(crate) async fn volume_attachments_of(db: &Db, instances: &[&str]) -> Result<Vec<VolumeAttachment>> {
    if instances.is_empty() {
        return Ok(vec![]);
    }
    let ids: Vec<stratus_store::sql::Val> = instances.iter().map(|i| stratus_store::sql::Val::from(*i)).collect();
    Ok(sqlx::query_as_with(
        &format!(
            "SELECT instance_id, volume_id, attachment_id, device, status, delete_on_termination FROM volume_attachments \
             WHERE instance_id IN ({}) ORDER BY instance_id, device",
            stratus_store::sql::placeholders(ids.len())
        ),
        stratus_store::sql::arguments(&ids),
    )
    .fetch_all(&db.pool)
    .await?)
}

pub(crate) async fn set_volume_attachment_status(db: &Db, instance: &str, volume: &str, status: &str) -> Result<()> {
    sqlx::query("UPDATE volume_attachments SET status = $1 WHERE instance_id = $2 AND volume_id = $3")
        .bind(status)
        .bind(instance)
        .bind(volume)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub(crate) async fn delete_volume_attachment(db: &Db, instance: &str, volume: &str) -> Result<()> {
    sqlx::query("DELETE FROM volume_attachments WHERE instance_id = $1 AND volume_id = $2")
        .bind(instance)
        .bind(volume)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Enables or disables a host for new builds; false when there is no such host.
pub(crate) async fn set_node_enabled(db: &Db, host: &str, enabled: bool, reason: Option<&str>) -> Result<bool> {
    let r = sqlx::query("UPDATE compute_nodes SET enabled = $1, disabled_reason = $2 WHERE host = $3")
        .bind(enabled as i64)
        .bind(if enabled { None } else { reason })
        .bind(host)
        .execute(&db.pool)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Rewrites only the networks a server asked for (their security groups changed on its ports);
/// no other column is touched, so no concurrent writer's change is lost.
pub(crate) async fn set_requested_networks(
    db: &Db,
    id: &str,
    networks: &crate::model::RequestedNetworks,
) -> Result<bool> {
    let r = sqlx::query("UPDATE instances SET requested_networks = $1, updated_at = $2 WHERE id = $3 AND deleted = 0")
        .bind(json(networks))
        .bind(now_micros())
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(r.rows_affected() > 0)
}
