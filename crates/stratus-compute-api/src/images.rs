//! Nova's image proxy, deprecated but still called by clients: `/images`, `/images/detail`,
//! `/images/{id}` and the image's metadata, up to microversion 2.35 (a 404 from 2.36, where
//! Nova removed them). The images are the Image API's; this renders them in Nova's view
//! (`nova/api/openstack/compute/views/images.py`) and reads Nova's query and bodies.
//!
//! It decides nothing about who may see or change an image: the Image API does, with the
//! caller's token.

use std::collections::BTreeMap;

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};
use stratus_api::body::{json_object, take_keyed};
use stratus_api::microversion::Microversion;
use stratus_api::{ApiError, Caller};
use stratus_compute::image_proxy::{ImageListQuery, MetadataChange, ProxiedImage, MAX_LIMIT};

use crate::{fail, reply, ApiState, Out};

/// The image proxy's routes, for the compute router.
pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/images", get(list_images))
        .route("/images/detail", get(list_images_detail))
        .route("/images/{id}", get(show_image).delete(delete_image))
        .route(
            "/images/{id}/metadata",
            get(show_metadata).post(add_metadata).put(replace_metadata),
        )
        .route(
            "/images/{id}/metadata/{key}",
            get(show_metadata_item)
                .put(put_metadata_item)
                .delete(delete_metadata_item),
        )
}

/// Nova serves the proxy up to 2.35; from 2.36 the paths are not there.
fn served_at(mv: Microversion) -> Result<(), ApiError> {
    if mv.at_least(2, 36) {
        Err(ApiError::not_found("The resource could not be found."))
    } else {
        Ok(())
    }
}

/// Nova's status for the Image API's.
fn status(i: &ProxiedImage) -> &'static str {
    match i.status.as_str() {
        "active" => "ACTIVE",
        "queued" | "saving" => "SAVING",
        "deleted" | "pending_delete" => "DELETED",
        "killed" => "ERROR",
        _ => "UNKNOWN",
    }
}

fn progress(i: &ProxiedImage) -> u8 {
    match i.status.as_str() {
        "queued" => 25,
        "saving" => 50,
        "active" => 100,
        _ => 0,
    }
}

/// `2026-01-02T03:04:05Z`, whatever precision the Image API gave.
fn date(t: &Option<String>) -> Value {
    match t {
        Some(t) => match chrono::DateTime::parse_from_rfc3339(t) {
            Ok(d) => json!(d.with_timezone(&chrono::Utc).format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            Err(_) => json!(t),
        },
        None => Value::Null,
    }
}

fn links(s: &ApiState, id: &str) -> Value {
    let root = s.base.trim_end_matches("/v2.1");
    let public = root.trim_end_matches("/compute");
    json!([
        {"rel": "self", "href": format!("{}/images/{id}", s.base)},
        {"rel": "bookmark", "href": format!("{root}/images/{id}")},
        {"rel": "alternate", "type": "application/vnd.openstack.image", "href": format!("{public}/image/images/{id}")},
    ])
}

fn basic_view(s: &ApiState, i: &ProxiedImage) -> Value {
    json!({"id": i.id, "name": i.name, "links": links(s, &i.id)})
}

fn detail_view(s: &ApiState, i: &ProxiedImage) -> Value {
    let metadata = i.metadata();
    let mut v = json!({
        "id": i.id,
        "name": i.name,
        "minRam": i.min_ram,
        "minDisk": i.min_disk,
        "metadata": metadata,
        "created": date(&i.created_at),
        "updated": date(&i.updated_at),
        "status": status(i),
        "progress": progress(i),
        "OS-EXT-IMG-SIZE:size": i.size,
        "links": links(s, &i.id),
    });
    // A snapshot names the server it was made from.
    if let Some(server) = metadata.get("instance_uuid").and_then(Value::as_str) {
        let root = s.base.trim_end_matches("/v2.1");
        v["server"] = json!({
            "id": server,
            "links": [
                {"rel": "self", "href": format!("{}/servers/{server}", s.base)},
                {"rel": "bookmark", "href": format!("{root}/servers/{server}")},
            ],
        });
    }
    if let Some(auto) = metadata.get("auto_disk_config") {
        let on = match auto {
            Value::Bool(b) => *b,
            Value::String(s) => matches!(s.to_ascii_lowercase().as_str(), "1" | "t" | "true" | "on" | "y" | "yes"),
            _ => false,
        };
        v["OS-DCF:diskConfig"] = json!(if on { "AUTO" } else { "MANUAL" });
    }
    v
}

/// A positive integer query parameter, as Nova's schema types `limit`, `page_size` and
/// `offset` (every value of a repeated one is checked; the last is used).
fn positive(q: &[(String, String)], key: &str) -> Result<Option<u32>, ApiError> {
    let mut last = None;
    for (_, v) in q.iter().filter(|(k, _)| k == key) {
        let n = v
            .parse::<u64>()
            .ok()
            .filter(|n| *n >= 1 && !v.starts_with('+'))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Invalid input for query parameters {key}. Value: {v:.60}. It must be an integer of at least 1."
                ))
            })?;
        last = Some(n.min(u64::from(u32::MAX)) as u32);
    }
    Ok(last)
}

/// Nova's list query: its filters (each passed on to the Image API, which checks them),
/// `property-<key>` filters, and paging. Other parameters are ignored, as Nova's schema lets
/// them through.
fn list_query(raw: Option<&str>) -> Result<ImageListQuery, ApiError> {
    let q: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("Invalid query string: {e}.")))?;
    let get = |k: &str| q.iter().rev().find(|(x, _)| x == k).map(|(_, v)| v.clone());
    let changes_since = get("changes-since")
        .map(|v| {
            crate::iso8601::parse_micros(&v).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Invalid input for query parameters changes-since. Value: {v:.60}. It is not a 'date-time'."
                ))
            })
        })
        .transpose()?;
    let mut properties: Vec<(String, String)> = Vec::new();
    for (k, v) in &q {
        if let Some(p) = k.strip_prefix("property-").filter(|p| !p.is_empty()) {
            match properties.iter_mut().find(|(x, _)| x == p) {
                Some(slot) => slot.1 = v.clone(),
                None => properties.push((p.to_owned(), v.clone())),
            }
        }
    }
    positive(&q, "offset")?;
    if get("marker").is_some_and(|m| m.is_empty()) {
        return Err(ApiError::bad_request(
            "Invalid input for query parameters marker: it is empty.",
        ));
    }
    Ok(ImageListQuery {
        name: get("name"),
        status: get("status"),
        changes_since,
        server: get("server"),
        image_type: get("type"),
        min_ram: get("minRam"),
        min_disk: get("minDisk"),
        properties,
        limit: positive(&q, "limit")?.map(|l| l.min(MAX_LIMIT)),
        page_size: positive(&q, "page_size")?,
        marker: get("marker"),
    })
}

async fn list(s: ApiState, c: Caller, mv: Microversion, raw: Option<String>, detail: bool) -> Out {
    served_at(mv)?;
    let q = list_query(raw.as_deref())?;
    let images = s.svc.proxy_list_images(&c, &q).await.map_err(fail)?;
    let items: Vec<Value> = images
        .iter()
        .map(|i| if detail { detail_view(&s, i) } else { basic_view(&s, i) })
        .collect();
    let mut out = json!({ "images": items });
    // Nova links a next page when the page is full.
    if images.len() == q.limit.unwrap_or(MAX_LIMIT) as usize {
        if let Some(last) = images.last() {
            let pairs: Vec<(String, String)> =
                serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default();
            let path = if detail { "images/detail" } else { "images" };
            out["images_links"] = stratus_api::pagination::next_link(&format!("{}/{path}", s.base), &pairs, &last.id);
        }
    }
    Ok(reply(StatusCode::OK, out))
}

pub(crate) async fn list_images(State(s): State<ApiState>, c: Caller, mv: Microversion, RawQuery(q): RawQuery) -> Out {
    list(s, c, mv, q, false).await
}

pub(crate) async fn list_images_detail(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    RawQuery(q): RawQuery,
) -> Out {
    list(s, c, mv, q, true).await
}

pub(crate) async fn show_image(State(s): State<ApiState>, c: Caller, mv: Microversion, Path(id): Path<String>) -> Out {
    served_at(mv)?;
    let i = s.svc.proxy_get_image(&c, &id).await.map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({"image": detail_view(&s, &i)})))
}

pub(crate) async fn delete_image(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(id): Path<String>,
) -> Out {
    served_at(mv)?;
    s.svc.proxy_delete_image(&c, &id).await.map_err(fail)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- metadata

/// `{"<key>": {...}}` with string values, nothing else beside it (Nova's schema).
async fn items(req: Request, key: &str) -> Result<BTreeMap<String, String>, ApiError> {
    let obj = json_object(req).await?;
    let (m, _): (Map<String, Value>, _) = take_keyed(obj, key, &[])?;
    m.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            other => Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute {key}. Value of '{k:.60}': {:.60} is not a string.",
                other.to_string()
            ))),
        })
        .collect()
}

pub(crate) async fn show_metadata(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(id): Path<String>,
) -> Out {
    served_at(mv)?;
    let i = s.svc.proxy_get_image(&c, &id).await.map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({"metadata": i.metadata()})))
}

pub(crate) async fn add_metadata(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(id): Path<String>,
    req: Request,
) -> Out {
    served_at(mv)?;
    let items = items(req, "metadata").await?;
    let m = s
        .svc
        .change_image_metadata(&c, &id, MetadataChange::Merge(items))
        .await
        .map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({ "metadata": m })))
}

pub(crate) async fn replace_metadata(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(id): Path<String>,
    req: Request,
) -> Out {
    served_at(mv)?;
    let items = items(req, "metadata").await?;
    s.svc
        .change_image_metadata(&c, &id, MetadataChange::Replace(items.clone()))
        .await
        .map_err(fail)?;
    // Nova answers with the metadata it was given.
    Ok(reply(StatusCode::OK, json!({ "metadata": items })))
}

pub(crate) async fn show_metadata_item(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path((id, key)): Path<(String, String)>,
) -> Out {
    served_at(mv)?;
    let i = s.svc.proxy_get_image(&c, &id).await.map_err(fail)?;
    match i.metadata().remove(&key) {
        Some(v) => Ok(reply(StatusCode::OK, json!({"meta": { key: v }}))),
        None => Err(ApiError::not_found("The resource could not be found.")),
    }
}

pub(crate) async fn put_metadata_item(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path((id, key)): Path<(String, String)>,
    req: Request,
) -> Out {
    served_at(mv)?;
    let item = items(req, "meta").await?;
    if item.len() != 1 {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute meta: it must hold exactly one item, not {}.",
            item.len()
        )));
    }
    let Some(value) = item.get(&key).cloned() else {
        return Err(ApiError::bad_request("Request body and URI mismatch"));
    };
    s.svc
        .change_image_metadata(&c, &id, MetadataChange::Set(key.clone(), value))
        .await
        .map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({ "meta": item })))
}

pub(crate) async fn delete_metadata_item(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path((id, key)): Path<(String, String)>,
) -> Out {
    served_at(mv)?;
    s.svc
        .change_image_metadata(&c, &id, MetadataChange::Remove(key))
        .await
        .map_err(fail)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_query_reads_novas_filters() {
        let q = list_query(Some(
            "name=cirros&status=ACTIVE&changes-since=2026-01-01&server=s1&type=snapshot&minRam=512&minDisk=1\
             &property-os_type=linux&property-=x&limit=5000&page_size=10&marker=m&offset=3&bogus=1",
        ))
        .expect("query");
        assert_eq!(q.name.as_deref(), Some("cirros"));
        assert_eq!(q.status.as_deref(), Some("ACTIVE"));
        assert!(q.changes_since.is_some());
        assert_eq!(q.server.as_deref(), Some("s1"));
        assert_eq!(q.image_type.as_deref(), Some("snapshot"));
        assert_eq!((q.min_ram.as_deref(), q.min_disk.as_deref()), (Some("512"), Some("1")));
        assert_eq!(q.properties, vec![("os_type".to_owned(), "linux".to_owned())]);
        assert_eq!((q.limit, q.page_size), (Some(MAX_LIMIT), Some(10)));
        assert_eq!(q.marker.as_deref(), Some("m"));
    }

    #[test]
    fn bad_paging_and_times_are_400s() {
        for bad in [
            "limit=0",
            "limit=-1",
            "limit=abc",
            "limit=1&limit=x",
            "page_size=0",
            "offset=-3",
            "changes-since=yesterday",
            "marker=",
        ] {
            assert!(list_query(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn glance_statuses_read_as_novas() {
        let with = |st: &str| ProxiedImage::from_glance(&json!({"id": "i", "status": st}));
        for (glance, nova, pct) in [
            ("active", "ACTIVE", 100),
            ("queued", "SAVING", 25),
            ("saving", "SAVING", 50),
            ("deleted", "DELETED", 0),
            ("pending_delete", "DELETED", 0),
            ("killed", "ERROR", 0),
            ("importing", "UNKNOWN", 0),
            ("deactivated", "UNKNOWN", 0),
        ] {
            assert_eq!(status(&with(glance)), nova, "{glance}");
            assert_eq!(progress(&with(glance)), pct, "{glance}");
        }
    }

    #[test]
    fn dates_are_whole_seconds_in_utc() {
        assert_eq!(
            date(&Some("2026-01-02T03:04:05.123456Z".into())),
            "2026-01-02T03:04:05Z"
        );
        assert_eq!(date(&Some("2026-01-02T05:04:05+02:00".into())), "2026-01-02T03:04:05Z");
        assert_eq!(date(&None), Value::Null);
    }
}
