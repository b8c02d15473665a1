//! `/v3/policies`: policy blobs kept for services.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use stratus_api::{ApiError, Caller, ValidJson};
use stratus_identity::model::PolicyBlob;
use stratus_identity::PolicyInput;

use crate::{ApiState, Query};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/policies", get(list).post(create))
        .route("/policies/{id}", get(show).patch(update).delete(delete))
}

fn policy(base: &str, p: &PolicyBlob) -> Value {
    let mut v = json!({
        "id": p.id, "type": p.policy_type, "blob": p.blob,
        "links": {"self": format!("{base}/policies/{}", p.id)},
    });
    if let Value::Object(o) = &mut v {
        for (k, x) in &p.extra {
            o.entry(k.clone()).or_insert_with(|| x.clone());
        }
    }
    v
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyBody {
    policy: PolicyInput,
}

async fn create(State(s): State<ApiState>, caller: Caller, ValidJson(b): ValidJson<PolicyBody>) -> Result<Response, ApiError> {
    let p = s.svc.create_policy(&caller, b.policy).await?;
    Ok((StatusCode::CREATED, Json(json!({"policy": policy(&s.base, &p)}))).into_response())
}

async fn list(State(s): State<ApiState>, caller: Caller, q: Query, uri: OriginalUri) -> Result<Json<Value>, ApiError> {
    let list = s.svc.list_policies(&caller, q.get("type").map(String::as_str)).await?;
    Ok(Json(json!({
        "policies": list.iter().map(|p| policy(&s.base, p)).collect::<Vec<_>>(),
        "links": {"self": crate::self_url(&s, &uri), "next": null, "previous": null},
    })))
}

async fn show(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let p = s.svc.get_policy(&caller, &id).await?;
    Ok(Json(json!({"policy": policy(&s.base, &p)})))
}

async fn update(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<PolicyBody>,
) -> Result<Json<Value>, ApiError> {
    let p = s.svc.update_policy(&caller, &id, b.policy).await?;
    Ok(Json(json!({"policy": policy(&s.base, &p)})))
}

async fn delete(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    s.svc.delete_policy(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
