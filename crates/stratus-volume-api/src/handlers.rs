//! Volumes: create, list, show, update, delete, their actions and their metadata.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use stratus_api::body::{json_object, keyed_json, take_keyed};
use stratus_api::microversion::Microversion;
use stratus_api::{ApiError, AuthContext, Caller, ErrorKind};
use stratus_volume::model::{NewVolume, Volume};
use stratus_volume::{VolumeError, VolumeFilter, VolumeUpdate};

use crate::query::{parse_bool, Query};
use crate::{views, ApiState};

pub(crate) type Out = Result<Response, ApiError>;

/// The service's errors as Cinder answers them.
pub(crate) fn fail(e: VolumeError) -> ApiError {
    match &e {
        VolumeError::NotFound(_)
        | VolumeError::AttachmentNotFound(_)
        | VolumeError::SnapshotNotFound(_)
        | VolumeError::TypeNotFound(_)
        | VolumeError::MetadataNotFound(..)
        | VolumeError::ExtraSpecNotFound(..) => ApiError::not_found(e.to_string()),
        VolumeError::Conflict(m) => ApiError::conflict(m.clone()),
        VolumeError::Invalid(m) => ApiError::bad_request(m.clone()),
        VolumeError::Denied(m) => ApiError::forbidden(m.clone()),
        VolumeError::OverQuota(m) => ApiError::new(ErrorKind::PayloadTooLarge, m.clone()),
        VolumeError::Store(_) | VolumeError::Backend(_) => ApiError::internal(&e),
    }
}

pub(crate) fn reply(status: StatusCode, v: Value) -> Response {
    (status, Json(v)).into_response()
}

/// A size given as a JSON integer or a string of digits, as Cinder accepts, from 1 to the
/// largest its schema takes.
pub(crate) fn size_of(field: &str, v: &Value) -> Result<u64, ApiError> {
    let max = stratus_volume::backend::MAX_API_GIB;
    let n = match v {
        Value::Number(n) => n.as_u64().ok_or(()),
        // Digits past u64 are a number too large, not a malformed one.
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(s.parse::<u64>().unwrap_or(u64::MAX))
        }
        _ => Err(()),
    };
    match n {
        Ok(n) if n > 0 && n <= max => Ok(n),
        Ok(n) if n > max => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {v}. {v} is greater than the maximum of {max}."
        ))),
        _ => Err(ApiError::bad_request(format!(
            "Invalid input received: {field} '{v}' must be an integer and greater than 0."
        ))),
    }
}

/// A boolean given as JSON or as a string, as Cinder accepts.
pub(crate) fn bool_of(field: &str, v: &Value) -> Result<bool, ApiError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => parse_bool(field, s),
        other => Err(ApiError::bad_request(format!(
            "Invalid input received: {field} '{other}' is not a boolean."
        ))),
    }
}

/// Type ids by name, for the `volume_type_id` field of 3.63.
async fn type_ids(s: &ApiState) -> Result<HashMap<String, String>, ApiError> {
    Ok(s.svc
        .list_types()
        .await
        .map_err(fail)?
        .into_iter()
        .map(|t| (t.name, t.id))
        .collect())
}

async fn render_one(
    s: &ApiState,
    c: &AuthContext,
    mv: Microversion,
    v: &Volume,
    view: views::VolumeView,
) -> Result<Value, ApiError> {
    let atts = s.svc.attachments_of(std::slice::from_ref(v)).await.map_err(fail)?;
    let ids = type_ids(s).await?;
    let tid = v.volume_type.as_ref().and_then(|t| ids.get(t)).map(String::as_str);
    Ok(views::volume(
        s,
        v,
        atts.get(&v.id).map_or(&[][..], Vec::as_slice),
        c,
        mv,
        tid,
        view,
    ))
}

// ---------------------------------------------------------------- create

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VolumeCreate {
    size: Option<Value>,
    name: Option<String>,
    display_name: Option<String>,
    description: Option<String>,
    display_description: Option<String>,
    volume_type: Option<String>,
    availability_zone: Option<String>,
    metadata: Option<BTreeMap<String, String>>,
    #[serde(rename = "imageRef")]
    image_ref: Option<String>,
    image_id: Option<String>,
    snapshot_id: Option<String>,
    source_volid: Option<String>,
    multiattach: Option<Value>,
    // Features this cloud does not have; accepted only when empty.
    consistencygroup_id: Option<String>,
    group_id: Option<String>,
    backup_id: Option<String>,
    source_replica: Option<String>,
}

const HINTS: &str = "OS-SCH-HNT:scheduler_hints";

pub(crate) async fn create_volume(State(s): State<ApiState>, c: Caller, mv: Microversion, req: Request) -> Out {
    let obj = json_object(req).await?;
    let (b, rest): (VolumeCreate, _) = take_keyed(obj, "volume", &[HINTS])?;
    if let Some(h) = rest.get(HINTS) {
        // One backend holds every volume: same_host always holds, different_host never can.
        let Some(h) = h.as_object() else {
            return Err(ApiError::bad_request(format!(
                "Invalid input received: {HINTS} must be an object."
            )));
        };
        if h.get("different_host").is_some_and(|v| !v.is_null()) {
            return Err(ApiError::bad_request(
                "Invalid input received: this cloud has one volume backend, so different_host cannot be satisfied.",
            ));
        }
    }
    for (field, v) in [
        ("consistencygroup_id", &b.consistencygroup_id),
        ("group_id", &b.group_id),
        ("backup_id", &b.backup_id),
        ("source_replica", &b.source_replica),
    ] {
        if v.is_some() {
            return Err(ApiError::bad_request(format!(
                "Invalid input received: {field} is not supported by this cloud (no groups, backups or replicas)."
            )));
        }
    }
    if b.image_ref.is_some() && b.image_id.is_some() && b.image_ref != b.image_id {
        return Err(ApiError::bad_request(
            "Invalid input received: imageRef and image_id name different images.",
        ));
    }
    let size = b
        .size
        .as_ref()
        .filter(|v| !v.is_null())
        .map(|v| size_of("size", v))
        .transpose()?;
    let multiattach = b
        .multiattach
        .as_ref()
        .map(|v| bool_of("multiattach", v))
        .transpose()?
        .unwrap_or(false);
    let req = NewVolume {
        size,
        name: b.name.or(b.display_name),
        description: b.description.or(b.display_description),
        volume_type: b.volume_type,
        availability_zone: b.availability_zone,
        metadata: b.metadata.unwrap_or_default(),
        source_volid: b.source_volid,
        snapshot_id: b.snapshot_id,
        image_ref: b.image_ref.or(b.image_id),
        multiattach,
    };
    let v = s.svc.create_volume(&c, req).await.map_err(fail)?;
    Ok(reply(
        StatusCode::ACCEPTED,
        json!({"volume": render_one(&s, &c, mv, &v, views::VolumeView::Write).await?}),
    ))
}

// ---------------------------------------------------------------- read

const VOLUME_FILTERS: &[&str] = &[
    "all_tenants",
    "all_projects",
    "project_id",
    "name",
    "display_name",
    "status",
    "availability_zone",
    "bootable",
    "metadata",
    "user_id",
];
const VOLUME_SORT: &[&str] = &[
    "created_at",
    "updated_at",
    "name",
    "display_name",
    "size",
    "status",
    "availability_zone",
    "bootable",
    "id",
];

async fn list(s: ApiState, c: Caller, mv: Microversion, raw: Option<String>, detail: bool) -> Out {
    let q = Query::parse(raw.as_deref(), VOLUME_FILTERS)?;
    let all = q.flag("all_tenants")?.or(q.flag("all_projects")?).unwrap_or(false);
    let filter = VolumeFilter {
        all_projects: all,
        project_id: if all { q.string("project_id") } else { None },
        name: q.string("name").or(q.string("display_name")),
        status: q.string("status"),
        availability_zone: q.string("availability_zone"),
        bootable: q.flag("bootable")?,
        user_id: q.string("user_id"),
        metadata: q.dict("metadata")?,
    };
    let mut page = q.page(VOLUME_SORT, ("created_at", true))?;
    let limit = page.limit;
    let offset = q.widen(&mut page)?;
    if let Some(m) = &page.marker {
        s.svc
            .get_volume(&c, m)
            .await
            .map_err(|_| ApiError::not_found(format!("Marker {m} could not be found.")))?;
    }
    let mut vols = s.svc.list_volumes(&c, &filter, &page).await.map_err(fail)?;
    vols.drain(..offset.min(vols.len()));
    if let Some(l) = limit {
        vols.truncate(l as usize);
    }
    let items: Vec<Value> = if detail {
        let atts = s.svc.attachments_of(&vols).await.map_err(fail)?;
        let ids = type_ids(&s).await?;
        vols.iter()
            .map(|v| {
                let tid = v.volume_type.as_ref().and_then(|t| ids.get(t)).map(String::as_str);
                views::volume(
                    &s,
                    v,
                    atts.get(&v.id).map_or(&[][..], Vec::as_slice),
                    &c,
                    mv,
                    tid,
                    views::VolumeView::Read,
                )
            })
            .collect()
    } else {
        vols.iter().map(|v| views::volume_summary(&s, v)).collect()
    };
    let mut out = json!({ "volumes": items });
    let path = if detail { "volumes/detail" } else { "volumes" };
    let project = c.project_id().unwrap_or_default();
    if let Some(l) = q.next_links(&s.base, project, path, vols.len(), vols.last().map(|v| v.id.as_str())) {
        out["volumes_links"] = l;
    }
    if mv.at_least(3, 45) && q.flag("with_count")?.unwrap_or(false) {
        let total = s
            .svc
            .list_volumes(&c, &filter, &stratus_volume::Page::default())
            .await
            .map_err(fail)?;
        out["count"] = json!(total.len());
    }
    Ok(reply(StatusCode::OK, out))
}

/// `GET /volumes/summary` (3.12): how many volumes the caller's project has and their total
/// size; from 3.36 the metadata values in use, per key.
pub(crate) async fn volume_summary(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    RawQuery(raw): RawQuery,
) -> Out {
    if !mv.at_least(3, 12) {
        return Err(ApiError::not_found("Volume summary could not be found."));
    }
    let q = Query::parse(raw.as_deref(), VOLUME_FILTERS)?;
    let all = q.flag("all_tenants")?.or(q.flag("all_projects")?).unwrap_or(false);
    let filter = VolumeFilter {
        all_projects: all,
        project_id: if all { q.string("project_id") } else { None },
        name: q.string("name").or(q.string("display_name")),
        status: q.string("status"),
        availability_zone: q.string("availability_zone"),
        bootable: q.flag("bootable")?,
        user_id: q.string("user_id"),
        metadata: q.dict("metadata")?,
    };
    let vols = s
        .svc
        .list_volumes(&c, &filter, &stratus_volume::Page::default())
        .await
        .map_err(fail)?;
    let total_size: u64 = vols.iter().map(|v| v.size).fold(0, u64::saturating_add);
    let mut summary = json!({"total_size": total_size, "total_count": vols.len()});
    if mv.at_least(3, 36) {
        let mut meta: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for v in &vols {
            for (k, val) in &v.metadata {
                let values = meta.entry(k.clone()).or_default();
                if !values.contains(val) {
                    values.push(val.clone());
                }
            }
        }
        summary["metadata"] = json!(meta);
    }
    Ok(reply(StatusCode::OK, json!({ "volume-summary": summary })))
}

pub(crate) async fn list_volumes(State(s): State<ApiState>, c: Caller, mv: Microversion, RawQuery(q): RawQuery) -> Out {
    list(s, c, mv, q, false).await
}

pub(crate) async fn list_volumes_detail(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    RawQuery(q): RawQuery,
) -> Out {
    list(s, c, mv, q, true).await
}

pub(crate) async fn show_volume(State(s): State<ApiState>, c: Caller, mv: Microversion, Path(id): Path<String>) -> Out {
    let v = s.svc.get_volume(&c, &id).await.map_err(fail)?;
    Ok(reply(
        StatusCode::OK,
        json!({"volume": render_one(&s, &c, mv, &v, views::VolumeView::Read).await?}),
    ))
}

// ---------------------------------------------------------------- update and delete

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VolumeChange {
    name: Option<String>,
    display_name: Option<String>,
    description: Option<String>,
    display_description: Option<String>,
    metadata: Option<BTreeMap<String, String>>,
}

pub(crate) async fn update_volume(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(id): Path<String>,
    req: Request,
) -> Out {
    let b: VolumeChange = keyed_json(req, "volume").await?;
    let u = VolumeUpdate {
        name: b.name.or(b.display_name),
        description: b.description.or(b.display_description),
        metadata: b.metadata,
        bootable: None,
    };
    let v = s.svc.update_volume(&c, &id, &u).await.map_err(fail)?;
    Ok(reply(
        StatusCode::OK,
        json!({"volume": render_one(&s, &c, mv, &v, views::VolumeView::Write).await?}),
    ))
}

pub(crate) async fn delete_volume(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Out {
    let q = Query::parse(raw.as_deref(), &["cascade", "force"])?;
    let cascade = q.flag("cascade")?.unwrap_or(false);
    if q.flag("force")?.unwrap_or(false) {
        force_delete(&s, &c, &id, cascade).await?;
    } else {
        s.svc.delete_volume(&c, &id, cascade).await.map_err(fail)?;
    }
    Ok(StatusCode::ACCEPTED.into_response())
}

/// An administrator's delete whatever the volume's status: its attachments are forgotten and
/// it is deleted as if available.
async fn force_delete(s: &ApiState, c: &AuthContext, id: &str, cascade: bool) -> Result<(), ApiError> {
    s.svc
        .reset_status(c, id, Some("available"), Some("detached"))
        .await
        .map_err(fail)?;
    s.svc.delete_volume(c, id, cascade).await.map_err(fail)
}

// ---------------------------------------------------------------- actions

fn action_body(obj: &serde_json::Map<String, Value>) -> Result<(&str, &Value), ApiError> {
    if obj.len() != 1 {
        return Err(ApiError::bad_request(
            "Invalid input received: an action body names exactly one action.",
        ));
    }
    obj.iter()
        .next()
        .map(|(k, v)| (k.as_str(), v))
        .ok_or_else(|| ApiError::bad_request("Invalid input received: no action given."))
}

fn field<'a>(action: &str, body: &'a Value, key: &str) -> Result<&'a Value, ApiError> {
    body.get(key)
        .filter(|v| !v.is_null())
        .ok_or_else(|| ApiError::bad_request(format!("Invalid input received: {action} requires '{key}'.")))
}

pub(crate) async fn volume_action(State(s): State<ApiState>, c: Caller, Path(id): Path<String>, req: Request) -> Out {
    let obj = json_object(req).await?;
    let (action, body) = action_body(&obj)?;
    if !(body.is_object() || body.is_null()) {
        return Err(ApiError::bad_request(format!(
            "Invalid input received: the body of {action} must be an object."
        )));
    }
    // Whatever the action, a volume that is not there is a 404 first, as in Cinder.
    s.svc.get_volume(&c, &id).await.map_err(fail)?;
    let text = |k: &str| -> Result<Option<&str>, ApiError> {
        match body.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(v)) => Ok(Some(v.as_str())),
            Some(other) => Err(ApiError::bad_request(format!(
                "Invalid input received: {k} '{other}' must be a string."
            ))),
        }
    };
    match action {
        "os-reserve" => {
            s.svc.legacy_reserve(&c, &id).await.map_err(fail)?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        "os-unreserve" => {
            s.svc.legacy_unreserve(&c, &id).await.map_err(fail)?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        "os-attach" => {
            let mountpoint = text("mountpoint")?
                .ok_or_else(|| ApiError::bad_request("Invalid input received: mountpoint is required."))?;
            s.svc
                .legacy_attach(
                    &c,
                    &id,
                    text("instance_uuid")?,
                    text("host_name")?,
                    mountpoint,
                    text("mode")?,
                )
                .await
                .map_err(fail)?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        "os-detach" => {
            s.svc
                .legacy_detach(&c, &id, text("attachment_id")?)
                .await
                .map_err(fail)?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        "os-update_readonly_flag" => {
            let readonly = bool_of("readonly", field(action, body, "readonly")?)?;
            s.svc.set_readonly(&c, &id, readonly).await.map_err(fail)?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        "os-extend" => {
            let size = size_of("new_size", field(action, body, "new_size")?)?;
            s.svc.extend_volume(&c, &id, size).await.map_err(fail)?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        "os-reset_status" => {
            if text("migration_status")?.is_some() {
                return Err(ApiError::bad_request(
                    "Invalid input received: this cloud does not migrate volumes; migration_status cannot be set.",
                ));
            }
            s.svc
                .reset_status(&c, &id, text("status")?, text("attach_status")?)
                .await
                .map_err(fail)?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        "os-set_bootable" => {
            let bootable = bool_of("bootable", field(action, body, "bootable")?)?;
            let u = VolumeUpdate {
                bootable: Some(bootable),
                ..Default::default()
            };
            s.svc.update_volume(&c, &id, &u).await.map_err(fail)?;
            Ok(StatusCode::OK.into_response())
        }
        "os-force_delete" => {
            force_delete(&s, &c, &id, false).await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        other => Err(ApiError::bad_request(format!(
            "There is no such action: {other}. This cloud has os-extend, os-reset_status, os-set_bootable, \
             os-force_delete, os-reserve, os-unreserve, os-attach, os-detach and os-update_readonly_flag."
        ))),
    }
}

// ---------------------------------------------------------------- metadata

pub(crate) async fn show_metadata(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Out {
    let v = s.svc.get_volume(&c, &id).await.map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({"metadata": v.metadata})))
}

async fn set_metadata(s: ApiState, c: Caller, id: String, req: Request, replace: bool) -> Out {
    let items: BTreeMap<String, String> = keyed_json(req, "metadata").await?;
    let m = s.svc.set_metadata(&c, &id, items, replace).await.map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({ "metadata": m })))
}

pub(crate) async fn add_metadata(State(s): State<ApiState>, c: Caller, Path(id): Path<String>, req: Request) -> Out {
    set_metadata(s, c, id, req, false).await
}

pub(crate) async fn replace_metadata(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    req: Request,
) -> Out {
    set_metadata(s, c, id, req, true).await
}

pub(crate) async fn show_metadata_item(
    State(s): State<ApiState>,
    c: Caller,
    Path((id, key)): Path<(String, String)>,
) -> Out {
    let v = s.svc.get_volume(&c, &id).await.map_err(fail)?;
    match v.metadata.get(&key) {
        Some(val) => Ok(reply(StatusCode::OK, json!({"meta": {key: val}}))),
        None => Err(fail(VolumeError::MetadataNotFound(id, key))),
    }
}

pub(crate) async fn put_metadata_item(
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
    s.svc.set_metadata(&c, &id, item.clone(), false).await.map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({ "meta": item })))
}

pub(crate) async fn delete_metadata_item(
    State(s): State<ApiState>,
    c: Caller,
    Path((id, key)): Path<(String, String)>,
) -> Out {
    s.svc.delete_metadata_key(&c, &id, &key).await.map_err(fail)?;
    Ok(StatusCode::OK.into_response())
}
