//! `/v3/OS-EP-FILTER`: endpoint groups and the endpoints a project's catalog is limited to.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use stratus_api::{ApiError, Caller, ValidJson};
use stratus_identity::model::EndpointGroup;
use stratus_identity::EndpointGroupInput;

use crate::{views, ApiState, Query};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/OS-EP-FILTER/endpoint_groups", get(list).post(create))
        .route(
            "/OS-EP-FILTER/endpoint_groups/{id}",
            get(show).head(show).patch(update).delete(delete),
        )
        .route("/OS-EP-FILTER/endpoint_groups/{id}/endpoints", get(group_endpoints))
        .route("/OS-EP-FILTER/endpoint_groups/{id}/projects", get(group_projects))
        .route(
            "/OS-EP-FILTER/endpoint_groups/{id}/projects/{project}",
            get(show_group_project)
                .head(show_group_project)
                .put(add_group_project)
                .delete(remove_group_project),
        )
        .route("/OS-EP-FILTER/projects/{project}/endpoint_groups", get(project_groups))
        .route("/OS-EP-FILTER/projects/{project}/endpoints", get(project_endpoints))
        .route(
            "/OS-EP-FILTER/projects/{project}/endpoints/{endpoint}",
            get(check_endpoint_project)
                .head(check_endpoint_project)
                .put(add_endpoint_project)
                .delete(remove_endpoint_project),
        )
        .route("/OS-EP-FILTER/endpoints/{endpoint}/projects", get(endpoint_projects))
}

fn group(base: &str, g: &EndpointGroup) -> Value {
    json!({
        "id": g.id, "name": g.name, "description": g.description, "filters": g.filters,
        "links": {"self": format!("{base}/OS-EP-FILTER/endpoint_groups/{}", g.id)},
    })
}

fn links(s: &ApiState, uri: &OriginalUri) -> Value {
    json!({"self": crate::self_url(s, uri), "next": null, "previous": null})
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupBody {
    endpoint_group: EndpointGroupInput,
}

async fn create(State(s): State<ApiState>, caller: Caller, ValidJson(b): ValidJson<GroupBody>) -> Result<Response, ApiError> {
    let g = s.svc.create_endpoint_group(&caller, b.endpoint_group).await?;
    Ok((StatusCode::CREATED, Json(json!({"endpoint_group": group(&s.base, &g)}))).into_response())
}

async fn list(State(s): State<ApiState>, caller: Caller, q: Query, uri: OriginalUri) -> Result<Json<Value>, ApiError> {
    let list = s.svc.list_endpoint_groups(&caller, q.get("name").map(String::as_str)).await?;
    Ok(Json(json!({
        "endpoint_groups": list.iter().map(|g| group(&s.base, g)).collect::<Vec<_>>(),
        "links": links(&s, &uri),
    })))
}

async fn show(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let g = s.svc.get_endpoint_group(&caller, &id).await?;
    Ok(Json(json!({"endpoint_group": group(&s.base, &g)})))
}

async fn update(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<GroupBody>,
) -> Result<Json<Value>, ApiError> {
    let g = s.svc.update_endpoint_group(&caller, &id, b.endpoint_group).await?;
    Ok(Json(json!({"endpoint_group": group(&s.base, &g)})))
}

async fn delete(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    s.svc.delete_endpoint_group(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn group_endpoints(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    uri: OriginalUri,
) -> Result<Json<Value>, ApiError> {
    let list = s.svc.endpoint_group_endpoints(&caller, &id).await?;
    Ok(Json(json!({
        "endpoints": list.iter().map(|e| views::endpoint(&s.base, e)).collect::<Vec<_>>(),
        "links": links(&s, &uri),
    })))
}

async fn group_projects(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    uri: OriginalUri,
) -> Result<Json<Value>, ApiError> {
    let list = s.svc.endpoint_group_projects(&caller, &id).await?;
    Ok(Json(json!({
        "projects": list.iter().map(|p| views::project(&s.base, p)).collect::<Vec<_>>(),
        "links": links(&s, &uri),
    })))
}

async fn show_group_project(
    State(s): State<ApiState>,
    caller: Caller,
    Path((id, project)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    s.svc.check_project_association(&caller, true, &id, &project).await?;
    Ok(Json(json!({"project_endpoint_group": {
        "endpoint_group_id": id, "project_id": project,
        "links": {"self": format!("{}/OS-EP-FILTER/endpoint_groups/{id}/projects/{project}", s.base)},
    }})))
}

async fn add_group_project(
    State(s): State<ApiState>,
    caller: Caller,
    Path((id, project)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    s.svc.add_project_association(&caller, true, &id, &project).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_group_project(
    State(s): State<ApiState>,
    caller: Caller,
    Path((id, project)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    s.svc.remove_project_association(&caller, true, &id, &project).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn project_groups(
    State(s): State<ApiState>,
    caller: Caller,
    Path(project): Path<String>,
    uri: OriginalUri,
) -> Result<Json<Value>, ApiError> {
    let list = s.svc.project_endpoint_groups(&caller, &project).await?;
    Ok(Json(json!({
        "endpoint_groups": list.iter().map(|g| group(&s.base, g)).collect::<Vec<_>>(),
        "links": links(&s, &uri),
    })))
}

async fn project_endpoints(
    State(s): State<ApiState>,
    caller: Caller,
    Path(project): Path<String>,
    uri: OriginalUri,
    _q: Query,
) -> Result<Json<Value>, ApiError> {
    let list = s.svc.project_endpoints(&caller, &project).await?;
    Ok(Json(json!({
        "endpoints": list.iter().map(|e| views::endpoint(&s.base, e)).collect::<Vec<_>>(),
        "links": links(&s, &uri),
    })))
}

async fn check_endpoint_project(
    State(s): State<ApiState>,
    caller: Caller,
    Path((project, endpoint)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    s.svc.check_project_association(&caller, false, &endpoint, &project).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn add_endpoint_project(
    State(s): State<ApiState>,
    caller: Caller,
    Path((project, endpoint)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    s.svc.add_project_association(&caller, false, &endpoint, &project).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_endpoint_project(
    State(s): State<ApiState>,
    caller: Caller,
    Path((project, endpoint)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    s.svc.remove_project_association(&caller, false, &endpoint, &project).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn endpoint_projects(
    State(s): State<ApiState>,
    caller: Caller,
    Path(endpoint): Path<String>,
    uri: OriginalUri,
) -> Result<Json<Value>, ApiError> {
    let list = s.svc.endpoint_projects(&caller, &endpoint).await?;
    Ok(Json(json!({
        "projects": list.iter().map(|p| views::project(&s.base, p)).collect::<Vec<_>>(),
        "links": links(&s, &uri),
    })))
}
