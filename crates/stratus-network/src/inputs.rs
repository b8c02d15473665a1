//! Request bodies as Neutron defines them: unknown attributes are refused (Neutron answers
//! "Unrecognized attribute(s)"), and each field has its type.

use serde::Deserialize;
use serde_json::Value;

/// `{"network": {...}}` on create and update.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub admin_state_up: Option<bool>,
    pub shared: Option<bool>,
    #[serde(rename = "router:external")]
    pub external: Option<bool>,
    #[serde(default, deserialize_with = "integer")]
    pub mtu: Option<i64>,
    #[serde(rename = "provider:network_type")]
    pub network_type: Option<String>,
    #[serde(rename = "provider:physical_network")]
    pub physical_network: Option<String>,
    #[serde(rename = "provider:segmentation_id", default, deserialize_with = "integer")]
    pub segmentation_id: Option<i64>,
    pub project_id: Option<String>,
    pub tenant_id: Option<String>,
    /// Accepted and ignored: Stratus has one availability zone.
    pub availability_zone_hints: Option<Vec<String>>,
    /// Ports created on the network inherit it.
    pub port_security_enabled: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolInput {
    pub start: String,
    pub end: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteInput {
    pub destination: String,
    pub nexthop: String,
}

/// `{"subnet": {...}}`. `gateway_ip` is absent (the default), null (no gateway) or an address.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubnetInput {
    pub network_id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub ip_version: Option<u8>,
    pub cidr: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub gateway_ip: Option<Option<String>>,
    pub enable_dhcp: Option<bool>,
    pub dns_nameservers: Option<Vec<String>>,
    pub host_routes: Option<Vec<RouteInput>>,
    pub allocation_pools: Option<Vec<PoolInput>>,
    pub ipv6_ra_mode: Option<String>,
    pub ipv6_address_mode: Option<String>,
    pub project_id: Option<String>,
    pub tenant_id: Option<String>,
    pub subnetpool_id: Option<Value>,
    pub use_default_subnetpool: Option<bool>,
    pub prefixlen: Option<Value>,
    pub segment_id: Option<Value>,
    pub service_types: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedIpInput {
    pub subnet_id: Option<String>,
    pub ip_address: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressPairInput {
    pub ip_address: String,
    pub mac_address: Option<String>,
}

/// `{"port": {...}}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortInput {
    pub network_id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub admin_state_up: Option<bool>,
    pub mac_address: Option<String>,
    pub fixed_ips: Option<Vec<FixedIpInput>>,
    pub device_id: Option<String>,
    pub device_owner: Option<String>,
    #[serde(rename = "binding:host_id")]
    pub host_id: Option<String>,
    #[serde(rename = "binding:vnic_type")]
    pub vnic_type: Option<String>,
    #[serde(rename = "binding:profile")]
    pub profile: Option<Value>,
    pub port_security_enabled: Option<bool>,
    pub allowed_address_pairs: Option<Vec<AddressPairInput>>,
    pub security_groups: Option<Vec<String>>,
    pub project_id: Option<String>,
    pub tenant_id: Option<String>,
    /// Set by the dataplane when the port is plugged (admin only through the API).
    pub status: Option<String>,
    pub dns_name: Option<String>,
    pub extra_dhcp_opts: Option<Vec<Value>>,
    /// On create only (Neutron's ports take tags in their POST).
    pub tags: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroupInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub stateful: Option<bool>,
    pub project_id: Option<String>,
    pub tenant_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    pub security_group_id: Option<String>,
    pub direction: Option<String>,
    pub ethertype: Option<String>,
    #[serde(default, deserialize_with = "protocol")]
    pub protocol: Option<String>,
    #[serde(default, deserialize_with = "integer")]
    pub port_range_min: Option<i64>,
    #[serde(default, deserialize_with = "integer")]
    pub port_range_max: Option<i64>,
    pub remote_ip_prefix: Option<String>,
    pub remote_group_id: Option<String>,
    pub remote_address_group_id: Option<Value>,
    pub description: Option<String>,
    pub project_id: Option<String>,
    pub tenant_id: Option<String>,
}

/// `{"default_security_group_rule": {...}}`: a rule template. Neutron requires `direction` and
/// both `used_in_*` flags; `tenant_id` is accepted and means nothing (templates are no
/// project's).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultRuleInput {
    pub direction: Option<String>,
    pub ethertype: Option<String>,
    #[serde(default, deserialize_with = "protocol")]
    pub protocol: Option<String>,
    #[serde(default, deserialize_with = "integer")]
    pub port_range_min: Option<i64>,
    #[serde(default, deserialize_with = "integer")]
    pub port_range_max: Option<i64>,
    pub remote_ip_prefix: Option<String>,
    pub remote_group_id: Option<String>,
    pub remote_address_group_id: Option<Value>,
    pub description: Option<String>,
    #[serde(default, deserialize_with = "boolean")]
    pub used_in_default_sg: Option<bool>,
    #[serde(default, deserialize_with = "boolean")]
    pub used_in_non_default_sg: Option<bool>,
    pub project_id: Option<String>,
    pub tenant_id: Option<String>,
}

/// Booleans as Neutron's `convert_to_boolean` reads them: true/false, "true"/"false" in any
/// case, 1/0 and "1"/"0".
fn boolean<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    let bad = |v: &dyn std::fmt::Display| serde::de::Error::custom(format!("'{v}' cannot be converted to boolean"));
    Ok(match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(b),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => return Err(bad(&n)),
        },
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => return Err(bad(&s)),
        },
        Some(other) => return Err(bad(&other)),
    })
}

/// Distinguishes an absent field (None) from an explicit null (Some(None)).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Integers as Neutron reads them: numbers or strings of digits (the client sends `"1400"`).
fn integer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(
            n.as_i64()
                .ok_or_else(|| serde::de::Error::custom(format!("'{n}' is not an integer")))?,
        ),
        Some(Value::String(s)) => Some(
            s.trim()
                .parse()
                .map_err(|_| serde::de::Error::custom(format!("'{s}' is not an integer")))?,
        ),
        Some(other) => return Err(serde::de::Error::custom(format!("'{other}' is not an integer"))),
    })
}

/// Protocols come as names or numbers (`"tcp"`, `6`, `"6"`).
fn protocol<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => return Err(serde::de::Error::custom(format!("invalid protocol {other}"))),
    })
}
