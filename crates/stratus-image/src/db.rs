//! The Image service's SQL, and nothing else: no policy, no validation beyond what the schema
//! enforces. The same statements run on SQLite and PostgreSQL.

use std::collections::{BTreeMap, HashMap};

use sqlx::FromRow;
use stratus_store::sql::{arguments, placeholders, Filters, Val};
use stratus_store::{now_micros, Db, Result};

use crate::model::*;

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

const IMAGE_COLS: &str = "id, name, status, visibility, owner, protected, os_hidden, disk_format, container_format, \
     min_disk, min_ram, size, virtual_size, checksum, os_hash_algo, os_hash_value, store, location, created_at, updated_at";

#[derive(FromRow)]
struct ImageRow {
    id: String,
    name: Option<String>,
    status: String,
    visibility: String,
    owner: Option<String>,
    protected: i64,
    os_hidden: i64,
    disk_format: Option<String>,
    container_format: Option<String>,
    min_disk: i64,
    min_ram: i64,
    size: Option<i64>,
    virtual_size: Option<i64>,
    checksum: Option<String>,
    os_hash_algo: Option<String>,
    os_hash_value: Option<String>,
    store: Option<String>,
    location: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl From<ImageRow> for Image {
    fn from(r: ImageRow) -> Self {
        Image {
            id: r.id,
            name: r.name,
            // Only this module writes these columns, from the same enums.
            status: Status::parse(&r.status).unwrap_or(Status::Killed),
            visibility: Visibility::parse(&r.visibility).unwrap_or(Visibility::Private),
            owner: r.owner,
            protected: r.protected != 0,
            os_hidden: r.os_hidden != 0,
            disk_format: r.disk_format,
            container_format: r.container_format,
            min_disk: r.min_disk,
            min_ram: r.min_ram,
            size: r.size,
            virtual_size: r.virtual_size,
            checksum: r.checksum,
            os_hash_algo: r.os_hash_algo,
            os_hash_value: r.os_hash_value,
            store: r.store,
            location: r.location,
            created_at: r.created_at,
            updated_at: r.updated_at,
            properties: BTreeMap::new(),
            tags: Vec::new(),
        }
    }
}

/// The columns a user may change, in the order [`update_image`] writes them.
fn mutable_vals(i: &Image) -> Vec<Val> {
    vec![
        i.name.clone().into(),
        i.visibility.as_str().into(),
        i.owner.clone().into(),
        i.protected.into(),
        i.os_hidden.into(),
        i.disk_format.clone().into(),
        i.container_format.clone().into(),
        i.min_disk.into(),
        i.min_ram.into(),
    ]
}

pub(crate) async fn insert_image(db: &Db, i: &Image) -> Result<()> {
    let mut tx = db.begin_write().await?;
    let mut vals = vec![
        Val::from(i.id.as_str()),
        i.status.as_str().into(),
        i.created_at.into(),
        i.updated_at.into(),
    ];
    vals.extend(mutable_vals(i));
    sqlx::query_with(
        "INSERT INTO images (id, status, created_at, updated_at, name, visibility, owner, protected, os_hidden, \
         disk_format, container_format, min_disk, min_ram) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        arguments(&vals),
    )
    .execute(&mut *tx)
    .await?;
    write_children(&mut tx, i).await?;
    tx.commit().await?;
    Ok(())
}

async fn write_children(tx: &mut sqlx::Transaction<'_, sqlx::Any>, i: &Image) -> Result<()> {
    sqlx::query("DELETE FROM image_properties WHERE image_id = $1")
        .bind(&i.id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM image_tags WHERE image_id = $1")
        .bind(&i.id)
        .execute(&mut **tx)
        .await?;
    for (k, v) in &i.properties {
        sqlx::query("INSERT INTO image_properties (image_id, name, value) VALUES ($1, $2, $3)")
            .bind(&i.id)
            .bind(k)
            .bind(v)
            .execute(&mut **tx)
            .await?;
    }
    for t in &i.tags {
        sqlx::query("INSERT INTO image_tags (image_id, tag) VALUES ($1, $2)")
            .bind(&i.id)
            .bind(t)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Writes the user-changeable columns, properties and tags of `i`, only if the record has not
/// changed since `seen_updated_at`: status and data columns are never touched here, so an
/// upload finishing meanwhile is not undone. False when the record changed or is gone.
pub(crate) async fn update_image(db: &Db, i: &Image, seen_updated_at: i64) -> Result<bool> {
    let mut tx = db.begin_write().await?;
    let mut vals = mutable_vals(i);
    vals.extend([
        Val::from(i.updated_at),
        Val::from(i.id.as_str()),
        Val::from(seen_updated_at),
    ]);
    let r = sqlx::query_with(
        "UPDATE images SET name = $1, visibility = $2, owner = $3, protected = $4, os_hidden = $5, disk_format = $6, \
         container_format = $7, min_disk = $8, min_ram = $9, updated_at = $10 \
         WHERE id = $11 AND updated_at = $12 AND deleted = 0",
        arguments(&vals),
    )
    .execute(&mut *tx)
    .await?;
    if r.rows_affected() == 0 {
        return Ok(false);
    }
    write_children(&mut tx, i).await?;
    tx.commit().await?;
    Ok(true)
}

pub(crate) async fn get_image(db: &Db, id: &str) -> Result<Option<Image>> {
    let sql = format!("SELECT {IMAGE_COLS} FROM images WHERE id = $1 AND deleted = 0");
    let Some(row) = sqlx::query_as::<_, ImageRow>(&sql)
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
    else {
        return Ok(None);
    };
    let mut images = vec![Image::from(row)];
    attach_children(db, &mut images).await?;
    Ok(images.pop())
}

/// Fills in properties and tags of a page of images in two queries.
async fn attach_children(db: &Db, images: &mut [Image]) -> Result<()> {
    if images.is_empty() {
        return Ok(());
    }
    let ids: Vec<Val> = images.iter().map(|i| Val::from(i.id.as_str())).collect();
    let list = placeholders(ids.len());
    let index: HashMap<String, usize> = images.iter().enumerate().map(|(n, i)| (i.id.clone(), n)).collect();
    let props: Vec<(String, String, String)> = sqlx::query_as_with(
        &format!("SELECT image_id, name, value FROM image_properties WHERE image_id IN ({list})"),
        arguments(&ids),
    )
    .fetch_all(&db.pool)
    .await?;
    for (id, k, v) in props {
        if let Some(&n) = index.get(&id) {
            images[n].properties.insert(k, v);
        }
    }
    let tags: Vec<(String, String)> = sqlx::query_as_with(
        &format!("SELECT image_id, tag FROM image_tags WHERE image_id IN ({list}) ORDER BY tag"),
        arguments(&ids),
    )
    .fetch_all(&db.pool)
    .await?;
    for (id, t) in tags {
        if let Some(&n) = index.get(&id) {
            images[n].tags.push(t);
        }
    }
    Ok(())
}

/// Who is listing, for the visibility rules.
#[derive(Debug, Clone)]
pub(crate) struct Viewer {
    pub admin: bool,
    pub project: Option<String>,
}

/// One column to sort by, with how its NULLs compare (as the empty string or -1, so that the
/// keyset comparison of pagination needs no NULL cases).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Name,
    Status,
    ContainerFormat,
    DiskFormat,
    Size,
    VirtualSize,
    Id,
    CreatedAt,
    UpdatedAt,
    Visibility,
    Owner,
    MinDisk,
    MinRam,
}

impl SortKey {
    pub fn parse(s: &str) -> Option<SortKey> {
        Some(match s {
            "name" => SortKey::Name,
            "status" => SortKey::Status,
            "container_format" => SortKey::ContainerFormat,
            "disk_format" => SortKey::DiskFormat,
            "size" => SortKey::Size,
            "virtual_size" => SortKey::VirtualSize,
            "id" => SortKey::Id,
            "created_at" => SortKey::CreatedAt,
            "updated_at" => SortKey::UpdatedAt,
            "visibility" => SortKey::Visibility,
            "owner" => SortKey::Owner,
            "min_disk" => SortKey::MinDisk,
            "min_ram" => SortKey::MinRam,
            _ => return None,
        })
    }
    fn expr(self) -> &'static str {
        match self {
            SortKey::Name => "COALESCE(name, '')",
            SortKey::Status => "status",
            SortKey::ContainerFormat => "COALESCE(container_format, '')",
            SortKey::DiskFormat => "COALESCE(disk_format, '')",
            SortKey::Size => "COALESCE(size, -1)",
            SortKey::VirtualSize => "COALESCE(virtual_size, -1)",
            SortKey::Id => "id",
            SortKey::CreatedAt => "created_at",
            SortKey::UpdatedAt => "updated_at",
            SortKey::Visibility => "visibility",
            SortKey::Owner => "COALESCE(owner, '')",
            SortKey::MinDisk => "min_disk",
            SortKey::MinRam => "min_ram",
        }
    }
    fn value(self, i: &Image) -> Val {
        let s = |v: &Option<String>| Val::from(v.clone().unwrap_or_default());
        match self {
            SortKey::Name => s(&i.name),
            SortKey::Status => i.status.as_str().into(),
            SortKey::ContainerFormat => s(&i.container_format),
            SortKey::DiskFormat => s(&i.disk_format),
            SortKey::Size => i.size.unwrap_or(-1).into(),
            SortKey::VirtualSize => i.virtual_size.unwrap_or(-1).into(),
            SortKey::Id => i.id.as_str().into(),
            SortKey::CreatedAt => i.created_at.into(),
            SortKey::UpdatedAt => i.updated_at.into(),
            SortKey::Visibility => i.visibility.as_str().into(),
            SortKey::Owner => s(&i.owner),
            SortKey::MinDisk => i.min_disk.into(),
            SortKey::MinRam => i.min_ram.into(),
        }
    }
}

/// Which images of other projects a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VisibilityFilter {
    /// Glance's default: own images, public ones, and shared ones the project is a member of.
    #[default]
    Default,
    All,
    Only(Visibility),
}

/// `created_at=gt:2026-11-25T00:00:00Z` and its kin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeFilter {
    /// true for updated_at, false for created_at.
    pub updated: bool,
    pub op: Cmp,
    /// Unix microseconds.
    pub at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Cmp {
    /// Glance's operator prefixes.
    pub fn parse(s: &str) -> Option<Cmp> {
        Some(match s {
            "eq" => Cmp::Eq,
            "neq" => Cmp::Neq,
            "gt" => Cmp::Gt,
            "gte" => Cmp::Gte,
            "lt" => Cmp::Lt,
            "lte" => Cmp::Lte,
            _ => return None,
        })
    }
    fn sql(self) -> &'static str {
        match self {
            Cmp::Eq => "=",
            Cmp::Neq => "<>",
            Cmp::Gt => ">",
            Cmp::Gte => ">=",
            Cmp::Lt => "<",
            Cmp::Lte => "<=",
        }
    }
}

/// A validated `GET /v2/images` query.
#[derive(Debug, Clone, Default)]
pub struct ImageQuery {
    pub visibility: VisibilityFilter,
    /// Member status of shared images; None means any.
    pub member_status: Option<MemberStatus>,
    pub name: Option<String>,
    pub status: Option<Status>,
    pub owner: Option<String>,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    pub size_min: Option<i64>,
    pub size_max: Option<i64>,
    /// `min_ram=N`, `min_disk=N`: Glance compares these columns for equality.
    pub min_ram: Option<i64>,
    pub min_disk: Option<i64>,
    pub protected: Option<bool>,
    pub os_hidden: bool,
    pub tags: Vec<String>,
    /// `id=ID` or `id=in:ID1,ID2`: only these images.
    pub ids: Option<Vec<String>>,
    pub properties: Vec<(String, String)>,
    pub times: Vec<TimeFilter>,
    /// Sort keys with `true` for descending; id is always added last as a tie-breaker.
    pub sort: Vec<(SortKey, bool)>,
    pub limit: u32,
}

fn member_clause(f: &mut Filters, project: &str, status: Option<MemberStatus>) -> String {
    let p = f.bind(project);
    let status = match status {
        Some(s) => format!(" AND m.status = {}", f.bind(s.as_str())),
        None => String::new(),
    };
    format!("EXISTS (SELECT 1 FROM image_members m WHERE m.image_id = images.id AND m.member = {p}{status})")
}

pub(crate) async fn list_images(
    db: &Db,
    viewer: &Viewer,
    q: &ImageQuery,
    marker: Option<&Image>,
) -> Result<Vec<Image>> {
    let mut f = Filters::new();
    f.clause("deleted = 0");
    match (viewer.admin, viewer.project.as_deref(), q.visibility) {
        (true, _, VisibilityFilter::Default | VisibilityFilter::All) => {}
        (_, _, VisibilityFilter::Only(v @ (Visibility::Public | Visibility::Community))) => {
            f.eq("visibility", Some(v.as_str()));
        }
        (true, _, VisibilityFilter::Only(v)) => {
            f.eq("visibility", Some(v.as_str()));
        }
        (false, None, _) => {
            f.clause("visibility IN ('public')");
        }
        (false, Some(p), VisibilityFilter::Only(Visibility::Private)) => {
            f.eq("visibility", Some("private")).eq("owner", Some(p));
        }
        (false, Some(p), VisibilityFilter::Only(Visibility::Shared)) => {
            let owner = f.bind(p);
            let member = member_clause(&mut f, p, q.member_status);
            f.clause(format!("visibility = 'shared' AND (owner = {owner} OR {member})"));
        }
        (false, Some(p), vis) => {
            let owner = f.bind(p);
            let member = member_clause(&mut f, p, q.member_status);
            let community = if vis == VisibilityFilter::All {
                " OR visibility = 'community'"
            } else {
                ""
            };
            f.clause(format!(
                "(owner = {owner} OR visibility = 'public' OR (visibility = 'shared' AND {member}){community})"
            ));
        }
    }
    if let Some(ids) = &q.ids {
        if ids.is_empty() {
            f.clause("1 = 0");
        } else {
            let list: Vec<String> = ids.iter().map(|id| f.bind(id.as_str())).collect();
            f.clause(format!("id IN ({})", list.join(", ")));
        }
    }
    f.eq("name", q.name.as_deref())
        .eq("status", q.status.map(Status::as_str))
        .eq("owner", q.owner.as_deref())
        .eq("disk_format", q.disk_format.as_deref())
        .eq("container_format", q.container_format.as_deref())
        .eq_flag("protected", q.protected)
        .eq_flag("os_hidden", Some(q.os_hidden));
    if let Some(n) = q.size_min {
        f.raw(|p| format!("size >= {p}"), n);
    }
    if let Some(n) = q.size_max {
        f.raw(|p| format!("size <= {p}"), n);
    }
    if let Some(n) = q.min_ram {
        f.raw(|p| format!("min_ram = {p}"), n);
    }
    if let Some(n) = q.min_disk {
        f.raw(|p| format!("min_disk = {p}"), n);
    }
    for t in &q.times {
        let col = if t.updated { "updated_at" } else { "created_at" };
        f.raw(|p| format!("{col} {} {p}", t.op.sql()), t.at);
    }
    for t in &q.tags {
        f.raw(
            |p| format!("EXISTS (SELECT 1 FROM image_tags t WHERE t.image_id = images.id AND t.tag = {p})"),
            t.as_str(),
        );
    }
    for (k, v) in &q.properties {
        let pk = f.bind(k.as_str());
        let pv = f.bind(v.as_str());
        f.clause(format!(
            "EXISTS (SELECT 1 FROM image_properties p WHERE p.image_id = images.id AND p.name = {pk} AND p.value = {pv})"
        ));
    }
    let mut keys = q.sort.clone();
    let last_desc = keys.last().is_some_and(|k| k.1);
    if !keys.iter().any(|k| k.0 == SortKey::Id) {
        keys.push((SortKey::Id, last_desc));
    }
    if let Some(m) = marker {
        // Rows strictly after the marker in the sort order: the first differing key decides.
        let mut alternatives = Vec::new();
        for (n, (key, desc)) in keys.iter().enumerate() {
            let mut parts = Vec::new();
            for (prev, _) in &keys[..n] {
                parts.push(format!("{} = {}", prev.expr(), f.bind(prev.value(m))));
            }
            parts.push(format!(
                "{} {} {}",
                key.expr(),
                if *desc { "<" } else { ">" },
                f.bind(key.value(m))
            ));
            alternatives.push(format!("({})", parts.join(" AND ")));
        }
        f.clause(format!("({})", alternatives.join(" OR ")));
    }
    let order: Vec<String> = keys
        .iter()
        .map(|(k, d)| format!("{} {}", k.expr(), if *d { "DESC" } else { "ASC" }))
        .collect();
    let sql = format!(
        "SELECT {IMAGE_COLS} FROM images{} ORDER BY {} LIMIT {}",
        f.sql(),
        order.join(", "),
        q.limit as u64 + 1
    );
    let rows: Vec<ImageRow> = sqlx::query_as_with(&sql, f.args()).fetch_all(&db.pool).await?;
    let mut images: Vec<Image> = rows.into_iter().map(Into::into).collect();
    attach_children(db, &mut images).await?;
    Ok(images)
}

/// Moves an image from one of `from` to `to`, atomically; false when it was in no such status.
pub(crate) async fn transition(db: &Db, id: &str, from: &[Status], to: Status) -> Result<bool> {
    let mut f = Filters::new();
    let to_p = f.bind(to.as_str());
    let now = f.bind(now_micros());
    let id_p = f.bind(id);
    let from: Vec<String> = from.iter().map(|s| f.bind(s.as_str())).collect();
    let sql = format!(
        "UPDATE images SET status = {to_p}, updated_at = {now} WHERE id = {id_p} AND deleted = 0 AND status IN ({})",
        from.join(", ")
    );
    Ok(sqlx::query_with(&sql, f.args())
        .execute(&db.pool)
        .await?
        .rows_affected()
        > 0)
}

/// What a completed upload records.
pub(crate) struct DataRecord {
    pub size: i64,
    pub virtual_size: Option<i64>,
    pub checksum: String,
    pub os_hash_value: String,
    pub store: String,
    pub location: String,
}

/// Makes an image active with its data, only if it is still in `from`.
pub(crate) async fn activate(db: &Db, id: &str, from: Status, d: &DataRecord) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE images SET status = 'active', size = $1, virtual_size = $2, checksum = $3, os_hash_algo = 'sha512', \
         os_hash_value = $4, store = $5, location = $6, updated_at = $7 WHERE id = $8 AND status = $9 AND deleted = 0",
    )
    .bind(d.size)
    .bind(d.virtual_size)
    .bind(&d.checksum)
    .bind(&d.os_hash_value)
    .bind(&d.store)
    .bind(&d.location)
    .bind(now_micros())
    .bind(id)
    .bind(from.as_str())
    .execute(&db.pool)
    .await?;
    Ok(r.rows_affected() > 0)
}

pub(crate) async fn set_size(db: &Db, id: &str, size: i64) -> Result<()> {
    sqlx::query("UPDATE images SET size = $1, updated_at = $2 WHERE id = $3")
        .bind(size)
        .bind(now_micros())
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Marks an image deleted and drops its children; its row stays as a record of what existed.
pub(crate) async fn mark_deleted(db: &Db, id: &str) -> Result<()> {
    let mut tx = db.begin_write().await?;
    let now = now_micros();
    sqlx::query("UPDATE images SET status = 'deleted', deleted = 1, deleted_at = $1, updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    for table in ["image_properties", "image_tags", "image_members"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE image_id = $1"))
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Images left in `status` (by a crash), with their store locations.
pub(crate) async fn in_status(db: &Db, status: Status) -> Result<Vec<(String, Option<String>)>> {
    Ok(
        sqlx::query_as("SELECT id, location FROM images WHERE status = $1 AND deleted = 0")
            .bind(status.as_str())
            .fetch_all(&db.pool)
            .await?,
    )
}

/// (images, bytes) a project holds, counting every image not deleted.
pub(crate) async fn usage(db: &Db, owner: &str) -> Result<(i64, i64)> {
    let (n, bytes): (i64, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(*), CAST(SUM(COALESCE(size, 0)) AS BIGINT) FROM images WHERE owner = $1 AND deleted = 0",
    )
    .bind(owner)
    .fetch_one(&db.pool)
    .await?;
    Ok((n, bytes.unwrap_or(0)))
}

/// (images, bytes) of a project's images in one of `statuses`.
pub(crate) async fn tally(db: &Db, owner: &str, statuses: &[Status]) -> Result<(i64, i64)> {
    let mut f = Filters::new();
    f.eq("owner", Some(owner)).clause("deleted = 0");
    let list: Vec<String> = statuses.iter().map(|s| f.bind(s.as_str())).collect();
    f.clause(format!("status IN ({})", list.join(", ")));
    let sql = format!(
        "SELECT COUNT(*), CAST(SUM(COALESCE(size, 0)) AS BIGINT) FROM images{}",
        f.sql()
    );
    let (n, bytes): (i64, Option<i64>) = sqlx::query_as_with(&sql, f.args()).fetch_one(&db.pool).await?;
    Ok((n, bytes.unwrap_or(0)))
}

pub(crate) async fn add_tag(db: &Db, id: &str, tag: &str) -> Result<()> {
    let mut tx = db.begin_write().await?;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM image_tags WHERE image_id = $1 AND tag = $2")
        .bind(id)
        .bind(tag)
        .fetch_one(&mut *tx)
        .await?;
    if n == 0 {
        sqlx::query("INSERT INTO image_tags (image_id, tag) VALUES ($1, $2)")
            .bind(id)
            .bind(tag)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE images SET updated_at = $1 WHERE id = $2")
            .bind(now_micros())
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// False when the image had no such tag.
pub(crate) async fn remove_tag(db: &Db, id: &str, tag: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM image_tags WHERE image_id = $1 AND tag = $2")
        .bind(id)
        .bind(tag)
        .execute(&db.pool)
        .await?;
    if r.rows_affected() > 0 {
        sqlx::query("UPDATE images SET updated_at = $1 WHERE id = $2")
            .bind(now_micros())
            .bind(id)
            .execute(&db.pool)
            .await?;
    }
    Ok(r.rows_affected() > 0)
}

// ---------------------------------------------------------------- members

#[derive(FromRow)]
struct MemberRow {
    image_id: String,
    member: String,
    status: String,
    created_at: i64,
    updated_at: i64,
}

impl From<MemberRow> for Member {
    fn from(r: MemberRow) -> Self {
        Member {
            image_id: r.image_id,
            member_id: r.member,
            status: MemberStatus::parse(&r.status).unwrap_or(MemberStatus::Pending),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const MEMBER_COLS: &str = "image_id, member, status, created_at, updated_at";

pub(crate) async fn insert_member(db: &Db, m: &Member) -> Result<()> {
    sqlx::query(
        "INSERT INTO image_members (image_id, member, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&m.image_id)
    .bind(&m.member_id)
    .bind(m.status.as_str())
    .bind(m.created_at)
    .bind(m.updated_at)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub(crate) async fn get_member(db: &Db, image_id: &str, member: &str) -> Result<Option<Member>> {
    let sql = format!("SELECT {MEMBER_COLS} FROM image_members WHERE image_id = $1 AND member = $2");
    Ok(sqlx::query_as::<_, MemberRow>(&sql)
        .bind(image_id)
        .bind(member)
        .fetch_optional(&db.pool)
        .await?
        .map(Into::into))
}

pub(crate) async fn list_members(db: &Db, image_id: &str) -> Result<Vec<Member>> {
    let sql = format!("SELECT {MEMBER_COLS} FROM image_members WHERE image_id = $1 ORDER BY created_at, member");
    Ok(sqlx::query_as::<_, MemberRow>(&sql)
        .bind(image_id)
        .fetch_all(&db.pool)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

pub(crate) async fn set_member_status(db: &Db, image_id: &str, member: &str, status: MemberStatus) -> Result<bool> {
    let r = sqlx::query("UPDATE image_members SET status = $1, updated_at = $2 WHERE image_id = $3 AND member = $4")
        .bind(status.as_str())
        .bind(now_micros())
        .bind(image_id)
        .bind(member)
        .execute(&db.pool)
        .await?;
    Ok(r.rows_affected() > 0)
}

pub(crate) async fn delete_member(db: &Db, image_id: &str, member: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM image_members WHERE image_id = $1 AND member = $2")
        .bind(image_id)
        .bind(member)
        .execute(&db.pool)
        .await?;
    Ok(r.rows_affected() > 0)
}

pub(crate) async fn count_members(db: &Db, image_id: &str) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM image_members WHERE image_id = $1")
            .bind(image_id)
            .fetch_one(&db.pool)
            .await?,
    )
}
