//! Subnets: address ranges of a network, with their gateway, pools, DNS and routes.

use std::net::IpAddr;

use ipnet::IpNet;
use stratus_api::{AuthContext, Target};
use stratus_store::now_micros;
use stratus_store::sql::Filters;

use crate::db;
use crate::error::{NetworkError, Result};
use crate::inputs::{PoolInput, RouteInput, SubnetInput};
use crate::ipam;
use crate::model::{HostRoute, Pool, Subnet};
use crate::networks::{flag, integer, target, Filter};
use crate::tags::{tag_filter, TagKind};
use crate::{check_len, is_admin, new_id, owner_of, NetworkService};
use stratus_store::sql::Page;

const IPV6_MODES: &[&str] = &["slaac", "dhcpv6-stateful", "dhcpv6-stateless"];

fn parse_ip(field: &str, s: &str) -> Result<IpAddr> {
    s.trim()
        .parse()
        .map_err(|_| NetworkError::invalid(format!("'{s}' is not a valid IP address for '{field}'")))
}

fn pools_from(input: &[PoolInput]) -> Result<Vec<Pool>> {
    input
        .iter()
        .map(|p| {
            Ok(Pool {
                start: parse_ip("allocation_pools", &p.start)?,
                end: parse_ip("allocation_pools", &p.end)?,
            })
        })
        .collect()
}

fn routes_from(version: u8, input: &[RouteInput]) -> Result<Vec<HostRoute>> {
    input
        .iter()
        .map(|r| {
            let dest: IpNet = r.destination.parse().map_err(|_| {
                NetworkError::invalid(format!("'{}' is not a valid CIDR for a host route", r.destination))
            })?;
            let hop = parse_ip("host_routes", &r.nexthop)?;
            if dest.addr().is_ipv4() != (version == 4) || hop.is_ipv4() != (version == 4) {
                return Err(NetworkError::invalid(format!(
                    "host route {} via {} is not of the subnet's IP version {version}",
                    r.destination, r.nexthop
                )));
            }
            Ok(HostRoute {
                destination: dest.trunc().to_string(),
                nexthop: hop.to_string(),
            })
        })
        .collect()
}

fn dns_from(input: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for s in input {
        let ip = parse_ip("dns_nameservers", s)?.to_string();
        if out.contains(&ip) {
            return Err(NetworkError::invalid(format!(
                "duplicate nameserver '{ip}' in dns_nameservers"
            )));
        }
        out.push(ip);
    }
    Ok(out)
}

/// A subnet's CIDR as Neutron's `validate_subnet` takes it: with a mask, and for IPv4 in its
/// canonical form; host bits are allowed and cleared (`10.0.0.5/24` makes `10.0.0.0/24`, as
/// Neutron's create does).
pub(crate) fn parse_subnet(raw: &str) -> Result<IpNet> {
    let Ok(net) = raw.parse::<IpNet>() else {
        return Err(match raw.parse::<IpAddr>() {
            Ok(ip) => NetworkError::invalid(format!(
                "'{raw}' isn't a recognized IP subnet cidr, '{}' is recommended",
                IpNet::from(ip)
            )),
            Err(_) => NetworkError::invalid(format!("'{raw}' is not a valid IP subnet")),
        });
    };
    if net.addr().is_ipv4() && net.to_string() != raw {
        return Err(NetworkError::invalid(format!(
            "'{raw}' isn't a recognized IP subnet cidr, '{}' is recommended",
            net.trunc()
        )));
    }
    Ok(net.trunc())
}

/// The gateway of a subnet: the first host address by default, none when asked, or the
/// address given, which must be a host address of the subnet.
fn gateway_for(cidr: &IpNet, asked: Option<Option<&str>>) -> Result<Option<IpAddr>> {
    let (lo, hi) = ipam::host_range(cidr);
    match asked {
        None => Ok(Some(ipam::from_u128(lo, cidr.addr().is_ipv6()))),
        Some(None) => Ok(None),
        Some(Some(g)) => {
            let ip = parse_ip("gateway_ip", g)?;
            let v = ipam::to_u128(ip);
            if ip.is_ipv4() != cidr.addr().is_ipv4() || !cidr.contains(&ip) || v < lo || v > hi {
                return Err(NetworkError::invalid_as(
                    "InvalidInput",
                    format!("Invalid input for operation: Gateway IP {ip} is not a host address of subnet {cidr}."),
                ));
            }
            Ok(Some(ip))
        }
    }
}

impl NetworkService {
    pub async fn create_subnet(&self, caller: &AuthContext, input: SubnetInput) -> Result<Subnet> {
        let network_id = input
            .network_id
            .clone()
            .ok_or_else(|| NetworkError::invalid("'network_id' is required"))?;
        let net = self.visible_network(caller, &network_id).await?;
        let project_id = owner_of(caller, input.project_id.as_deref(), input.tenant_id.as_deref())?;
        self.enforce(
            "create_subnet",
            caller,
            &target(&project_id).with("network_project_id", net.project_id.clone()),
        )?;
        if input.subnetpool_id.as_ref().is_some_and(|v| !v.is_null()) || input.use_default_subnetpool == Some(true) {
            return Err(NetworkError::invalid(
                "subnet pools are not supported here: give a cidr",
            ));
        }
        if input.segment_id.as_ref().is_some_and(|v| !v.is_null()) {
            return Err(NetworkError::invalid("routed network segments are not supported here"));
        }
        let raw = input
            .cidr
            .as_deref()
            .ok_or_else(|| NetworkError::invalid("'cidr' is required (subnet pools are not supported)"))?;
        let cidr = parse_subnet(raw)?;
        let version = if cidr.addr().is_ipv4() { 4 } else { 6 };
        match input.ip_version {
            Some(v) if v != version => {
                return Err(NetworkError::invalid(format!(
                    "Cidr {cidr} does not match the given ip_version {v}"
                )))
            }
            Some(4) | Some(6) | None => {}
            Some(v) => {
                return Err(NetworkError::invalid(format!(
                    "'{v}' is not a valid ip_version: 4 or 6"
                )))
            }
        }
        let usable = if version == 4 {
            cidr.prefix_len() <= 30
        } else {
            cidr.prefix_len() <= 126
        };
        if !usable {
            return Err(NetworkError::invalid(format!(
                "subnet {cidr} is too small to hold addresses"
            )));
        }
        for (field, mode) in [
            ("ipv6_ra_mode", &input.ipv6_ra_mode),
            ("ipv6_address_mode", &input.ipv6_address_mode),
        ] {
            if let Some(m) = mode {
                if version == 4 {
                    return Err(NetworkError::invalid(format!(
                        "{field} is not valid for an IPv4 subnet"
                    )));
                }
                if !IPV6_MODES.contains(&m.as_str()) {
                    return Err(NetworkError::invalid(format!(
                        "'{m}' is not a valid {field}: {}",
                        IPV6_MODES.join(", ")
                    )));
                }
            }
        }
        if let (Some(ra), Some(addr)) = (&input.ipv6_ra_mode, &input.ipv6_address_mode) {
            if ra != addr {
                return Err(NetworkError::invalid(format!(
                    "ipv6_ra_mode '{ra}' and ipv6_address_mode '{addr}' must be the same when both are set"
                )));
            }
        }
        if input.ipv6_address_mode.as_deref() == Some("slaac") && cidr.prefix_len() != 64 {
            return Err(NetworkError::invalid(format!(
                "SLAAC needs a /64 prefix; {cidr} is not one"
            )));
        }
        let gateway = gateway_for(&cidr, input.gateway_ip.as_ref().map(|g| g.as_deref()))?;
        let pools = match &input.allocation_pools {
            Some(p) if !p.is_empty() => {
                let pools = pools_from(p)?;
                ipam::check_pools(&cidr, &pools, gateway)?;
                pools
            }
            _ => ipam::default_pools(&cidr, gateway),
        };
        let name = input.name.unwrap_or_default();
        let description = input.description.unwrap_or_default();
        check_len("name", &name)?;
        check_len("description", &description)?;
        let existing = db::subnets_of(self.db(), &network_id).await?;
        if let Some(o) = existing
            .iter()
            .find(|s| s.cidr.contains(&cidr.network()) || cidr.contains(&s.cidr.network()))
        {
            return Err(NetworkError::invalid(format!(
                "Requested subnet with cidr: {cidr} for network: {network_id} overlaps with another subnet ({} {}).",
                o.id, o.cidr
            )));
        }
        let within = self.quota_for(&project_id, "subnet").await?;
        let now = now_micros();
        let subnet = Subnet {
            id: new_id(),
            network_id: network_id.clone(),
            name,
            description,
            project_id,
            ip_version: version,
            cidr,
            gateway_ip: gateway,
            enable_dhcp: input.enable_dhcp.unwrap_or(true),
            dns_nameservers: dns_from(input.dns_nameservers.as_deref().unwrap_or(&[]))?,
            host_routes: routes_from(version, input.host_routes.as_deref().unwrap_or(&[]))?,
            allocation_pools: pools,
            ipv6_ra_mode: input.ipv6_ra_mode,
            ipv6_address_mode: input.ipv6_address_mode,
            revision_number: 1,
            created_at: now,
            updated_at: now,
            tags: Vec::new(),
        };
        db::insert_subnet(self.db(), &subnet, within).await??;
        if subnet.enable_dhcp {
            // The DHCP port takes its address now, so that address is never given to a guest.
            if let Err(e) = self.ensure_dhcp_port(&net, &subnet).await {
                // Undo: a subnet whose DHCP address could not be reserved is not kept.
                let _ = db::delete_subnet(self.db(), &subnet.id).await;
                return Err(e);
            }
        }
        self.sync(&network_id).await;
        tracing::info!(subnet = %subnet.id, network = %network_id, cidr = %subnet.cidr, "subnet created");
        Ok(subnet)
    }

    pub(crate) async fn visible_subnet(&self, caller: &AuthContext, id: &str) -> Result<Subnet> {
        if let Some(s) = db::get_subnet(self.db(), id).await? {
            if let Some(n) = db::get_network(self.db(), &s.network_id).await? {
                if self.can_see_network(caller, &n) {
                    return Ok(s);
                }
            }
        }
        Err(NetworkError::not_found("SubnetNotFound", "Subnet", id))
    }

    pub async fn get_subnet(&self, caller: &AuthContext, id: &str) -> Result<Subnet> {
        let s = self.visible_subnet(caller, id).await?;
        self.enforce("get_subnet", caller, &target(&s.project_id))?;
        Ok(s)
    }

    pub async fn list_subnets(&self, caller: &AuthContext, filter: &Filter, page: &Page) -> Result<Vec<Subnet>> {
        self.enforce(
            "get_subnet",
            caller,
            &Target::new().opt("project_id", caller.project_id()),
        )?;
        let mut f = Filters::new();
        if !is_admin(caller) {
            let p = f.bind(caller.project_id().unwrap_or(""));
            f.clause(format!(
                "network_id IN (SELECT id FROM networks WHERE project_id = {p} OR shared = 1 OR external = 1)"
            ));
        }
        for (k, v) in filter {
            match k.as_str() {
                "id" | "name" | "description" | "network_id" | "project_id" | "cidr" | "gateway_ip"
                | "ipv6_ra_mode" | "ipv6_address_mode" => {
                    f.eq(k, Some(v.as_str()));
                }
                "tenant_id" => {
                    f.eq("project_id", Some(v.as_str()));
                }
                "ip_version" => {
                    let n: i64 = v
                        .parse()
                        .map_err(|_| NetworkError::invalid(format!("'{v}' is not a valid ip_version")))?;
                    f.eq("ip_version", Some(n));
                }
                "enable_dhcp" => {
                    f.eq_flag(k, Some(flag(k, v)?));
                }
                "revision_number" => {
                    f.eq(k, Some(integer(v)?));
                }
                t if tag_filter(&mut f, TagKind::Subnets, t, v) => {}
                _ => {
                    return Err(NetworkError::invalid(format!(
                        "{k} is not a valid filter attribute of subnets"
                    )))
                }
            }
        }
        Ok(db::list_subnets(self.db(), f, page).await?)
    }

    pub async fn update_subnet(&self, caller: &AuthContext, id: &str, input: SubnetInput) -> Result<Subnet> {
        let before = self.visible_subnet(caller, id).await?;
        self.enforce("update_subnet", caller, &target(&before.project_id))?;
        if input.cidr.is_some()
            || input.ip_version.is_some()
            || input.network_id.is_some()
            || input.project_id.is_some()
        {
            return Err(NetworkError::invalid(
                "cidr, ip_version, network_id and project_id cannot be changed",
            ));
        }
        if input.ipv6_ra_mode.is_some() || input.ipv6_address_mode.is_some() {
            return Err(NetworkError::invalid("the IPv6 modes of a subnet cannot be changed"));
        }
        let mut s = before.clone();
        if let Some(v) = input.name {
            check_len("name", &v)?;
            s.name = v;
        }
        if let Some(v) = input.description {
            check_len("description", &v)?;
            s.description = v;
        }
        if let Some(g) = &input.gateway_ip {
            s.gateway_ip = gateway_for(&s.cidr, Some(g.as_deref()))?;
        }
        if let Some(p) = &input.allocation_pools {
            s.allocation_pools = pools_from(p)?;
        }
        ipam::check_pools(&s.cidr, &s.allocation_pools, s.gateway_ip)?;
        if let Some(d) = &input.dns_nameservers {
            s.dns_nameservers = dns_from(d)?;
        }
        if let Some(r) = &input.host_routes {
            s.host_routes = routes_from(s.ip_version, r)?;
        }
        if let Some(v) = input.enable_dhcp {
            s.enable_dhcp = v;
        }
        if s == before {
            return Ok(s);
        }
        s.revision_number += 1;
        s.updated_at = now_micros();
        if !db::update_subnet(self.db(), &s, before.revision_number).await? {
            return Err(NetworkError::conflict(
                "Conflict",
                format!("Subnet {id} was changed by another request; try again."),
            ));
        }
        if s.enable_dhcp && !before.enable_dhcp {
            if let Some(net) = db::get_network(self.db(), &s.network_id).await? {
                self.ensure_dhcp_port(&net, &s).await?;
            }
        }
        self.sync(&s.network_id).await;
        Ok(s)
    }

    pub async fn delete_subnet(&self, caller: &AuthContext, id: &str) -> Result<()> {
        let s = self.visible_subnet(caller, id).await?;
        self.enforce("delete_subnet", caller, &target(&s.project_id))?;
        if !db::delete_subnet(self.db(), id).await? {
            return Err(NetworkError::conflict(
                "SubnetInUse",
                format!("Unable to complete operation on subnet {id}: One or more ports have an IP allocation from this subnet."),
            ));
        }
        self.sync(&s.network_id).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_cidrs_are_read_as_neutron_reads_them() {
        let ok = |s: &str| parse_subnet(s).map(|n| n.to_string()).expect(s);
        assert_eq!(ok("10.0.0.0/24"), "10.0.0.0/24");
        assert_eq!(ok("10.0.0.5/24"), "10.0.0.0/24", "host bits are cleared");
        assert_eq!(ok("2001:db8::1/64"), "2001:db8::/64");
        assert_eq!(ok("fe80:0:0:0:0:0:0:0/128"), "fe80::/128");
        let msg = |s: &str| match parse_subnet(s) {
            Err(NetworkError::Invalid { message, .. }) => message,
            other => panic!("{s}: {other:?}"),
        };
        assert!(msg("10.0.2.0").contains("'10.0.2.0/32' is recommended"));
        assert!(msg("fe80::").contains("'fe80::/128' is recommended"));
        assert!(msg("10.0.0.0/33").contains("is not a valid IP subnet"));
        assert!(msg(" 10.0.0.0/24").contains("is not a valid IP subnet"));
        assert!(msg("10/8").contains("is not a valid IP subnet"));
        assert!(msg("invalid").contains("is not a valid IP subnet"));
    }
}
