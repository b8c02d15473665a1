//! `/v3/registered_limits` and `/v3/limits`: unified limits.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use stratus_api::{ApiError, Caller, ValidJson};
use stratus_identity::model::{Limit, RegisteredLimit};
use stratus_identity::{LimitFilter, LimitInput, RegisteredLimitInput};

use crate::{ApiState, Query};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/registered_limits", get(list_registered).post(create_registered))
        .route(
            "/registered_limits/{id}",
            get(show_registered).patch(update_registered).delete(delete_registered),
        )
        .route("/limits", get(list).post(create))
        .route("/limits/model", get(model))
        .route("/limits/{id}", get(show).patch(update).delete(delete))
}

fn registered(base: &str, r: &RegisteredLimit) -> Value {
    json!({
        "id": r.id, "service_id": r.service_id, "region_id": r.region_id, "resource_name": r.resource_name,
        "default_limit": r.default_limit, "description": r.description,
        "links": {"self": format!("{base}/registered_limits/{}", r.id)},
    })
}

fn limit(base: &str, l: &Limit) -> Value {
    json!({
        "id": l.id, "project_id": l.project_id, "domain_id": l.domain_id, "service_id": l.service_id,
        "region_id": l.region_id, "resource_name": l.resource_name, "resource_limit": l.resource_limit,
        "description": l.description, "links": {"self": format!("{base}/limits/{}", l.id)},
    })
}

fn links(s: &ApiState, uri: &OriginalUri) -> Value {
    json!({"self": crate::self_url(s, uri), "next": null, "previous": null})
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisteredLimitsBody {
    registered_limits: Vec<RegisteredLimitInput>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisteredLimitBody {
    registered_limit: RegisteredLimitInput,
}

async fn create_registered(
    State(s): State<ApiState>,
    caller: Caller,
    ValidJson(b): ValidJson<RegisteredLimitsBody>,
) -> Result<Response, ApiError> {
    let made = s.svc.create_registered_limits(&caller, b.registered_limits).await?;
    let list: Vec<Value> = made.iter().map(|r| registered(&s.base, r)).collect();
    Ok((StatusCode::CREATED, Json(json!({"registered_limits": list}))).into_response())
}

async fn list_registered(State(s): State<ApiState>, caller: Caller, q: Query, uri: OriginalUri) -> Result<Json<Value>, ApiError> {
    let get = |k: &str| q.get(k).map(String::as_str);
    let list = s
        .svc
        .list_registered_limits(&caller, get("service_id"), get("region_id"), get("resource_name"))
        .await?;
    Ok(Json(json!({
        "registered_limits": list.iter().map(|r| registered(&s.base, r)).collect::<Vec<_>>(),
        "links": links(&s, &uri),
    })))
}

async fn show_registered(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let r = s.svc.get_registered_limit(&caller, &id).await?;
    Ok(Json(json!({"registered_limit": registered(&s.base, &r)})))
}

async fn update_registered(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<RegisteredLimitBody>,
) -> Result<Json<Value>, ApiError> {
    let r = s.svc.update_registered_limit(&caller, &id, b.registered_limit).await?;
    Ok(Json(json!({"registered_limit": registered(&s.base, &r)})))
}

async fn delete_registered(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    s.svc.delete_registered_limit(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsBody {
    limits: Vec<LimitInput>,
}

/// What a limit's update may change.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitChange {
    resource_limit: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    description: Option<Option<String>>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitBody {
    limit: LimitChange,
}

async fn create(State(s): State<ApiState>, caller: Caller, ValidJson(b): ValidJson<LimitsBody>) -> Result<Response, ApiError> {
    let made = s.svc.create_limits(&caller, b.limits).await?;
    let list: Vec<Value> = made.iter().map(|l| limit(&s.base, l)).collect();
    Ok((StatusCode::CREATED, Json(json!({"limits": list}))).into_response())
}

async fn list(State(s): State<ApiState>, caller: Caller, q: Query, uri: OriginalUri) -> Result<Json<Value>, ApiError> {
    let get = |k: &str| q.get(k).cloned();
    let f = LimitFilter {
        service_id: get("service_id"),
        region_id: get("region_id"),
        resource_name: get("resource_name"),
        project_id: get("project_id"),
        domain_id: get("domain_id"),
    };
    let list = s.svc.list_limits(&caller, &f).await?;
    Ok(Json(json!({
        "limits": list.iter().map(|l| limit(&s.base, l)).collect::<Vec<_>>(),
        "links": links(&s, &uri),
    })))
}

async fn model(State(s): State<ApiState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    s.svc.limit_model(&caller).await?;
    Ok(Json(json!({"model": {
        "name": "flat",
        "description": "Limit enforcement and validation does not take project hierarchy into consideration.",
    }})))
}

async fn show(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let l = s.svc.get_limit(&caller, &id).await?;
    Ok(Json(json!({"limit": limit(&s.base, &l)})))
}

async fn update(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<LimitBody>,
) -> Result<Json<Value>, ApiError> {
    let l = s.svc.update_limit(&caller, &id, b.limit.resource_limit, b.limit.description).await?;
    Ok(Json(json!({"limit": limit(&s.base, &l)})))
}

async fn delete(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    s.svc.delete_limit(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
