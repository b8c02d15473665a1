//! `os-hypervisors`: the compute hosts as Nova shows them to administrators, at every
//! microversion served. Ids are integers before 2.53 and uuids from 2.53 (the service's id
//! too); `cpu_info` is a string before 2.28 and an object after; lists page from 2.33; 2.53
//! moves the search and servers routes into `hypervisor_hostname_pattern` and `with_servers`
//! on the lists (the old routes are gone at 2.53, as in Nova).

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Extension;
use serde_json::{json, Value};
use stratus_api::microversion::Microversion;
use stratus_api::request_id::RequestId;
use stratus_api::{ApiError, Caller};
use stratus_compute::{Hypervisor, HypervisorQuery, HypervisorRef};

use crate::{fail, reply, ApiState, Out};

/// Nova's `[api] max_limit`.
const MAX_LIMIT: u32 = 1000;

fn uuids(mv: Microversion) -> bool {
    mv.at_least(2, 53)
}

/// Nova's hypervisor view; `detail` adds the resources and the service.
fn view(h: &Hypervisor, detail: bool, mv: Microversion) -> Value {
    let n = &h.node;
    let id = if uuids(mv) { json!(n.service_id) } else { json!(n.id) };
    let mut o = json!({
        "id": id,
        "hypervisor_hostname": n.host,
        "state": if h.up { "up" } else { "down" },
        "status": if n.enabled { "enabled" } else { "disabled" },
    });
    if detail {
        let free_disk = n.disk_gb - n.disk_gb_used;
        let more = json!({
            "hypervisor_type": n.hypervisor_type,
            "hypervisor_version": n.hypervisor_version,
            // Hosts registered before their agents reported an address: the loopback one
            // the all-in-one cloud reaches them at.
            "host_ip": n.host_ip.as_deref().unwrap_or("127.0.0.1"),
            "service": {"id": id, "host": n.host, "disabled_reason": n.disabled_reason},
            "vcpus": n.vcpus,
            "vcpus_used": n.vcpus_used,
            "memory_mb": n.memory_mb,
            "memory_mb_used": n.memory_mb_used,
            "local_gb": n.disk_gb,
            "local_gb_used": n.disk_gb_used,
            "free_ram_mb": n.memory_mb - n.memory_mb_used,
            "free_disk_gb": free_disk,
            "disk_available_least": free_disk,
            "current_workload": n.current_workload,
            "running_vms": n.running_vms,
            // The drivers report no CPU model: Nova's empty cpu_info, a string before 2.28.
            "cpu_info": if mv.at_least(2, 28) { json!({}) } else { json!("{}") },
        });
        if let (Some(o), Value::Object(more)) = (o.as_object_mut(), more) {
            o.extend(more);
        }
    }
    // Before 2.75 Nova shows `servers` only when there are some; from 2.75 whenever asked.
    if let Some(servers) = h.servers.as_ref().filter(|s| mv.at_least(2, 75) || !s.is_empty()) {
        o["servers"] = json!(servers
            .iter()
            .map(|(id, name)| json!({"uuid": id, "name": name}))
            .collect::<Vec<_>>());
    }
    o
}

struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: Option<&str>) -> Result<Query, ApiError> {
        serde_urlencoded::from_str(raw.unwrap_or(""))
            .map(Query)
            .map_err(|e| ApiError::bad_request(format!("Invalid query string: {e}.")))
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().rev().find(|(x, _)| x == k).map(|(_, v)| v.as_str())
    }

    /// `with_servers` as oslo's strict bool_from_string reads it (2.53).
    fn with_servers(&self) -> Result<bool, ApiError> {
        match self.get("with_servers").map(str::to_ascii_lowercase).as_deref() {
            None => Ok(false),
            Some("1" | "t" | "true" | "on" | "y" | "yes") => Ok(true),
            Some("0" | "f" | "false" | "off" | "n" | "no") => Ok(false),
            Some(other) => Err(ApiError::bad_request(format!(
                "Invalid input for query parameters with_servers. Value: {other:.40}. It must be a boolean."
            ))),
        }
    }

    /// `limit` (2.33): a non-negative integer; 0 means the most Nova gives.
    fn limit(&self) -> Result<Option<u32>, ApiError> {
        match self.get("limit") {
            None => Ok(None),
            Some(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
                let n = v.parse::<u64>().unwrap_or(u64::MAX);
                Ok(Some(if n == 0 {
                    MAX_LIMIT
                } else {
                    n.min(MAX_LIMIT as u64) as u32
                }))
            }
            Some(v) => Err(ApiError::bad_request(format!(
                "Invalid input for query parameters limit. Value: {v:.40}. It must be a non-negative integer."
            ))),
        }
    }
}

async fn list(s: ApiState, c: Caller, mv: Microversion, raw: Option<String>, detail: bool) -> Out {
    let q = Query::parse(raw.as_deref())?;
    let policy = if detail {
        "os_compute_api:os-hypervisors:list-detail"
    } else {
        "os_compute_api:os-hypervisors:list"
    };
    let paged = mv.at_least(2, 33);
    let limit = if paged { q.limit()? } else { None };
    let marker_raw = if paged { q.get("marker") } else { None };
    let pattern = if uuids(mv) {
        q.get("hypervisor_hostname_pattern")
    } else {
        None
    };
    let with_servers = uuids(mv) && q.with_servers()?;
    if let Some(p) = pattern {
        if p.is_empty() {
            return Err(ApiError::bad_request(
                "Invalid input for query parameters hypervisor_hostname_pattern: it must not be empty.",
            ));
        }
        if q.get("limit").is_some() || marker_raw.is_some() {
            return Err(ApiError::bad_request(
                "Paging over hypervisors with the hypervisor_hostname_pattern query parameter is not supported.",
            ));
        }
    }
    let marker = match marker_raw.map(|m| (m, HypervisorRef::parse(m, uuids(mv)))) {
        None => None,
        Some((_, r @ (HypervisorRef::Id(_) | HypervisorRef::Uuid(_)))) => Some(r),
        Some((m, _)) => return Err(ApiError::bad_request(format!("marker [{m:.80}] not found"))),
    };
    let found = s
        .svc
        .list_hypervisors(
            &c,
            &HypervisorQuery {
                policy,
                pattern,
                with_servers,
                limit,
                marker,
            },
        )
        .await
        .map_err(fail)?;
    let items: Vec<Value> = found.iter().map(|h| view(h, detail, mv)).collect();
    let mut out = json!({ "hypervisors": items });
    // Nova links the next page when the page asked for is full.
    let asked = q.get("limit").and_then(|l| l.parse::<usize>().ok());
    if paged && pattern.is_none() && asked.is_some_and(|l| l > 0 && l == found.len()) {
        if let Some(last) = found.last() {
            let path = if detail {
                "os-hypervisors/detail"
            } else {
                "os-hypervisors"
            };
            let marker = if uuids(mv) {
                last.node.service_id.clone()
            } else {
                last.node.id.to_string()
            };
            out["hypervisors_links"] = stratus_api::pagination::next_link(&format!("{}/{path}", s.base), &q.0, &marker);
        }
    }
    Ok(reply(StatusCode::OK, out))
}

pub(crate) async fn list_hypervisors(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    RawQuery(raw): RawQuery,
) -> Out {
    list(s, c, mv, raw, false).await
}

pub(crate) async fn list_hypervisors_detail(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    RawQuery(raw): RawQuery,
) -> Out {
    list(s, c, mv, raw, true).await
}

pub(crate) async fn show_hypervisor(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Out {
    let q = Query::parse(raw.as_deref())?;
    let with_servers = uuids(mv) && q.with_servers()?;
    let h = s
        .svc
        .get_hypervisor(
            &c,
            "os_compute_api:os-hypervisors:show",
            HypervisorRef::parse(&id, uuids(mv)),
            with_servers,
        )
        .await
        .map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({"hypervisor": view(&h, true, mv)})))
}

/// `GET /os-hypervisors/{id}/uptime`: the host's `uptime` line, from its agent.
pub(crate) async fn hypervisor_uptime(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    rid: Option<Extension<RequestId>>,
    Path(id): Path<String>,
) -> Out {
    // Behind Stratus's request-id layer there always is one; the router alone has none.
    let rid = rid.map_or_else(|| "req-uptime".to_owned(), |Extension(r)| r.0);
    let h = s
        .svc
        .get_hypervisor(
            &c,
            "os_compute_api:os-hypervisors:uptime",
            HypervisorRef::parse(&id, uuids(mv)),
            false,
        )
        .await
        .map_err(fail)?;
    let uptime = s.svc.hypervisor_uptime(&c, &rid, &h).await.map_err(fail)?;
    let mut o = view(&h, false, mv);
    o["uptime"] = json!(uptime);
    Ok(reply(StatusCode::OK, json!({ "hypervisor": o })))
}

/// Before 2.53: `/os-hypervisors/{pattern}/search` and `/os-hypervisors/{pattern}/servers`.
async fn by_pattern(s: ApiState, c: Caller, mv: Microversion, pattern: String, servers: bool) -> Out {
    if uuids(mv) {
        return Err(ApiError::not_found(
            "This route is not served from microversion 2.53: use hypervisor_hostname_pattern on /os-hypervisors.",
        ));
    }
    let policy = if servers {
        "os_compute_api:os-hypervisors:servers"
    } else {
        "os_compute_api:os-hypervisors:search"
    };
    let found = s
        .svc
        .list_hypervisors(
            &c,
            &HypervisorQuery {
                policy,
                pattern: Some(&pattern),
                with_servers: servers,
                ..Default::default()
            },
        )
        .await
        .map_err(fail)?;
    let items: Vec<Value> = found.iter().map(|h| view(h, false, mv)).collect();
    Ok(reply(StatusCode::OK, json!({ "hypervisors": items })))
}

pub(crate) async fn search_hypervisors(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(pattern): Path<String>,
) -> Out {
    by_pattern(s, c, mv, pattern, false).await
}

pub(crate) async fn hypervisor_servers(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(pattern): Path<String>,
) -> Out {
    by_pattern(s, c, mv, pattern, true).await
}

/// `GET /os-hypervisors/statistics`: the enabled hosts' resources summed.
pub(crate) async fn hypervisor_statistics(State(s): State<ApiState>, c: Caller) -> Out {
    let t = s.svc.hypervisor_statistics(&c).await.map_err(fail)?;
    Ok(reply(
        StatusCode::OK,
        json!({"hypervisor_statistics": {
            "count": t.count,
            "vcpus": t.vcpus,
            "vcpus_used": t.vcpus_used,
            "memory_mb": t.memory_mb,
            "memory_mb_used": t.memory_mb_used,
            "local_gb": t.local_gb,
            "local_gb_used": t.local_gb_used,
            "free_ram_mb": t.free_ram_mb,
            "free_disk_gb": t.free_disk_gb,
            "current_workload": t.current_workload,
            "running_vms": t.running_vms,
            "disk_available_least": t.disk_available_least,
        }}),
    ))
}
