//! The handlers of Networking v2.0.

use std::collections::BTreeMap;

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use stratus_api::body::parse_json;
use stratus_api::{ApiError, AuthContext, Caller};
use stratus_network::inputs::*;

use crate::query::{self, ListQuery};
use crate::{views, ApiState, EXTENSIONS};

pub(crate) type Out = Result<Response, ApiError>;

/// Administrators and the service role (the compute agent) see binding and provider details.
fn privileged(c: &AuthContext) -> bool {
    c.has_role("admin") || c.has_role("service")
}

pub(crate) async fn body<T: DeserializeOwned>(req: Request, key: &'static str) -> Result<T, ApiError> {
    stratus_api::body::keyed_json(req, key)
        .await
        .map_err(|e| e.with_type("HTTPBadRequest"))
}

/// A create body: Neutron's single form `{"<key>": {...}}` or its bulk form
/// `{"<plural>": [{...}, ...]}`, each element validated as a single create.
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

async fn one_or_many<T: DeserializeOwned>(
    req: Request,
    key: &'static str,
    plural: &str,
) -> Result<OneOrMany<T>, ApiError> {
    let bad = |e: ApiError| e.with_type("HTTPBadRequest");
    let mut obj = stratus_api::body::json_object(req).await.map_err(bad)?;
    if obj.len() == 1 {
        if let Some(items) = obj.remove(plural) {
            let Value::Array(items) = items else {
                return Err(
                    ApiError::bad_request(format!("'{plural}' must be a list of {key} objects."))
                        .with_type("HTTPBadRequest"),
                );
            };
            if items.is_empty() {
                return Err(ApiError::bad_request("Resources required").with_type("HTTPBadRequest"));
            }
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                let one = serde_json::Map::from_iter([(key.to_owned(), item)]);
                out.push(stratus_api::body::take_keyed(one, key, &[]).map_err(bad)?.0);
            }
            return Ok(OneOrMany::Many(out));
        }
    }
    Ok(OneOrMany::One(
        stratus_api::body::take_keyed(obj, key, &[]).map_err(bad)?.0,
    ))
}

/// Makes each item in order; on the first failure, removes what was made and answers that
/// failure, so that a bulk create is all or nothing.
macro_rules! bulk {
    ($items:expr, |$i:ident| $make:expr, |$t:ident| $undo:expr) => {{
        let mut made = Vec::new();
        let mut failed = None;
        for $i in $items {
            match $make.await {
                Ok(t) => made.push(t),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = failed {
            for $t in made.iter().rev() {
                let _ = $undo.await;
            }
            return Err(e.into());
        }
        made
    }};
}

async fn bytes_of(req: Request) -> Result<axum::body::Bytes, ApiError> {
    stratus_api::body::bytes_of(req).await
}

pub(crate) fn one(key: &str, status: StatusCode, v: Value) -> Response {
    (status, Json(json!({ key: v }))).into_response()
}

pub(crate) fn listing<T>(
    s: &ApiState,
    collection: &str,
    key: &str,
    q: &ListQuery,
    mut items: Vec<T>,
    id: impl Fn(&T) -> &str,
    view: impl Fn(&T) -> Value,
) -> Response {
    let mut next = None;
    if let Some(l) = q.page.limit {
        if items.len() > l as usize {
            items.truncate(l as usize);
            next = items.last().map(|i| id(i).to_owned());
        }
    }
    let list: Vec<Value> = items.iter().map(|i| views::select(view(i), &q.fields)).collect();
    let mut body = json!({ key: list });
    if q.page.limit.is_some() {
        body[format!("{key}_links")] = json!(query::links(&s.base, collection, &q.params, next.as_deref()));
    }
    (StatusCode::OK, Json(body)).into_response()
}

/// A single resource with the `fields` of the query applied.
pub(crate) fn shown(key: &str, v: Value, raw: Option<&str>) -> Out {
    let q = query::parse(raw, &[])?;
    Ok(one(key, StatusCode::OK, views::select(v, &q.fields)))
}

const NETWORK_SORT: &[(&str, &str)] = &[
    ("id", "id"),
    ("name", "name"),
    ("status", "status"),
    ("project_id", "project_id"),
    ("created_at", "created_at"),
    ("updated_at", "updated_at"),
    ("mtu", "mtu"),
    ("shared", "shared"),
];
const SUBNET_SORT: &[(&str, &str)] = &[
    ("id", "id"),
    ("name", "name"),
    ("network_id", "network_id"),
    ("cidr", "cidr"),
    ("ip_version", "ip_version"),
    ("project_id", "project_id"),
    ("created_at", "created_at"),
    ("updated_at", "updated_at"),
];
const PORT_SORT: &[(&str, &str)] = &[
    ("id", "id"),
    ("name", "name"),
    ("network_id", "network_id"),
    ("mac_address", "mac_address"),
    ("status", "status"),
    ("device_id", "device_id"),
    ("device_owner", "device_owner"),
    ("project_id", "project_id"),
    ("created_at", "created_at"),
    ("updated_at", "updated_at"),
];
const SG_SORT: &[(&str, &str)] = &[
    ("id", "id"),
    ("name", "name"),
    ("project_id", "project_id"),
    ("created_at", "created_at"),
    ("updated_at", "updated_at"),
];
const RULE_SORT: &[(&str, &str)] = &[
    ("id", "id"),
    ("direction", "direction"),
    ("ethertype", "ethertype"),
    ("protocol", "protocol"),
    ("security_group_id", "security_group_id"),
    ("created_at", "created_at"),
];

// ---------------------------------------------------------------- networks

pub(crate) async fn list_networks(State(s): State<ApiState>, c: Caller, RawQuery(raw): RawQuery) -> Out {
    let q = query::parse(raw.as_deref(), NETWORK_SORT)?;
    let items = s.svc.list_networks(&c, &q.filter, &q.page).await?;
    let p = privileged(&c);
    Ok(listing(
        &s,
        "networks",
        "networks",
        &q,
        items,
        |n| &n.id,
        |n| views::network(n, p),
    ))
}
pub(crate) async fn create_network(State(s): State<ApiState>, c: Caller, req: Request) -> Out {
    match one_or_many::<NetworkInput>(req, "network", "networks").await? {
        OneOrMany::One(input) => {
            let n = s.svc.create_network(&c, input).await?;
            Ok(one("network", StatusCode::CREATED, views::network(&n, privileged(&c))))
        }
        OneOrMany::Many(items) => {
            let made = bulk!(items, |i| s.svc.create_network(&c, i), |n| s
                .svc
                .delete_network(&c, &n.id));
            let v: Vec<Value> = made.iter().map(|n| views::network(n, privileged(&c))).collect();
            Ok(one("networks", StatusCode::CREATED, json!(v)))
        }
    }
}
pub(crate) async fn get_network(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Out {
    let n = s.svc.get_network(&c, &id).await?;
    shown("network", views::network(&n, privileged(&c)), raw.as_deref())
}
pub(crate) async fn update_network(State(s): State<ApiState>, c: Caller, Path(id): Path<String>, req: Request) -> Out {
    let input: NetworkInput = body(req, "network").await?;
    let n = s.svc.update_network(&c, &id, input).await?;
    Ok(one("network", StatusCode::OK, views::network(&n, privileged(&c))))
}
pub(crate) async fn delete_network(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Out {
    s.svc.delete_network(&c, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- subnets

pub(crate) async fn list_subnets(State(s): State<ApiState>, c: Caller, RawQuery(raw): RawQuery) -> Out {
    let q = query::parse(raw.as_deref(), SUBNET_SORT)?;
    let items = s.svc.list_subnets(&c, &q.filter, &q.page).await?;
    Ok(listing(&s, "subnets", "subnets", &q, items, |n| &n.id, views::subnet))
}
pub(crate) async fn create_subnet(State(s): State<ApiState>, c: Caller, req: Request) -> Out {
    match one_or_many::<SubnetInput>(req, "subnet", "subnets").await? {
        OneOrMany::One(input) => Ok(one(
            "subnet",
            StatusCode::CREATED,
            views::subnet(&s.svc.create_subnet(&c, input).await?),
        )),
        OneOrMany::Many(items) => {
            let made = bulk!(items, |i| s.svc.create_subnet(&c, i), |n| s
                .svc
                .delete_subnet(&c, &n.id));
            let v: Vec<Value> = made.iter().map(views::subnet).collect();
            Ok(one("subnets", StatusCode::CREATED, json!(v)))
        }
    }
}
pub(crate) async fn get_subnet(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Out {
    shown(
        "subnet",
        views::subnet(&s.svc.get_subnet(&c, &id).await?),
        raw.as_deref(),
    )
}
pub(crate) async fn update_subnet(State(s): State<ApiState>, c: Caller, Path(id): Path<String>, req: Request) -> Out {
    let input: SubnetInput = body(req, "subnet").await?;
    Ok(one(
        "subnet",
        StatusCode::OK,
        views::subnet(&s.svc.update_subnet(&c, &id, input).await?),
    ))
}
pub(crate) async fn delete_subnet(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Out {
    s.svc.delete_subnet(&c, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- ports

pub(crate) async fn list_ports(State(s): State<ApiState>, c: Caller, RawQuery(raw): RawQuery) -> Out {
    let q = query::parse(raw.as_deref(), PORT_SORT)?;
    let items = s.svc.list_ports(&c, &q.filter, &q.page).await?;
    let p = privileged(&c);
    Ok(listing(
        &s,
        "ports",
        "ports",
        &q,
        items,
        |n| &n.id,
        |n| views::port(n, p),
    ))
}
pub(crate) async fn create_port(State(s): State<ApiState>, c: Caller, req: Request) -> Out {
    match one_or_many::<PortInput>(req, "port", "ports").await? {
        OneOrMany::One(input) => {
            let p = s.svc.create_port(&c, input).await?;
            Ok(one("port", StatusCode::CREATED, views::port(&p, privileged(&c))))
        }
        OneOrMany::Many(items) => {
            let made = bulk!(items, |i| s.svc.create_port(&c, i), |p| s.svc.delete_port(&c, &p.id));
            let v: Vec<Value> = made.iter().map(|p| views::port(p, privileged(&c))).collect();
            Ok(one("ports", StatusCode::CREATED, json!(v)))
        }
    }
}
pub(crate) async fn get_port(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Out {
    let p = s.svc.get_port(&c, &id).await?;
    shown("port", views::port(&p, privileged(&c)), raw.as_deref())
}
pub(crate) async fn update_port(State(s): State<ApiState>, c: Caller, Path(id): Path<String>, req: Request) -> Out {
    let input: PortInput = body(req, "port").await?;
    let p = s.svc.update_port(&c, &id, input).await?;
    Ok(one("port", StatusCode::OK, views::port(&p, privileged(&c))))
}
pub(crate) async fn delete_port(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Out {
    s.svc.delete_port(&c, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- security groups

pub(crate) async fn list_security_groups(State(s): State<ApiState>, c: Caller, RawQuery(raw): RawQuery) -> Out {
    let q = query::parse(raw.as_deref(), SG_SORT)?;
    let items = s.svc.list_security_groups(&c, &q.filter, &q.page).await?;
    Ok(listing(
        &s,
        "security-groups",
        "security_groups",
        &q,
        items,
        |g| &g.id,
        views::security_group,
    ))
}
pub(crate) async fn create_security_group(State(s): State<ApiState>, c: Caller, req: Request) -> Out {
    let input: SecurityGroupInput = body(req, "security_group").await?;
    Ok(one(
        "security_group",
        StatusCode::CREATED,
        views::security_group(&s.svc.create_security_group(&c, input).await?),
    ))
}
pub(crate) async fn get_security_group(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Out {
    shown(
        "security_group",
        views::security_group(&s.svc.get_security_group(&c, &id).await?),
        raw.as_deref(),
    )
}
pub(crate) async fn update_security_group(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    req: Request,
) -> Out {
    let input: SecurityGroupInput = body(req, "security_group").await?;
    Ok(one(
        "security_group",
        StatusCode::OK,
        views::security_group(&s.svc.update_security_group(&c, &id, input).await?),
    ))
}
pub(crate) async fn delete_security_group(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Out {
    s.svc.delete_security_group(&c, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn list_rules(State(s): State<ApiState>, c: Caller, RawQuery(raw): RawQuery) -> Out {
    let q = query::parse(raw.as_deref(), RULE_SORT)?;
    let items = s.svc.list_security_group_rules(&c, &q.filter, &q.page).await?;
    Ok(listing(
        &s,
        "security-group-rules",
        "security_group_rules",
        &q,
        items,
        |r| &r.id,
        views::rule,
    ))
}
pub(crate) async fn create_rule(State(s): State<ApiState>, c: Caller, req: Request) -> Out {
    let input: RuleInput = body(req, "security_group_rule").await?;
    Ok(one(
        "security_group_rule",
        StatusCode::CREATED,
        views::rule(&s.svc.create_security_group_rule(&c, input).await?),
    ))
}
pub(crate) async fn get_rule(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Out {
    shown(
        "security_group_rule",
        views::rule(&s.svc.get_security_group_rule(&c, &id).await?),
        raw.as_deref(),
    )
}
pub(crate) async fn delete_rule(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Out {
    s.svc.delete_security_group_rule(&c, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- quotas

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotaBody {
    quota: serde_json::Map<String, Value>,
}

fn quota_json(q: &BTreeMap<String, i64>) -> Value {
    json!(q)
}

/// The projects whose quotas were set, each with all its limits (Neutron's `GET /quotas`).
pub(crate) async fn list_quotas(State(s): State<ApiState>, c: Caller) -> Out {
    let list: Vec<Value> = s
        .svc
        .list_quotas(&c)
        .await?
        .into_iter()
        .map(|(project, limits)| {
            let mut q = quota_json(&limits);
            q["project_id"] = json!(project);
            q["tenant_id"] = json!(project);
            q
        })
        .collect();
    Ok((StatusCode::OK, Json(json!({ "quotas": list }))).into_response())
}
pub(crate) async fn get_quota(State(s): State<ApiState>, c: Caller, Path(project): Path<String>) -> Out {
    Ok(one(
        "quota",
        StatusCode::OK,
        quota_json(&s.svc.get_quota(&c, &project).await?),
    ))
}
pub(crate) async fn default_quota(State(s): State<ApiState>, c: Caller, Path(project): Path<String>) -> Out {
    let _ = s.svc.get_quota(&c, &project).await?;
    let defaults: BTreeMap<String, i64> = s
        .svc
        .config()
        .default_quotas
        .iter()
        .map(|(r, l)| (r.to_string(), *l))
        .collect();
    Ok(one("quota", StatusCode::OK, quota_json(&defaults)))
}
pub(crate) async fn quota_details(State(s): State<ApiState>, c: Caller, Path(project): Path<String>) -> Out {
    let d = s.svc.quota_details(&c, &project).await?;
    let v: serde_json::Map<String, Value> = d
        .into_iter()
        .map(|(r, (limit, used))| (r, json!({"limit": limit, "used": used, "reserved": 0})))
        .collect();
    Ok(one("quota", StatusCode::OK, Value::Object(v)))
}
pub(crate) async fn update_quota(
    State(s): State<ApiState>,
    c: Caller,
    Path(project): Path<String>,
    req: Request,
) -> Out {
    let b: QuotaBody = parse_json(&bytes_of(req).await?)?;
    // python-openstackclient adds `check_limit: true` (refuse a limit below what is used)
    // or `force: true` (allow it) beside the limits.
    let mut limits = BTreeMap::new();
    let mut check_limit = false;
    for (k, v) in b.quota {
        match (k.as_str(), &v) {
            ("check_limit", Value::Bool(b)) => check_limit = *b,
            ("force", Value::Bool(b)) => check_limit = !*b,
            ("check_limit" | "force", _) => {
                return Err(ApiError::bad_request(format!("'{k}' must be true or false.")).with_type("InvalidInput"))
            }
            _ => {
                let n = v
                    .as_i64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    .ok_or_else(|| {
                        ApiError::bad_request(format!("Invalid input for {k}. Reason: '{v}' is not an integer."))
                            .with_type("InvalidInput")
                    })?;
                limits.insert(k, n);
            }
        }
    }
    Ok(one(
        "quota",
        StatusCode::OK,
        quota_json(&s.svc.update_quota(&c, &project, &limits, check_limit).await?),
    ))
}
pub(crate) async fn reset_quota(State(s): State<ApiState>, c: Caller, Path(project): Path<String>) -> Out {
    s.svc.reset_quota(&c, &project).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- service providers

const PROVIDER_SORT: &[(&str, &str)] = &[
    ("service_type", "service_type"),
    ("name", "name"),
    ("default", "default"),
];

/// `GET /service-providers`: the configured providers. As in Neutron, the list is neither
/// paged nor sorted (`limit`, `marker` and `sort_*` are read and have no effect).
pub(crate) async fn list_service_providers(State(s): State<ApiState>, c: Caller, RawQuery(raw): RawQuery) -> Out {
    let q = query::parse(raw.as_deref(), PROVIDER_SORT)?;
    let list: Vec<Value> = s
        .svc
        .list_service_providers(&c, &q.filter)?
        .iter()
        .map(|p| views::select(views::service_provider(p), &q.fields))
        .collect();
    Ok((StatusCode::OK, Json(json!({ "service_providers": list }))).into_response())
}

// ---------------------------------------------------------------- extensions

fn extension(alias: &str, name: &str, description: &str) -> Value {
    json!({"alias": alias, "name": name, "description": description, "updated": "2025-01-01T00:00:00-00:00", "links": []})
}
pub(crate) async fn list_extensions(_c: Caller) -> Json<Value> {
    Json(json!({"extensions": EXTENSIONS.iter().map(|(a, n, d)| extension(a, n, d)).collect::<Vec<_>>()}))
}
pub(crate) async fn get_extension(_c: Caller, Path(alias): Path<String>) -> Out {
    match EXTENSIONS.iter().find(|(a, _, _)| *a == alias) {
        Some((a, n, d)) => Ok(one("extension", StatusCode::OK, extension(a, n, d))),
        None => Err(
            ApiError::not_found(format!("Extension with alias {alias} does not exist")).with_type("ExtensionNotFound"),
        ),
    }
}
