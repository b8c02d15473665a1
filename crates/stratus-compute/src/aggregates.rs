//! Host aggregates (Nova's os-aggregates): named groups of compute hosts with metadata, kept
//! by administrators. The `availability_zone` key of an aggregate's metadata is the zone of its
//! hosts, which users see and boot into; the scheduler matches the other keys against flavors'
//! `aggregate_instance_extra_specs:` extra specs.
//!
//! The invariants Nova keeps, kept here: a host is in at most one zone (two aggregates of one
//! host never name different zones), a zone is never renamed under servers running in it, an
//! aggregate with hosts is not deleted, and a zone, once set, is not emptied. Every change runs
//! in one transaction under the aggregates' lock row, so these checks and the writes they allow
//! see one settled state, and a refused change leaves nothing behind.
//!
//! This module decides nothing about placement; the scheduler reads [`metadata_by_host`].

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use stratus_api::{AuthContext, Target};
use stratus_store::{now_micros, Db};

use crate::service::{ComputeError, ComputeService, Result};

/// The metadata key whose value is the zone of an aggregate's hosts.
pub const AZ_KEY: &str = "availability_zone";

/// An aggregate as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    /// Nova's integer id (never given twice).
    pub id: i64,
    /// Shown from microversion 2.41.
    pub uuid: String,
    pub name: String,
    /// Host names, sorted.
    pub hosts: Vec<String>,
    /// The zone is here too, as Nova keeps it, under [`AZ_KEY`].
    pub metadata: BTreeMap<String, String>,
    pub created_at: i64,
    pub updated_at: Option<i64>,
}

impl Aggregate {
    pub fn availability_zone(&self) -> Option<&str> {
        self.metadata.get(AZ_KEY).map(String::as_str)
    }
}

/// A change of an aggregate's name or zone (`PUT /os-aggregates/{id}`).
#[derive(Debug, Clone, Default)]
pub struct AggregateUpdate {
    pub name: Option<String>,
    /// `Some(None)`: the zone given as null, which Nova refuses.
    pub availability_zone: Option<Option<String>>,
}

fn not_found(id: impl std::fmt::Display) -> ComputeError {
    ComputeError::NotFound(format!("Aggregate {id} could not be found."))
}

/// An aggregate id as Nova's `validate_integer` takes it (surrounding blanks and a sign
/// allowed); one too large for any aggregate names none.
fn parse_id(id: &str) -> Result<i64> {
    let t = id.trim();
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ComputeError::Invalid(format!(
            "Invalid input received: id must be an integer, not '{id:.80}'."
        )));
    }
    t.trim_start_matches('+').parse::<i64>().map_err(|_| not_found(id))
}

/// Nova's `name` format (names and zones): 1 to 255 printable characters, not starting or
/// ending with whitespace.
fn check_name(field: &str, v: &str) -> Result<()> {
    let n = v.chars().count();
    if n == 0
        || n > 255
        || v.chars().any(char::is_control)
        || v.starts_with(char::is_whitespace)
        || v.ends_with(char::is_whitespace)
    {
        return Err(ComputeError::Invalid(format!(
            "Invalid input for field/attribute {field}. Value: {v:.80}. It must be 1 to 255 printable characters, \
             not starting or ending with whitespace."
        )));
    }
    Ok(())
}

/// Nova's metadata keys: 1 to 255 of `a-zA-Z0-9-_:. `; values at most 255 characters.
fn check_metadata(items: &BTreeMap<String, Option<String>>) -> Result<()> {
    for (k, v) in items {
        let key_ok = !k.is_empty()
            && k.chars().count() <= 255
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.' | ' '));
        if !key_ok {
            return Err(ComputeError::Invalid(format!(
                "Invalid input for field/attribute metadata. Key '{k:.80}' must be 1 to 255 of the characters \
                 a-z, A-Z, 0-9, '-', '_', ':', '.' and space."
            )));
        }
        if v.as_ref().is_some_and(|v| v.chars().count() > 255) {
            return Err(ComputeError::Invalid(format!(
                "Invalid input for field/attribute metadata. The value of '{k}' is longer than 255 characters."
            )));
        }
    }
    Ok(())
}

/// Nova's host names in aggregate actions: 1 to 255 of `a-zA-Z0-9-._`.
fn check_host(host: &str) -> Result<()> {
    if host.is_empty()
        || host.len() > 255
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    {
        return Err(ComputeError::Invalid(format!(
            "Invalid input for field/attribute host. Value: {host:.80}. It must be 1 to 255 of a-z, A-Z, 0-9, '-', '.' and '_'."
        )));
    }
    Ok(())
}

/// Python's repr of a list of strings, as Nova's messages show zones.
fn py_list(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| format!("'{s}'")).collect();
    format!("[{}]", inner.join(", "))
}

// ---------------------------------------------------------------- records

#[derive(FromRow)]
struct Row {
    id: i64,
    uuid: String,
    name: String,
    created_at: i64,
    updated_at: Option<i64>,
}

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// The aggregates (all, or the one `id`), with their hosts and metadata.
async fn load(db: &Db, id: Option<i64>) -> stratus_store::Result<Vec<Aggregate>> {
    let rows: Vec<Row> = match id {
        Some(id) => {
            sqlx::query_as("SELECT id, uuid, name, created_at, updated_at FROM aggregates WHERE id = $1")
                .bind(id)
                .fetch_all(&db.pool)
                .await?
        }
        None => {
            sqlx::query_as("SELECT id, uuid, name, created_at, updated_at FROM aggregates ORDER BY id")
                .fetch_all(&db.pool)
                .await?
        }
    };
    let hosts: Vec<(i64, String)> = sqlx::query_as("SELECT aggregate_id, host FROM aggregate_hosts ORDER BY host")
        .fetch_all(&db.pool)
        .await?;
    let meta: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT aggregate_id, meta_key, meta_value FROM aggregate_metadata")
            .fetch_all(&db.pool)
            .await?;
    Ok(rows
        .into_iter()
        .map(|r| Aggregate {
            hosts: hosts
                .iter()
                .filter(|(a, _)| *a == r.id)
                .map(|(_, h)| h.clone())
                .collect(),
            metadata: meta
                .iter()
                .filter(|(a, _, _)| *a == r.id)
                .map(|(_, k, v)| (k.clone(), v.clone()))
                .collect(),
            id: r.id,
            uuid: r.uuid,
            name: r.name,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
        .collect())
}

/// The name of aggregate `id`, read in `tx`.
async fn name_in(tx: &mut Tx, id: i64) -> stratus_store::Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT name FROM aggregates WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?)
}

/// The zone of aggregate `id`, read in `tx`.
async fn zone_in(tx: &mut Tx, id: i64) -> stratus_store::Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT meta_value FROM aggregate_metadata WHERE aggregate_id = $1 AND meta_key = $2")
            .bind(id)
            .bind(AZ_KEY)
            .fetch_optional(&mut **tx)
            .await?,
    )
}

/// Whether another aggregate has this name.
async fn name_taken(tx: &mut Tx, name: &str, except: Option<i64>) -> stratus_store::Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM aggregates WHERE name = $1 AND id <> $2")
        .bind(name)
        .bind(except.unwrap_or(-1))
        .fetch_one(&mut **tx)
        .await?;
    Ok(n > 0)
}

/// Zones other than `zone` that other aggregates give to the hosts of aggregate `id` (or, with
/// `host`, to that host alone).
async fn conflicting_zones(tx: &mut Tx, id: i64, host: Option<&str>, zone: &str) -> stratus_store::Result<Vec<String>> {
    let sql = |hosts: &str| {
        format!(
            "SELECT DISTINCT m.meta_value FROM aggregate_hosts h JOIN aggregate_metadata m \
             ON m.aggregate_id = h.aggregate_id AND m.meta_key = '{AZ_KEY}' \
             WHERE {hosts} AND h.aggregate_id <> $1 AND m.meta_value <> $2 ORDER BY m.meta_value"
        )
    };
    let q = match host {
        Some(h) => {
            sqlx::query_scalar(&sql("h.host = $3"))
                .bind(id)
                .bind(zone)
                .bind(h)
                .fetch_all(&mut **tx)
                .await?
        }
        None => {
            sqlx::query_scalar(&sql(
                "h.host IN (SELECT host FROM aggregate_hosts WHERE aggregate_id = $1)",
            ))
            .bind(id)
            .bind(zone)
            .fetch_all(&mut **tx)
            .await?
        }
    };
    Ok(q)
}

/// Live servers on the hosts of aggregate `id`.
async fn servers_on_hosts(tx: &mut Tx, id: i64) -> stratus_store::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM instances WHERE deleted = 0 AND host IN \
         (SELECT host FROM aggregate_hosts WHERE aggregate_id = $1)",
    )
    .bind(id)
    .fetch_one(&mut **tx)
    .await?)
}

/// Nova's `is_safe_to_update_az`: a zone is named, the aggregate's hosts are in no other
/// zone, and (for a rename) no server runs on them. `why` prefixes the refusal.
async fn check_zone_change(tx: &mut Tx, id: i64, name: &str, zone: Option<&str>, why: &str) -> Result<()> {
    let Some(zone) = zone.filter(|z| !z.is_empty()) else {
        return Err(ComputeError::Invalid(format!(
            "{why} Reason: Aggregate {name} does not support empty named availability zone."
        )));
    };
    let others = conflicting_zones(tx, id, None, zone).await?;
    if !others.is_empty() {
        return Err(ComputeError::Invalid(format!(
            "{why} Reason: One or more hosts already in availability zone(s) {}.",
            py_list(&others)
        )));
    }
    if zone_in(tx, id).await?.as_deref() != Some(zone) && servers_on_hosts(tx, id).await? > 0 {
        return Err(ComputeError::Invalid(format!(
            "{why} Reason: One or more hosts contain instances in this zone."
        )));
    }
    Ok(())
}

async fn set_meta(tx: &mut Tx, id: i64, key: &str, value: Option<&str>) -> stratus_store::Result<()> {
    sqlx::query("DELETE FROM aggregate_metadata WHERE aggregate_id = $1 AND meta_key = $2")
        .bind(id)
        .bind(key)
        .execute(&mut **tx)
        .await?;
    if let Some(v) = value {
        sqlx::query("INSERT INTO aggregate_metadata (aggregate_id, meta_key, meta_value) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(key)
            .bind(v)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn touch(tx: &mut Tx, id: i64) -> stratus_store::Result<()> {
    sqlx::query("UPDATE aggregates SET updated_at = $1 WHERE id = $2")
        .bind(now_micros())
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The zones each host's aggregates give it (hosts in no zoned aggregate are absent).
pub(crate) async fn zones_by_host(db: &Db) -> stratus_store::Result<BTreeMap<String, BTreeSet<String>>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT h.host, m.meta_value FROM aggregate_hosts h JOIN aggregate_metadata m \
         ON m.aggregate_id = h.aggregate_id WHERE m.meta_key = $1",
    )
    .bind(AZ_KEY)
    .fetch_all(&db.pool)
    .await?;
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (host, zone) in rows {
        out.entry(host).or_default().insert(zone);
    }
    Ok(out)
}

/// Every metadata key of each host's aggregates with the values they give it (Nova's
/// `aggregate_metadata_get_by_host`), for the scheduler's filters.
pub(crate) async fn metadata_by_host(
    db: &Db,
) -> stratus_store::Result<BTreeMap<String, BTreeMap<String, BTreeSet<String>>>> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT h.host, m.meta_key, m.meta_value FROM aggregate_hosts h JOIN aggregate_metadata m \
         ON m.aggregate_id = h.aggregate_id",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut out: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (host, k, v) in rows {
        out.entry(host).or_default().entry(k).or_default().insert(v);
    }
    Ok(out)
}

// ---------------------------------------------------------------- the service

impl ComputeService {
    fn aggregate_policy(&self, caller: &AuthContext, action: &str) -> Result<()> {
        self.enforce(
            &format!("os_compute_api:os-aggregates:{action}"),
            caller,
            &Target::new(),
        )
    }

    async fn aggregate_or_404(&self, id: i64) -> Result<Aggregate> {
        load(self.db(), Some(id)).await?.pop().ok_or_else(|| not_found(id))
    }

    /// Whether `host` is a compute host this cloud knows.
    async fn known_host(&self, host: &str) -> Result<bool> {
        Ok(crate::instances_db::nodes(self.db())
            .await?
            .iter()
            .any(|n| n.host == host))
    }

    pub async fn list_aggregates(&self, caller: &AuthContext) -> Result<Vec<Aggregate>> {
        self.aggregate_policy(caller, "index")?;
        Ok(load(self.db(), None).await?)
    }

    pub async fn get_aggregate(&self, caller: &AuthContext, id: &str) -> Result<Aggregate> {
        self.aggregate_policy(caller, "show")?;
        let id = parse_id(id)?;
        self.aggregate_or_404(id).await
    }

    /// A new aggregate, in `availability_zone` when one is named.
    pub async fn create_aggregate(
        &self,
        caller: &AuthContext,
        name: &str,
        availability_zone: Option<&str>,
    ) -> Result<Aggregate> {
        self.aggregate_policy(caller, "create")?;
        check_name("name", name)?;
        if let Some(z) = availability_zone {
            check_name("availability_zone", z)?;
        }
        let mut tx = self.db().begin_write().await.map_err(stratus_store::StoreError::from)?;
        crate::db::lock(&mut tx, "aggregates").await?;
        if name_taken(&mut tx, name, None).await? {
            return Err(ComputeError::Conflict(format!("Aggregate {name} already exists.")));
        }
        let id = crate::db::next_id(&mut tx, "aggregates").await?;
        sqlx::query("INSERT INTO aggregates (id, uuid, name, created_at) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(name)
            .bind(now_micros())
            .execute(&mut *tx)
            .await
            .map_err(stratus_store::StoreError::from)?;
        if let Some(z) = availability_zone {
            set_meta(&mut tx, id, AZ_KEY, Some(z)).await?;
        }
        tx.commit().await.map_err(stratus_store::StoreError::from)?;
        self.aggregate_or_404(id).await
    }

    /// Renames an aggregate and/or moves it (and its hosts) to another zone.
    pub async fn update_aggregate(&self, caller: &AuthContext, id: &str, u: AggregateUpdate) -> Result<Aggregate> {
        self.aggregate_policy(caller, "update")?;
        let id = parse_id(id)?;
        if let Some(n) = &u.name {
            check_name("name", n)?;
        }
        if let Some(Some(z)) = &u.availability_zone {
            check_name("availability_zone", z)?;
        }
        let mut tx = self.db().begin_write().await.map_err(stratus_store::StoreError::from)?;
        crate::db::lock(&mut tx, "aggregates").await?;
        let current = name_in(&mut tx, id).await?.ok_or_else(|| not_found(id))?;
        let name = u.name.clone().unwrap_or(current);
        if u.name.is_some() && name_taken(&mut tx, &name, Some(id)).await? {
            return Err(ComputeError::Conflict(format!("Aggregate {name} already exists.")));
        }
        if let Some(zone) = &u.availability_zone {
            let why = format!("Cannot update aggregate {id}.");
            check_zone_change(&mut tx, id, &name, zone.as_deref(), &why).await?;
            set_meta(&mut tx, id, AZ_KEY, zone.as_deref()).await?;
        }
        sqlx::query("UPDATE aggregates SET name = $1, updated_at = $2 WHERE id = $3")
            .bind(&name)
            .bind(now_micros())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(stratus_store::StoreError::from)?;
        tx.commit().await.map_err(stratus_store::StoreError::from)?;
        self.aggregate_or_404(id).await
    }

    /// Deletes an aggregate that has no hosts left.
    pub async fn delete_aggregate(&self, caller: &AuthContext, id: &str) -> Result<()> {
        self.aggregate_policy(caller, "delete")?;
        let id = parse_id(id)?;
        let mut tx = self.db().begin_write().await.map_err(stratus_store::StoreError::from)?;
        crate::db::lock(&mut tx, "aggregates").await?;
        name_in(&mut tx, id).await?.ok_or_else(|| not_found(id))?;
        let hosts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM aggregate_hosts WHERE aggregate_id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(stratus_store::StoreError::from)?;
        if hosts > 0 {
            return Err(ComputeError::Invalid(format!(
                "Cannot perform action 'delete' on aggregate {id}. Reason: Host aggregate is not empty."
            )));
        }
        for sql in [
            "DELETE FROM aggregate_metadata WHERE aggregate_id = $1",
            "DELETE FROM aggregates WHERE id = $1",
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

    /// Adds a compute host; refused when the aggregate's zone would give the host a second one.
    pub async fn add_aggregate_host(&self, caller: &AuthContext, id: &str, host: &str) -> Result<Aggregate> {
        self.aggregate_policy(caller, "add_host")?;
        let id = parse_id(id)?;
        check_host(host)?;
        if !self.known_host(host).await? {
            return Err(ComputeError::NotFound(format!(
                "Compute host {host} could not be found."
            )));
        }
        let mut tx = self.db().begin_write().await.map_err(stratus_store::StoreError::from)?;
        crate::db::lock(&mut tx, "aggregates").await?;
        name_in(&mut tx, id).await?.ok_or_else(|| not_found(id))?;
        let member: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM aggregate_hosts WHERE aggregate_id = $1 AND host = $2")
                .bind(id)
                .bind(host)
                .fetch_one(&mut *tx)
                .await
                .map_err(stratus_store::StoreError::from)?;
        if member > 0 {
            return Err(ComputeError::Conflict(format!(
                "Aggregate {id} already has host {host}."
            )));
        }
        if let Some(zone) = zone_in(&mut tx, id).await? {
            let others = conflicting_zones(&mut tx, id, Some(host), &zone).await?;
            if !others.is_empty() {
                return Err(ComputeError::Conflict(format!(
                    "Cannot add host to aggregate {id}. Reason: One or more hosts already in availability zone(s) {}.",
                    py_list(&others)
                )));
            }
        }
        sqlx::query("INSERT INTO aggregate_hosts (aggregate_id, host) VALUES ($1, $2)")
            .bind(id)
            .bind(host)
            .execute(&mut *tx)
            .await
            .map_err(stratus_store::StoreError::from)?;
        tx.commit().await.map_err(stratus_store::StoreError::from)?;
        self.aggregate_or_404(id).await
    }

    pub async fn remove_aggregate_host(&self, caller: &AuthContext, id: &str, host: &str) -> Result<Aggregate> {
        self.aggregate_policy(caller, "remove_host")?;
        let id = parse_id(id)?;
        check_host(host)?;
        let refused = || ComputeError::NotFound(format!("Cannot remove host {host} in aggregate {id}."));
        if !self.known_host(host).await? {
            return Err(refused());
        }
        let mut tx = self.db().begin_write().await.map_err(stratus_store::StoreError::from)?;
        crate::db::lock(&mut tx, "aggregates").await?;
        let gone = sqlx::query("DELETE FROM aggregate_hosts WHERE aggregate_id = $1 AND host = $2")
            .bind(id)
            .bind(host)
            .execute(&mut *tx)
            .await
            .map_err(stratus_store::StoreError::from)?;
        if gone.rows_affected() == 0 {
            return Err(refused());
        }
        tx.commit().await.map_err(stratus_store::StoreError::from)?;
        self.aggregate_or_404(id).await
    }

    /// Adds, changes and (with null values) removes metadata; the zone can be renamed this
    /// way under the same rules as an update, but not removed.
    pub async fn set_aggregate_metadata(
        &self,
        caller: &AuthContext,
        id: &str,
        items: BTreeMap<String, Option<String>>,
    ) -> Result<Aggregate> {
        self.aggregate_policy(caller, "set_metadata")?;
        let id = parse_id(id)?;
        check_metadata(&items)?;
        let mut tx = self.db().begin_write().await.map_err(stratus_store::StoreError::from)?;
        crate::db::lock(&mut tx, "aggregates").await?;
        let name = name_in(&mut tx, id).await?.ok_or_else(|| not_found(id))?;
        if let Some(zone) = items.get(AZ_KEY) {
            let why = format!("Cannot update metadata of aggregate {id}.");
            check_zone_change(&mut tx, id, &name, zone.as_deref(), &why).await?;
        }
        for (k, v) in &items {
            set_meta(&mut tx, id, k, v.as_deref()).await?;
        }
        touch(&mut tx, id).await?;
        tx.commit().await.map_err(stratus_store::StoreError::from)?;
        self.aggregate_or_404(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_zones_keys_and_hosts_are_checked_as_nova_does() {
        assert!(check_name("name", "agg-1").is_ok());
        assert!(check_name("name", "").is_err());
        assert!(check_name("name", " lead").is_err());
        assert!(check_name("name", "trail ").is_err());
        assert!(check_name("name", &"a".repeat(256)).is_err());
        assert!(check_name("name", "tab\tinside").is_err());
        let ok: BTreeMap<String, Option<String>> = [("ssd".to_owned(), Some("true".to_owned()))].into();
        assert!(check_metadata(&ok).is_ok());
        let bad: BTreeMap<String, Option<String>> = [("a/b".to_owned(), None)].into();
        assert!(check_metadata(&bad).is_err());
        assert!(check_host("host-1.example_x").is_ok());
        assert!(check_host("host 1").is_err());
        assert_eq!(py_list(&["a".into(), "b".into()]), "['a', 'b']");
    }

    #[test]
    fn ids_are_integers_as_python_reads_them() {
        assert_eq!(parse_id("12").ok(), Some(12));
        assert_eq!(parse_id(" 7 ").ok(), Some(7));
        assert_eq!(parse_id("+3").ok(), Some(3));
        assert_eq!(parse_id("-1").ok(), Some(-1));
        assert!(matches!(parse_id("abc"), Err(ComputeError::Invalid(_))));
        assert!(matches!(parse_id(""), Err(ComputeError::Invalid(_))));
        assert!(matches!(parse_id("1.5"), Err(ComputeError::Invalid(_))));
        assert!(matches!(
            parse_id("99999999999999999999999"),
            Err(ComputeError::NotFound(_))
        ));
    }
}
