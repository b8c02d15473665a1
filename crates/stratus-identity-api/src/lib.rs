//! Identity v3 over HTTP: Keystone's paths, JSON shapes and status codes.
//!
//! Handlers extract and authenticate, call one method of [`IdentityService`], and render; they
//! cannot reach the store (it is private to `stratus-identity`), and they decide nothing about
//! who may do what (the service checks policy).

mod auth;
mod delegation;
mod domain_configs;
mod endpoint_filters;
mod handlers;
mod limits;
mod policies;
mod views;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use stratus_api::auth::AuthState;
use stratus_api::pagination::PageRequest;
use stratus_api::version::Version;
use stratus_api::ApiError;
use stratus_identity::IdentityService;

/// What every handler needs.
#[derive(Clone)]
pub struct ApiState {
    pub svc: IdentityService,
    /// `http://host:port/identity/v3`, for links.
    pub base: Arc<str>,
}

/// The largest page a list returns.
pub const MAX_LIMIT: u32 = 1000;

pub(crate) type Query = axum::extract::Query<HashMap<String, String>>;

pub(crate) fn page(q: &HashMap<String, String>) -> Result<PageRequest, ApiError> {
    PageRequest::parse(
        q.get("limit").map(String::as_str),
        q.get("marker").map(String::as_str),
        MAX_LIMIT,
    )
}

/// Query booleans as Keystone reads them: a bare `?name` or `true`/`1` is true.
pub(crate) fn flag(q: &HashMap<String, String>, key: &str) -> Result<Option<bool>, ApiError> {
    match q.get(key).map(|v| v.to_ascii_lowercase()) {
        None => Ok(None),
        Some(v) if v.is_empty() || v == "true" || v == "1" || v == "yes" => Ok(Some(true)),
        Some(v) if v == "false" || v == "0" || v == "no" => Ok(Some(false)),
        Some(v) => Err(ApiError::bad_request(format!(
            "Invalid value '{v}' for query parameter '{key}': expected true or false."
        ))),
    }
}

pub(crate) fn self_url(state: &ApiState, uri: &OriginalUri) -> String {
    // The base already ends in /identity/v3; the original URI starts with /identity/v3.
    let base = state.base.trim_end_matches("/identity/v3");
    format!("{base}{}", uri.0)
}

async fn versions(State(state): State<ApiState>) -> Response {
    let v = version(&state);
    (StatusCode::MULTIPLE_CHOICES, Json(json!({"versions": {"values": [v]}}))).into_response()
}

async fn version_v3(State(state): State<ApiState>) -> Json<serde_json::Value> {
    Json(json!({"version": version(&state)}))
}

fn version(state: &ApiState) -> Version {
    Version::new(
        "v3.14",
        "2020-04-07T00:00:00Z",
        &format!("{}/", state.base),
        "application/vnd.openstack.identity-v3+json",
    )
}

/// The router mounted at `/identity`.
pub fn router(svc: IdentityService, public_url: &str) -> Router {
    let base: Arc<str> = format!("{}/identity/v3", public_url.trim_end_matches('/')).into();
    let state = ApiState {
        svc: svc.clone(),
        base: base.clone(),
    };
    let auth = AuthState {
        validator: Arc::new(svc),
        identity_uri: base,
        service_types: &[],
        mount: "/identity",
    };
    let v3 = handlers::routes()
        .merge(delegation::routes())
        .merge(domain_configs::routes())
        .merge(endpoint_filters::routes())
        .merge(limits::routes())
        .merge(policies::routes())
        .route(
            "/auth/tokens",
            post(auth::issue)
                .get(auth::validate)
                .head(auth::check)
                .delete(auth::revoke),
        )
        .route("/auth/catalog", get(auth::catalog))
        .route("/auth/projects", get(auth::projects))
        .route("/auth/domains", get(auth::domains))
        .route("/auth/system", get(auth::system))
        .route("/users/{id}/password", post(auth::change_password))
        .route(
            "/users/{id}/application_credentials",
            get(auth::list_app_creds).post(auth::create_app_cred),
        )
        .route(
            "/users/{id}/application_credentials/{ac}",
            get(auth::get_app_cred).delete(auth::delete_app_cred),
        )
        .route("/users/{id}/access_rules", get(auth::list_access_rules))
        .route(
            "/users/{id}/access_rules/{rule}",
            get(auth::get_access_rule).delete(auth::delete_access_rule),
        )
        .route("/", get(version_v3));
    Router::new()
        .route("/", get(versions))
        .nest("/v3", v3)
        .fallback(stratus_api::error::not_found_fallback)
        .layer(axum::middleware::from_fn_with_state(
            auth,
            stratus_api::auth::middleware,
        ))
        .layer(axum::middleware::from_fn(stratus_api::error::method_not_allowed))
        // Before authentication: a NUL reaches no store, not even the token lookup.
        .layer(axum::middleware::from_fn(stratus_api::nul::refuse_nul_in_uri))
        .with_state(state)
}
