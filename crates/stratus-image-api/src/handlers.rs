//! The handlers of Image v2.

use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use stratus_api::body::{body_rejection, parse_json};
use stratus_api::{ApiError, Caller, ErrorKind};
use stratus_image::{ByteRange, ByteStream, Change, Upload};
use tokio::io::AsyncReadExt;

use crate::{query, views, ApiState};

type Out = Result<Response, ApiError>;

/// Glance's JSON patch media types: RFC 6902's form, and the older form whose operation is
/// the key (`{"replace": "/name", "value": ...}`).
const PATCH_MEDIA_TYPE: &str = "application/openstack-images-v2.1-json-patch";
const PATCH_MEDIA_TYPE_V20: &str = "application/openstack-images-v2.0-json-patch";

fn json_body(status: StatusCode, v: Value) -> Response {
    (status, Json(v)).into_response()
}

async fn read_body(req: Request) -> Result<bytes::Bytes, ApiError> {
    use axum::extract::FromRequest;
    bytes::Bytes::from_request(req, &()).await.map_err(body_rejection)
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

pub(crate) async fn create_image(State(s): State<ApiState>, caller: Caller, req: Request) -> Out {
    let ct = content_type(req.headers()).to_owned();
    if !ct.is_empty() && !ct.contains("json") {
        return Err(ApiError::new(
            ErrorKind::UnsupportedMediaType,
            format!("Content type '{ct}' is not supported; use application/json."),
        ));
    }
    let body: Map<String, Value> = parse_json(&read_body(req).await?)?;
    let image = s.svc.create_image(&caller, body).await?;
    let mut resp = json_body(StatusCode::CREATED, views::image(&image));
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("{}/v2/images/{}", s.base, image.id)) {
        h.insert(header::LOCATION, v);
    }
    h.insert(
        "OpenStack-image-import-methods",
        HeaderValue::from_static("glance-direct"),
    );
    h.insert("OpenStack-image-store-ids", HeaderValue::from_static("file"));
    Ok(resp)
}

pub(crate) async fn list_images(State(s): State<ApiState>, caller: Caller, RawQuery(raw): RawQuery) -> Out {
    let req = query::parse(raw.as_deref())?;
    let mut images = s.svc.list_images(&caller, &req.query, req.marker.as_deref()).await?;
    let mut body = json!({"first": "/v2/images", "schema": "/v2/schemas/images"});
    if images.len() > req.query.limit as usize {
        images.truncate(req.query.limit as usize);
        if let Some(last) = images.last() {
            body["next"] = json!(query::next_link(&req.params, &last.id));
        }
    }
    body["images"] = Value::Array(images.iter().map(views::image).collect());
    Ok(json_body(StatusCode::OK, body))
}

pub(crate) async fn get_image(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> Out {
    Ok(json_body(
        StatusCode::OK,
        views::image(&s.svc.get_image(&caller, &id).await?),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchOp {
    op: String,
    path: String,
    value: Option<Value>,
}

/// The older patch form as RFC 6902 operations: each object holds exactly one of `add`,
/// `remove` or `replace`, whose value is the pointer.
fn old_patch(ops: Vec<serde_json::Map<String, Value>>) -> Result<Vec<PatchOp>, ApiError> {
    ops.into_iter()
        .map(|mut o| {
            let named: Vec<&str> = ["add", "remove", "replace"]
                .into_iter()
                .filter(|k| o.contains_key(*k))
                .collect();
            let [op] = named[..] else {
                return Err(ApiError::bad_request(
                    "Operation objects must contain exactly one member named \"add\", \"remove\", or \"replace\".",
                ));
            };
            let path = match o.remove(op) {
                Some(Value::String(p)) => p,
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "The '{op}' member must be a JSON pointer string."
                    )))
                }
            };
            Ok(PatchOp {
                op: op.to_owned(),
                path,
                value: o.remove("value"),
            })
        })
        .collect()
}

/// The attribute a JSON pointer names; only top-level attributes can be patched.
fn attribute(path: &str) -> Result<String, ApiError> {
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| ApiError::bad_request(format!("Invalid JSON pointer '{path}': it must start with '/'.")))?;
    let mut segments = rest.split('/');
    let first = segments.next().unwrap_or("").replace("~1", "/").replace("~0", "~");
    if first.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Invalid JSON pointer '{path}': it names no attribute."
        )));
    }
    if segments.next().is_some() {
        // Deep paths (/locations/0) address attributes users may not write at all.
        stratus_image::check_writable(&first).map_err(ApiError::from)?;
        return Err(ApiError::bad_request(format!(
            "Invalid JSON pointer '{path}': only top-level attributes can be changed."
        )));
    }
    Ok(first)
}

pub(crate) async fn update_image(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> Out {
    let ct = content_type(req.headers())
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_owned();
    if ct != PATCH_MEDIA_TYPE && ct != PATCH_MEDIA_TYPE_V20 {
        let mut resp = ApiError::new(
            ErrorKind::UnsupportedMediaType,
            format!(
                "Content type '{ct}' is not supported for PATCH; use {PATCH_MEDIA_TYPE} or {PATCH_MEDIA_TYPE_V20}."
            ),
        )
        .into_response();
        resp.headers_mut().insert(
            "Accept-Patch",
            HeaderValue::from_static(
                "application/openstack-images-v2.0-json-patch, application/openstack-images-v2.1-json-patch",
            ),
        );
        return Ok(resp);
    }
    let body = read_body(req).await?;
    let ops: Vec<PatchOp> = if ct == PATCH_MEDIA_TYPE {
        parse_json(&body)?
    } else {
        old_patch(parse_json(&body)?)?
    };
    let mut changes = Vec::with_capacity(ops.len());
    for (n, op) in ops.into_iter().enumerate() {
        let attr = attribute(&op.path)?;
        changes.push(match (op.op.as_str(), op.value) {
            ("add" | "replace", Some(v)) => Change::Set(attr, v),
            ("add" | "replace", None) => {
                return Err(ApiError::bad_request(format!(
                    "Invalid operation {n}: '{}' needs a value.",
                    op.op
                )))
            }
            ("remove", _) => Change::Remove(attr),
            (other, _) => {
                return Err(ApiError::bad_request(format!(
                    "Invalid operation {n}: '{other}' is not supported; use add, replace or remove."
                )))
            }
        });
    }
    let image = s.svc.update_image(&caller, &id, &changes).await?;
    Ok(json_body(StatusCode::OK, views::image(&image)))
}

pub(crate) async fn delete_image(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> Out {
    s.svc.delete_image(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// An upload's data and what the client said about it.
fn upload_from(headers: &HeaderMap, body: Body) -> Result<(Upload, tokio::task::JoinHandle<()>), ApiError> {
    let ct = content_type(headers);
    if !ct.is_empty() && !ct.starts_with("application/octet-stream") {
        return Err(ApiError::new(
            ErrorKind::UnsupportedMediaType,
            format!("Content type '{ct}' is not supported for image data; use application/octet-stream."),
        ));
    }
    let number = |name: &str| -> Result<Option<u64>, ApiError> {
        match headers.get(name) {
            None => Ok(None),
            Some(v) => v
                .to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .map(Some)
                .ok_or_else(|| ApiError::bad_request(format!("Invalid {name} header: expected a number of bytes."))),
        }
    };
    let declared = match (number("x-openstack-image-size")?, number("content-length")?) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::bad_request(format!(
                "X-OpenStack-Image-Size says {a} bytes but Content-Length says {b}."
            )))
        }
        (a, b) => a.or(b),
    };
    let content_md5 = headers
        .get("content-md5")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (body, forwarder) = forward(body);
    Ok((
        Upload {
            body,
            declared_size: declared,
            content_md5,
        },
        forwarder,
    ))
}

/// Bytes of a refused upload still read (and dropped) so the client can finish sending.
const DRAIN_LIMIT: u64 = 64 << 20;

/// Feeds the request body to the upload through a small channel (so memory stays flat). When
/// the service refuses the data early (over a quota, say), the rest of the body is still read
/// and dropped, up to [`DRAIN_LIMIT`]: a client that is still sending then reads the refusal
/// instead of a reset connection.
fn forward(body: Body) -> (ByteStream, tokio::task::JoinHandle<()>) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(8);
    let task = tokio::spawn(async move {
        let mut stream = body.into_data_stream();
        let mut refused = false;
        let mut drained = 0u64;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(b) if refused => {
                    drained += b.len() as u64;
                    if drained > DRAIN_LIMIT {
                        break;
                    }
                }
                Ok(b) => refused = tx.send(Ok(b)).await.is_err(),
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(e))).await;
                    break;
                }
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    (Box::pin(stream), task)
}

/// Waits (briefly) for a refused upload's body to be drained before answering.
async fn settle(result: Result<(), stratus_image::ImageError>, forwarder: tokio::task::JoinHandle<()>) -> Out {
    match result {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(e) => {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), forwarder).await;
            Err(e.into())
        }
    }
}

pub(crate) async fn upload(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Out {
    let (up, forwarder) = upload_from(&headers, body)?;
    settle(s.svc.upload(&caller, &id, up).await.map(|_| ()), forwarder).await
}

pub(crate) async fn stage(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Out {
    let (up, forwarder) = upload_from(&headers, body)?;
    settle(s.svc.stage(&caller, &id, up).await.map(|_| ()), forwarder).await
}

/// `Range: bytes=a-b`, `bytes=a-` or `bytes=-n`; several ranges are not served.
fn parse_range(headers: &HeaderMap) -> Result<Option<ByteRange>, ApiError> {
    let Some(v) = headers.get(header::RANGE) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::new(
            ErrorKind::RangeNotSatisfiable,
            "Invalid Range header: expected one range of bytes=START-END.",
        )
    };
    let spec = v
        .to_str()
        .map_err(|_| bad())?
        .trim()
        .strip_prefix("bytes=")
        .ok_or_else(bad)?;
    if spec.contains(',') {
        return Err(bad());
    }
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let num = |s: &str| s.trim().parse::<u64>().map_err(|_| bad());
    Ok(Some(match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, false) => ByteRange::Last(num(b)?),
        (false, true) => ByteRange::Span(num(a)?, None),
        (false, false) => ByteRange::Span(num(a)?, Some(num(b)?)),
        (true, true) => return Err(bad()),
    }))
}

pub(crate) async fn download(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Out {
    let range = parse_range(&headers)?;
    let dl = s.svc.download(&caller, &id, range).await?;
    let Some(data) = dl.data else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let stream = tokio_util::io::ReaderStream::with_capacity(data.reader.take(data.length), 256 * 1024);
    let mut resp = Response::new(Body::from_stream(stream));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(data.length));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if data.partial {
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
        let end = (data.start + data.length).saturating_sub(1);
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {}-{end}/{}", data.start, data.total)) {
            resp.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    } else if let Some(md5) = dl.image.checksum.as_deref().and_then(|c| HeaderValue::from_str(c).ok()) {
        resp.headers_mut().insert("Content-MD5", md5);
    }
    Ok(resp)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportMethod {
    name: String,
    uri: Option<String>,
    glance_image_id: Option<String>,
    glance_region: Option<String>,
    glance_service_interface: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportBody {
    method: ImportMethod,
    stores: Option<Vec<String>>,
    all_stores: Option<bool>,
    all_stores_must_succeed: Option<bool>,
}

pub(crate) async fn import(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>, req: Request) -> Out {
    let body: ImportBody = parse_json(&read_body(req).await?)?;
    let known: Vec<String> = s.svc.stores().into_iter().map(|(id, _, _)| id).collect();
    if let Some(bad) = body.stores.iter().flatten().find(|st| !known.contains(st)) {
        return Err(ApiError::bad_request(format!(
            "Unknown store '{bad}'; stores here: {}.",
            known.join(", ")
        )));
    }
    // The remaining method fields belong to web-download and glance-download, which are
    // refused by name below; all_stores has one store to mean here.
    let _ = (
        &body.method.uri,
        &body.method.glance_image_id,
        &body.method.glance_region,
        &body.method.glance_service_interface,
    );
    let _ = (body.all_stores, body.all_stores_must_succeed);
    s.svc.import(&caller, &id, &body.method.name).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub(crate) async fn deactivate(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> Out {
    s.svc.set_active(&caller, &id, false).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn reactivate(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> Out {
    s.svc.set_active(&caller, &id, true).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn add_tag(State(s): State<ApiState>, caller: Caller, Path((id, tag)): Path<(String, String)>) -> Out {
    s.svc.add_tag(&caller, &id, &tag).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn remove_tag(
    State(s): State<ApiState>,
    caller: Caller,
    Path((id, tag)): Path<(String, String)>,
) -> Out {
    s.svc.remove_tag(&caller, &id, &tag).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMember {
    member: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberUpdate {
    status: String,
    /// python-openstackclient repeats the member id in the body.
    #[allow(dead_code)]
    member: Option<String>,
}

pub(crate) async fn add_member(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>, req: Request) -> Out {
    let body: NewMember = parse_json(&read_body(req).await?)?;
    let m = s.svc.add_member(&caller, &id, &body.member).await?;
    Ok(json_body(StatusCode::OK, views::member(&m)))
}

pub(crate) async fn list_members(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> Out {
    let members = s.svc.list_members(&caller, &id).await?;
    Ok(json_body(
        StatusCode::OK,
        json!({"members": members.iter().map(views::member).collect::<Vec<_>>(), "schema": "/v2/schemas/members"}),
    ))
}

pub(crate) async fn get_member(
    State(s): State<ApiState>,
    caller: Caller,
    Path((id, member)): Path<(String, String)>,
) -> Out {
    Ok(json_body(
        StatusCode::OK,
        views::member(&s.svc.get_member(&caller, &id, &member).await?),
    ))
}

pub(crate) async fn update_member(
    State(s): State<ApiState>,
    caller: Caller,
    Path((id, member)): Path<(String, String)>,
    req: Request,
) -> Out {
    let body: MemberUpdate = parse_json(&read_body(req).await?)?;
    let m = s.svc.set_member_status(&caller, &id, &member, &body.status).await?;
    Ok(json_body(StatusCode::OK, views::member(&m)))
}

pub(crate) async fn remove_member(
    State(s): State<ApiState>,
    caller: Caller,
    Path((id, member)): Path<(String, String)>,
) -> Out {
    s.svc.remove_member(&caller, &id, &member).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn schema_image() -> Json<Value> {
    Json(views::image_schema())
}
pub(crate) async fn schema_images() -> Json<Value> {
    Json(views::images_schema())
}
pub(crate) async fn schema_member() -> Json<Value> {
    Json(views::member_schema())
}
pub(crate) async fn schema_members() -> Json<Value> {
    Json(views::members_schema())
}

pub(crate) async fn info_import(State(s): State<ApiState>, _caller: Caller) -> Json<Value> {
    Json(json!({"import-methods": {
        "description": "Import methods available.",
        "type": "array",
        "value": s.svc.import_methods(),
    }}))
}

pub(crate) async fn info_stores(State(s): State<ApiState>, _caller: Caller) -> Json<Value> {
    let stores: Vec<Value> = s
        .svc
        .stores()
        .into_iter()
        .map(|(id, description, default)| {
            let mut v = json!({"id": id, "description": description});
            if default {
                v["default"] = json!(true);
            }
            v
        })
        .collect();
    Json(json!({ "stores": stores }))
}

pub(crate) async fn info_usage(State(s): State<ApiState>, caller: Caller) -> Out {
    let u = s.svc.usage(&caller).await?;
    let limit = |l: Option<u64>| l.map_or(json!(-1), |n| json!(n));
    Ok(json_body(
        StatusCode::OK,
        json!({"usage": {
            "image_size_total": {"limit": limit(u.image_size_limit), "usage": u.image_size_total},
            "image_count_total": {"limit": limit(u.image_count_limit), "usage": u.image_count},
            "image_stage_total": {"limit": -1, "usage": u.image_stage_total},
            "image_count_uploading": {"limit": -1, "usage": u.image_count_uploading},
        }}),
    ))
}
