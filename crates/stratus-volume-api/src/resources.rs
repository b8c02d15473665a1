//! Snapshots, attachments, volume types, quotas, limits, availability zones and services.

use std::collections::BTreeMap;

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{json, Value};
use stratus_api::body::{json_object, keyed_json};
use stratus_api::microversion::Microversion;
use stratus_api::{ApiError, Caller};
use stratus_volume::{QuotaSet, SnapshotFilter, VolumeError};

use crate::handlers::{bool_of, fail, reply, Out};
use crate::query::Query;
use crate::{views, ApiState};

/// Routes that exist only from a microversion on answer 404 below it, as in Cinder.
fn require(mv: Microversion, minor: u32, what: &str) -> Result<(), ApiError> {
    if mv.at_least(3, minor) {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "The {what} API needs microversion 3.{minor} or later; this request asked for {mv} \
             (send 'OpenStack-API-Version: volume 3.{minor}')."
        )))
    }
}

// ---------------------------------------------------------------- snapshots

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotCreate {
    volume_id: Option<String>,
    name: Option<String>,
    display_name: Option<String>,
    description: Option<String>,
    display_description: Option<String>,
    force: Option<Value>,
    metadata: Option<BTreeMap<String, String>>,
}

pub(crate) async fn create_snapshot(State(s): State<ApiState>, c: Caller, mv: Microversion, req: Request) -> Out {
    let b: SnapshotCreate = keyed_json(req, "snapshot").await?;
    // Cinder looks the volume up first: none named is a volume not found.
    let volume_id = b
        .volume_id
        .ok_or_else(|| ApiError::not_found("Volume None could not be found."))?;
    let force = match &b.force {
        None | Some(Value::Null) => false,
        Some(v) => bool_of("force", v)?,
    };
    let snap = s
        .svc
        .create_snapshot(
            &c,
            &volume_id,
            b.name.or(b.display_name),
            b.description.or(b.display_description),
            force,
            b.metadata.unwrap_or_default(),
        )
        .await
        .map_err(|e| match e {
            // The volume named in the body, not the path, is missing: a bad request in Cinder.
            VolumeError::NotFound(id) => ApiError::not_found(format!("Volume {id} could not be found.")),
            e => fail(e),
        })?;
    Ok(reply(
        StatusCode::ACCEPTED,
        json!({"snapshot": views::snapshot(&snap, mv, views::SnapshotView::Plain)}),
    ))
}

async fn snapshot_list(s: ApiState, c: Caller, mv: Microversion, raw: Option<String>, detail: bool) -> Out {
    let q = Query::parse(
        raw.as_deref(),
        &[
            "all_tenants",
            "all_projects",
            "project_id",
            "volume_id",
            "name",
            "display_name",
            "status",
        ],
    )?;
    let all = q.flag("all_tenants")?.or(q.flag("all_projects")?).unwrap_or(false);
    let filter = SnapshotFilter {
        all_projects: all,
        project_id: if all { q.string("project_id") } else { None },
        volume_id: q.string("volume_id"),
        name: q.string("name").or(q.string("display_name")),
        status: q.string("status"),
    };
    let mut page = q.page(
        &["created_at", "updated_at", "name", "size", "status", "id"],
        ("created_at", true),
    )?;
    let limit = page.limit;
    let offset = q.widen(&mut page)?;
    if let Some(m) = &page.marker {
        s.svc
            .get_snapshot(&c, m)
            .await
            .map_err(|_| ApiError::not_found(format!("Marker {m} could not be found.")))?;
    }
    let mut snaps = s.svc.list_snapshots(&c, &filter, &page).await.map_err(fail)?;
    snaps.drain(..offset.min(snaps.len()));
    if let Some(l) = limit {
        snaps.truncate(l as usize);
    }
    let view = if detail {
        views::SnapshotView::Detail
    } else {
        views::SnapshotView::Plain
    };
    let items: Vec<Value> = snaps.iter().map(|sn| views::snapshot(sn, mv, view)).collect();
    let mut out = json!({ "snapshots": items });
    let path = if detail { "snapshots/detail" } else { "snapshots" };
    let project = c.project_id().unwrap_or_default();
    if let Some(l) = q.next_links(&s.base, project, path, snaps.len(), snaps.last().map(|v| v.id.as_str())) {
        out["snapshots_links"] = l;
    }
    Ok(reply(StatusCode::OK, out))
}

pub(crate) async fn list_snapshots(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    RawQuery(q): RawQuery,
) -> Out {
    snapshot_list(s, c, mv, q, false).await
}

pub(crate) async fn list_snapshots_detail(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    RawQuery(q): RawQuery,
) -> Out {
    snapshot_list(s, c, mv, q, true).await
}

pub(crate) async fn show_snapshot(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(id): Path<String>,
) -> Out {
    let sn = s.svc.get_snapshot(&c, &id).await.map_err(fail)?;
    Ok(reply(
        StatusCode::OK,
        json!({"snapshot": views::snapshot(&sn, mv, views::SnapshotView::Detail)}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotChange {
    name: Option<String>,
    display_name: Option<String>,
    description: Option<String>,
    display_description: Option<String>,
}

pub(crate) async fn update_snapshot(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(id): Path<String>,
    req: Request,
) -> Out {
    let b: SnapshotChange = keyed_json(req, "snapshot").await?;
    let name = b.name.or(b.display_name);
    let description = b.description.or(b.display_description);
    let sn = s
        .svc
        .update_snapshot(&c, &id, name.as_deref(), description.as_deref())
        .await
        .map_err(fail)?;
    Ok(reply(
        StatusCode::OK,
        json!({"snapshot": views::snapshot(&sn, mv, views::SnapshotView::Plain)}),
    ))
}

pub(crate) async fn delete_snapshot(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Out {
    s.svc.delete_snapshot(&c, &id).await.map_err(fail)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

// ---------------------------------------------------------------- snapshot metadata

pub(crate) async fn show_snapshot_metadata(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Out {
    let sn = s.svc.get_snapshot(&c, &id).await.map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({"metadata": sn.metadata})))
}

async fn set_snapshot_metadata(s: ApiState, c: Caller, id: String, req: Request, replace: bool) -> Out {
    let items: BTreeMap<String, String> = keyed_json(req, "metadata").await?;
    let m = s
        .svc
        .set_snapshot_metadata(&c, &id, items, replace)
        .await
        .map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({ "metadata": m })))
}

pub(crate) async fn add_snapshot_metadata(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    req: Request,
) -> Out {
    set_snapshot_metadata(s, c, id, req, false).await
}

pub(crate) async fn replace_snapshot_metadata(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    req: Request,
) -> Out {
    set_snapshot_metadata(s, c, id, req, true).await
}

pub(crate) async fn show_snapshot_metadata_item(
    State(s): State<ApiState>,
    c: Caller,
    Path((id, key)): Path<(String, String)>,
) -> Out {
    let sn = s.svc.get_snapshot(&c, &id).await.map_err(fail)?;
    match sn.metadata.get(&key) {
        Some(val) => Ok(reply(StatusCode::OK, json!({"meta": {key: val}}))),
        None => Err(fail(VolumeError::MetadataNotFound(id, key))),
    }
}

pub(crate) async fn put_snapshot_metadata_item(
    State(s): State<ApiState>,
    c: Caller,
    Path((id, key)): Path<(String, String)>,
    req: Request,
) -> Out {
    let item: BTreeMap<String, String> = keyed_json(req, "meta").await?;
    if item.len() != 1 || !item.contains_key(&key) {
        return Err(ApiError::bad_request(format!(
            "Invalid input received: the body must hold exactly the item '{key}' of the URI."
        )));
    }
    s.svc
        .set_snapshot_metadata(&c, &id, item.clone(), false)
        .await
        .map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({ "meta": item })))
}

pub(crate) async fn delete_snapshot_metadata_item(
    State(s): State<ApiState>,
    c: Caller,
    Path((id, key)): Path<(String, String)>,
) -> Out {
    s.svc.delete_snapshot_metadata_key(&c, &id, &key).await.map_err(fail)?;
    Ok(StatusCode::OK.into_response())
}

// ---------------------------------------------------------------- attachments

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttachmentCreate {
    volume_uuid: String,
    instance_uuid: Option<String>,
    connector: Option<Value>,
    mode: Option<String>,
}

pub(crate) async fn create_attachment(State(s): State<ApiState>, c: Caller, mv: Microversion, req: Request) -> Out {
    require(mv, 27, "attachments")?;
    let b: AttachmentCreate = keyed_json(req, "attachment").await?;
    if b.mode.is_some() {
        require(mv, 54, "attachment mode")?;
    }
    let instance = b.instance_uuid.ok_or_else(|| {
        ApiError::bad_request(
            "Invalid input received: instance_uuid is required; this cloud attaches volumes to instances.",
        )
    })?;
    let connector = b.connector.filter(|c| !c.is_null());
    let a = s
        .svc
        .create_attachment(&c, &b.volume_uuid, &instance, connector, b.mode.as_deref())
        .await
        .map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({"attachment": views::attachment(&a)})))
}

async fn attachment_list(s: ApiState, c: Caller, mv: Microversion, raw: Option<String>, detail: bool) -> Out {
    require(mv, 27, "attachments")?;
    let q = Query::parse(raw.as_deref(), &["volume_id", "instance_id", "status"])?;
    let mut atts = match q.get("volume_id") {
        Some(v) => s.svc.list_attachments(&c, v).await.map_err(fail)?,
        None => s.svc.list_project_attachments(&c).await.map_err(fail)?,
    };
    if let Some(i) = q.get("instance_id") {
        atts.retain(|a| a.instance_uuid == i);
    }
    if let Some(st) = q.get("status") {
        atts.retain(|a| a.status == st);
    }
    let items: Vec<Value> = atts
        .iter()
        .map(|a| {
            if detail {
                views::attachment(a)
            } else {
                views::attachment_summary(a)
            }
        })
        .collect();
    Ok(reply(StatusCode::OK, json!({ "attachments": items })))
}

pub(crate) async fn list_attachments(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    RawQuery(q): RawQuery,
) -> Out {
    attachment_list(s, c, mv, q, false).await
}

pub(crate) async fn list_attachments_detail(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    RawQuery(q): RawQuery,
) -> Out {
    attachment_list(s, c, mv, q, true).await
}

pub(crate) async fn show_attachment(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(id): Path<String>,
) -> Out {
    require(mv, 27, "attachments")?;
    let a = s.svc.get_attachment(&c, &id).await.map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({"attachment": views::attachment(&a)})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttachmentChange {
    connector: Value,
}

pub(crate) async fn update_attachment(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(id): Path<String>,
    req: Request,
) -> Out {
    require(mv, 27, "attachments")?;
    let b: AttachmentChange = keyed_json(req, "attachment").await?;
    let a = s.svc.update_attachment(&c, &id, b.connector).await.map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({"attachment": views::attachment(&a)})))
}

pub(crate) async fn attachment_action(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(id): Path<String>,
    req: Request,
) -> Out {
    require(mv, 44, "attachment action")?;
    let obj = json_object(req).await?;
    match obj.keys().next().map(String::as_str) {
        Some("os-complete") if obj.len() == 1 => {
            s.svc.complete_attachment(&c, &id).await.map_err(fail)?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        other => Err(ApiError::bad_request(format!(
            "There is no such action: {}. Attachments have os-complete.",
            other.unwrap_or("(none)")
        ))),
    }
}

pub(crate) async fn delete_attachment(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(id): Path<String>,
) -> Out {
    require(mv, 27, "attachments")?;
    let a = s.svc.get_attachment(&c, &id).await.map_err(fail)?;
    s.svc.delete_attachment(&c, &id).await.map_err(fail)?;
    let rest = s.svc.list_attachments(&c, &a.volume_id).await.map_err(fail)?;
    let items: Vec<Value> = rest.iter().map(views::attachment).collect();
    Ok(reply(StatusCode::OK, json!({ "attachments": items })))
}

// ---------------------------------------------------------------- volume types

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TypeBody {
    name: Option<String>,
    description: Option<String>,
    is_public: Option<Value>,
    #[serde(rename = "os-volume-type-access:is_public")]
    access_is_public: Option<Value>,
    extra_specs: Option<BTreeMap<String, String>>,
}

impl TypeBody {
    fn is_public(&self) -> Result<Option<bool>, ApiError> {
        match self.access_is_public.as_ref().or(self.is_public.as_ref()) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => bool_of("is_public", v).map(Some),
        }
    }
}

pub(crate) async fn create_type(State(s): State<ApiState>, c: Caller, req: Request) -> Out {
    let b: TypeBody = keyed_json(req, "volume_type").await?;
    let is_public = b.is_public()?.unwrap_or(true);
    let name = b
        .name
        .ok_or_else(|| ApiError::bad_request("Invalid input received: a volume type needs a name."))?;
    let t = s
        .svc
        .create_type(&c, &name, b.description, is_public, b.extra_specs.unwrap_or_default())
        .await
        .map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({"volume_type": views::volume_type(&t)})))
}

pub(crate) async fn list_types(State(s): State<ApiState>, c: Caller, RawQuery(raw): RawQuery) -> Out {
    let q = Query::parse(raw.as_deref(), &["is_public"])?;
    let admin = c.has_role("admin");
    // `none` lists both kinds; only administrators see private types.
    let want = match q.get("is_public").map(str::to_ascii_lowercase).as_deref() {
        None => Some(true).filter(|_| !admin),
        Some("none") => None,
        Some(v) => Some(crate::query::parse_bool("is_public", v)?),
    };
    let mut types = s.svc.list_types().await.map_err(fail)?;
    types.retain(|t| want.is_none_or(|w| t.is_public == w) && (admin || t.is_public));
    let page = q.page(&["name", "id"], ("name", false))?;
    if page.sort.first().is_some_and(|(k, _)| *k == "name") {
        types.sort_by(|a, b| a.name.cmp(&b.name));
        if page.sort[0].1 {
            types.reverse();
        }
    }
    let items: Vec<Value> = types.iter().map(views::volume_type).collect();
    Ok(reply(StatusCode::OK, json!({ "volume_types": items })))
}

async fn visible_type(s: &ApiState, c: &Caller, id: &str) -> Result<stratus_volume::model::VolumeType, ApiError> {
    match s.svc.get_type(id).await {
        Ok(t) if t.is_public || c.has_role("admin") => Ok(t),
        _ => Err(fail(VolumeError::TypeNotFound(id.to_owned()))),
    }
}

pub(crate) async fn show_type(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Out {
    let t = visible_type(&s, &c, &id).await?;
    Ok(reply(StatusCode::OK, json!({"volume_type": views::volume_type(&t)})))
}

pub(crate) async fn default_type(State(s): State<ApiState>, c: Caller) -> Out {
    let t = visible_type(&s, &c, "__DEFAULT__").await?;
    Ok(reply(StatusCode::OK, json!({"volume_type": views::volume_type(&t)})))
}

pub(crate) async fn update_type(State(s): State<ApiState>, c: Caller, Path(id): Path<String>, req: Request) -> Out {
    let b: TypeBody = keyed_json(req, "volume_type").await?;
    if b.extra_specs.is_some() {
        return Err(ApiError::bad_request(
            "Invalid input received: extra specs are changed through /types/{id}/extra_specs.",
        ));
    }
    let is_public = b.is_public()?;
    let t = s
        .svc
        .update_type(&c, &id, b.name, b.description, is_public)
        .await
        .map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({"volume_type": views::volume_type(&t)})))
}

pub(crate) async fn delete_type(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Out {
    s.svc.delete_type(&c, &id).await.map_err(fail)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub(crate) async fn list_extra_specs(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Out {
    let t = visible_type(&s, &c, &id).await?;
    Ok(reply(StatusCode::OK, json!({"extra_specs": t.extra_specs})))
}

pub(crate) async fn set_extra_specs(State(s): State<ApiState>, c: Caller, Path(id): Path<String>, req: Request) -> Out {
    let specs: BTreeMap<String, String> = keyed_json(req, "extra_specs").await?;
    check_specs(&specs)?;
    s.svc.set_type_extra_specs(&c, &id, specs.clone()).await.map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({ "extra_specs": specs })))
}

fn check_specs(specs: &BTreeMap<String, String>) -> Result<(), ApiError> {
    for (k, v) in specs {
        if k.is_empty() || k.chars().count() > 255 || v.chars().count() > 255 {
            return Err(ApiError::bad_request(format!(
                "Invalid input received: extra spec '{k:.40}' needs a key of 1 to 255 characters and a value of at most 255."
            )));
        }
    }
    Ok(())
}

pub(crate) async fn show_extra_spec(
    State(s): State<ApiState>,
    c: Caller,
    Path((id, key)): Path<(String, String)>,
) -> Out {
    let t = visible_type(&s, &c, &id).await?;
    match t.extra_specs.get(&key) {
        Some(v) => Ok(reply(StatusCode::OK, json!({ key: v }))),
        None => Err(fail(VolumeError::ExtraSpecNotFound(t.id, key))),
    }
}

pub(crate) async fn put_extra_spec(
    State(s): State<ApiState>,
    c: Caller,
    Path((id, key)): Path<(String, String)>,
    req: Request,
) -> Out {
    let obj = json_object(req).await?;
    let spec: BTreeMap<String, String> = serde_json::from_value(Value::Object(obj))
        .map_err(|e| ApiError::bad_request(format!("Invalid input received: {e}.")))?;
    if spec.len() != 1 || !spec.contains_key(&key) {
        return Err(ApiError::bad_request(format!(
            "Invalid input received: the body must hold exactly the item '{key}' of the URI."
        )));
    }
    check_specs(&spec)?;
    s.svc.set_type_extra_specs(&c, &id, spec.clone()).await.map_err(fail)?;
    Ok(reply(StatusCode::OK, json!(spec)))
}

pub(crate) async fn delete_extra_spec(
    State(s): State<ApiState>,
    c: Caller,
    Path((id, key)): Path<(String, String)>,
) -> Out {
    s.svc.unset_type_extra_spec(&c, &id, &key).await.map_err(fail)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

// ---------------------------------------------------------------- quotas and limits

pub(crate) async fn show_quota(
    State(s): State<ApiState>,
    c: Caller,
    Path(project): Path<String>,
    RawQuery(raw): RawQuery,
) -> Out {
    let q = Query::parse(raw.as_deref(), &["usage"])?;
    let mut out = serde_json::Map::new();
    out.insert("id".into(), json!(project));
    if q.flag("usage")?.unwrap_or(false) {
        for (r, u) in s.svc.quota_usage(&c, &project).await.map_err(fail)? {
            out.insert(
                r,
                json!({"limit": u.limit, "in_use": u.in_use, "reserved": 0, "allocated": 0}),
            );
        }
    } else {
        for (r, l) in s.svc.get_quota(&c, &project).await.map_err(fail)? {
            out.insert(r, json!(l));
        }
    }
    Ok(reply(StatusCode::OK, json!({ "quota_set": out })))
}

pub(crate) async fn default_quota(State(s): State<ApiState>, c: Caller, Path(project): Path<String>) -> Out {
    // Reading the project's quota checks that the caller may see it.
    s.svc.get_quota(&c, &project).await.map_err(fail)?;
    let mut out = serde_json::Map::new();
    out.insert("id".into(), json!(project));
    for (r, l) in s.svc.default_quotas() {
        out.insert(r, json!(l));
    }
    Ok(reply(StatusCode::OK, json!({ "quota_set": out })))
}

pub(crate) async fn update_quota(
    State(s): State<ApiState>,
    c: Caller,
    Path(project): Path<String>,
    req: Request,
) -> Out {
    let body: serde_json::Map<String, Value> = keyed_json(req, "quota_set").await?;
    let mut changes = QuotaSet::new();
    for (k, v) in body {
        // Clients echo the id back; it names the project, not a limit.
        if k == "id" || k == "tenant_id" {
            continue;
        }
        let n = match &v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        }
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "Invalid input received: quota value for '{k}' must be an integer, got {v}."
            ))
        })?;
        changes.insert(k, n);
    }
    let set = s.svc.update_quota(&c, &project, &changes).await.map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({ "quota_set": set })))
}

pub(crate) async fn delete_quota(State(s): State<ApiState>, c: Caller, Path(project): Path<String>) -> Out {
    s.svc.delete_quota(&c, &project).await.map_err(fail)?;
    Ok(StatusCode::OK.into_response())
}

pub(crate) async fn limits(State(s): State<ApiState>, c: Caller, RawQuery(raw): RawQuery) -> Out {
    let q = Query::parse(raw.as_deref(), &["project_id"])?;
    let project = match q.string("project_id") {
        Some(p) => p,
        None => c.project_id().unwrap_or("").to_owned(),
    };
    let u = s.svc.quota_usage(&c, &project).await.map_err(fail)?;
    let get = |r: &str| u.get(r).copied().map(|u| (u.limit, u.in_use)).unwrap_or((-1, 0));
    let (vl, vu) = get("volumes");
    let (sl, su) = get("snapshots");
    let (gl, gu) = get("gigabytes");
    Ok(reply(
        StatusCode::OK,
        json!({"limits": {"rate": [], "absolute": {
            "maxTotalVolumes": vl, "totalVolumesUsed": vu,
            "maxTotalSnapshots": sl, "totalSnapshotsUsed": su,
            "maxTotalVolumeGigabytes": gl, "totalGigabytesUsed": gu,
            // This cloud has no backups yet: none may be made, none are used.
            "maxTotalBackups": 0, "totalBackupsUsed": 0,
            "maxTotalBackupGigabytes": 0, "totalBackupGigabytesUsed": 0,
        }}}),
    ))
}

// ---------------------------------------------------------------- zones and services

pub(crate) async fn availability_zones(State(s): State<ApiState>, _c: Caller) -> Out {
    Ok(reply(
        StatusCode::OK,
        json!({"availabilityZoneInfo": [{"zoneName": s.svc.config().availability_zone, "zoneState": {"available": true}}]}),
    ))
}

/// The scheduler and the volume manager run in this process; they are up while it answers.
pub(crate) async fn services(State(s): State<ApiState>, c: Caller, mv: Microversion, RawQuery(raw): RawQuery) -> Out {
    s.svc.list_services(&c).map_err(fail)?;
    let q = Query::parse(raw.as_deref(), &["host", "binary"])?;
    let zone = s.svc.config().availability_zone.clone();
    let now = stratus_api::time::micros_naive(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0),
    );
    let mut items = Vec::new();
    for (binary, host) in [
        ("cinder-scheduler", s.host.to_string()),
        ("cinder-volume", format!("{}@file", s.host)),
    ] {
        if q.get("binary").is_some_and(|b| b != binary) || q.get("host").is_some_and(|h| h != host) {
            continue;
        }
        let mut o = json!({"binary": binary, "host": host, "zone": zone, "status": "enabled", "state": "up",
                           "updated_at": now, "disabled_reason": null});
        if mv.at_least(3, 7) {
            o["cluster"] = Value::Null;
        }
        if mv.at_least(3, 49) && binary == "cinder-volume" {
            o["backend_state"] = json!("up");
        }
        items.push(o);
    }
    Ok(reply(StatusCode::OK, json!({ "services": items })))
}
