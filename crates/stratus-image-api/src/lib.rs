//! Image v2 over HTTP: Glance's paths, JSON shapes, media types and status codes.
//!
//! Handlers extract and authenticate, call one method of [`ImageService`], and render; they
//! cannot reach the records or the stores (both are private to `stratus-image`), and they
//! decide nothing about who may do what (the service checks policy and visibility).

mod handlers;
mod query;
mod views;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::json;
use stratus_api::auth::{AuthState, TokenValidator};
use stratus_api::FaultStyle;
use stratus_image::ImageService;

/// What every handler needs.
#[derive(Clone)]
pub struct ApiState {
    pub svc: ImageService,
    /// `http://host:port/image`, for absolute links.
    pub base: Arc<str>,
}

/// The versions this API speaks: Glance's v2 minor versions up to the one whose features
/// (import, hidden images, store discovery, usage) are all here.
const VERSIONS: &[(&str, &str)] = &[
    ("v2.13", "CURRENT"),
    ("v2.12", "SUPPORTED"),
    ("v2.11", "SUPPORTED"),
    ("v2.10", "SUPPORTED"),
    ("v2.9", "SUPPORTED"),
    ("v2.8", "SUPPORTED"),
    ("v2.7", "SUPPORTED"),
    ("v2.6", "SUPPORTED"),
    ("v2.5", "SUPPORTED"),
    ("v2.4", "SUPPORTED"),
    ("v2.3", "SUPPORTED"),
    ("v2.2", "SUPPORTED"),
    ("v2.1", "SUPPORTED"),
    ("v2.0", "SUPPORTED"),
];

fn versions_doc(state: &ApiState) -> serde_json::Value {
    let href = format!("{}/v2/", state.base);
    let versions: Vec<_> = VERSIONS
        .iter()
        .map(|(id, status)| json!({"id": id, "status": status, "links": [{"rel": "self", "href": href}]}))
        .collect();
    json!({ "versions": versions })
}

async fn versions(State(state): State<ApiState>) -> Response {
    (StatusCode::MULTIPLE_CHOICES, Json(versions_doc(&state))).into_response()
}

async fn versions_ok(State(state): State<ApiState>) -> Json<serde_json::Value> {
    Json(versions_doc(&state))
}

/// The router mounted at `/image`.
pub fn router(svc: ImageService, validator: Arc<dyn TokenValidator>, public_url: &str) -> Router {
    let public_url = public_url.trim_end_matches('/');
    let state = ApiState {
        svc,
        base: format!("{public_url}/image").into(),
    };
    let auth = AuthState {
        validator,
        identity_uri: format!("{public_url}/identity/v3").into(),
        service_types: &["image"],
        mount: "/image",
    };
    use handlers::*;
    let data = Router::new()
        .route("/images/{id}/file", put(upload).get(download))
        .route("/images/{id}/stage", put(stage))
        .layer(DefaultBodyLimit::disable());
    let v2 = Router::new()
        .route("/", get(versions_ok))
        .route("/images", get(list_images).post(create_image))
        .route("/images/{id}", get(get_image).patch(update_image).delete(delete_image))
        .route("/images/{id}/import", post(import))
        .route("/images/{id}/actions/deactivate", post(deactivate))
        .route("/images/{id}/actions/reactivate", post(reactivate))
        .route("/images/{id}/tags/{tag}", put(add_tag).delete(remove_tag))
        .route("/images/{id}/members", get(list_members).post(add_member))
        .route(
            "/images/{id}/members/{member}",
            get(get_member).put(update_member).delete(remove_member),
        )
        .route("/schemas/image", get(schema_image))
        .route("/schemas/images", get(schema_images))
        .route("/schemas/member", get(schema_member))
        .route("/schemas/members", get(schema_members))
        .route("/info/import", get(info_import))
        .route("/info/stores", get(info_stores))
        .route("/info/usage", get(info_usage))
        .merge(data);
    Router::new()
        .route("/", get(versions))
        .route("/versions", get(versions_ok))
        .nest("/v2", v2)
        .fallback(stratus_api::error::not_found_fallback)
        .layer(axum::middleware::from_fn_with_state(
            auth,
            stratus_api::auth::middleware,
        ))
        .layer(axum::middleware::from_fn(stratus_api::error::method_not_allowed))
        // Before authentication: a NUL reaches no store, not even the token lookup.
        .layer(axum::middleware::from_fn(stratus_api::nul::refuse_nul_in_uri))
        .layer(axum::middleware::from_fn(|req, next| {
            stratus_api::error::render_faults(FaultStyle::Image, req, next)
        }))
        .with_state(state)
}
