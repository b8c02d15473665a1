//! Neutron's JSON for each resource. Attributes only administrators see in Neutron
//! (provider and binding details) are shown to administrators and the service role only.

use serde_json::{json, Map, Value};
use stratus_network::format_time;
use stratus_network::model::*;

/// The standard attributes: project, times, revision and tags.
fn standard(v: &mut Value, project_id: &str, created: i64, updated: i64, revision: i64, tags: &[String]) {
    v["tenant_id"] = json!(project_id);
    v["project_id"] = json!(project_id);
    v["created_at"] = json!(format_time(created));
    v["updated_at"] = json!(format_time(updated));
    v["revision_number"] = json!(revision);
    v["tags"] = json!(tags);
}

pub(crate) fn network(n: &Network, privileged: bool) -> Value {
    let mut v = json!({
        "id": n.id,
        "name": n.name,
        "description": n.description,
        "admin_state_up": n.admin_state_up,
        "status": n.status,
        "subnets": n.subnets,
        "shared": n.shared,
        "router:external": n.external,
        "mtu": n.mtu,
        "availability_zone_hints": [],
        "availability_zones": ["nova"],
        "ipv4_address_scope": null,
        "ipv6_address_scope": null,
        "port_security_enabled": n.port_security_enabled,
        "l2_adjacency": true,
        "is_default": false,
    });
    if privileged {
        v["provider:network_type"] = json!(n.provider.network_type);
        v["provider:physical_network"] = json!(n.provider.physical_network);
        v["provider:segmentation_id"] = json!(n.provider.segmentation_id);
    }
    standard(
        &mut v,
        &n.project_id,
        n.created_at,
        n.updated_at,
        n.revision_number,
        &n.tags,
    );
    v
}

pub(crate) fn subnet(s: &Subnet) -> Value {
    let mut v = json!({
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "network_id": s.network_id,
        "ip_version": s.ip_version,
        "cidr": s.cidr.to_string(),
        "gateway_ip": s.gateway_ip.map(|g| g.to_string()),
        "enable_dhcp": s.enable_dhcp,
        "dns_nameservers": s.dns_nameservers,
        "host_routes": s.host_routes,
        "allocation_pools": s.allocation_pools.iter().map(|p| json!({"start": p.start.to_string(), "end": p.end.to_string()})).collect::<Vec<_>>(),
        "ipv6_ra_mode": s.ipv6_ra_mode,
        "ipv6_address_mode": s.ipv6_address_mode,
        "subnetpool_id": null,
        "segment_id": null,
        "service_types": [],
        "dns_publish_fixed_ip": false,
    });
    standard(
        &mut v,
        &s.project_id,
        s.created_at,
        s.updated_at,
        s.revision_number,
        &s.tags,
    );
    v
}

pub(crate) fn port(p: &Port, privileged: bool) -> Value {
    let mut v = json!({
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "network_id": p.network_id,
        "mac_address": p.mac_address,
        "admin_state_up": p.admin_state_up,
        "status": p.status,
        "device_id": p.device_id,
        "device_owner": p.device_owner,
        "fixed_ips": p.fixed_ips.iter().map(|f| json!({"subnet_id": f.subnet_id, "ip_address": f.ip_address.to_string()})).collect::<Vec<_>>(),
        "allowed_address_pairs": p.allowed_address_pairs,
        "extra_dhcp_opts": [],
        "security_groups": p.security_groups,
        "port_security_enabled": p.port_security_enabled,
        "binding:vnic_type": p.binding.vnic_type,
        "ip_allocation": "immediate",
        "propagate_uplink_status": false,
    });
    if privileged {
        v["binding:host_id"] = json!(p.binding.host_id);
        v["binding:vif_type"] = json!(p.binding.vif_type);
        v["binding:vif_details"] = p.binding.vif_details.clone();
        v["binding:profile"] = p.binding.profile.clone();
    }
    standard(
        &mut v,
        &p.project_id,
        p.created_at,
        p.updated_at,
        p.revision_number,
        &p.tags,
    );
    v
}

pub(crate) fn rule(r: &SecurityGroupRule) -> Value {
    let mut v = json!({
        "id": r.id,
        "security_group_id": r.security_group_id,
        "direction": r.direction,
        "ethertype": r.ethertype,
        "protocol": r.protocol,
        "port_range_min": r.port_range_min,
        "port_range_max": r.port_range_max,
        "remote_ip_prefix": r.remote_ip_prefix,
        "normalized_cidr": r.normalized_cidr,
        "remote_group_id": r.remote_group_id,
        "remote_address_group_id": null,
        "description": r.description,
    });
    // Rules have standard attributes but, in Neutron, no tags.
    standard(
        &mut v,
        &r.project_id,
        r.created_at,
        r.updated_at,
        r.revision_number,
        &[],
    );
    if let Some(m) = v.as_object_mut() {
        m.remove("tags");
    }
    v
}

/// A rule template: no project and no standard attributes, as in Neutron.
pub(crate) fn default_rule(r: &DefaultSecurityGroupRule) -> Value {
    json!({
        "id": r.id,
        "direction": r.direction,
        "ethertype": r.ethertype,
        "protocol": r.protocol,
        "port_range_min": r.port_range_min,
        "port_range_max": r.port_range_max,
        "remote_ip_prefix": r.remote_ip_prefix,
        "remote_group_id": r.remote_group_id,
        "remote_address_group_id": null,
        "description": r.description,
        "used_in_default_sg": r.used_in_default_sg,
        "used_in_non_default_sg": r.used_in_non_default_sg,
    })
}

pub(crate) fn service_provider(p: &ServiceProvider) -> Value {
    json!({"service_type": p.service_type, "name": p.name, "default": p.default})
}

pub(crate) fn security_group(g: &SecurityGroup) -> Value {
    let mut v = json!({
        "id": g.id,
        "name": g.name,
        "description": g.description,
        "stateful": g.stateful,
        "shared": false,
        "security_group_rules": g.rules.iter().map(rule).collect::<Vec<_>>(),
    });
    standard(
        &mut v,
        &g.project_id,
        g.created_at,
        g.updated_at,
        g.revision_number,
        &g.tags,
    );
    v
}

/// Keeps only the attributes named by `fields` (Neutron's field selection); all when empty.
pub(crate) fn select(v: Value, fields: &[String]) -> Value {
    if fields.is_empty() {
        return v;
    }
    match v {
        Value::Object(m) => Value::Object(m.into_iter().filter(|(k, _)| fields.contains(k)).collect::<Map<_, _>>()),
        other => other,
    }
}
