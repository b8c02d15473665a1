//! Nova's limits, quota sets and quota classes, with the resources each microversion shows:
//! the network ones (floating and fixed IPs, security groups and rules) go at 2.36, the
//! injected-file ones at 2.57; quota classes show the server-group ones only from 2.50.

use std::collections::BTreeMap;

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{json, Value};
use stratus_api::body::{json_object, take_keyed};
use stratus_api::microversion::Microversion;
use stratus_api::{ApiError, Caller};
use stratus_compute::{ComputeLimits, INJECTION_QUOTAS, NETWORK_QUOTAS, QUOTA_RESOURCES};

use crate::{fail, reply, ApiState, Out};

/// Whether a quota set at `mv` shows `resource`.
fn shown(resource: &str, mv: Microversion) -> bool {
    !(mv.at_least(2, 36) && NETWORK_QUOTAS.contains(&resource))
        && !(mv.at_least(2, 57) && INJECTION_QUOTAS.contains(&resource))
}

/// Whether a quota class at `mv` shows `resource` (the server-group ones from 2.50, and no
/// network ones from 2.50 either).
fn class_shown(resource: &str, mv: Microversion) -> bool {
    let groups = resource == "server_groups" || resource == "server_group_members";
    let network = NETWORK_QUOTAS.contains(&resource) || resource == "networks";
    if mv.at_least(2, 50) {
        !network && !(mv.at_least(2, 57) && INJECTION_QUOTAS.contains(&resource))
    } else {
        !groups
    }
}

fn in_use(u: &stratus_compute::Usage, resource: &str) -> i64 {
    match resource {
        "instances" => u.instances,
        "cores" => u.cores,
        "ram" => u.ram,
        "server_groups" => u.server_groups,
        _ => 0,
    }
}

/// A quota set: every resource `mv` shows, as a limit or (with usage) as its detail.
fn quota_set(id: Option<&str>, l: &ComputeLimits, u: Option<&stratus_compute::Usage>, mv: Microversion) -> Value {
    let mut o = serde_json::Map::new();
    if let Some(id) = id {
        o.insert("id".into(), json!(id));
    }
    for (r, limit) in l.iter().filter(|(r, _)| shown(r, mv)) {
        let v = match u {
            Some(u) => json!({"limit": limit, "in_use": in_use(u, r), "reserved": 0}),
            None => json!(limit),
        };
        o.insert(r.to_owned(), v);
    }
    Value::Object(o)
}

/// The `user_id` a quota request may name.
fn user_of(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    let q: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("Invalid query string: {e}.")))?;
    for (k, _) in &q {
        if k != "user_id" {
            return Err(ApiError::bad_request(format!(
                "Invalid input for query parameters {k}. Additional properties are not allowed."
            )));
        }
    }
    Ok(q.into_iter().rev().find(|(k, _)| k == "user_id").map(|(_, v)| v))
}

pub(crate) async fn limits(State(s): State<ApiState>, c: Caller, mv: Microversion) -> Out {
    let (l, u) = s.svc.compute_usage(&c).await.map_err(fail)?;
    let mut a = json!({
        "maxTotalInstances": l.get("instances"), "totalInstancesUsed": u.instances,
        "maxTotalCores": l.get("cores"), "totalCoresUsed": u.cores,
        "maxTotalRAMSize": l.get("ram"), "totalRAMUsed": u.ram,
        "maxServerMeta": l.get("metadata_items"),
        "maxTotalKeypairs": l.get("key_pairs"),
        "maxServerGroups": l.get("server_groups"), "maxServerGroupMembers": l.get("server_group_members"),
        "totalServerGroupsUsed": u.server_groups,
    });
    if !mv.at_least(2, 36) {
        a["maxSecurityGroups"] = json!(l.get("security_groups"));
        a["maxSecurityGroupRules"] = json!(l.get("security_group_rules"));
        a["maxTotalFloatingIps"] = json!(l.get("floating_ips"));
        a["totalFloatingIpsUsed"] = json!(0);
        a["totalSecurityGroupsUsed"] = json!(0);
    }
    if !mv.at_least(2, 39) {
        a["maxImageMeta"] = json!(l.get("metadata_items"));
    }
    if !mv.at_least(2, 57) {
        a["maxPersonality"] = json!(l.get("injected_files"));
        a["maxPersonalitySize"] = json!(l.get("injected_file_content_bytes"));
    }
    Ok(reply(StatusCode::OK, json!({"limits": {"rate": [], "absolute": a}})))
}

pub(crate) async fn show_quota(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(project): Path<String>,
    RawQuery(raw): RawQuery,
) -> Out {
    let user = user_of(raw.as_deref())?;
    let (l, _) = s.svc.compute_quota(&c, &project, user.as_deref()).await.map_err(fail)?;
    Ok(reply(
        StatusCode::OK,
        json!({"quota_set": quota_set(Some(&project), &l, None, mv)}),
    ))
}

pub(crate) async fn show_quota_detail(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(project): Path<String>,
    RawQuery(raw): RawQuery,
) -> Out {
    let user = user_of(raw.as_deref())?;
    let (l, u) = s.svc.compute_quota(&c, &project, user.as_deref()).await.map_err(fail)?;
    Ok(reply(
        StatusCode::OK,
        json!({"quota_set": quota_set(Some(&project), &l, Some(&u), mv)}),
    ))
}

pub(crate) async fn default_quota(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(project): Path<String>,
) -> Out {
    let l = s.svc.default_quotas(&c, &project).await.map_err(fail)?;
    Ok(reply(
        StatusCode::OK,
        json!({"quota_set": quota_set(Some(&project), &l, None, mv)}),
    ))
}

/// The limits of a `quota_set` / `quota_class_set` body, refusing the resources `mv` does not
/// show; the `force` flag apart.
fn changes_of(
    body: serde_json::Map<String, Value>,
    allowed: impl Fn(&str) -> bool,
) -> Result<(BTreeMap<String, i64>, bool), ApiError> {
    let mut changes = BTreeMap::new();
    let mut force = false;
    for (k, v) in body {
        if k == "force" {
            force = match &v {
                Value::Bool(b) => *b,
                Value::String(s) if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") => {
                    s.eq_ignore_ascii_case("true")
                }
                other => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid input for field/attribute force. Value: {other}. It must be a boolean."
                    )))
                }
            };
            continue;
        }
        if !QUOTA_RESOURCES.iter().any(|(r, _)| *r == k) || !allowed(&k) {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute quota_set. Additional properties are not allowed ('{k}' was unexpected)."
            )));
        }
        let n = v
            .as_i64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Invalid input for field/attribute {k}. Value: {v}. It must be an integer."
                ))
            })?;
        changes.insert(k, n);
    }
    Ok((changes, force))
}

pub(crate) async fn update_quota(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(project): Path<String>,
    RawQuery(raw): RawQuery,
    req: Request,
) -> Out {
    let user = user_of(raw.as_deref())?;
    let obj = json_object(req).await?;
    let (body, _): (serde_json::Map<String, Value>, _) = take_keyed(obj, "quota_set", &[])?;
    let (changes, force) = changes_of(body, |r| shown(r, mv))?;
    let l = s
        .svc
        .update_compute_quota(&c, &project, user.as_deref(), &changes, force)
        .await
        .map_err(fail)?;
    Ok(reply(
        StatusCode::OK,
        json!({ "quota_set": quota_set(None, &l, None, mv) }),
    ))
}

pub(crate) async fn delete_quota(
    State(s): State<ApiState>,
    c: Caller,
    Path(project): Path<String>,
    RawQuery(raw): RawQuery,
) -> Out {
    let user = user_of(raw.as_deref())?;
    s.svc
        .delete_compute_quota(&c, &project, user.as_deref())
        .await
        .map_err(fail)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

fn class_set(id: Option<&str>, l: &ComputeLimits, mv: Microversion) -> Value {
    let mut o = serde_json::Map::new();
    if let Some(id) = id {
        o.insert("id".into(), json!(id));
    }
    for (r, limit) in l.iter().filter(|(r, _)| class_shown(r, mv)) {
        o.insert(r.to_owned(), json!(limit));
    }
    Value::Object(o)
}

pub(crate) async fn show_quota_class(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(class): Path<String>,
) -> Out {
    let l = s.svc.quota_class(&c, &class).await.map_err(fail)?;
    Ok(reply(
        StatusCode::OK,
        json!({"quota_class_set": class_set(Some(&class), &l, mv)}),
    ))
}

pub(crate) async fn update_quota_class(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(class): Path<String>,
    req: Request,
) -> Out {
    let obj = json_object(req).await?;
    let (body, _): (serde_json::Map<String, Value>, _) = take_keyed(obj, "quota_class_set", &[])?;
    let (changes, _) = changes_of(body, |r| class_shown(r, mv))?;
    let l = s.svc.update_quota_class(&c, &class, &changes).await.map_err(fail)?;
    Ok(reply(
        StatusCode::OK,
        json!({"quota_class_set": class_set(None, &l, mv)}),
    ))
}
