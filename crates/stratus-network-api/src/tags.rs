//! The handlers of `/{collection}/{id}/tags` (Neutron's `standard-attr-tag` and
//! `tag-creation`), one set for every taggable collection, told apart by a marker type.

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};
use stratus_api::{ApiError, Caller};
use stratus_network::TagKind;

use crate::handlers::Out;
use crate::ApiState;

/// A collection whose members take tags.
pub(crate) trait Taggable {
    const KIND: TagKind;
}

pub(crate) struct Networks;
pub(crate) struct Subnets;
pub(crate) struct Ports;
pub(crate) struct SecurityGroups;

impl Taggable for Networks {
    const KIND: TagKind = TagKind::Networks;
}
impl Taggable for Subnets {
    const KIND: TagKind = TagKind::Subnets;
}
impl Taggable for Ports {
    const KIND: TagKind = TagKind::Ports;
}
impl Taggable for SecurityGroups {
    const KIND: TagKind = TagKind::SecurityGroups;
}

fn invalid(message: String) -> ApiError {
    ApiError::bad_request(format!("Invalid input for operation: {message}.")).with_type("InvalidInput")
}

/// `{"tags": ["a", "b"]}`, as Neutron's `validate_tags` reads it: other keys are not looked at.
async fn tags_body(req: Request) -> Result<Vec<String>, ApiError> {
    let mut obj = stratus_api::body::json_object(req)
        .await
        .map_err(|e| e.with_type("HTTPBadRequest"))?;
    let Some(tags) = obj.remove("tags") else {
        return Err(invalid("Invalid tags body".into()));
    };
    let Value::Array(items) = tags else {
        return Err(invalid(format!("'{}' is not a list", shown(&tags))));
    };
    items
        .into_iter()
        .map(|t| match t {
            Value::String(s) => Ok(s),
            other => Err(invalid(format!("'{}' is not a valid string", shown(&other)))),
        })
        .collect()
}

/// A value as Neutron's messages quote it: strings without their JSON quotes.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn tags_json(status: StatusCode, tags: Vec<String>) -> Out {
    Ok((status, Json(json!({ "tags": tags }))).into_response())
}

/// `GET .../tags`
pub(crate) async fn list_tags<T: Taggable>(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Out {
    tags_json(StatusCode::OK, s.svc.list_tags(&c, T::KIND, &id).await?)
}

/// `PUT .../tags`: replaces them all; answers the tags given.
pub(crate) async fn replace_tags<T: Taggable>(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    req: Request,
) -> Out {
    let tags = tags_body(req).await?;
    tags_json(StatusCode::OK, s.svc.replace_tags(&c, T::KIND, &id, tags).await?)
}

/// `POST .../tags`: adds the tags given (`tag-creation`).
pub(crate) async fn add_tags<T: Taggable>(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    req: Request,
) -> Out {
    let tags = tags_body(req).await?;
    tags_json(StatusCode::CREATED, s.svc.add_tags(&c, T::KIND, &id, tags).await?)
}

/// `DELETE .../tags`
pub(crate) async fn remove_all_tags<T: Taggable>(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Out {
    s.svc.remove_all_tags(&c, T::KIND, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET .../tags/{tag}`: 204 when the resource has it.
pub(crate) async fn check_tag<T: Taggable>(
    State(s): State<ApiState>,
    c: Caller,
    Path((id, tag)): Path<(String, String)>,
) -> Out {
    s.svc.check_tag(&c, T::KIND, &id, &tag).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT .../tags/{tag}`: 201 with no body, whether or not it was there.
pub(crate) async fn add_tag<T: Taggable>(
    State(s): State<ApiState>,
    c: Caller,
    Path((id, tag)): Path<(String, String)>,
) -> Out {
    s.svc.add_tag(&c, T::KIND, &id, &tag).await?;
    Ok(StatusCode::CREATED.into_response())
}

/// `DELETE .../tags/{tag}`
pub(crate) async fn remove_tag<T: Taggable>(
    State(s): State<ApiState>,
    c: Caller,
    Path((id, tag)): Path<(String, String)>,
) -> Out {
    s.svc.remove_tag(&c, T::KIND, &id, &tag).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
