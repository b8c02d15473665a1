//! Flavors, their access lists and their extra specs.

use std::collections::BTreeMap;

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{json, Value};
use stratus_api::body::{json_object, keyed_json};
use stratus_api::microversion::Microversion;
use stratus_api::{ApiError, Caller};
use stratus_compute::{Flavor, NewFlavor};

use crate::{fail, reply, ApiState, Out};

fn links(s: &ApiState, id: &str) -> Value {
    let bookmark = s.base.trim_end_matches("/v2.1");
    json!([
        {"rel": "self", "href": format!("{}/flavors/{id}", s.base)},
        {"rel": "bookmark", "href": format!("{bookmark}/flavors/{id}")},
    ])
}

pub(crate) fn flavor_view(s: &ApiState, f: &Flavor, mv: Microversion) -> Value {
    let mut o = json!({
        "id": f.id,
        "name": f.name,
        "ram": f.memory_mb,
        "vcpus": f.vcpus,
        "disk": f.root_gb,
        "OS-FLV-EXT-DATA:ephemeral": f.ephemeral_gb,
        // Before 2.75 Nova shows no swap as "".
        "swap": if f.swap == 0 && !mv.at_least(2, 75) { json!("") } else { json!(f.swap) },
        "rxtx_factor": f.rxtx_factor,
        "os-flavor-access:is_public": f.is_public,
        "OS-FLV-DISABLED:disabled": f.disabled,
        "links": links(s, &f.id),
    });
    if mv.at_least(2, 55) {
        o["description"] = json!(f.description);
    }
    if mv.at_least(2, 61) {
        o["extra_specs"] = json!(f.extra_specs);
    }
    o
}

fn parse_query(raw: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("Invalid query string: {e}.")))
}

async fn list(s: ApiState, c: Caller, mv: Microversion, raw: Option<String>, detail: bool) -> Out {
    let q = parse_query(raw.as_deref())?;
    let get = |k: &str| q.iter().rev().find(|(x, _)| x == k).map(|(_, v)| v.as_str());
    let admin = c.has_role("admin");
    // As Nova: administrators see public flavors unless they ask (`is_public=none` for all);
    // others always see the public ones and those shared with their project.
    let is_public = match get("is_public").map(str::to_ascii_lowercase).as_deref() {
        _ if !admin => None,
        None => Some(true),
        Some("none") => None,
        Some("true" | "1" | "yes" | "t" | "on") => Some(true),
        Some("false" | "0" | "no" | "f" | "off") => Some(false),
        Some(other) => {
            return Err(ApiError::bad_request(format!("Invalid is_public filter [{other}]")));
        }
    };
    let int = |k: &str| -> Result<Option<i64>, ApiError> {
        get(k)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| ApiError::bad_request(format!("Invalid {k} filter [{v}]")))
            })
            .transpose()
    };
    let (min_ram, min_disk) = (int("minRam")?, int("minDisk")?);
    let limit = get("limit")
        .map(|v| {
            v.parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("Invalid limit [{v}]")))
        })
        .transpose()?;
    let sort_key = get("sort_key").unwrap_or("flavorid");
    let desc = match get("sort_dir").unwrap_or("asc") {
        "asc" => false,
        "desc" => true,
        other => return Err(ApiError::bad_request(format!("Invalid sort_dir [{other}]"))),
    };
    let mut flavors = s.svc.list_flavors(&c, is_public).await.map_err(fail)?;
    flavors.retain(|f| min_ram.is_none_or(|m| f.memory_mb >= m) && min_disk.is_none_or(|m| f.root_gb >= m));
    match sort_key {
        "flavorid" | "id" => flavors.sort_by(|a, b| a.id.cmp(&b.id)),
        "name" => flavors.sort_by(|a, b| a.name.cmp(&b.name)),
        "memory_mb" => flavors.sort_by_key(|f| f.memory_mb),
        "vcpus" => flavors.sort_by_key(|f| f.vcpus),
        "root_gb" => flavors.sort_by_key(|f| f.root_gb),
        "created_at" => {}
        other => return Err(ApiError::bad_request(format!("Invalid sort_key [{other}]"))),
    }
    if desc {
        flavors.reverse();
    }
    if let Some(m) = get("marker") {
        let at = flavors
            .iter()
            .position(|f| f.id == m)
            .ok_or_else(|| ApiError::bad_request(format!("marker [{m}] not found")))?;
        flavors.drain(..=at);
    }
    let more = limit.is_some_and(|l| flavors.len() > l);
    if let Some(l) = limit {
        flavors.truncate(l);
    }
    let items: Vec<Value> = flavors
        .iter()
        .map(|f| {
            if detail {
                flavor_view(&s, f, mv)
            } else {
                let mut o = json!({"id": f.id, "name": f.name, "links": links(&s, &f.id)});
                if mv.at_least(2, 55) {
                    o["description"] = json!(f.description);
                }
                o
            }
        })
        .collect();
    let mut out = json!({ "flavors": items });
    if more {
        if let Some(last) = flavors.last() {
            let path = if detail { "flavors/detail" } else { "flavors" };
            out["flavors_links"] = stratus_api::pagination::next_link(&format!("{}/{path}", s.base), &q, &last.id);
        }
    }
    Ok(reply(StatusCode::OK, out))
}

pub(crate) async fn list_flavors(State(s): State<ApiState>, c: Caller, mv: Microversion, RawQuery(q): RawQuery) -> Out {
    list(s, c, mv, q, false).await
}

pub(crate) async fn list_flavors_detail(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    RawQuery(q): RawQuery,
) -> Out {
    list(s, c, mv, q, true).await
}

pub(crate) async fn show_flavor(State(s): State<ApiState>, c: Caller, mv: Microversion, Path(id): Path<String>) -> Out {
    let f = s.svc.get_flavor(&c, &id).await.map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({"flavor": flavor_view(&s, &f, mv)})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlavorCreate {
    name: String,
    ram: Value,
    vcpus: Value,
    disk: Value,
    id: Option<Value>,
    #[serde(rename = "OS-FLV-EXT-DATA:ephemeral")]
    ephemeral: Option<Value>,
    swap: Option<Value>,
    rxtx_factor: Option<Value>,
    #[serde(rename = "os-flavor-access:is_public")]
    is_public: Option<Value>,
    description: Option<String>,
}

/// An integer given as a JSON number or a string of digits, as Nova accepts.
fn int(field: &str, v: &Value) -> Result<i64, ApiError> {
    let n = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    n.ok_or_else(|| {
        ApiError::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {v}. It must be an integer."
        ))
    })
}

pub(crate) async fn create_flavor(State(s): State<ApiState>, c: Caller, mv: Microversion, req: Request) -> Out {
    let b: FlavorCreate = keyed_json(req, "flavor").await?;
    if b.description.is_some() && !mv.at_least(2, 55) {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute flavor. Additional properties are not allowed ('description' was unexpected); it needs microversion 2.55.",
        ));
    }
    let id = match &b.id {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute id. Value: {other}."
            )))
        }
    };
    let rxtx = match &b.rxtx_factor {
        None => 1.0,
        Some(v) => v
            .as_f64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| {
                ApiError::bad_request(format!("Invalid input for field/attribute rxtx_factor. Value: {v}."))
            })?,
    };
    let is_public = match &b.is_public {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(v)) if v.eq_ignore_ascii_case("true") => true,
        Some(Value::String(v)) if v.eq_ignore_ascii_case("false") => false,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute os-flavor-access:is_public. Value: {other}. It must be a boolean."
            )))
        }
    };
    let req = NewFlavor {
        id,
        name: b.name,
        description: b.description,
        memory_mb: int("ram", &b.ram)?,
        vcpus: int("vcpus", &b.vcpus)?,
        root_gb: int("disk", &b.disk)?,
        ephemeral_gb: b
            .ephemeral
            .as_ref()
            .map(|v| int("OS-FLV-EXT-DATA:ephemeral", v))
            .transpose()?
            .unwrap_or(0),
        swap: match &b.swap {
            None => 0,
            Some(Value::String(s)) if s.is_empty() => 0,
            Some(v) => int("swap", v)?,
        },
        rxtx_factor: rxtx,
        is_public,
    };
    let f = s.svc.create_flavor(&c, req).await.map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({"flavor": flavor_view(&s, &f, mv)})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlavorChange {
    description: Option<String>,
}

pub(crate) async fn update_flavor(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(id): Path<String>,
    req: Request,
) -> Out {
    if !mv.at_least(2, 55) {
        return Err(ApiError::new(
            stratus_api::ErrorKind::MethodNotAllowed,
            "Updating a flavor needs microversion 2.55 or later.",
        ));
    }
    let b: FlavorChange = keyed_json(req, "flavor").await?;
    let f = s.svc.update_flavor(&c, &id, b.description).await.map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({"flavor": flavor_view(&s, &f, mv)})))
}

pub(crate) async fn delete_flavor(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Out {
    s.svc.delete_flavor(&c, &id).await.map_err(fail)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

fn access_view(id: &str, projects: &[String]) -> Value {
    let items: Vec<Value> = projects
        .iter()
        .map(|p| json!({"flavor_id": id, "tenant_id": p}))
        .collect();
    json!({ "flavor_access": items })
}

pub(crate) async fn show_flavor_access(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Out {
    let projects = s.svc.flavor_access(&c, &id).await.map_err(fail)?;
    Ok(reply(StatusCode::OK, access_view(&id, &projects)))
}

pub(crate) async fn flavor_action(State(s): State<ApiState>, c: Caller, Path(id): Path<String>, req: Request) -> Out {
    let obj = json_object(req).await?;
    if obj.len() != 1 {
        return Err(ApiError::bad_request(
            "Invalid input: an action body names exactly one action.",
        ));
    }
    let (action, body) = obj
        .iter()
        .next()
        .map(|(k, v)| (k.as_str(), v))
        .unwrap_or(("", &Value::Null));
    let tenant = body.get("tenant").and_then(Value::as_str).ok_or_else(|| {
        ApiError::bad_request(format!(
            "Invalid input for field/attribute {action}: 'tenant' is a required property."
        ))
    })?;
    let projects = match action {
        "addTenantAccess" => s.svc.add_flavor_access(&c, &id, tenant).await,
        "removeTenantAccess" => s.svc.remove_flavor_access(&c, &id, tenant).await,
        other => {
            return Err(ApiError::bad_request(format!(
                "There is no such action: {other}. Flavors have addTenantAccess and removeTenantAccess."
            )))
        }
    }
    .map_err(fail)?;
    Ok(reply(StatusCode::OK, access_view(&id, &projects)))
}

pub(crate) async fn list_extra_specs(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Out {
    let f = s.svc.get_flavor(&c, &id).await.map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({"extra_specs": f.extra_specs})))
}

pub(crate) async fn create_extra_specs(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    req: Request,
) -> Out {
    let specs: BTreeMap<String, String> = keyed_json(req, "extra_specs").await?;
    let set = s.svc.set_extra_specs(&c, &id, specs).await.map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({ "extra_specs": set })))
}

pub(crate) async fn show_extra_spec(
    State(s): State<ApiState>,
    c: Caller,
    Path((id, key)): Path<(String, String)>,
) -> Out {
    let f = s.svc.get_flavor(&c, &id).await.map_err(fail)?;
    match f.extra_specs.get(&key) {
        Some(v) => Ok(reply(StatusCode::OK, json!({ key: v }))),
        None => Err(ApiError::not_found(format!(
            "Flavor {id} has no extra specs with key {key}."
        ))),
    }
}

pub(crate) async fn put_extra_spec(
    State(s): State<ApiState>,
    c: Caller,
    Path((id, key)): Path<(String, String)>,
    req: Request,
) -> Out {
    let obj = json_object(req).await?;
    let spec: BTreeMap<String, String> = serde_json::from_value(Value::Object(obj))
        .map_err(|e| ApiError::bad_request(format!("Invalid input for field/attribute extra_specs: {e}.")))?;
    if spec.len() != 1 || !spec.contains_key(&key) {
        return Err(ApiError::bad_request("Request body and URI mismatch"));
    }
    let set = s.svc.set_extra_specs(&c, &id, spec).await.map_err(fail)?;
    Ok(reply(StatusCode::OK, json!(set)))
}

pub(crate) async fn delete_extra_spec(
    State(s): State<ApiState>,
    c: Caller,
    Path((id, key)): Path<(String, String)>,
) -> Out {
    s.svc.delete_extra_spec(&c, &id, &key).await.map_err(fail)?;
    Ok(StatusCode::OK.into_response())
}
