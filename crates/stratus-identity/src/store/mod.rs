//! Identity's SQL, and nothing else: no policy, no validation beyond what the schema enforces.
//! The same statements run on SQLite and PostgreSQL.

use sqlx::FromRow;
use stratus_api::pagination::PageRequest;
use stratus_store::{flag, now_micros, Db, Result};

use crate::model::*;

mod access_rules;
mod credentials;
mod domain_configs;
mod endpoint_filters;
mod limits;
mod oauth;
mod policies;
mod trusts;
pub(crate) use access_rules::*;
pub(crate) use credentials::*;
pub(crate) use domain_configs::*;
pub(crate) use endpoint_filters::*;
pub(crate) use limits::*;
pub(crate) use oauth::*;
pub(crate) use policies::*;
pub(crate) use trusts::*;

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub(crate) use stratus_store::sql::{Filters, Val};

/// Restricts `f` to rows after the page's marker, in id order.
fn after(f: &mut Filters, page: &PageRequest) {
    if let Some(m) = &page.marker {
        f.raw(|p| format!("id > {p}"), m.as_str());
    }
}

/// `SELECT cols FROM table [WHERE ...] ORDER BY id [LIMIT n]`, after the page's marker, as models.
async fn list<R, T>(db: &Db, cols: &str, table: &str, mut f: Filters, page: &PageRequest) -> Result<Vec<T>>
where
    R: for<'r> FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    T: From<R>,
{
    after(&mut f, page);
    let mut sql = format!("SELECT {cols} FROM {table}{} ORDER BY id", f.sql());
    if let Some(n) = page.fetch() {
        sql.push_str(&format!(" LIMIT {n}"));
    }
    let rows = sqlx::query_as_with::<_, R, _>(&sql, f.args())
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// The row of `table` whose columns equal the given values, as its model.
async fn find<R, T>(db: &Db, cols: &str, table: &str, by: &[(&str, &str)]) -> Result<Option<T>>
where
    R: for<'r> FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    T: From<R>,
{
    let mut f = Filters::new();
    for (col, v) in by {
        f.eq(col, Some(*v));
    }
    let sql = format!("SELECT {cols} FROM {table}{}", f.sql());
    Ok(sqlx::query_as_with::<_, R, _>(&sql, f.args())
        .fetch_optional(&db.pool)
        .await?
        .map(Into::into))
}

/// Whether a row with this id exists, to tell a bad marker from an empty page.
pub(crate) async fn exists(db: &Db, table: &str, id: &str) -> Result<bool> {
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE id = $1");
    let n: i64 = sqlx::query_scalar(&sql).bind(id).fetch_one(&db.pool).await?;
    Ok(n > 0)
}

/// `UPDATE table SET col = $n, ... WHERE id = $last`; true when a row changed.
pub(crate) async fn update(db: &Db, table: &str, id: &str, sets: Vec<(&str, Val)>) -> Result<bool> {
    if sets.is_empty() {
        return exists(db, table, id).await;
    }
    let cols: Vec<String> = sets
        .iter()
        .enumerate()
        .map(|(i, (c, _))| format!("{c} = ${}", i + 1))
        .collect();
    let sql = format!("UPDATE {table} SET {} WHERE id = ${}", cols.join(", "), sets.len() + 1);
    let mut args: Vec<Val> = sets.into_iter().map(|(_, v)| v).collect();
    args.push(Val::S(id.to_owned()));
    let r = sqlx::query_with(&sql, stratus_store::sql::arguments(&args))
        .execute(&db.pool)
        .await?;
    Ok(r.rows_affected() > 0)
}

// ---------------------------------------------------------------- rows

#[derive(FromRow)]
struct DomainRow {
    id: String,
    name: String,
    description: String,
    enabled: i64,
    extra: String,
}
const DOMAIN_COLS: &str = "id, name, description, enabled, extra";
impl From<DomainRow> for Domain {
    fn from(r: DomainRow) -> Self {
        Domain {
            id: r.id,
            name: r.name,
            description: r.description,
            enabled: r.enabled != 0,
            extra: extra_of(&r.extra),
        }
    }
}

#[derive(FromRow)]
struct ProjectRow {
    id: String,
    name: String,
    domain_id: String,
    parent_id: Option<String>,
    description: String,
    enabled: i64,
    tags: String,
    extra: String,
}
const PROJECT_COLS: &str = "id, name, domain_id, parent_id, description, enabled, tags, extra";
impl From<ProjectRow> for Project {
    fn from(r: ProjectRow) -> Self {
        Project {
            is_domain: false,
            id: r.id,
            name: r.name,
            domain_id: r.domain_id,
            parent_id: r.parent_id,
            description: r.description,
            enabled: r.enabled != 0,
            tags: serde_json::from_str(&r.tags).unwrap_or_default(),
            extra: extra_of(&r.extra),
        }
    }
}

#[derive(FromRow)]
struct UserRow {
    id: String,
    name: String,
    domain_id: String,
    enabled: i64,
    default_project_id: Option<String>,
    description: Option<String>,
    email: Option<String>,
    password_expires_at: Option<i64>,
    options: String,
    extra: String,
}
const USER_COLS: &str =
    "id, name, domain_id, enabled, default_project_id, description, email, password_expires_at, options, extra";
impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            id: r.id,
            name: r.name,
            domain_id: r.domain_id,
            enabled: r.enabled != 0,
            default_project_id: r.default_project_id,
            description: r.description,
            email: r.email,
            password_expires_at: r.password_expires_at,
            options: serde_json::from_str(&r.options).unwrap_or_default(),
            extra: extra_of(&r.extra),
        }
    }
}

#[derive(FromRow)]
struct GroupRow {
    id: String,
    name: String,
    domain_id: String,
    description: String,
    extra: String,
}
const GROUP_COLS: &str = "id, name, domain_id, description, extra";
impl From<GroupRow> for Group {
    fn from(r: GroupRow) -> Self {
        Group {
            id: r.id,
            name: r.name,
            domain_id: r.domain_id,
            description: r.description,
            extra: extra_of(&r.extra),
        }
    }
}

#[derive(FromRow)]
struct RoleRow {
    id: String,
    name: String,
    description: String,
    domain_id: Option<String>,
    extra: String,
}
const ROLE_COLS: &str = "id, name, description, domain_id, extra";
impl From<RoleRow> for Role {
    fn from(r: RoleRow) -> Self {
        Role {
            id: r.id,
            name: r.name,
            description: r.description,
            domain_id: r.domain_id,
            extra: extra_of(&r.extra),
        }
    }
}

#[derive(FromRow)]
struct RegionRow {
    id: String,
    description: String,
    parent_region_id: Option<String>,
    extra: String,
}
const REGION_COLS: &str = "id, description, parent_region_id, extra";
impl From<RegionRow> for Region {
    fn from(r: RegionRow) -> Self {
        Region {
            id: r.id,
            description: r.description,
            parent_region_id: r.parent_region_id,
            extra: extra_of(&r.extra),
        }
    }
}

#[derive(FromRow)]
struct ServiceRow {
    id: String,
    #[sqlx(rename = "type")]
    service_type: String,
    name: String,
    description: String,
    enabled: i64,
    extra: String,
}
const SERVICE_COLS: &str = "id, type, name, description, enabled, extra";
impl From<ServiceRow> for Service {
    fn from(r: ServiceRow) -> Self {
        Service {
            id: r.id,
            service_type: r.service_type,
            name: r.name,
            description: r.description,
            enabled: r.enabled != 0,
            extra: extra_of(&r.extra),
        }
    }
}

#[derive(FromRow)]
struct EndpointRow {
    id: String,
    service_id: String,
    interface: String,
    region_id: Option<String>,
    url: String,
    enabled: i64,
    extra: String,
}
const ENDPOINT_COLS: &str = "id, service_id, interface, region_id, url, enabled, extra";
impl From<EndpointRow> for Endpoint {
    fn from(r: EndpointRow) -> Self {
        Endpoint {
            id: r.id,
            service_id: r.service_id,
            interface: r.interface,
            region_id: r.region_id,
            url: r.url,
            enabled: r.enabled != 0,
            extra: extra_of(&r.extra),
        }
    }
}

/// Stored extra attributes; a row that cannot be read back keeps none rather than failing.
pub(crate) fn extra_of(text: &str) -> Extra {
    serde_json::from_str(text).unwrap_or_default()
}

pub(crate) fn extra_text(extra: &Extra) -> String {
    serde_json::Value::Object(extra.clone()).to_string()
}

// ---------------------------------------------------------------- domains

pub(crate) async fn insert_domain(db: &Db, d: &Domain) -> Result<()> {
    sqlx::query(
        "INSERT INTO domains (id, name, description, enabled, created_at, extra) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&d.id)
    .bind(&d.name)
    .bind(&d.description)
    .bind(flag(d.enabled))
    .bind(now_micros())
    .bind(extra_text(&d.extra))
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub(crate) async fn get_domain(db: &Db, id: &str) -> Result<Option<Domain>> {
    find::<DomainRow, _>(db, DOMAIN_COLS, "domains", &[("id", id)]).await
}

pub(crate) async fn get_domain_by_name(db: &Db, name: &str) -> Result<Option<Domain>> {
    find::<DomainRow, _>(db, DOMAIN_COLS, "domains", &[("name", name)]).await
}

pub(crate) async fn list_domains(db: &Db, f: Filters, page: &PageRequest) -> Result<Vec<Domain>> {
    list::<DomainRow, _>(db, DOMAIN_COLS, "domains", f, page).await
}

/// Counts what a domain still owns.
/// Deletes a row and every assignment on it as a target or actor, in one transaction.
pub(crate) async fn delete_with_assignments(
    db: &Db,
    table: &str,
    id: &str,
    kind: &str,
    as_target: bool,
) -> Result<bool> {
    let mut tx = db.begin_write().await?;
    let col = if as_target { "target" } else { "actor" };
    sqlx::query(&format!(
        "DELETE FROM assignments WHERE {col}_kind = $1 AND {col}_id = $2"
    ))
    .bind(kind)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let r = sqlx::query(&format!("DELETE FROM {table} WHERE id = $1"))
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(r.rows_affected() > 0)
}

/// Deletes a domain with everything it owns, in one transaction: the role assignments on it,
/// on its projects and of its users and groups, then its projects (one statement, so parents
/// and children go together), users (their memberships and application credentials follow by
/// foreign key) and groups. Returns the ids of the users that were deleted, whose tokens the
/// caller revokes.
pub(crate) async fn delete_domain_tree(db: &Db, id: &str) -> Result<Vec<String>> {
    let mut tx = db.begin_write().await?;
    let users: Vec<String> = sqlx::query_scalar("SELECT id FROM users WHERE domain_id = $1")
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
    for stmt in [
        "DELETE FROM assignments WHERE target_kind = 'domain' AND target_id = $1",
        "DELETE FROM assignments WHERE target_kind = 'project' AND target_id IN (SELECT id FROM projects WHERE domain_id = $1)",
        "DELETE FROM assignments WHERE actor_kind = 'user' AND actor_id IN (SELECT id FROM users WHERE domain_id = $1)",
        "DELETE FROM assignments WHERE actor_kind = 'group' AND actor_id IN (SELECT id FROM user_groups WHERE domain_id = $1)",
        "DELETE FROM inherited_assignments WHERE target_kind = 'domain' AND target_id = $1",
        "DELETE FROM inherited_assignments WHERE target_kind = 'project' AND target_id IN (SELECT id FROM projects WHERE domain_id = $1)",
        "DELETE FROM inherited_assignments WHERE actor_kind = 'user' AND actor_id IN (SELECT id FROM users WHERE domain_id = $1)",
        "DELETE FROM inherited_assignments WHERE actor_kind = 'group' AND actor_id IN (SELECT id FROM user_groups WHERE domain_id = $1)",
        "DELETE FROM trusts WHERE trustor_user_id IN (SELECT id FROM users WHERE domain_id = $1) \
         OR trustee_user_id IN (SELECT id FROM users WHERE domain_id = $1)",
        "DELETE FROM limits WHERE domain_id = $1 OR project_id IN (SELECT id FROM projects WHERE domain_id = $1)",
        "DELETE FROM project_endpoints WHERE project_id IN (SELECT id FROM projects WHERE domain_id = $1)",
        "DELETE FROM project_endpoint_groups WHERE project_id IN (SELECT id FROM projects WHERE domain_id = $1)",
        "DELETE FROM projects WHERE domain_id = $1",
        "DELETE FROM users WHERE domain_id = $1",
        "DELETE FROM user_groups WHERE domain_id = $1",
        "DELETE FROM domains WHERE id = $1",
    ] {
        sqlx::query(stmt).bind(id).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(users)
}

// ---------------------------------------------------------------- projects

pub(crate) async fn insert_project(db: &Db, p: &Project) -> Result<()> {
    sqlx::query(
        "INSERT INTO projects (id, name, domain_id, parent_id, description, enabled, tags, created_at, extra) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&p.id)
    .bind(&p.name)
    .bind(&p.domain_id)
    .bind(p.parent_id.clone())
    .bind(&p.description)
    .bind(flag(p.enabled))
    .bind(serde_json::to_string(&p.tags).unwrap_or_else(|_| "[]".into()))
    .bind(now_micros())
    .bind(extra_text(&p.extra))
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub(crate) async fn get_project(db: &Db, id: &str) -> Result<Option<Project>> {
    find::<ProjectRow, _>(db, PROJECT_COLS, "projects", &[("id", id)]).await
}

pub(crate) async fn get_project_by_name(db: &Db, domain_id: &str, name: &str) -> Result<Option<Project>> {
    find::<ProjectRow, _>(
        db,
        PROJECT_COLS,
        "projects",
        &[("domain_id", domain_id), ("name", name)],
    )
    .await
}

pub(crate) async fn list_projects(db: &Db, f: Filters, page: &PageRequest) -> Result<Vec<Project>> {
    list::<ProjectRow, _>(db, PROJECT_COLS, "projects", f, page).await
}

pub(crate) async fn count_children(db: &Db, id: &str) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM projects WHERE parent_id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await?)
}

// ---------------------------------------------------------------- users

/// Inserts a user, and their first password (with when it expires) into their history.
pub(crate) async fn insert_user(db: &Db, u: &User, password_hash: Option<String>) -> Result<()> {
    let now = now_micros();
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO users (id, name, domain_id, enabled, password_hash, default_project_id, description, email, \
         created_at, extra, password_expires_at, password_set_at, options) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&u.id)
    .bind(&u.name)
    .bind(&u.domain_id)
    .bind(flag(u.enabled))
    .bind(password_hash.clone())
    .bind(u.default_project_id.clone())
    .bind(u.description.clone())
    .bind(u.email.clone())
    .bind(now)
    .bind(extra_text(&u.extra))
    .bind(u.password_expires_at)
    .bind(password_hash.as_ref().map(|_| now))
    .bind(serde_json::Value::Object(u.options.clone()).to_string())
    .execute(&mut *tx)
    .await?;
    if let Some(h) = password_hash {
        sqlx::query("INSERT INTO password_history (user_id, password_hash, set_at) VALUES ($1, $2, $3)")
            .bind(&u.id)
            .bind(h)
            .bind(now)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn set_user_options(db: &Db, user_id: &str, options: &serde_json::Map<String, serde_json::Value>) -> Result<()> {
    sqlx::query("UPDATE users SET options = $1 WHERE id = $2")
        .bind(serde_json::Value::Object(options.clone()).to_string())
        .bind(user_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// The hashes of a user's last `n` passwords, newest first.
pub(crate) async fn recent_password_hashes(db: &Db, user_id: &str, n: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT password_hash FROM password_history WHERE user_id = $1 ORDER BY set_at DESC LIMIT $2",
    )
    .bind(user_id)
    .bind(n)
    .fetch_all(&db.pool)
    .await?)
}

pub(crate) async fn get_user(db: &Db, id: &str) -> Result<Option<User>> {
    find::<UserRow, _>(db, USER_COLS, "users", &[("id", id)]).await
}

pub(crate) async fn get_user_by_name(db: &Db, domain_id: &str, name: &str) -> Result<Option<User>> {
    find::<UserRow, _>(db, USER_COLS, "users", &[("domain_id", domain_id), ("name", name)]).await
}

pub(crate) async fn list_users(db: &Db, f: Filters, page: &PageRequest) -> Result<Vec<User>> {
    list::<UserRow, _>(db, USER_COLS, "users", f, page).await
}

/// The password hash, its age and expiry, and the lockout counters of a user.
#[derive(FromRow)]
pub(crate) struct Credentials {
    pub password_hash: Option<String>,
    pub failed_auth_count: i64,
    pub failed_auth_at: Option<i64>,
    pub password_expires_at: Option<i64>,
    pub password_set_at: Option<i64>,
}

pub(crate) async fn get_credentials(db: &Db, user_id: &str) -> Result<Option<Credentials>> {
    Ok(sqlx::query_as::<_, Credentials>(
        "SELECT password_hash, failed_auth_count, failed_auth_at, password_expires_at, password_set_at FROM users WHERE id = $1",
    )
    .bind(user_id)
    .fetch_optional(&db.pool)
    .await?)
}

pub(crate) async fn record_auth_result(db: &Db, user_id: &str, ok: bool) -> Result<()> {
    if ok {
        sqlx::query(
            "UPDATE users SET failed_auth_count = 0, failed_auth_at = NULL WHERE id = $1 AND failed_auth_count <> 0",
        )
        .bind(user_id)
        .execute(&db.pool)
        .await?;
    } else {
        sqlx::query("UPDATE users SET failed_auth_count = failed_auth_count + 1, failed_auth_at = $1 WHERE id = $2")
            .bind(now_micros())
            .bind(user_id)
            .execute(&db.pool)
            .await?;
    }
    Ok(())
}

/// Sets a user's password (and when it expires), clears the lockout counters, and records the
/// password in the user's history, keeping the last `keep`.
pub(crate) async fn set_password(db: &Db, user_id: &str, hash: &str, expires_at: Option<i64>, keep: i64) -> Result<()> {
    let now = now_micros();
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE users SET password_hash = $1, failed_auth_count = 0, failed_auth_at = NULL, \
         password_expires_at = $2, password_set_at = $3 WHERE id = $4",
    )
    .bind(hash)
    .bind(expires_at)
    .bind(now)
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO password_history (user_id, password_hash, set_at) VALUES ($1, $2, $3)")
        .bind(user_id)
        .bind(hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "DELETE FROM password_history WHERE user_id = $1 AND set_at NOT IN \
         (SELECT set_at FROM password_history WHERE user_id = $1 ORDER BY set_at DESC LIMIT $2)",
    )
    .bind(user_id)
    .bind(keep.max(1))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------- groups

pub(crate) async fn insert_group(db: &Db, g: &Group) -> Result<()> {
    sqlx::query(
        "INSERT INTO user_groups (id, name, domain_id, description, created_at, extra) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&g.id)
    .bind(&g.name)
    .bind(&g.domain_id)
    .bind(&g.description)
    .bind(now_micros())
    .bind(extra_text(&g.extra))
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub(crate) async fn get_group(db: &Db, id: &str) -> Result<Option<Group>> {
    find::<GroupRow, _>(db, GROUP_COLS, "user_groups", &[("id", id)]).await
}

pub(crate) async fn list_groups(db: &Db, f: Filters, page: &PageRequest) -> Result<Vec<Group>> {
    list::<GroupRow, _>(db, GROUP_COLS, "user_groups", f, page).await
}

pub(crate) async fn add_member(db: &Db, group_id: &str, user_id: &str) -> Result<()> {
    // Adding a member twice is not an error in Keystone.
    sqlx::query(
        "INSERT INTO group_members (group_id, user_id) SELECT $1, $2 WHERE NOT EXISTS \
         (SELECT 1 FROM group_members WHERE group_id = $1 AND user_id = $2)",
    )
    .bind(group_id)
    .bind(user_id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub(crate) async fn remove_member(db: &Db, group_id: &str, user_id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
        .bind(group_id)
        .bind(user_id)
        .execute(&db.pool)
        .await?;
    Ok(r.rows_affected() > 0)
}

pub(crate) async fn is_member(db: &Db, group_id: &str, user_id: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM group_members WHERE group_id = $1 AND user_id = $2")
        .bind(group_id)
        .bind(user_id)
        .fetch_one(&db.pool)
        .await?;
    Ok(n > 0)
}

pub(crate) async fn group_members(db: &Db, group_id: &str) -> Result<Vec<User>> {
    let sql = format!(
        "SELECT {} FROM users u JOIN group_members m ON m.user_id = u.id WHERE m.group_id = $1 ORDER BY u.id",
        USER_COLS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(sqlx::query_as::<_, UserRow>(&sql)
        .bind(group_id)
        .fetch_all(&db.pool)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

pub(crate) async fn user_groups(db: &Db, user_id: &str) -> Result<Vec<Group>> {
    let sql = format!(
        "SELECT {} FROM user_groups g JOIN group_members m ON m.group_id = g.id WHERE m.user_id = $1 ORDER BY g.id",
        GROUP_COLS
            .split(", ")
            .map(|c| format!("g.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(sqlx::query_as::<_, GroupRow>(&sql)
        .bind(user_id)
        .fetch_all(&db.pool)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

// ---------------------------------------------------------------- roles

pub(crate) async fn insert_role(db: &Db, r: &Role) -> Result<()> {
    sqlx::query(
        "INSERT INTO roles (id, name, description, created_at, domain_id, extra) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&r.id)
    .bind(&r.name)
    .bind(&r.description)
    .bind(now_micros())
    .bind(r.domain_id.clone())
    .bind(extra_text(&r.extra))
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub(crate) async fn get_role(db: &Db, id: &str) -> Result<Option<Role>> {
    find::<RoleRow, _>(db, ROLE_COLS, "roles", &[("id", id)]).await
}

pub(crate) async fn get_role_by_name(db: &Db, name: &str) -> Result<Option<Role>> {
    find::<RoleRow, _>(db, ROLE_COLS, "roles", &[("name", name)]).await
}

pub(crate) async fn list_roles(db: &Db, f: Filters, page: &PageRequest) -> Result<Vec<Role>> {
    list::<RoleRow, _>(db, ROLE_COLS, "roles", f, page).await
}

pub(crate) async fn delete_role(db: &Db, id: &str) -> Result<bool> {
    let mut tx = db.begin_write().await?;
    sqlx::query("DELETE FROM assignments WHERE role_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM implied_roles WHERE prior_role_id = $1 OR implied_role_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let r = sqlx::query("DELETE FROM roles WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(r.rows_affected() > 0)
}

pub(crate) async fn implied_roles(db: &Db) -> Result<Vec<(String, String)>> {
    Ok(sqlx::query_as::<_, (String, String)>(
        "SELECT prior_role_id, implied_role_id FROM implied_roles ORDER BY prior_role_id",
    )
    .fetch_all(&db.pool)
    .await?)
}

pub(crate) async fn add_implied_role(db: &Db, prior: &str, implied: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO implied_roles (prior_role_id, implied_role_id) SELECT $1, $2 WHERE NOT EXISTS \
         (SELECT 1 FROM implied_roles WHERE prior_role_id = $1 AND implied_role_id = $2)",
    )
    .bind(prior)
    .bind(implied)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub(crate) async fn remove_implied_role(db: &Db, prior: &str, implied: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM implied_roles WHERE prior_role_id = $1 AND implied_role_id = $2")
        .bind(prior)
        .bind(implied)
        .execute(&db.pool)
        .await?;
    Ok(r.rows_affected() > 0)
}

pub(crate) async fn all_roles(db: &Db) -> Result<Vec<Role>> {
    let sql = format!("SELECT {ROLE_COLS} FROM roles ORDER BY id");
    Ok(sqlx::query_as::<_, RoleRow>(&sql)
        .fetch_all(&db.pool)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

// ---------------------------------------------------------------- assignments

#[derive(FromRow)]
struct AssignmentRow {
    actor_kind: String,
    actor_id: String,
    target_kind: String,
    target_id: String,
    role_id: String,
}

fn actor_kind(s: &str) -> ActorKind {
    if s == "group" {
        ActorKind::Group
    } else {
        ActorKind::User
    }
}

fn target_kind(s: &str) -> TargetKind {
    match s {
        "domain" => TargetKind::Domain,
        "system" => TargetKind::System,
        _ => TargetKind::Project,
    }
}

impl From<AssignmentRow> for Assignment {
    fn from(r: AssignmentRow) -> Self {
        Assignment::new(
            actor_kind(&r.actor_kind),
            r.actor_id,
            target_kind(&r.target_kind),
            r.target_id,
            r.role_id,
        )
    }
}

/// The table of a grant: direct grants and inherited ones are kept apart.
fn grants_table(inherited: bool) -> &'static str {
    if inherited {
        "inherited_assignments"
    } else {
        "assignments"
    }
}

pub(crate) async fn grant(db: &Db, a: &Assignment) -> Result<()> {
    let t = grants_table(a.inherited);
    sqlx::query(&format!(
        "INSERT INTO {t} (actor_kind, actor_id, target_kind, target_id, role_id) \
         SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS (SELECT 1 FROM {t} WHERE actor_kind = $1 \
         AND actor_id = $2 AND target_kind = $3 AND target_id = $4 AND role_id = $5)",
    ))
    .bind(a.actor_kind.as_str())
    .bind(&a.actor_id)
    .bind(a.target_kind.as_str())
    .bind(&a.target_id)
    .bind(&a.role_id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub(crate) async fn revoke(db: &Db, a: &Assignment) -> Result<bool> {
    let r = sqlx::query(&format!(
        "DELETE FROM {} WHERE actor_kind = $1 AND actor_id = $2 AND target_kind = $3 AND target_id = $4 AND role_id = $5",
        grants_table(a.inherited)
    ))
    .bind(a.actor_kind.as_str())
    .bind(&a.actor_id)
    .bind(a.target_kind.as_str())
    .bind(&a.target_id)
    .bind(&a.role_id)
    .execute(&db.pool)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Assignments matching the filters (all optional); `inherited` reads the inherited grants.
pub(crate) async fn list_assignments(db: &Db, f: Filters) -> Result<Vec<Assignment>> {
    list_grants_in(db, f, false).await
}

pub(crate) async fn list_grants_in(db: &Db, f: Filters, inherited: bool) -> Result<Vec<Assignment>> {
    let sql = format!(
        "SELECT actor_kind, actor_id, target_kind, target_id, role_id FROM {}{} \
         ORDER BY actor_kind, actor_id, target_kind, target_id, role_id",
        grants_table(inherited),
        f.sql()
    );
    Ok(sqlx::query_as_with::<_, AssignmentRow, _>(&sql, f.args())
        .fetch_all(&db.pool)
        .await?
        .into_iter()
        .map(|r| Assignment { inherited, ..r.into() })
        .collect())
}

/// The projects above a project, nearest first.
pub(crate) async fn project_ancestors(db: &Db, project_id: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut at = get_project(db, project_id).await?.and_then(|p| p.parent_id);
    while let Some(p) = at {
        if out.contains(&p) {
            break;
        }
        at = get_project(db, &p).await?.and_then(|x| x.parent_id);
        out.push(p);
    }
    Ok(out)
}

/// The projects an inherited grant on a target reaches: every project of a domain, or every
/// project below a project.
pub(crate) async fn projects_inheriting(db: &Db, kind: TargetKind, id: &str) -> Result<Vec<String>> {
    match kind {
        TargetKind::Domain => Ok(
            sqlx::query_scalar("SELECT id FROM projects WHERE domain_id = $1 ORDER BY id")
                .bind(id)
                .fetch_all(&db.pool)
                .await?,
        ),
        TargetKind::Project => {
            let mut out: Vec<String> = Vec::new();
            let mut frontier = vec![id.to_owned()];
            while let Some(p) = frontier.pop() {
                let children: Vec<String> = sqlx::query_scalar("SELECT id FROM projects WHERE parent_id = $1")
                    .bind(&p)
                    .fetch_all(&db.pool)
                    .await?;
                for c in children {
                    if !out.contains(&c) {
                        frontier.push(c.clone());
                        out.push(c);
                    }
                }
            }
            out.sort();
            Ok(out)
        }
        TargetKind::System => Ok(vec![]),
    }
}

/// The inherited grants that reach a project: on its domain and on the projects above it.
pub(crate) async fn inherited_reaching(db: &Db, project_id: &str) -> Result<Vec<Assignment>> {
    let Some(project) = get_project(db, project_id).await? else {
        return Ok(vec![]);
    };
    let mut f = Filters::new();
    f.eq("target_kind", Some("domain"))
        .eq("target_id", Some(&project.domain_id));
    let mut out = list_grants_in(db, f, true).await?;
    for a in project_ancestors(db, project_id).await? {
        let mut f = Filters::new();
        f.eq("target_kind", Some("project")).eq("target_id", Some(&a));
        out.extend(list_grants_in(db, f, true).await?);
    }
    Ok(out)
}

/// Role ids held on a target by a user directly or through any of the user's groups; on a
/// project, also those inherited from its domain and the projects above it.
pub(crate) async fn direct_role_ids(
    db: &Db,
    user_id: &str,
    target: TargetKind,
    target_id: &str,
) -> Result<Vec<String>> {
    let mut ids: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT role_id FROM assignments WHERE target_kind = $1 AND target_id = $2 AND \
         ((actor_kind = 'user' AND actor_id = $3) OR (actor_kind = 'group' AND actor_id IN \
         (SELECT group_id FROM group_members WHERE user_id = $3)))",
    )
    .bind(target.as_str())
    .bind(target_id)
    .bind(user_id)
    .fetch_all(&db.pool)
    .await?;
    if target == TargetKind::Project {
        let groups: Vec<String> = sqlx::query_scalar("SELECT group_id FROM group_members WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(&db.pool)
            .await?;
        for a in inherited_reaching(db, target_id).await? {
            let mine = match a.actor_kind {
                ActorKind::User => a.actor_id == user_id,
                ActorKind::Group => groups.contains(&a.actor_id),
            };
            if mine && !ids.contains(&a.role_id) {
                ids.push(a.role_id);
            }
        }
    }
    Ok(ids)
}

/// Targets of a kind on which a user holds any role, directly or through groups; projects
/// reached by an inherited grant count too.
pub(crate) async fn targets_of_user(db: &Db, user_id: &str, target: TargetKind) -> Result<Vec<String>> {
    let mut out: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT target_id FROM assignments WHERE target_kind = $1 AND \
         ((actor_kind = 'user' AND actor_id = $2) OR (actor_kind = 'group' AND actor_id IN \
         (SELECT group_id FROM group_members WHERE user_id = $2))) ORDER BY target_id",
    )
    .bind(target.as_str())
    .bind(user_id)
    .fetch_all(&db.pool)
    .await?;
    if target == TargetKind::Project {
        let inherited: Vec<(String, String)> = sqlx::query_as(
            "SELECT DISTINCT target_kind, target_id FROM inherited_assignments WHERE \
             (actor_kind = 'user' AND actor_id = $1) OR (actor_kind = 'group' AND actor_id IN \
             (SELECT group_id FROM group_members WHERE user_id = $1))",
        )
        .bind(user_id)
        .fetch_all(&db.pool)
        .await?;
        for (kind, id) in inherited {
            for p in projects_inheriting(db, target_kind(&kind), &id).await? {
                if !out.contains(&p) {
                    out.push(p);
                }
            }
        }
        out.sort();
    }
    Ok(out)
}

// ---------------------------------------------------------------- catalog

pub(crate) async fn insert_region(db: &Db, r: &Region) -> Result<()> {
    sqlx::query(
        "INSERT INTO regions (id, description, parent_region_id, created_at, extra) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&r.id)
    .bind(&r.description)
    .bind(r.parent_region_id.clone())
    .bind(now_micros())
    .bind(extra_text(&r.extra))
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub(crate) async fn get_region(db: &Db, id: &str) -> Result<Option<Region>> {
    find::<RegionRow, _>(db, REGION_COLS, "regions", &[("id", id)]).await
}

pub(crate) async fn list_regions(db: &Db, f: Filters, page: &PageRequest) -> Result<Vec<Region>> {
    list::<RegionRow, _>(db, REGION_COLS, "regions", f, page).await
}

pub(crate) async fn insert_service(db: &Db, s: &Service) -> Result<()> {
    sqlx::query(
        "INSERT INTO services (id, type, name, description, enabled, created_at, extra) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&s.id)
    .bind(&s.service_type)
    .bind(&s.name)
    .bind(&s.description)
    .bind(flag(s.enabled))
    .bind(now_micros())
    .bind(extra_text(&s.extra))
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub(crate) async fn get_service(db: &Db, id: &str) -> Result<Option<Service>> {
    find::<ServiceRow, _>(db, SERVICE_COLS, "services", &[("id", id)]).await
}

pub(crate) async fn list_services(db: &Db, f: Filters, page: &PageRequest) -> Result<Vec<Service>> {
    list::<ServiceRow, _>(db, SERVICE_COLS, "services", f, page).await
}

pub(crate) async fn insert_endpoint(db: &Db, e: &Endpoint) -> Result<()> {
    sqlx::query(
        "INSERT INTO endpoints (id, service_id, interface, region_id, url, enabled, created_at, extra) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&e.id)
    .bind(&e.service_id)
    .bind(&e.interface)
    .bind(e.region_id.clone())
    .bind(&e.url)
    .bind(flag(e.enabled))
    .bind(now_micros())
    .bind(extra_text(&e.extra))
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub(crate) async fn get_endpoint(db: &Db, id: &str) -> Result<Option<Endpoint>> {
    find::<EndpointRow, _>(db, ENDPOINT_COLS, "endpoints", &[("id", id)]).await
}

pub(crate) async fn list_endpoints(db: &Db, f: Filters, page: &PageRequest) -> Result<Vec<Endpoint>> {
    list::<EndpointRow, _>(db, ENDPOINT_COLS, "endpoints", f, page).await
}

pub(crate) async fn delete(db: &Db, table: &str, id: &str) -> Result<bool> {
    let r = sqlx::query(&format!("DELETE FROM {table} WHERE id = $1"))
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(r.rows_affected() > 0)
}

// ---------------------------------------------------------------- application credentials

#[derive(FromRow)]
pub(crate) struct AppCredRow {
    pub id: String,
    pub name: String,
    pub user_id: String,
    pub project_id: String,
    pub secret_hash: String,
    pub description: Option<String>,
    pub expires_at: Option<i64>,
    pub unrestricted: i64,
    pub roles: String,
}
const APPCRED_COLS: &str = "id, name, user_id, project_id, secret_hash, description, expires_at, unrestricted, roles";

pub(crate) async fn insert_app_cred(db: &Db, r: &AppCredRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO application_credentials (id, name, user_id, project_id, secret_hash, description, expires_at, \
         unrestricted, roles, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&r.id)
    .bind(&r.name)
    .bind(&r.user_id)
    .bind(&r.project_id)
    .bind(&r.secret_hash)
    .bind(r.description.clone())
    .bind(r.expires_at)
    .bind(r.unrestricted)
    .bind(&r.roles)
    .bind(now_micros())
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub(crate) async fn get_app_cred(db: &Db, id: &str) -> Result<Option<AppCredRow>> {
    find::<AppCredRow, _>(db, APPCRED_COLS, "application_credentials", &[("id", id)]).await
}

pub(crate) async fn get_app_cred_by_name(db: &Db, user_id: &str, name: &str) -> Result<Option<AppCredRow>> {
    find::<AppCredRow, _>(
        db,
        APPCRED_COLS,
        "application_credentials",
        &[("user_id", user_id), ("name", name)],
    )
    .await
}

pub(crate) async fn list_app_creds(db: &Db, user_id: &str, name: Option<&str>) -> Result<Vec<AppCredRow>> {
    let mut f = Filters::new();
    f.eq("user_id", Some(user_id)).eq("name", name);
    let sql = format!(
        "SELECT {APPCRED_COLS} FROM application_credentials{} ORDER BY id",
        f.sql()
    );
    Ok(sqlx::query_as_with::<_, AppCredRow, _>(&sql, f.args())
        .fetch_all(&db.pool)
        .await?)
}

// ---------------------------------------------------------------- revocation events

#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub(crate) struct RevocationEvent {
    pub id: String,
    pub user_id: Option<String>,
    pub project_id: Option<String>,
    pub domain_id: Option<String>,
    pub audit_id: Option<String>,
    pub trust_id: Option<String>,
    pub access_token_id: Option<String>,
    pub issued_before: i64,
    pub revoked_at: i64,
}

pub(crate) async fn insert_revocation(db: &Db, e: &RevocationEvent) -> Result<()> {
    sqlx::query(
        "INSERT INTO revocation_events (id, user_id, project_id, domain_id, audit_id, trust_id, access_token_id, \
         issued_before, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&e.id)
    .bind(e.user_id.clone())
    .bind(e.project_id.clone())
    .bind(e.domain_id.clone())
    .bind(e.audit_id.clone())
    .bind(e.trust_id.clone())
    .bind(e.access_token_id.clone())
    .bind(e.issued_before)
    .bind(e.revoked_at)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Events that can still match an unexpired token.
pub(crate) async fn revocations_since(db: &Db, oldest_relevant: i64) -> Result<Vec<RevocationEvent>> {
    Ok(sqlx::query_as::<_, RevocationEvent>(
        "SELECT id, user_id, project_id, domain_id, audit_id, trust_id, access_token_id, issued_before, revoked_at \
         FROM revocation_events \
         WHERE revoked_at >= $1 ORDER BY revoked_at",
    )
    .bind(oldest_relevant)
    .fetch_all(&db.pool)
    .await?)
}

pub(crate) async fn prune_revocations(db: &Db, older_than: i64) -> Result<()> {
    sqlx::query("DELETE FROM revocation_events WHERE revoked_at < $1")
        .bind(older_than)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Rows in a table (bootstrap uses it to tell a first start).
pub(crate) async fn count(db: &Db, table: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(&db.pool)
        .await?)
}
