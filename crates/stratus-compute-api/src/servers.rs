//! Servers: create, list, show, update, delete, actions, instance actions; and the host-level
//! views of services and limits (hypervisors and zones have their own modules).

use std::collections::BTreeMap;

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Extension;
use serde::Deserialize;
use serde_json::{json, Value};
use stratus_api::body::{json_object, take_keyed};
use stratus_api::microversion::Microversion;
use stratus_api::request_id::RequestId;
use stratus_api::time::{micros_naive, seconds_z};
use stratus_api::{ApiError, Caller};
use stratus_compute::{status_of, Instance, NetworkRequest, NewServer, RequestedNetworks, ServerFilter};
use stratus_compute_agent::rpc::PowerOp;

use crate::{fail, reply, ApiState, Out};

fn links(s: &ApiState, id: &str) -> Value {
    let bookmark = s.base.trim_end_matches("/v2.1");
    json!([
        {"rel": "self", "href": format!("{}/servers/{id}", s.base)},
        {"rel": "bookmark", "href": format!("{bookmark}/servers/{id}")},
    ])
}

/// The server's addresses by network. The detail view adds the type and MAC of each;
/// update, rebuild and `/ips` give only the version and the address, as Nova does.
fn addresses(i: &Instance, detail: bool) -> Value {
    let mut out = serde_json::Map::new();
    for (net, addrs) in &i.addresses {
        let list: Vec<Value> = addrs
            .iter()
            .map(|a| {
                if detail {
                    json!({"version": a.version, "addr": a.addr, "OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": a.mac})
                } else {
                    json!({"version": a.version, "addr": a.addr})
                }
            })
            .collect();
        out.insert(net.clone(), Value::Array(list));
    }
    Value::Object(out)
}

/// Nova's `hostId`: a hash of the project and the host, so users can tell whether two of
/// their servers share a host without learning the host's name.
fn host_id(i: &Instance) -> String {
    i.host
        .as_deref()
        .map(|h| host_id_of(&i.project_id, h))
        .unwrap_or_default()
}

fn host_id_of(project: &str, host: &str) -> String {
    use sha2::{Digest, Sha224};
    format!("{:x}", Sha224::digest(format!("{project}{host}").as_bytes()))
}

pub(crate) fn disk_config_name(i: &Instance) -> &'static str {
    if i.attrs.auto_disk_config {
        "AUTO"
    } else {
        "MANUAL"
    }
}

/// Nova's view of a server without the extended attributes: what update and rebuild answer
/// (before 2.75), and the base of the detail view.
pub(crate) fn basic_view(s: &ApiState, i: &Instance, mv: Microversion) -> Value {
    common_view(s, i, mv, false)
}

fn common_view(s: &ApiState, i: &Instance, mv: Microversion, detail: bool) -> Value {
    let f = &i.flavor;
    let flavor = if mv.at_least(2, 47) {
        json!({"vcpus": f.vcpus, "ram": f.memory_mb, "disk": f.root_gb, "ephemeral": f.ephemeral_gb,
               "swap": f.swap, "original_name": f.name, "extra_specs": f.extra_specs})
    } else {
        let bookmark = s.base.trim_end_matches("/v2.1");
        json!({"id": f.id, "links": [{"rel": "bookmark", "href": format!("{bookmark}/flavors/{}", f.id)}]})
    };
    let image = match &i.image_id {
        Some(id) => {
            let bookmark = s.base.trim_end_matches("/v2.1");
            json!({"id": id, "links": [{"rel": "bookmark", "href": format!("{bookmark}/images/{id}")}]})
        }
        None => json!(""),
    };
    let status = status_of(i);
    let mut o = json!({
        "id": i.id,
        "name": i.name,
        "status": status,
        "tenant_id": i.project_id,
        "user_id": i.user_id,
        "metadata": i.metadata,
        "hostId": host_id(i),
        "image": image,
        "flavor": flavor,
        "created": seconds_z(i.created_at),
        "updated": seconds_z(i.updated_at),
        "addresses": addresses(i, detail),
        "accessIPv4": i.attrs.access_ip_v4.clone().unwrap_or_default(),
        "accessIPv6": i.attrs.access_ip_v6.clone().unwrap_or_default(),
        "links": links(s, &i.id),
        "OS-DCF:diskConfig": disk_config_name(i),
    });
    // Nova shows progress only while a server is running or changing.
    if matches!(
        status,
        "ACTIVE" | "BUILD" | "REBUILD" | "RESIZE" | "VERIFY_RESIZE" | "MIGRATING"
    ) {
        o["progress"] = json!(if status == "ACTIVE" { 100 } else { 0 });
    }
    if let Some(fault) = &i.fault {
        if status == "ERROR" {
            o["fault"] = json!({"code": fault.code, "message": fault.message, "details": fault.details,
                                "created": seconds_z(fault.created)});
        }
    }
    if mv.at_least(2, 9) {
        o["locked"] = json!(i.locked);
    }
    if mv.at_least(2, 19) {
        o["description"] = json!(i.description);
    }
    if mv.at_least(2, 26) {
        o["tags"] = json!(i.tags);
    }
    if mv.at_least(2, 63) {
        o["trusted_image_certificates"] = json!(i.attrs.trusted_image_certificates);
    }
    if mv.at_least(2, 73) {
        o["locked_reason"] = json!(i.attrs.locked_reason);
    }
    o
}

/// The single server as show, update (from 2.75) and rebuild answer it: the detail view,
/// and from 2.71 the server groups it is in (never more than one).
async fn one_server_view(s: &ApiState, c: &Caller, i: &Instance, mv: Microversion) -> Result<Value, ApiError> {
    let volumes = s.svc.volume_attachments(c, &i.id).await.map_err(fail)?;
    let mut o = server_view_with(s, i, mv, c.has_role("admin"), &volumes);
    if mv.at_least(2, 71) {
        o["server_groups"] = json!(s.svc.server_group_of(&i.id).await.map_err(fail)?);
    }
    Ok(o)
}

/// Nova's detail view: the common view and the extended attributes (zone, config drive, key,
/// usage, states, volumes, security groups; the host's for administrators).
pub(crate) fn server_view_with(
    s: &ApiState,
    i: &Instance,
    mv: Microversion,
    admin: bool,
    volumes: &[stratus_compute::VolumeAttachment],
) -> Value {
    let mut o = common_view(s, i, mv, true);
    let extended = json!({
        "OS-EXT-AZ:availability_zone": i.availability_zone.clone().unwrap_or_else(|| "nova".into()),
        "config_drive": if i.config_drive { "True" } else { "" },
        "key_name": i.key_name,
        "OS-SRV-USG:launched_at": i.launched_at.map(micros_naive),
        "OS-SRV-USG:terminated_at": i.terminated_at.map(micros_naive),
        "OS-EXT-STS:task_state": i.task_state,
        "OS-EXT-STS:vm_state": i.vm_state,
        "OS-EXT-STS:power_state": i.power_state,
        "os-extended-volumes:volumes_attached": volumes
            .iter()
            .filter(|v| v.status == "attached")
            .map(|v| {
                // delete_on_termination is shown from 2.3.
                if mv.at_least(2, 3) {
                    json!({"id": v.volume_id, "delete_on_termination": v.delete_on_termination != 0})
                } else {
                    json!({"id": v.volume_id})
                }
            })
            .collect::<Vec<_>>(),
        "security_groups": security_groups_of(i),
    });
    if let (Some(o), Value::Object(ext)) = (o.as_object_mut(), extended) {
        o.extend(ext);
    }
    if admin {
        o["OS-EXT-SRV-ATTR:host"] = json!(i.host);
        o["OS-EXT-SRV-ATTR:hypervisor_hostname"] = json!(i.host);
        o["OS-EXT-SRV-ATTR:instance_name"] = json!(format!("instance-{}", &i.id[..8.min(i.id.len())]));
        if mv.at_least(2, 3) {
            o["OS-EXT-SRV-ATTR:reservation_id"] = json!(i.attrs.reservation_id);
            o["OS-EXT-SRV-ATTR:launch_index"] = json!(i.attrs.launch_index);
            o["OS-EXT-SRV-ATTR:hostname"] = json!(i
                .name
                .to_lowercase()
                .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "-"));
            o["OS-EXT-SRV-ATTR:kernel_id"] = json!("");
            o["OS-EXT-SRV-ATTR:ramdisk_id"] = json!("");
            o["OS-EXT-SRV-ATTR:root_device_name"] = json!("/dev/vda");
            o["OS-EXT-SRV-ATTR:user_data"] = json!(i.user_data);
        }
        if mv.at_least(2, 16) {
            o["host_status"] = json!(if i.host.is_some() { "UP" } else { "" });
        }
    }
    o
}

// ---------------------------------------------------------------- create

/// Nova's schema refuses properties it does not know; so does this.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerCreate {
    name: String,
    #[serde(rename = "flavorRef")]
    flavor_ref: Value,
    #[serde(rename = "imageRef")]
    image_ref: Option<String>,
    networks: Option<Value>,
    key_name: Option<String>,
    user_data: Option<String>,
    metadata: Option<BTreeMap<String, String>>,
    availability_zone: Option<String>,
    min_count: Option<Value>,
    max_count: Option<Value>,
    config_drive: Option<Value>,
    security_groups: Option<Vec<Value>>,
    block_device_mapping_v2: Option<Vec<Value>>,
    #[serde(rename = "OS-DCF:diskConfig")]
    disk_config: Option<String>,
    description: Option<Value>,
    #[serde(rename = "adminPass")]
    admin_pass: Option<String>,
    tags: Option<Vec<String>>,
    #[serde(rename = "accessIPv4")]
    access_v4: Option<Value>,
    #[serde(rename = "accessIPv6")]
    access_v6: Option<Value>,
    return_reservation_id: Option<Value>,
    trusted_image_certificates: Option<Value>,
    host: Option<Value>,
    hypervisor_hostname: Option<Value>,
}

/// Refuses a create property the request's microversion does not have, as Nova's schema of
/// that microversion does.
fn needs(present: bool, field: &str, mv: Microversion, major: u32, minor: u32) -> Result<(), ApiError> {
    if present && !mv.at_least(major, minor) {
        return Err(ApiError::bad_request(format!(
            "Invalid input: '{field}' needs microversion {major}.{minor}."
        )));
    }
    Ok(())
}

/// `trusted_image_certificates` (2.63): null, or 1 to 50 distinct non-empty ids.
fn trusted_certs(v: Option<&Value>) -> Result<Option<Vec<String>>, ApiError> {
    let bad = |v: &Value| {
        ApiError::bad_request(format!(
            "Invalid input for field/attribute trusted_image_certificates. Value: {v}. It is null or a list of 1 to 50 distinct, non-empty certificate ids."
        ))
    };
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) if (1..=50).contains(&a.len()) => {
            let mut ids: Vec<String> = Vec::with_capacity(a.len());
            for x in a {
                match x.as_str() {
                    Some(id) if !id.is_empty() && !ids.iter().any(|i| i == id) => ids.push(id.to_owned()),
                    _ => return Err(bad(v.unwrap_or(&Value::Null))),
                }
            }
            Ok(Some(ids))
        }
        Some(other) => Err(bad(other)),
    }
}

/// 2.74's `host` and `hypervisor_hostname`: a host is its own (only) node here, so the two
/// name one host, and two different names name none.
fn requested_host(host: Option<&Value>, node: Option<&Value>) -> Result<Option<String>, ApiError> {
    let name = |field: &str, v: Option<&Value>| -> Result<Option<String>, ApiError> {
        match v {
            None => Ok(None),
            Some(Value::String(h)) if !h.is_empty() && h.len() <= 255 => Ok(Some(h.clone())),
            Some(other) => Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute {field}. Value: {other}. It is a host name of 1 to 255 characters."
            ))),
        }
    };
    match (name("host", host)?, name("hypervisor_hostname", node)?) {
        (Some(h), Some(n)) if h != n => Err(ApiError::bad_request(format!(
            "Compute host {h} with node {n} could not be found."
        ))),
        (h, n) => Ok(h.or(n)),
    }
}

/// `accessIPv4` / `accessIPv6` as Nova's schema takes them (an address of the family, or
/// empty), in the canonical text Nova stores.
fn access_ip(field: &str, v: Option<&Value>, v6: bool) -> Result<Option<String>, ApiError> {
    let bad = |v: &Value| {
        ApiError::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {v}. It is not a valid IPv{} address.",
            if v6 { 6 } else { 4 }
        ))
    };
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(Some(String::new())),
        Some(Value::String(s)) if v6 => s
            .parse::<std::net::Ipv6Addr>()
            .map(|a| Some(a.to_string()))
            .map_err(|_| bad(&json!(s))),
        Some(Value::String(s)) => s
            .parse::<std::net::Ipv4Addr>()
            .map(|a| Some(a.to_string()))
            .map_err(|_| bad(&json!(s))),
        Some(other) => Err(bad(other)),
    }
}

/// `OS-DCF:diskConfig`: AUTO or MANUAL.
fn disk_config(v: Option<&str>) -> Result<Option<bool>, ApiError> {
    match v {
        None => Ok(None),
        Some("AUTO") => Ok(Some(true)),
        Some("MANUAL") => Ok(Some(false)),
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute OS-DCF:diskConfig. Value: {other}. It must be AUTO or MANUAL."
        ))),
    }
}

/// `block_device_mapping_v2`: the image on local disk (as imageRef), a volume or an image made
/// into a volume to boot from, and volumes to start with. Blank, snapshot, swap and ephemeral
/// devices are refused by name.
fn block_devices(list: &[Value], mv: Microversion) -> Result<Vec<stratus_compute::model::BlockDevice>, ApiError> {
    let text = |d: &Value, k: &str| d.get(k).and_then(Value::as_str).map(str::to_owned);
    let flag = |d: &Value, k: &str| -> Result<bool, ApiError> {
        match d.get(k) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
            Some(other) => Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute {k}. Value: {other}."
            ))),
        }
    };
    let mut out = Vec::new();
    for d in list {
        let source = text(d, "source_type").unwrap_or_default();
        let dest = text(d, "destination_type").unwrap_or_else(|| "volume".into());
        let boot = match d.get("boot_index") {
            None | Some(Value::Null) => false,
            Some(v) => v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok())) == Some(0),
        };
        let size = match d.get("volume_size") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        ApiError::bad_request(format!("Invalid input for field/attribute volume_size. Value: {v}."))
                    })?,
            ),
        };
        let uuid = text(d, "uuid");
        // 2.67: the type of a volume the build makes; an existing volume has its own.
        let volume_type = match d.get("volume_type") {
            None | Some(Value::Null) => None,
            Some(_) if !mv.at_least(2, 67) => {
                return Err(ApiError::bad_request(
                    "Invalid input: 'volume_type' in block_device_mapping_v2 needs microversion 2.67.",
                ))
            }
            Some(Value::String(t)) if !t.is_empty() && t.len() <= 255 => Some(t.clone()),
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "Invalid input for field/attribute volume_type. Value: {other}. It is a volume type's name or id."
                )))
            }
        };
        if volume_type.is_some() && source == "volume" {
            return Err(ApiError::bad_request(
                "Invalid input: volume_type is for volumes the build makes, not for an existing volume (source_type volume).",
            ));
        }
        match (source.as_str(), dest.as_str()) {
            // The image on local disk is what imageRef already says.
            ("image", "local") => continue,
            ("volume", "volume") => out.push(stratus_compute::model::BlockDevice {
                volume_id: Some(uuid.ok_or_else(|| ApiError::bad_request("Invalid input: a volume block device needs its uuid."))?),
                image_id: None,
                size_gb: None,
                volume_type: None,
                boot,
                delete_on_termination: flag(d, "delete_on_termination")?,
            }),
            ("image", "volume") => out.push(stratus_compute::model::BlockDevice {
                volume_id: None,
                image_id: Some(uuid.ok_or_else(|| ApiError::bad_request("Invalid input: an image block device needs its uuid."))?),
                size_gb: Some(size.ok_or_else(|| {
                    ApiError::bad_request("Invalid input: a volume made from an image needs volume_size.")
                })?),
                volume_type,
                boot,
                delete_on_termination: flag(d, "delete_on_termination")?,
            }),
            (s, t) => {
                return Err(ApiError::bad_request(format!(
                    "Invalid input: block devices from {s:?} to {t:?} are not supported; this cloud maps volumes and images made into volumes."
                )))
            }
        }
    }
    Ok(out)
}

fn count(field: &str, v: &Option<Value>) -> Result<u32, ApiError> {
    match v {
        None => Ok(1),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .filter(|n| *n >= 1 && *n <= 1000)
            .map(|n| n as u32)
            .ok_or_else(|| ApiError::bad_request(format!("Invalid input for field/attribute {field}. Value: {v}."))),
    }
}

fn networks(v: Option<&Value>, mv: Microversion) -> Result<Option<RequestedNetworks>, ApiError> {
    let Some(v) = v else {
        if mv.at_least(2, 37) {
            return Err(ApiError::bad_request(
                "Invalid input for field/attribute server: 'networks' is a required property from microversion 2.37.",
            ));
        }
        return Ok(None);
    };
    match v {
        Value::String(s) if s == "auto" && mv.at_least(2, 37) => Ok(Some(RequestedNetworks::Auto)),
        Value::String(s) if s == "none" && mv.at_least(2, 37) => Ok(Some(RequestedNetworks::None)),
        Value::Array(list) => {
            let mut out = Vec::new();
            for n in list {
                let get = |k: &str| n.get(k).and_then(Value::as_str).map(str::to_owned);
                let known = ["uuid", "port", "fixed_ip", "tag"];
                if let Some(bad) = n.as_object().and_then(|o| o.keys().find(|k| !known.contains(&k.as_str()))) {
                    return Err(ApiError::bad_request(format!(
                        "Invalid input for field/attribute networks. Additional properties are not allowed ('{bad}' was unexpected)."
                    )));
                }
                if let Some(ip) = get("fixed_ip") {
                    if ip.parse::<std::net::IpAddr>().is_err() {
                        return Err(ApiError::bad_request(format!("Invalid fixed IP address ({ip})")));
                    }
                }
                out.push(NetworkRequest {
                    network_id: get("uuid"),
                    port_id: get("port"),
                    fixed_ip: get("fixed_ip"),
                    ..Default::default()
                });
            }
            Ok(Some(RequestedNetworks::List(out)))
        }
        other => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute networks. Value: {other}. It is a list of networks, or 'auto' or 'none' from 2.37."
        ))),
    }
}

pub(crate) async fn create_server(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Extension(rid): Extension<RequestId>,
    req: Request,
) -> Out {
    let obj = json_object(req).await?;
    let (b, hints): (ServerCreate, _) =
        take_keyed(obj, "server", &["OS-SCH-HNT:scheduler_hints", "os:scheduler_hints"])?;
    // The group hint places the server in a server group; other hints have no filter here.
    let mut group = None;
    for h in hints.values() {
        let Some(h) = h.as_object() else {
            return Err(ApiError::bad_request(
                "Invalid input: scheduler_hints must be an object.",
            ));
        };
        for (k, v) in h {
            match (k.as_str(), v) {
                ("group", Value::String(g)) => group = Some(g.clone()),
                ("group", Value::Array(a)) if a.len() == 1 && a[0].is_string() => {
                    group = a[0].as_str().map(str::to_owned)
                }
                ("group", other) => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid input for field/attribute group. Value: {other}. It must be a server group id."
                    )))
                }
                // Nova's schema takes any hint (out-of-tree filters read their own); the
                // filters a default Nova enables read only the group, and so does this one.
                _ => {}
            }
        }
    }
    needs(b.trusted_image_certificates.is_some(), "trusted_image_certificates", mv, 2, 63)?;
    needs(b.host.is_some(), "host", mv, 2, 74)?;
    needs(b.hypervisor_hostname.is_some(), "hypervisor_hostname", mv, 2, 74)?;
    let block_devices = block_devices(b.block_device_mapping_v2.as_deref().unwrap_or(&[]), mv)?;
    let description = description_of(b.description.as_ref(), mv)?.flatten();
    if b.tags.is_some() && !mv.at_least(2, 52) {
        return Err(ApiError::bad_request(
            "Invalid input: 'tags' at create needs microversion 2.52.",
        ));
    }
    let mut security_groups = Vec::new();
    for g in b.security_groups.iter().flatten() {
        match g["name"].as_str() {
            Some(n) if !n.trim().is_empty() => security_groups.push(n.trim().to_owned()),
            _ => {
                return Err(ApiError::bad_request(
                    "Invalid input for field/attribute security_groups: each needs a name.",
                ))
            }
        }
    }
    // The project's default group is what a port gets anyway.
    if security_groups.iter().all(|n| n == "default") {
        security_groups.clear();
    }
    let flavor_ref = match &b.flavor_ref {
        Value::String(f) => f.rsplit('/').next().unwrap_or(f).to_owned(),
        Value::Number(n) => n.to_string(),
        other => {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute flavorRef. Value: {other}."
            )))
        }
    };
    let config_drive = match &b.config_drive {
        None | Some(Value::Null) => false,
        Some(Value::Bool(v)) => *v,
        Some(Value::String(v)) => matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes"),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute config_drive. Value: {other}."
            )))
        }
    };
    let req = NewServer {
        name: b.name,
        flavor_ref,
        image_ref: b.image_ref.map(|i| i.rsplit('/').next().unwrap_or(&i).to_owned()),
        networks: networks(b.networks.as_ref(), mv)?,
        key_name: b.key_name,
        user_data: b.user_data,
        metadata: b.metadata.unwrap_or_default(),
        availability_zone: b.availability_zone,
        min_count: count("min_count", &b.min_count)?,
        max_count: count("max_count", &b.max_count.or(b.min_count.clone()))?,
        config_drive,
        group,
        block_devices,
        security_groups,
        description,
        tags: b.tags.unwrap_or_default(),
        // The password the guest gets, given or made here, as Nova does when instance
        // passwords are on.
        admin_pass: if s.svc.config().enable_instance_password {
            Some(b.admin_pass.clone().unwrap_or_else(stratus_compute::generate_password))
        } else {
            None
        },
        attrs: stratus_compute::model::ServerAttrs {
            access_ip_v4: access_ip("accessIPv4", b.access_v4.as_ref(), false)?,
            access_ip_v6: access_ip("accessIPv6", b.access_v6.as_ref(), true)?,
            auto_disk_config: disk_config(b.disk_config.as_deref())?.unwrap_or(false),
            // Given by the service, one per request.
            reservation_id: String::new(),
            launch_index: 0,
            locked_reason: None,
            trusted_image_certificates: trusted_certs(b.trusted_image_certificates.as_ref())?,
            requested_host: requested_host(b.host.as_ref(), b.hypervisor_hostname.as_ref())?,
        },
    };
    let return_reservation = match &b.return_reservation_id {
        None | Some(Value::Null) => false,
        Some(Value::Bool(v)) => *v,
        Some(Value::String(v)) if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false") => {
            v.eq_ignore_ascii_case("true")
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute return_reservation_id. Value: {other}."
            )))
        }
    };
    let admin_pass = req.admin_pass.clone();
    let made = s.svc.create_servers(&c, &rid.0, req).await.map_err(fail)?;
    let first = made
        .first()
        .ok_or_else(|| ApiError::bad_request("No server was made."))?;
    let groups = match security_groups_of(first) {
        Value::Array(a) if a.is_empty() => json!([{"name": "default"}]),
        g => g,
    };
    if return_reservation {
        return Ok(reply(
            StatusCode::ACCEPTED,
            json!({"reservation_id": first.attrs.reservation_id}),
        ));
    }
    let mut out = json!({"id": first.id, "links": links(&s, &first.id),
                     "OS-DCF:diskConfig": disk_config_name(first),
                     "security_groups": groups});
    if let Some(pass) = admin_pass {
        out["adminPass"] = json!(pass);
    }
    Ok(reply(StatusCode::ACCEPTED, json!({ "server": out })))
}

// ---------------------------------------------------------------- read

async fn list(s: ApiState, c: Caller, mv: Microversion, raw: Option<String>, detail: bool) -> Out {
    let q: Vec<(String, String)> = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("Invalid query string: {e}.")))?;
    let get = |k: &str| q.iter().rev().find(|(x, _)| x == k).map(|(_, v)| v.clone());
    let all = get("all_tenants")
        .or(get("all_projects"))
        .is_some_and(|v| !matches!(v.to_ascii_lowercase().as_str(), "0" | "false" | "no" | "f" | "off"));
    if let Some(d) = get("deleted") {
        if !matches!(d.to_ascii_lowercase().as_str(), "false" | "0" | "no" | "f") {
            return Err(ApiError::bad_request("Listing deleted servers is not supported."));
        }
    }
    let tags = |k: &str| -> Result<Vec<String>, ApiError> {
        match get(k) {
            None => Ok(vec![]),
            Some(_) if !mv.at_least(2, 26) => Err(ApiError::bad_request(format!(
                "Filtering by '{k}' needs microversion 2.26."
            ))),
            Some(v) => Ok(v
                .split(',')
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .collect()),
        }
    };
    if mv.at_least(2, 75) {
        if let Some((k, _)) = q.iter().find(|(k, _)| !SERVER_QUERY_PARAMS.contains(&k.as_str())) {
            return Err(ApiError::bad_request(format!(
                "Invalid input for query parameters {k}. Additional properties are not allowed ('{k}' was unexpected)."
            )));
        }
    }
    let (changes_since, changes_before) = change_window(&get, mv)?;
    let locked = match get("locked") {
        Some(_) if !mv.at_least(2, 73) => None,
        Some(v) => Some(bool_param("locked", &v)?),
        None => None,
    };
    // Nova lets administrators filter on any recorded field, everyone else on the few of its
    // search options (more from 2.83); the rest are dropped for them, not refused.
    let admin = c.has_role("admin");
    let wide = |k: &str| if admin || mv.at_least(2, 83) { get(k) } else { None };
    let only_admin = |k: &str| if admin { get(k) } else { None };
    let power_state = wide("power_state")
        .map(|v| {
            v.parse::<i64>().map_err(|_| {
                ApiError::bad_request(format!(
                    "Invalid input for query parameters power_state. Value: {v:.40}. It is a power state number."
                ))
            })
        })
        .transpose()?;
    let config_drive = wide("config_drive").map(|v| bool_param("config_drive", &v)).transpose()?;
    let f = ServerFilter {
        all_projects: all,
        project_id: get("project_id").or(get("tenant_id")),
        name: get("name"),
        status: get("status"),
        image: get("image"),
        flavor: get("flavor"),
        changes_since,
        changes_before,
        locked,
        user_id: wide("user_id"),
        key_name: wide("key_name"),
        availability_zone: wide("availability_zone"),
        vm_state: wide("vm_state"),
        task_state: wide("task_state"),
        power_state,
        host: only_admin("host").or(only_admin("node")),
        reservation_id: get("reservation_id"),
        uuid: only_admin("uuid"),
        config_drive,
        ip: get("ip"),
        ip6: if mv.at_least(2, 5) { get("ip6") } else { None },
        tags: tags("tags")?,
        tags_any: tags("tags-any")?,
        not_tags: tags("not-tags")?,
        not_tags_any: tags("not-tags-any")?,
    };
    let mut servers = s.svc.list_servers(&c, &f).await.map_err(fail)?;
    if let Some(m) = get("marker") {
        let at = servers
            .iter()
            .position(|i| i.id == m)
            .ok_or_else(|| ApiError::bad_request(format!("marker [{m}] not found")))?;
        servers.drain(..=at);
    }
    let limit = get("limit")
        .map(|l| {
            l.parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("Invalid limit [{l}]")))
        })
        .transpose()?;
    let more = limit.is_some_and(|l| servers.len() > l);
    if let Some(l) = limit {
        servers.truncate(l);
    }
    let mut items: Vec<Value> = Vec::with_capacity(servers.len());
    let volumes = if detail {
        s.svc.volume_attachments_of(&servers).await.map_err(fail)?
    } else {
        Default::default()
    };
    for i in &servers {
        items.push(if detail {
            server_view_with(&s, i, mv, admin, volumes.get(&i.id).map(Vec::as_slice).unwrap_or(&[]))
        } else {
            json!({"id": i.id, "name": i.name, "links": links(&s, &i.id)})
        });
    }
    let mut out = json!({ "servers": items });
    if more {
        if let Some(last) = servers.last() {
            let path = if detail { "servers/detail" } else { "servers" };
            out["servers_links"] = stratus_api::pagination::next_link(&format!("{}/{path}", s.base), &q, &last.id);
        }
    }
    Ok(reply(StatusCode::OK, out))
}

/// The query parameters Nova's server list schema names (2.75 refuses any other): the
/// filters, the sort and page keys, and the legacy names Nova keeps accepting.
const SERVER_QUERY_PARAMS: &[&str] = &[
    "user_id", "project_id", "tenant_id", "launch_index", "image_ref", "image", "kernel_id",
    "ramdisk_id", "hostname", "key_name", "power_state", "vm_state", "task_state", "host", "node",
    "flavor", "reservation_id", "launched_at", "terminated_at", "availability_zone", "name",
    "display_name", "description", "display_description", "locked_by", "uuid",
    "root_device_name", "config_drive", "access_ip_v4", "access_ip_v6", "auto_disk_config",
    "progress", "sort_key", "sort_dir", "all_tenants", "soft_deleted", "deleted", "status",
    "changes-since", "changes-before", "ip", "ip6", "created_at", "block_device_mapping",
    "services", "metadata", "system_metadata", "info_cache", "security_groups", "pci_devices",
    "tags", "tags-any", "not-tags", "not-tags-any", "limit", "marker", "locked",
];

/// Oslo's strict boolean, as Nova's query schemas take one.
fn bool_param(k: &str, v: &str) -> Result<bool, ApiError> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "on" | "y" | "yes" => Ok(true),
        "0" | "f" | "false" | "off" | "n" | "no" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "Invalid input for query parameters {k}. Value: {v:.40}. It must be a boolean."
        ))),
    }
}

/// `changes-since` and (from 2.66) `changes-before`, as Nova's `date-time` reads them (Python's
/// iso8601); the second may not come before the first.
pub(crate) fn change_window(
    get: &dyn Fn(&str) -> Option<String>,
    mv: Microversion,
) -> Result<(Option<i64>, Option<i64>), ApiError> {
    let time = |k: &str| {
        get(k)
            .map(|v| {
                crate::iso8601::parse_micros(&v).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "Invalid input for query parameters {k}. Value: {v}. '{v}' is not a 'date-time'"
                    ))
                })
            })
            .transpose()
    };
    let since = time("changes-since")?;
    let before = if mv.at_least(2, 66) { time("changes-before")? } else { None };
    if let (Some(a), Some(b)) = (since, before) {
        if a > b {
            return Err(ApiError::bad_request(
                "The value of changes-since must be less than or equal to changes-before.",
            ));
        }
    }
    Ok((since, before))
}

pub(crate) async fn list_servers(State(s): State<ApiState>, c: Caller, mv: Microversion, RawQuery(q): RawQuery) -> Out {
    list(s, c, mv, q, false).await
}

pub(crate) async fn list_servers_detail(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    RawQuery(q): RawQuery,
) -> Out {
    list(s, c, mv, q, true).await
}

pub(crate) async fn show_server(State(s): State<ApiState>, c: Caller, mv: Microversion, Path(id): Path<String>) -> Out {
    let i = s.svc.get_server(&c, &id).await.map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({"server": one_server_view(&s, &c, &i, mv).await?})))
}

#[derive(Deserialize)]
struct ServerChange {
    name: Option<String>,
    description: Option<Value>,
    #[serde(rename = "OS-DCF:diskConfig")]
    disk_config: Option<String>,
    #[serde(rename = "accessIPv4")]
    access_v4: Option<Value>,
    #[serde(rename = "accessIPv6")]
    access_v6: Option<Value>,
}

pub(crate) async fn update_server(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(id): Path<String>,
    req: Request,
) -> Out {
    let obj = json_object(req).await?;
    let (b, _): (ServerChange, _) = take_keyed(obj, "server", &[])?;
    let description = description_of(b.description.as_ref(), mv)?;
    let access = (
        access_ip("accessIPv4", b.access_v4.as_ref(), false)?,
        access_ip("accessIPv6", b.access_v6.as_ref(), true)?,
    );
    let i = s
        .svc
        .update_server(
            &c,
            &id,
            b.name.as_deref(),
            description,
            access,
            disk_config(b.disk_config.as_deref())?,
        )
        .await
        .map_err(fail)?;
    // From 2.75 an update answers with everything a show does.
    let view = if mv.at_least(2, 75) {
        one_server_view(&s, &c, &i, mv).await?
    } else {
        basic_view(&s, &i, mv)
    };
    Ok(reply(StatusCode::OK, json!({ "server": view })))
}

pub(crate) async fn delete_server(
    State(s): State<ApiState>,
    c: Caller,
    Extension(rid): Extension<RequestId>,
    Path(id): Path<String>,
) -> Out {
    s.svc.delete_server(&c, &rid.0, &id).await.map_err(fail)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn server_action(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Extension(rid): Extension<RequestId>,
    Path(id): Path<String>,
    req: Request,
) -> Out {
    let obj = json_object(req).await?;
    if obj.len() != 1 {
        return Err(ApiError::bad_request(
            "Invalid input: an action body names exactly one action.",
        ));
    }
    let (action, body) = obj
        .iter()
        .next()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .unwrap_or(("", Value::Null));
    // As Nova: the server is found (or not: 404) before the action is looked at.
    let server = s.svc.get_server(&c, &id).await.map_err(fail)?;
    let op = match action {
        "os-start" => Some(PowerOp::Start),
        "os-stop" => Some(PowerOp::Stop),
        "pause" => Some(PowerOp::Pause),
        "unpause" => Some(PowerOp::Unpause),
        _ => None,
    };
    if let Some(op) = op {
        s.svc.server_power(&c, &rid.0, &id, op).await.map_err(fail)?;
        return Ok(StatusCode::ACCEPTED.into_response());
    }
    match action {
        "reboot" => {
            let op = match body["type"].as_str().map(str::to_ascii_uppercase).as_deref() {
                Some("SOFT") => PowerOp::SoftReboot,
                Some("HARD") => PowerOp::HardReboot,
                _ => {
                    return Err(ApiError::bad_request(
                        "Invalid input for field/attribute reboot: 'type' must be SOFT or HARD.",
                    ))
                }
            };
            s.svc.server_power(&c, &rid.0, &id, op).await
        }
        "lock" | "unlock" => {
            // From 2.73 a lock may say why: `{"lock": {"locked_reason": "..."}}` (or null).
            let reason = match (&body, action, mv.at_least(2, 73)) {
                (_, "unlock", _) | (_, _, false) | (Value::Null, _, _) => None,
                (Value::Object(o), _, true) if o.keys().all(|k| k == "locked_reason") => match o.get("locked_reason") {
                    None => None,
                    Some(Value::String(r)) if !r.is_empty() && r.chars().count() <= 255 => Some(r.clone()),
                    Some(other) => {
                        return Err(ApiError::bad_request(format!(
                            "Invalid input for field/attribute locked_reason. Value: {other}. It is a string of 1 to 255 characters."
                        )))
                    }
                },
                (other, _, true) => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid input for field/attribute lock. Value: {other}. It is null or an object holding only locked_reason."
                    )))
                }
            };
            return s
                .svc
                .set_locked(&c, &rid.0, &id, action == "lock", reason)
                .await
                .map(|_| StatusCode::ACCEPTED.into_response())
                .map_err(fail)
        }
        "os-getConsoleOutput" => {
            let lines = match &body["length"] {
                Value::Null => None,
                Value::Number(n) => n.as_i64().map(|n| n.max(0) as usize),
                Value::String(v) => Some(v.parse::<usize>().map_err(|_| {
                    ApiError::bad_request(format!("Invalid input for field/attribute length. Value: {v}."))
                })?),
                other => return Err(ApiError::bad_request(format!("Invalid input for field/attribute length. Value: {other}."))),
            };
            let out = s.svc.console_output(&c, &id, lines).await.map_err(fail)?;
            return Ok(reply(StatusCode::OK, json!({ "output": out })));
        }
        "changePassword" => {
            // Nova's schema: exactly `adminPass`, a string.
            let pass = match body.as_object() {
                Some(o) if o.len() == 1 => o.get("adminPass").and_then(Value::as_str),
                _ => None,
            }
            .ok_or_else(|| {
                ApiError::bad_request(
                    "Invalid input for field/attribute changePassword: it holds exactly 'adminPass', a string.",
                )
            })?;
            return s
                .svc
                .change_password(&c, &id, &rid.0, pass)
                .await
                .map(|_| StatusCode::ACCEPTED.into_response())
                .map_err(fail);
        }
        "addSecurityGroup" | "removeSecurityGroup" => {
            return crate::server_security_groups::action(&s, &c, &id, action, &body).await
        }
        // Servers are deleted at once here (no soft-delete window), so there is never a
        // soft-deleted one to restore or force-delete: Nova's answer for any other state.
        "restore" | "forceDelete" => {
            return Err(ApiError::conflict(format!(
                "Cannot '{action}' instance {id} while it is in vm_state {}",
                server.vm_state
            )))
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "There is no such action: {other}. Servers have os-start, os-stop, reboot, pause, unpause, lock, unlock, changePassword and os-getConsoleOutput."
            )))
        }
    }
    .map_err(fail)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// Nova's instance action: `updated_at` from 2.58; the events (in a show) for administrators
/// before 2.51 and for everyone after, with their traceback for administrators only.
fn action_view(a: &stratus_compute::InstanceAction, events: Option<bool>, mv: Microversion) -> Value {
    let mut o = json!({
        "action": a.action,
        "instance_uuid": a.instance_id,
        "request_id": a.request_id,
        "project_id": a.project_id,
        "user_id": a.user_id,
        "start_time": micros_naive(a.start_time),
        "message": a.message,
    });
    if mv.at_least(2, 58) {
        o["updated_at"] = json!(micros_naive(a.finish_time.unwrap_or(a.start_time)));
    }
    if let Some(admin) = events {
        if admin || mv.at_least(2, 51) {
            o["events"] = Value::Array(
                a.events
                    .iter()
                    .map(|e| {
                        let mut ev = json!({"event": e.event, "start_time": micros_naive(e.start_time),
                                            "finish_time": e.finish_time.map(micros_naive), "result": e.result});
                        if admin {
                            ev["traceback"] = Value::Null;
                        }
                        // From 2.62 each event names its host: by name to administrators,
                        // hashed with the project (as hostId) to everyone.
                        if mv.at_least(2, 62) {
                            if admin {
                                ev["host"] = json!(e.host);
                            }
                            ev["hostId"] = json!(e
                                .host
                                .as_deref()
                                .map(|h| host_id_of(&a.project_id, h))
                                .unwrap_or_default());
                        }
                        ev
                    })
                    .collect(),
            );
        }
    }
    o
}

/// The actions of a server, newest first; from 2.58 in pages (`limit`, and `marker` naming a
/// request id) and bounded by `changes-since` (and `changes-before` from 2.66) on the time an
/// action last changed.
pub(crate) async fn list_instance_actions(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Out {
    let q: Vec<(String, String)> = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("Invalid query string: {e}.")))?;
    let get = |k: &str| q.iter().rev().find(|(x, _)| x == k).map(|(_, v)| v.clone());
    let mut actions = s
        .svc
        .instance_actions(&c, &id, mv.at_least(2, 21))
        .await
        .map_err(fail)?;
    let mut more = false;
    if mv.at_least(2, 58) {
        let (since, before) = change_window(&get, mv)?;
        let changed = |a: &stratus_compute::InstanceAction| a.finish_time.unwrap_or(a.start_time);
        actions.retain(|a| since.is_none_or(|t| changed(a) >= t) && before.is_none_or(|t| changed(a) <= t));
        if let Some(m) = get("marker") {
            let at = actions
                .iter()
                .position(|a| a.request_id == m)
                .ok_or_else(|| ApiError::bad_request(format!("Marker {m} could not be found.")))?;
            actions.drain(..=at);
        }
        if let Some(l) = get("limit") {
            let l = l
                .parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("Invalid input for query parameters limit. Value: {l:.40}.")))?;
            more = actions.len() > l;
            actions.truncate(l);
        }
    }
    let items: Vec<Value> = actions.iter().map(|a| action_view(a, None, mv)).collect();
    let mut out = json!({ "instanceActions": items });
    if more {
        if let Some(last) = actions.last() {
            out["links"] = stratus_api::pagination::next_link(
                &format!("{}/servers/{id}/os-instance-actions", s.base),
                &q,
                &last.request_id,
            );
        }
    }
    Ok(reply(StatusCode::OK, out))
}

pub(crate) async fn show_instance_action(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path((id, req)): Path<(String, String)>,
) -> Out {
    let actions = s
        .svc
        .instance_actions(&c, &id, mv.at_least(2, 21))
        .await
        .map_err(fail)?;
    let a = actions
        .iter()
        .find(|a| a.request_id == req)
        .ok_or_else(|| ApiError::not_found(format!("Action {req} not found")))?;
    Ok(reply(
        StatusCode::OK,
        json!({"instanceAction": action_view(a, Some(c.has_role("admin")), mv)}),
    ))
}

// ---------------------------------------------------------------- hosts, zones, limits

pub(crate) async fn list_services(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    RawQuery(raw): RawQuery,
) -> Out {
    let q: Vec<(String, String)> = serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default();
    let want = |k: &str, v: &str| q.iter().filter(|(x, _)| x == k).all(|(_, w)| w == v);
    let nodes = s
        .svc
        .compute_nodes(&c, "os_compute_api:os-services:list")
        .await
        .map_err(fail)?;
    let items: Vec<Value> = nodes
        .iter()
        .filter(|(n, _)| want("host", &n.host) && want("binary", "nova-compute"))
        .map(|(n, up)| service_view(n, *up, mv))
        .collect();
    Ok(reply(StatusCode::OK, json!({ "services": items })))
}

// ---------------------------------------------------------------- tags (2.26)

fn tags_need(mv: Microversion) -> Result<(), ApiError> {
    if mv.at_least(2, 26) {
        Ok(())
    } else {
        Err(ApiError::not_found("Server tags need microversion 2.26."))
    }
}

pub(crate) async fn list_server_tags(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(id): Path<String>,
) -> Out {
    tags_need(mv)?;
    let i = s.svc.get_server(&c, &id).await.map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({"tags": i.tags})))
}

pub(crate) async fn replace_server_tags(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(id): Path<String>,
    req: Request,
) -> Out {
    tags_need(mv)?;
    let given: Vec<String> = stratus_api::body::keyed_json(req, "tags").await?;
    let mut wanted: Vec<String> = Vec::new();
    for t in given {
        if !wanted.contains(&t) {
            wanted.push(t);
        }
    }
    let tags = s
        .svc
        .change_tags(&c, &id, |t| {
            *t = wanted;
            Ok(())
        })
        .await
        .map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({ "tags": tags })))
}

pub(crate) async fn delete_server_tags(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(id): Path<String>,
) -> Out {
    tags_need(mv)?;
    s.svc
        .change_tags(&c, &id, |t| {
            t.clear();
            Ok(())
        })
        .await
        .map_err(fail)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn show_server_tag(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path((id, tag)): Path<(String, String)>,
) -> Out {
    tags_need(mv)?;
    let i = s.svc.get_server(&c, &id).await.map_err(fail)?;
    if i.tags.contains(&tag) {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found(format!(
            "Tag {tag} could not be found on server {id}."
        )))
    }
}

pub(crate) async fn add_server_tag(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path((id, tag)): Path<(String, String)>,
) -> Out {
    tags_need(mv)?;
    let mut added = false;
    s.svc
        .change_tags(&c, &id, |t| {
            if !t.contains(&tag) {
                t.push(tag.clone());
                added = true;
            }
            Ok(())
        })
        .await
        .map_err(fail)?;
    let mut r = if added {
        StatusCode::CREATED
    } else {
        StatusCode::NO_CONTENT
    }
    .into_response();
    if let Ok(loc) = axum::http::HeaderValue::from_str(&format!("{}/servers/{id}/tags/{tag}", s.base)) {
        r.headers_mut().insert(axum::http::header::LOCATION, loc);
    }
    Ok(r)
}

pub(crate) async fn delete_server_tag(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path((id, tag)): Path<(String, String)>,
) -> Out {
    tags_need(mv)?;
    s.svc
        .change_tags(&c, &id, |t| {
            let before = t.len();
            t.retain(|x| *x != tag);
            if t.len() == before {
                return Err(stratus_compute::ComputeError::NotFound(format!(
                    "Tag {tag} could not be found on server {id}."
                )));
            }
            Ok(())
        })
        .await
        .map_err(fail)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- topology (2.78)

pub(crate) async fn server_topology(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(id): Path<String>,
) -> Out {
    if !mv.at_least(2, 78) {
        return Err(ApiError::not_found("A server's topology needs microversion 2.78."));
    }
    let nodes = s.svc.server_numa_nodes(&c, &id).await.map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({"nodes": nodes, "pagesize_kb": null})))
}

// ---------------------------------------------------------------- metadata and addresses

pub(crate) async fn show_server_metadata(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Out {
    let i = s.svc.get_server(&c, &id).await.map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({"metadata": i.metadata})))
}

async fn set_metadata(s: ApiState, c: Caller, id: String, req: Request, replace: bool) -> Out {
    let obj = json_object(req).await?;
    let (items, _): (BTreeMap<String, String>, _) = take_keyed(obj, "metadata", &[])?;
    let m = s.svc.set_server_metadata(&c, &id, items, replace).await.map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({ "metadata": m })))
}

pub(crate) async fn add_server_metadata(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    req: Request,
) -> Out {
    set_metadata(s, c, id, req, false).await
}

pub(crate) async fn replace_server_metadata(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    req: Request,
) -> Out {
    set_metadata(s, c, id, req, true).await
}

pub(crate) async fn show_server_metadata_item(
    State(s): State<ApiState>,
    c: Caller,
    Path((id, key)): Path<(String, String)>,
) -> Out {
    let i = s.svc.get_server(&c, &id).await.map_err(fail)?;
    match i.metadata.get(&key) {
        Some(v) => Ok(reply(StatusCode::OK, json!({"meta": { key: v }}))),
        None => Err(ApiError::not_found(format!("Metadata item was not found: {key}"))),
    }
}

pub(crate) async fn put_server_metadata_item(
    State(s): State<ApiState>,
    c: Caller,
    Path((id, key)): Path<(String, String)>,
    req: Request,
) -> Out {
    let obj = json_object(req).await?;
    let (item, _): (BTreeMap<String, String>, _) = take_keyed(obj, "meta", &[])?;
    if item.len() != 1 || !item.contains_key(&key) {
        return Err(ApiError::bad_request("Request body and URI mismatch"));
    }
    s.svc
        .set_server_metadata(&c, &id, item.clone(), false)
        .await
        .map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({ "meta": item })))
}

pub(crate) async fn delete_server_metadata_item(
    State(s): State<ApiState>,
    c: Caller,
    Path((id, key)): Path<(String, String)>,
) -> Out {
    s.svc.delete_server_metadata(&c, &id, &key).await.map_err(fail)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn server_ips(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Out {
    let i = s.svc.get_server(&c, &id).await.map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({"addresses": addresses(&i, false)})))
}

/// `GET /servers/{id}/ips/{network}`: one network's addresses, 404 when the server has none
/// on it.
pub(crate) async fn server_ips_of_network(
    State(s): State<ApiState>,
    c: Caller,
    Path((id, network)): Path<(String, String)>,
) -> Out {
    let i = s.svc.get_server(&c, &id).await.map_err(fail)?;
    let all = addresses(&i, false);
    match all.get(&network) {
        Some(list) => Ok(reply(StatusCode::OK, json!({ network: list }))),
        None => Err(ApiError::not_found(format!(
            "There is no such network {network} on server {id}."
        ))),
    }
}

// ---------------------------------------------------------------- server groups

fn group_view(g: &stratus_compute::ServerGroup, mv: Microversion) -> Value {
    let policy = serde_json::to_value(g.policy).unwrap_or(Value::Null);
    let mut o = json!({"id": g.id, "name": g.name, "members": g.members});
    // The owner is shown from 2.13.
    if mv.at_least(2, 13) {
        o["project_id"] = json!(g.project_id);
        o["user_id"] = json!(g.user_id);
    }
    if mv.at_least(2, 64) {
        o["policy"] = policy;
        o["rules"] = match g.max_server_per_host {
            Some(n) => json!({"max_server_per_host": n}),
            None => json!({}),
        };
    } else {
        o["policies"] = json!([policy]);
        o["metadata"] = json!({});
    }
    o
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupCreate {
    name: String,
    policies: Option<Vec<String>>,
    policy: Option<String>,
    rules: Option<BTreeMap<String, Value>>,
}

pub(crate) async fn create_server_group(State(s): State<ApiState>, c: Caller, mv: Microversion, req: Request) -> Out {
    let obj = json_object(req).await?;
    let (b, _): (GroupCreate, _) = take_keyed(obj, "server_group", &[])?;
    let policy =
        match (mv.at_least(2, 64), b.policy, b.policies) {
            (true, Some(p), None) => p,
            (false, None, Some(list)) if list.len() == 1 => list[0].clone(),
            (true, _, _) => {
                return Err(ApiError::bad_request(
                    "Invalid input for field/attribute server_group: 'policy' is required from 2.64.",
                ))
            }
            (false, _, _) => return Err(ApiError::bad_request(
                "Invalid input for field/attribute server_group: 'policies' must be a list of one policy before 2.64.",
            )),
        };
    let max = match b.rules {
        None => None,
        Some(r) if mv.at_least(2, 64) => match r.get("max_server_per_host") {
            Some(v) => Some(
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "Invalid input for field/attribute max_server_per_host. Value: {v}."
                        ))
                    })? as u32,
            ),
            None if r.is_empty() => None,
            None => {
                return Err(ApiError::bad_request(
                    "Invalid input: the only group rule is max_server_per_host.",
                ))
            }
        },
        Some(_) => {
            return Err(ApiError::bad_request(
                "Invalid input: group rules need microversion 2.64.",
            ))
        }
    };
    let g = s
        .svc
        .create_server_group(&c, &b.name, &policy, max)
        .await
        .map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({"server_group": group_view(&g, mv)})))
}

pub(crate) async fn list_server_groups(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    RawQuery(raw): RawQuery,
) -> Out {
    let q: Vec<(String, String)> = serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default();
    let all = q
        .iter()
        .any(|(k, v)| k == "all_projects" && !matches!(v.to_ascii_lowercase().as_str(), "0" | "false"));
    let groups = s.svc.list_server_groups(&c, all).await.map_err(fail)?;
    let items: Vec<Value> = groups.iter().map(|g| group_view(g, mv)).collect();
    Ok(reply(StatusCode::OK, json!({ "server_groups": items })))
}

pub(crate) async fn show_server_group(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(id): Path<String>,
) -> Out {
    let g = s.svc.get_server_group(&c, &id).await.map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({"server_group": group_view(&g, mv)})))
}

pub(crate) async fn delete_server_group(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Out {
    s.svc.delete_server_group(&c, &id).await.map_err(fail)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- volume attachments

/// A volume attachment: its device `tag` from 2.70 (none can be set here yet) and
/// `delete_on_termination` from 2.79.
fn attachment_view(a: &stratus_compute::VolumeAttachment, mv: Microversion) -> Value {
    let mut o = json!({"id": a.volume_id, "serverId": a.instance_id, "volumeId": a.volume_id, "device": a.device});
    if mv.at_least(2, 70) {
        o["tag"] = Value::Null;
    }
    if mv.at_least(2, 79) {
        o["delete_on_termination"] = json!(a.delete_on_termination != 0);
    }
    o
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttachBody {
    #[serde(rename = "volumeId")]
    volume_id: String,
    device: Option<String>,
    tag: Option<String>,
    delete_on_termination: Option<bool>,
}

pub(crate) async fn attach_volume(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Extension(rid): Extension<RequestId>,
    Path(id): Path<String>,
    req: Request,
) -> Out {
    let obj = json_object(req).await?;
    let (b, _): (AttachBody, _) = take_keyed(obj, "volumeAttachment", &[])?;
    if b.tag.is_some() {
        return Err(ApiError::bad_request(
            "Invalid input: device tags on attached volumes are not supported yet.",
        ));
    }
    if b.delete_on_termination.is_some() && !mv.at_least(2, 79) {
        return Err(ApiError::bad_request(
            "Invalid input: 'delete_on_termination' needs microversion 2.79.",
        ));
    }
    let a = s
        .svc
        .attach_volume(
            &c,
            &rid.0,
            &id,
            &b.volume_id,
            b.device.as_deref(),
            b.delete_on_termination.unwrap_or(false),
        )
        .await
        .map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({"volumeAttachment": attachment_view(&a, mv)})))
}

pub(crate) async fn list_volume_attachments(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(id): Path<String>,
) -> Out {
    let list = s.svc.volume_attachments(&c, &id).await.map_err(fail)?;
    let items: Vec<Value> = list.iter().map(|a| attachment_view(a, mv)).collect();
    Ok(reply(StatusCode::OK, json!({ "volumeAttachments": items })))
}

pub(crate) async fn show_volume_attachment(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path((id, volume)): Path<(String, String)>,
) -> Out {
    let list = s.svc.volume_attachments(&c, &id).await.map_err(fail)?;
    let a = list
        .iter()
        .find(|a| a.volume_id == volume)
        .ok_or_else(|| ApiError::not_found(format!("Volume {volume} is not attached to server {id}.")))?;
    Ok(reply(StatusCode::OK, json!({"volumeAttachment": attachment_view(a, mv)})))
}

pub(crate) async fn detach_volume(
    State(s): State<ApiState>,
    c: Caller,
    Extension(rid): Extension<RequestId>,
    Path((id, volume)): Path<(String, String)>,
) -> Out {
    s.svc.detach_volume(&c, &rid.0, &id, &volume).await.map_err(fail)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// Nova's service view: the id an integer before 2.53 and a uuid after; `forced_down` from 2.11.
fn service_view(n: &stratus_compute::model::ComputeNode, up: bool, mv: Microversion) -> Value {
    let id = if mv.at_least(2, 53) {
        json!(n.service_id)
    } else {
        json!(n.id)
    };
    let mut o = json!({"id": id, "binary": "nova-compute", "host": n.host, "zone": n.availability_zone,
           "status": if n.enabled { "enabled" } else { "disabled" }, "state": if up { "up" } else { "down" },
           "updated_at": micros_naive(n.heartbeat_at), "disabled_reason": n.disabled_reason});
    if mv.at_least(2, 11) {
        o["forced_down"] = json!(false);
    }
    o
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceChange {
    status: Option<String>,
    disabled_reason: Option<String>,
    forced_down: Option<bool>,
}

/// `PUT /os-services/{id}` (2.53 and later): enable or disable a compute host.
pub(crate) async fn update_service(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(id): Path<String>,
    req: Request,
) -> Out {
    let obj = json_object(req).await?;
    if !mv.at_least(2, 53) {
        return update_service_legacy(s, c, &id, obj).await;
    }
    let b: ServiceChange = serde_json::from_value(Value::Object(obj))
        .map_err(|e| ApiError::bad_request(format!("Invalid input for the service update: {e}.")))?;
    if b.forced_down.is_some() {
        return Err(ApiError::bad_request(
            "Invalid input: forcing a service down is not supported.",
        ));
    }
    let enabled = match b.status.as_deref() {
        Some("enabled") => true,
        Some("disabled") => false,
        other => {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute status. Value: {other:?}. It must be enabled or disabled."
            )))
        }
    };
    if enabled && b.disabled_reason.is_some() {
        return Err(ApiError::bad_request(
            "Specifying 'disabled_reason' with status 'enabled' is invalid.",
        ));
    }
    let n = s
        .svc
        .set_service_enabled(&c, &id, enabled, b.disabled_reason.as_deref())
        .await
        .map_err(fail)?;
    Ok(reply(StatusCode::OK, json!({"service": service_view(&n, true, mv)})))
}

/// Before 2.53: `PUT /os-services/enable|disable|disable-log-reason` with the host and binary.
async fn update_service_legacy(s: ApiState, c: Caller, action: &str, obj: serde_json::Map<String, Value>) -> Out {
    let host = obj
        .get("host")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("Invalid input: 'host' is required."))?
        .to_owned();
    if obj.get("binary").and_then(Value::as_str) != Some("nova-compute") {
        return Err(ApiError::bad_request("Invalid input: 'binary' must be nova-compute."));
    }
    let reason = obj.get("disabled_reason").and_then(Value::as_str).map(str::to_owned);
    let enabled = match action {
        "enable" => true,
        "disable" | "disable-log-reason" => false,
        other => return Err(ApiError::not_found(format!("Unknown service action {other}."))),
    };
    let n = s
        .svc
        .set_service_enabled(&c, &host, enabled, reason.as_deref())
        .await
        .map_err(fail)?;
    let mut out =
        json!({"host": n.host, "binary": "nova-compute", "status": if n.enabled { "enabled" } else { "disabled" }});
    if let Some(r) = &n.disabled_reason {
        out["disabled_reason"] = json!(r);
    }
    Ok(reply(StatusCode::OK, json!({ "service": out })))
}

/// The security groups of the server's ports, by name, as Nova shows them: those asked for at
/// create, or the project's `default` that ports get otherwise.
fn security_groups_of(i: &Instance) -> Value {
    if i.addresses.is_empty() {
        return json!([]);
    }
    let mut names: Vec<&str> = Vec::new();
    if let stratus_compute::model::RequestedNetworks::List(list) = &i.requested_networks {
        for r in list {
            if r.port_id.is_none() && r.security_groups.is_empty() && !names.contains(&"default") {
                names.push("default");
            }
            for g in &r.security_groups {
                if !names.contains(&g.name.as_str()) {
                    names.push(&g.name);
                }
            }
        }
    }
    if names.is_empty() {
        names.push("default");
    }
    Value::Array(names.into_iter().map(|n| json!({ "name": n })).collect())
}

/// A `description` member: absent (`None`), null (`Some(None)`) or a string, from 2.19.
fn description_of(v: Option<&Value>, mv: Microversion) -> Result<Option<Option<String>>, ApiError> {
    let Some(v) = v else { return Ok(None) };
    if !mv.at_least(2, 19) {
        return Err(ApiError::bad_request(
            "Invalid input: 'description' needs microversion 2.19.",
        ));
    }
    match v {
        Value::Null => Ok(Some(None)),
        Value::String(s) => Ok(Some(Some(s.clone()))),
        other => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute description. Value: {other}. It is a string or null."
        ))),
    }
}
