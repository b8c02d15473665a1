//! `os-aggregates`: host aggregates for administrators, in Nova's shapes. Every answer is a
//! 200 (Nova's, kept for compatibility); a create shows no hosts or metadata; the uuid shows
//! from 2.41. Bodies are held to Nova's schemas: unknown members are refused by name.

use std::collections::BTreeMap;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{json, Map, Value};
use stratus_api::body::json_object;
use stratus_api::microversion::Microversion;
use stratus_api::time::micros_naive;
use stratus_api::{ApiError, Caller};
use stratus_compute::{Aggregate, AggregateUpdate};

use crate::{fail, reply, ApiState, Out};

/// Nova's view of an aggregate; `full` adds its hosts and metadata (all but create's answer).
fn view(a: &Aggregate, mv: Microversion, full: bool) -> Value {
    let mut o = json!({
        "id": a.id,
        "name": a.name,
        "availability_zone": a.availability_zone(),
        "created_at": micros_naive(a.created_at),
        "updated_at": a.updated_at.map(micros_naive),
        "deleted_at": null,
        "deleted": false,
    });
    if full {
        o["hosts"] = json!(a.hosts);
        o["metadata"] = json!(a.metadata);
    }
    if mv.at_least(2, 41) {
        o["uuid"] = json!(a.uuid);
    }
    o
}

fn one(a: &Aggregate, mv: Microversion) -> Out {
    Ok(reply(StatusCode::OK, json!({"aggregate": view(a, mv, true)})))
}

/// `{"<key>": {...}}` and nothing else, as Nova's schemas require.
fn member(mut body: Map<String, Value>, key: &str) -> Result<Map<String, Value>, ApiError> {
    if let Some(other) = body.keys().find(|k| *k != key) {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {other}: additional properties are not allowed here; the body is {{\"{key}\": {{...}}}}."
        )));
    }
    match body.remove(key) {
        Some(Value::Object(o)) => Ok(o),
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {key}. Value: {other}. It must be an object."
        ))),
        None => Err(ApiError::bad_request(format!("'{key}' is a required property."))),
    }
}

/// Refuses members other than `allowed`, naming the first.
fn only(o: &Map<String, Value>, allowed: &[&str], within: &str) -> Result<(), ApiError> {
    match o.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {within}. Additional properties are not allowed ('{k}' was unexpected)."
        ))),
        None => Ok(()),
    }
}

/// A string member: absent (None), null (Some(None), where `nullable`) or a string.
fn string(o: &Map<String, Value>, field: &str, nullable: bool) -> Result<Option<Option<String>>, ApiError> {
    match o.get(field) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
        Some(Value::Null) if nullable => Ok(Some(None)),
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {other}. It must be a string{}.",
            if nullable { " or null" } else { "" }
        ))),
    }
}

pub(crate) async fn list_aggregates(State(s): State<ApiState>, c: Caller, mv: Microversion) -> Out {
    let list = s.svc.list_aggregates(&c).await.map_err(fail)?;
    let items: Vec<Value> = list.iter().map(|a| view(a, mv, true)).collect();
    Ok(reply(StatusCode::OK, json!({ "aggregates": items })))
}

pub(crate) async fn create_aggregate(State(s): State<ApiState>, c: Caller, mv: Microversion, req: Request) -> Out {
    let b = member(json_object(req).await?, "aggregate")?;
    only(&b, &["name", "availability_zone"], "aggregate")?;
    let name = string(&b, "name", false)?.flatten().ok_or_else(|| {
        ApiError::bad_request("Invalid input for field/attribute aggregate: 'name' is a required property.")
    })?;
    let zone = string(&b, "availability_zone", true)?.flatten();
    let a = s.svc.create_aggregate(&c, &name, zone.as_deref()).await.map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({"aggregate": view(&a, mv, false)})))
}

pub(crate) async fn show_aggregate(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(id): Path<String>,
) -> Out {
    one(&s.svc.get_aggregate(&c, &id).await.map_err(fail)?, mv)
}

pub(crate) async fn update_aggregate(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(id): Path<String>,
    req: Request,
) -> Out {
    let b = member(json_object(req).await?, "aggregate")?;
    only(&b, &["name", "availability_zone"], "aggregate")?;
    let u = AggregateUpdate {
        name: string(&b, "name", false)?.flatten(),
        availability_zone: string(&b, "availability_zone", true)?,
    };
    if u.name.is_none() && u.availability_zone.is_none() {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute aggregate: give 'name' or 'availability_zone' (or both).",
        ));
    }
    one(&s.svc.update_aggregate(&c, &id, u).await.map_err(fail)?, mv)
}

pub(crate) async fn delete_aggregate(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Out {
    s.svc.delete_aggregate(&c, &id).await.map_err(fail)?;
    Ok(StatusCode::OK.into_response())
}

/// `POST /os-aggregates/{id}/action`: add_host, remove_host or set_metadata.
pub(crate) async fn aggregate_action(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(id): Path<String>,
    req: Request,
) -> Out {
    let body = json_object(req).await?;
    if body.len() != 1 {
        return Err(ApiError::bad_request(
            "Malformed request body: an action body names exactly one action.",
        ));
    }
    let action = body.keys().next().cloned().unwrap_or_default();
    let a = match action.as_str() {
        "add_host" | "remove_host" => {
            let b = member(body, &action)?;
            only(&b, &["host"], &action)?;
            let host = string(&b, "host", false)?.flatten().ok_or_else(|| {
                ApiError::bad_request(format!("Invalid input for field/attribute {action}: 'host' is a required property."))
            })?;
            if action == "add_host" {
                s.svc.add_aggregate_host(&c, &id, &host).await
            } else {
                s.svc.remove_aggregate_host(&c, &id, &host).await
            }
        }
        "set_metadata" => {
            let b = member(body, "set_metadata")?;
            only(&b, &["metadata"], "set_metadata")?;
            let items = match b.get("metadata") {
                Some(Value::Object(m)) => {
                    let mut items = BTreeMap::new();
                    for (k, v) in m {
                        let v = match v {
                            Value::String(s) => Some(s.clone()),
                            Value::Null => None,
                            other => {
                                return Err(ApiError::bad_request(format!(
                                    "Invalid input for field/attribute metadata. Value of '{k}': {other}. It must be a string or null."
                                )))
                            }
                        };
                        items.insert(k.clone(), v);
                    }
                    items
                }
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid input for field/attribute metadata. Value: {other}. It must be an object."
                    )))
                }
                None => {
                    return Err(ApiError::bad_request(
                        "Invalid input for field/attribute set_metadata: 'metadata' is a required property.",
                    ))
                }
            };
            s.svc.set_aggregate_metadata(&c, &id, items).await
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "There is no such action: {other}. Aggregates have add_host, remove_host and set_metadata."
            )))
        }
    }
    .map_err(fail)?;
    one(&a, mv)
}
