//! `/v3/domains/{id}/config` and `/v3/domains/config/.../default`: domain-specific
//! configuration and its defaults.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use stratus_api::{ApiError, Caller, ValidJson};
use stratus_identity::DomainConfig;

use crate::ApiState;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/domains/config/default", get(default_all))
        .route("/domains/config/{group}/default", get(default_group))
        .route("/domains/config/{group}/{option}/default", get(default_option))
        .route("/domains/{id}/config", get(show).head(show).put(put).patch(update).delete(delete))
        .route(
            "/domains/{id}/config/{group}",
            get(show_group).head(show_group).patch(update_group).delete(delete_group),
        )
        .route(
            "/domains/{id}/config/{group}/{option}",
            get(show_option).head(show_option).patch(update_option).delete(delete_option),
        )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigBody {
    config: DomainConfig,
}

fn config(v: impl Into<Value>) -> Json<Value> {
    Json(json!({"config": v.into()}))
}

async fn default_all(State(s): State<ApiState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    Ok(config(s.svc.default_domain_config(&caller, None, None).await?))
}

async fn default_group(State(s): State<ApiState>, caller: Caller, Path(g): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(config(s.svc.default_domain_config(&caller, Some(&g), None).await?))
}

async fn default_option(
    State(s): State<ApiState>,
    caller: Caller,
    Path((g, o)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    Ok(config(s.svc.default_domain_config(&caller, Some(&g), Some(&o)).await?))
}

async fn put(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<ConfigBody>,
) -> Result<Response, ApiError> {
    let (created, c) = s.svc.put_domain_config(&caller, &id, b.config).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, config(c)).into_response())
}

async fn show(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(config(s.svc.get_domain_config(&caller, &id, None, None).await?))
}

async fn show_group(
    State(s): State<ApiState>,
    caller: Caller,
    Path((id, g)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    Ok(config(s.svc.get_domain_config(&caller, &id, Some(&g), None).await?))
}

async fn show_option(
    State(s): State<ApiState>,
    caller: Caller,
    Path((id, g, o)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    Ok(config(s.svc.get_domain_config(&caller, &id, Some(&g), Some(&o)).await?))
}

async fn update(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<ConfigBody>,
) -> Result<Json<Value>, ApiError> {
    Ok(config(s.svc.update_domain_config(&caller, &id, None, None, b.config).await?))
}

async fn update_group(
    State(s): State<ApiState>,
    caller: Caller,
    Path((id, g)): Path<(String, String)>,
    ValidJson(b): ValidJson<ConfigBody>,
) -> Result<Json<Value>, ApiError> {
    Ok(config(s.svc.update_domain_config(&caller, &id, Some(&g), None, b.config).await?))
}

async fn update_option(
    State(s): State<ApiState>,
    caller: Caller,
    Path((id, g, o)): Path<(String, String, String)>,
    ValidJson(b): ValidJson<ConfigBody>,
) -> Result<Json<Value>, ApiError> {
    Ok(config(s.svc.update_domain_config(&caller, &id, Some(&g), Some(&o), b.config).await?))
}

async fn delete(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    s.svc.delete_domain_config(&caller, &id, None, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_group(
    State(s): State<ApiState>,
    caller: Caller,
    Path((id, g)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    s.svc.delete_domain_config(&caller, &id, Some(&g), None).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_option(
    State(s): State<ApiState>,
    caller: Caller,
    Path((id, g, o)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    s.svc.delete_domain_config(&caller, &id, Some(&g), Some(&o)).await?;
    Ok(StatusCode::NO_CONTENT)
}
