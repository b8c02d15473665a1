//! Server groups: servers that must (or should) share a host, or must (or should) not.
//! The scheduler filters and weighs by the group's policy, and the claim re-checks a hard
//! policy under the group's lock, so two concurrent boots cannot break it.

use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use stratus_api::{AuthContext, Target};
use stratus_store::{now_micros, Db};

use crate::scheduler::GroupPolicy;
use crate::service::{ComputeError, ComputeService, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerGroup {
    pub id: String,
    pub name: String,
    pub project_id: String,
    pub user_id: String,
    pub policy: GroupPolicy,
    pub max_server_per_host: Option<u32>,
    pub members: Vec<String>,
}

#[derive(FromRow)]
struct Row {
    id: String,
    name: String,
    project_id: String,
    user_id: String,
    policy: String,
    rules: String,
}

pub(crate) fn parse_policy(p: &str) -> Option<GroupPolicy> {
    serde_json::from_value(serde_json::Value::String(p.to_owned())).ok()
}

pub(crate) fn policy_name(p: GroupPolicy) -> &'static str {
    match p {
        GroupPolicy::Affinity => "affinity",
        GroupPolicy::AntiAffinity => "anti-affinity",
        GroupPolicy::SoftAffinity => "soft-affinity",
        GroupPolicy::SoftAntiAffinity => "soft-anti-affinity",
    }
}

async fn load(db: &Db, rows: Vec<Row>) -> stratus_store::Result<Vec<ServerGroup>> {
    let mut out = Vec::new();
    for r in rows {
        let members: Vec<String> = sqlx::query_scalar(
            "SELECT m.instance_id FROM server_group_members m JOIN instances i ON i.id = m.instance_id \
             WHERE m.group_id = $1 AND i.deleted = 0 ORDER BY m.instance_id",
        )
        .bind(&r.id)
        .fetch_all(&db.pool)
        .await?;
        let rules: serde_json::Value = serde_json::from_str(&r.rules).unwrap_or_default();
        out.push(ServerGroup {
            policy: parse_policy(&r.policy).unwrap_or(GroupPolicy::SoftAntiAffinity),
            max_server_per_host: rules["max_server_per_host"].as_u64().map(|n| n as u32),
            id: r.id,
            name: r.name,
            project_id: r.project_id,
            user_id: r.user_id,
            members,
        });
    }
    Ok(out)
}

const COLS: &str = "id, name, project_id, user_id, policy, rules";

pub(crate) async fn get(db: &Db, id: &str) -> stratus_store::Result<Option<ServerGroup>> {
    let rows: Vec<Row> = sqlx::query_as(&format!("SELECT {COLS} FROM server_groups WHERE id = $1"))
        .bind(id)
        .fetch_all(&db.pool)
        .await?;
    Ok(load(db, rows).await?.pop())
}

/// The group an instance belongs to, with the hosts of its other live members.
pub(crate) async fn of_instance(db: &Db, instance: &str) -> stratus_store::Result<Option<(ServerGroup, Vec<String>)>> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLS} FROM server_groups WHERE id IN (SELECT group_id FROM server_group_members WHERE instance_id = $1)"
    ))
    .bind(instance)
    .fetch_all(&db.pool)
    .await?;
    let Some(g) = load(db, rows).await?.pop() else {
        return Ok(None);
    };
    let hosts: Vec<String> = sqlx::query_scalar(
        "SELECT i.host FROM instances i JOIN server_group_members m ON m.instance_id = i.id \
         WHERE m.group_id = $1 AND i.deleted = 0 AND i.host IS NOT NULL AND i.claimed = 1 AND i.id <> $2",
    )
    .bind(&g.id)
    .bind(instance)
    .fetch_all(&db.pool)
    .await?;
    Ok(Some((g, hosts)))
}

/// Inserts a group unless its project already has `limit` (a negative limit is none); the
/// count and the insert run under the project's quota lock, so concurrent creates cannot pass
/// it together. `Ok(false)` when over the limit.
async fn insert_within_quota(
    db: &Db,
    g: &ServerGroup,
    rules: &serde_json::Value,
    limit: i64,
) -> stratus_store::Result<bool> {
    let mut tx = db.begin_write().await?;
    crate::db::lock(&mut tx, &format!("project:{}", g.project_id)).await?;
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM server_groups WHERE project_id = $1")
        .bind(&g.project_id)
        .fetch_one(&mut *tx)
        .await?;
    if limit >= 0 && count >= limit {
        tx.rollback().await?;
        return Ok(false);
    }
    sqlx::query(&format!(
        "INSERT INTO server_groups ({COLS}, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    ))
    .bind(&g.id)
    .bind(&g.name)
    .bind(&g.project_id)
    .bind(&g.user_id)
    .bind(policy_name(g.policy))
    .bind(rules.to_string())
    .bind(now_micros())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

impl ComputeService {
    pub async fn create_server_group(
        &self,
        caller: &AuthContext,
        name: &str,
        policy: &str,
        max_server_per_host: Option<u32>,
    ) -> Result<ServerGroup> {
        let project = caller
            .project_id()
            .ok_or_else(|| ComputeError::Invalid("A project-scoped token is required.".into()))?
            .to_owned();
        self.enforce(
            "os_compute_api:os-server-groups:create",
            caller,
            &Target::new().with("project_id", &project),
        )?;
        if name.trim().is_empty() || name.chars().count() > 255 {
            return Err(ComputeError::Invalid("Invalid input for field/attribute name.".into()));
        }
        let p = parse_policy(policy).ok_or_else(|| {
            ComputeError::Invalid(format!(
                "Invalid input for field/attribute policy. Value: {policy}. It must be one of affinity, anti-affinity, soft-affinity, soft-anti-affinity."
            ))
        })?;
        if max_server_per_host.is_some() && p != GroupPolicy::AntiAffinity {
            return Err(ComputeError::Invalid(
                "Invalid input: the max_server_per_host rule is only for the anti-affinity policy.".into(),
            ));
        }
        if max_server_per_host == Some(0) {
            return Err(ComputeError::Invalid(
                "Invalid input: max_server_per_host must be at least 1.".into(),
            ));
        }
        let g = ServerGroup {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_owned(),
            project_id: project,
            user_id: caller.user_id.clone(),
            policy: p,
            max_server_per_host,
            members: vec![],
        };
        let rules = match max_server_per_host {
            Some(n) => serde_json::json!({"max_server_per_host": n}),
            None => serde_json::json!({}),
        };
        let limit = self.compute_limits(&g.project_id).await?.get("server_groups");
        if !insert_within_quota(self.db(), &g, &rules, limit).await? {
            return Err(ComputeError::OverQuota(format!(
                "Quota exceeded, too many server groups: the limit is {limit} (server_groups)."
            )));
        }
        Ok(g)
    }

    /// The ids of the server groups a server is in (2.71): none or one. The caller has seen the
    /// server already.
    pub async fn server_group_of(&self, instance: &str) -> Result<Vec<String>> {
        Ok(of_instance(self.db(), instance)
            .await?
            .map(|(g, _)| vec![g.id])
            .unwrap_or_default())
    }

    pub async fn get_server_group(&self, caller: &AuthContext, id: &str) -> Result<ServerGroup> {
        match get(self.db(), id).await? {
            Some(g) if caller.has_role("admin") || caller.project_id() == Some(g.project_id.as_str()) => Ok(g),
            _ => Err(ComputeError::NotFound(format!(
                "Instance group {id} could not be found."
            ))),
        }
    }

    pub async fn list_server_groups(&self, caller: &AuthContext, all_projects: bool) -> Result<Vec<ServerGroup>> {
        let rows: Vec<Row> = if all_projects {
            self.enforce(
                "os_compute_api:os-server-groups:index:all_projects",
                caller,
                &Target::new(),
            )?;
            sqlx::query_as(&format!("SELECT {COLS} FROM server_groups ORDER BY created_at, id"))
                .fetch_all(&self.db().pool)
                .await
                .map_err(stratus_store::StoreError::from)?
        } else {
            sqlx::query_as(&format!(
                "SELECT {COLS} FROM server_groups WHERE project_id = $1 ORDER BY created_at, id"
            ))
            .bind(caller.project_id().unwrap_or(""))
            .fetch_all(&self.db().pool)
            .await
            .map_err(stratus_store::StoreError::from)?
        };
        Ok(load(self.db(), rows).await?)
    }

    pub async fn delete_server_group(&self, caller: &AuthContext, id: &str) -> Result<()> {
        let g = self.get_server_group(caller, id).await?;
        self.enforce(
            "os_compute_api:os-server-groups:delete",
            caller,
            &Target::new().with("project_id", &g.project_id),
        )?;
        let mut tx = self.db().begin_write().await.map_err(stratus_store::StoreError::from)?;
        for sql in [
            "DELETE FROM server_group_members WHERE group_id = $1",
            "DELETE FROM server_groups WHERE id = $1",
        ] {
            sqlx::query(sql)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(stratus_store::StoreError::from)?;
        }
        tx.commit().await.map_err(stratus_store::StoreError::from)?;
        Ok(())
    }
}
