//! What the Network service keeps, as its callers see it.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// Provider attributes of a network (admin-only).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Provider {
    pub network_type: Option<String>,
    pub physical_network: Option<String>,
    pub segmentation_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    pub id: String,
    pub name: String,
    pub description: String,
    pub project_id: String,
    pub admin_state_up: bool,
    pub shared: bool,
    pub external: bool,
    pub mtu: i64,
    pub provider: Provider,
    pub status: String,
    /// Ports made on the network without saying otherwise get this port security.
    pub port_security_enabled: bool,
    pub revision_number: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// Ids of the network's subnets.
    pub subnets: Vec<String>,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRoute {
    pub destination: String,
    pub nexthop: String,
}

/// An inclusive range of addresses handed out automatically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    pub start: IpAddr,
    pub end: IpAddr,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Subnet {
    pub id: String,
    pub network_id: String,
    pub name: String,
    pub description: String,
    pub project_id: String,
    pub ip_version: u8,
    pub cidr: IpNet,
    pub gateway_ip: Option<IpAddr>,
    pub enable_dhcp: bool,
    pub dns_nameservers: Vec<String>,
    pub host_routes: Vec<HostRoute>,
    pub allocation_pools: Vec<Pool>,
    pub ipv6_ra_mode: Option<String>,
    pub ipv6_address_mode: Option<String>,
    pub revision_number: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedIp {
    pub subnet_id: String,
    pub ip_address: IpAddr,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressPair {
    pub ip_address: String,
    pub mac_address: String,
}

/// Where and how a port is plugged, as the compute agent sets it.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub host_id: String,
    pub vif_type: String,
    pub vnic_type: String,
    pub vif_details: serde_json::Value,
    pub profile: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Port {
    pub id: String,
    pub network_id: String,
    pub name: String,
    pub description: String,
    pub project_id: String,
    pub mac_address: String,
    pub admin_state_up: bool,
    pub status: String,
    pub device_id: String,
    pub device_owner: String,
    pub binding: Binding,
    pub port_security_enabled: bool,
    pub allowed_address_pairs: Vec<AddressPair>,
    pub fixed_ips: Vec<FixedIp>,
    pub security_groups: Vec<String>,
    pub revision_number: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SecurityGroupRule {
    pub id: String,
    pub security_group_id: String,
    pub project_id: String,
    pub direction: String,
    pub ethertype: String,
    pub protocol: Option<String>,
    pub port_range_min: Option<i64>,
    pub port_range_max: Option<i64>,
    /// The prefix as given, with its mask (`10.0.0.5/24`, `10.0.0.5/32` for an address).
    pub remote_ip_prefix: Option<String>,
    /// The network the prefix means (`10.0.0.0/24`).
    pub normalized_cidr: Option<String>,
    pub remote_group_id: Option<String>,
    pub description: String,
    pub revision_number: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
    pub description: String,
    pub project_id: String,
    pub stateful: bool,
    pub rules: Vec<SecurityGroupRule>,
    pub revision_number: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub tags: Vec<String>,
}

/// What `remote_group_id` of a rule template stands for in the group made from it.
pub const PARENT_GROUP: &str = "PARENT";

/// A rule every new security group gets (Neutron's `default_security_group_rules`): not a
/// project's, and without standard attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct DefaultSecurityGroupRule {
    pub id: String,
    pub direction: String,
    pub ethertype: String,
    pub protocol: Option<String>,
    pub port_range_min: Option<i64>,
    pub port_range_max: Option<i64>,
    pub remote_ip_prefix: Option<String>,
    pub normalized_cidr: Option<String>,
    /// None, [`PARENT_GROUP`], or the id of an existing group.
    pub remote_group_id: Option<String>,
    pub description: String,
    /// Whether each project's `default` group gets the rule.
    pub used_in_default_sg: bool,
    /// Whether every other group gets the rule.
    pub used_in_non_default_sg: bool,
    pub created_at: i64,
}

/// An advanced service's driver, as the operator configured it (`GET /service-providers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceProvider {
    pub service_type: String,
    pub name: String,
    pub default: bool,
}

/// The resources with quotas, in Neutron's names.
pub const QUOTA_RESOURCES: &[&str] = &["network", "subnet", "port", "security_group", "security_group_rule"];
