//! Block Storage v3 over HTTP: Cinder's paths (with or without the project id), JSON shapes,
//! microversions and faults.
//!
//! Handlers extract and authenticate, call one method of [`VolumeService`], and render; they
//! cannot reach the records or the backend (both private to `stratus-volume`), and they decide
//! nothing about who may do what (the service checks policy and visibility).

mod handlers;
mod query;
mod resources;
mod views;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use stratus_api::auth::{AuthState, TokenValidator};
use stratus_api::microversion::{Microversion, Range};
use stratus_api::{ApiError, AuthContext, FaultStyle};
use stratus_volume::VolumeService;

/// The microversions spoken here. 3.65 is the newest whose every change in behaviour is
/// honoured (from 3.66 on, snapshots of attached volumes no longer need `force`).
pub const MICROVERSIONS: Range = Range {
    service: "volume",
    legacy_header: None,
    min: Microversion::new(3, 0),
    max: Microversion::new(3, 65),
};

/// What every handler needs.
#[derive(Clone)]
pub struct ApiState {
    pub svc: VolumeService,
    /// `http://host:port/volume`, for links.
    pub base: Arc<str>,
    /// The host name `os-services` and `os-vol-host-attr:host` report.
    pub host: Arc<str>,
}

fn version_doc(s: &ApiState) -> serde_json::Value {
    json!({
        "id": "v3.0",
        "status": "CURRENT",
        "version": MICROVERSIONS.max.to_string(),
        "min_version": MICROVERSIONS.min.to_string(),
        "updated": "2023-01-01T00:00:00Z",
        "links": [{"rel": "self", "href": format!("{}/v3/", s.base)}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}],
    })
}

async fn versions(State(s): State<ApiState>) -> Response {
    (
        StatusCode::MULTIPLE_CHOICES,
        Json(json!({ "versions": [version_doc(&s)] })),
    )
        .into_response()
}

async fn v3_version(State(s): State<ApiState>) -> Json<serde_json::Value> {
    Json(json!({ "versions": [version_doc(&s)] }))
}

/// The first path segment of every collection; anything else in that place is a project id.
const COLLECTIONS: &[&str] = &[
    "volumes",
    "snapshots",
    "attachments",
    "types",
    "os-quota-sets",
    "limits",
    "os-availability-zone",
    "os-services",
];

/// The project id a request named in its path, if any.
#[derive(Clone)]
struct UrlProject(String);

/// Cinder's paths carry the project id (`/v3/{project_id}/volumes`) and, since 3.67, need
/// not; both lead to the same routes. The id is taken out here, before routing, and checked
/// against the token once the caller is known.
async fn strip_project(mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let rest = path.trim_start_matches('/');
    let (first, tail) = rest.split_once('/').map_or((rest, ""), |(a, b)| (a, b));
    if !first.is_empty() && !COLLECTIONS.contains(&first) {
        let new_path = format!("/{tail}");
        let pq = match req.uri().query() {
            Some(q) => format!("{new_path}?{q}"),
            None => new_path,
        };
        let mut parts = req.uri().clone().into_parts();
        parts.path_and_query = pq.parse().ok();
        if let Ok(uri) = http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
        req.extensions_mut().insert(UrlProject(first.to_owned()));
    }
    next.run(req).await
}

/// As Cinder: a project id in the path must be the token's.
async fn check_project(req: Request, next: Next) -> Response {
    if let (Some(UrlProject(p)), Some(ctx)) = (
        req.extensions().get::<UrlProject>(),
        req.extensions().get::<Arc<AuthContext>>(),
    ) {
        if ctx.project_id() != Some(p.as_str()) {
            return ApiError::bad_request(format!(
                "Malformed request url: project {p} in the path is not the token's project."
            ))
            .into_response();
        }
    }
    next.run(req).await
}

/// The router mounted at `/volume`.
pub fn router(svc: VolumeService, validator: Arc<dyn TokenValidator>, public_url: &str, host: &str) -> Router {
    let public_url = public_url.trim_end_matches('/');
    let state = ApiState {
        svc,
        base: format!("{public_url}/volume").into(),
        host: host.into(),
    };
    let auth = AuthState {
        validator,
        identity_uri: format!("{public_url}/identity/v3").into(),
        service_types: &["block-storage", "volumev3"],
        mount: "/volume",
    };
    use handlers::*;
    use resources::*;
    let protected = Router::new()
        .route("/volumes", get(list_volumes).post(create_volume))
        .route("/volumes/detail", get(list_volumes_detail))
        .route(
            "/volumes/{id}",
            get(show_volume).put(update_volume).delete(delete_volume),
        )
        .route("/volumes/{id}/action", post(volume_action))
        .route(
            "/volumes/{id}/metadata",
            get(show_metadata).post(add_metadata).put(replace_metadata),
        )
        .route(
            "/volumes/{id}/metadata/{key}",
            get(show_metadata_item)
                .put(put_metadata_item)
                .delete(delete_metadata_item),
        )
        .route("/volumes/summary", get(volume_summary))
        .route("/snapshots", get(list_snapshots).post(create_snapshot))
        .route(
            "/snapshots/{id}/metadata",
            get(show_snapshot_metadata)
                .post(add_snapshot_metadata)
                .put(replace_snapshot_metadata),
        )
        .route(
            "/snapshots/{id}/metadata/{key}",
            get(show_snapshot_metadata_item)
                .put(put_snapshot_metadata_item)
                .delete(delete_snapshot_metadata_item),
        )
        .route("/snapshots/detail", get(list_snapshots_detail))
        .route(
            "/snapshots/{id}",
            get(show_snapshot).put(update_snapshot).delete(delete_snapshot),
        )
        .route("/attachments", get(list_attachments).post(create_attachment))
        .route("/attachments/detail", get(list_attachments_detail))
        .route(
            "/attachments/{id}",
            get(show_attachment).put(update_attachment).delete(delete_attachment),
        )
        .route("/attachments/{id}/action", post(attachment_action))
        .route("/types", get(list_types).post(create_type))
        .route("/types/default", get(default_type))
        .route("/types/{id}", get(show_type).put(update_type).delete(delete_type))
        .route("/types/{id}/extra_specs", get(list_extra_specs).post(set_extra_specs))
        .route(
            "/types/{id}/extra_specs/{key}",
            get(show_extra_spec).put(put_extra_spec).delete(delete_extra_spec),
        )
        .route(
            "/os-quota-sets/{project}",
            get(show_quota).put(update_quota).delete(delete_quota),
        )
        .route("/os-quota-sets/{project}/defaults", get(default_quota))
        .route("/limits", get(limits))
        .route("/os-availability-zone", get(availability_zones))
        .route("/os-services", get(services))
        .layer(axum::middleware::from_fn(check_project))
        .layer(axum::middleware::from_fn_with_state(
            auth,
            stratus_api::auth::middleware,
        ));
    let v3 = Router::new()
        .route("/", get(v3_version))
        .merge(protected)
        .fallback(stratus_api::error::not_found_fallback)
        .layer(axum::middleware::from_fn(|req, next| {
            stratus_api::microversion::layer(MICROVERSIONS, req, next)
        }))
        .with_state(state.clone());
    let v3 = tower::Layer::layer(&axum::middleware::from_fn(strip_project), v3);
    Router::new()
        .route("/", get(versions))
        .nest_service("/v3", v3)
        .fallback(stratus_api::error::not_found_fallback)
        .layer(axum::middleware::from_fn(stratus_api::error::method_not_allowed))
        // Before authentication: a NUL reaches no store, not even the token lookup.
        .layer(axum::middleware::from_fn(stratus_api::nul::refuse_nul_in_uri))
        .layer(axum::middleware::from_fn(|req, next| {
            stratus_api::error::render_faults(FaultStyle::Compute, req, next)
        }))
        .with_state(state)
}
