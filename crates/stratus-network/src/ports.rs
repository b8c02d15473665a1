//! Ports: a MAC and addresses on a network, bound to a host by the compute agent. Addresses
//! come from the subnet's pools; the database's key on (subnet, address) makes each address
//! go to one port only, and an automatic choice that loses a race is simply made again.

use std::net::IpAddr;

use serde_json::json;
use stratus_api::{AuthContext, Target};
use stratus_store::now_micros;
use stratus_store::sql::Filters;

use crate::db::{self, PortWrite};
use crate::error::{NetworkError, Result};
use crate::inputs::{FixedIpInput, PortInput};
use crate::ipam;
use crate::model::{AddressPair, Binding, FixedIp, Network, Port, Subnet};
use crate::networks::{flag, integer, target, Filter};
use crate::tags::{tag_filter, TagKind};
use crate::{check_len, dataplane, is_admin, new_id, owner_of, NetworkService};
use stratus_store::sql::Page;

/// Attempts before an automatic allocation gives up under contention.
const ATTEMPTS: usize = 32;

/// What a port asks of one subnet: a given address, or any.
#[derive(Debug, Clone)]
enum Want {
    Address(String, IpAddr),
    Any(String),
}

const DHCP_OWNER: &str = "network:dhcp";

fn unbound() -> Binding {
    Binding {
        host_id: String::new(),
        vif_type: "unbound".into(),
        vnic_type: "normal".into(),
        vif_details: json!({}),
        profile: json!({}),
    }
}

impl NetworkService {
    /// Turns requested fixed_ips into per-subnet wants, checking each against the network.
    fn wants(&self, subnets: &[Subnet], requested: Option<&[FixedIpInput]>) -> Result<Vec<Want>> {
        let Some(requested) = requested else {
            // Neutron's default: an address from the first IPv4 subnet, and one from every
            // IPv6 subnet (SLAAC ones compute theirs from the MAC).
            let mut wants = Vec::new();
            if let Some(v4) = subnets.iter().find(|s| s.ip_version == 4) {
                wants.push(Want::Any(v4.id.clone()));
            }
            wants.extend(
                subnets
                    .iter()
                    .filter(|s| s.ip_version == 6)
                    .map(|s| Want::Any(s.id.clone())),
            );
            return Ok(wants);
        };
        let mut wants = Vec::new();
        for f in requested {
            let ip = match &f.ip_address {
                Some(a) => Some(
                    a.trim()
                        .parse::<IpAddr>()
                        .map_err(|_| NetworkError::invalid(format!("'{a}' is not a valid IP address")))?,
                ),
                None => None,
            };
            let subnet = match (&f.subnet_id, ip) {
                (Some(id), _) => subnets.iter().find(|s| &s.id == id).ok_or_else(|| {
                    NetworkError::invalid_as("InvalidInput", format!("Invalid input for operation: Failed to create port on network: subnet {id} is not on this network."))
                })?,
                (None, Some(ip)) => subnets.iter().find(|s| s.cidr.contains(&ip)).ok_or_else(|| {
                    NetworkError::invalid_as("InvalidIpForNetwork", format!("IP address {ip} is not a valid IP for any of the subnets on the specified network."))
                })?,
                (None, None) => return Err(NetworkError::invalid("each fixed_ips entry needs a subnet_id or an ip_address")),
            };
            match ip {
                Some(ip) => {
                    let (lo, hi) = ipam::host_range(&subnet.cidr);
                    let v = ipam::to_u128(ip);
                    if !subnet.cidr.contains(&ip) || v < lo || v > hi {
                        return Err(NetworkError::invalid_as(
                            "InvalidIpForSubnet",
                            format!("IP address {ip} is not a valid IP for the specified subnet."),
                        ));
                    }
                    if subnet.gateway_ip == Some(ip) {
                        return Err(NetworkError::conflict(
                            "IpAddressAlreadyAllocated",
                            format!(
                                "IP address {ip} already allocated in subnet {}: it is the gateway.",
                                subnet.id
                            ),
                        ));
                    }
                    wants.push(Want::Address(subnet.id.clone(), ip));
                }
                None => wants.push(Want::Any(subnet.id.clone())),
            }
        }
        Ok(wants)
    }

    /// Chooses addresses for `wants`; automatic choices avoid what is taken now, and the
    /// insert decides races.
    async fn choose(&self, subnets: &[Subnet], wants: &[Want], mac: &str, dense: bool) -> Result<Vec<FixedIp>> {
        let mut out = Vec::new();
        for w in wants {
            match w {
                Want::Address(subnet_id, ip) => out.push(FixedIp {
                    subnet_id: subnet_id.clone(),
                    ip_address: *ip,
                }),
                Want::Any(subnet_id) => {
                    let Some(s) = subnets.iter().find(|s| &s.id == subnet_id) else {
                        continue;
                    };
                    if matches!(s.ipv6_address_mode.as_deref(), Some("slaac" | "dhcpv6-stateless")) {
                        if let Some(ip) = ipam::eui64(&s.cidr, mac) {
                            out.push(FixedIp {
                                subnet_id: s.id.clone(),
                                ip_address: ip,
                            });
                            continue;
                        }
                    }
                    let mut chosen = None;
                    if !dense {
                        for _ in 0..4 {
                            match ipam::random_candidate(&s.allocation_pools) {
                                Some(ip) if !db::address_taken(self.db(), &s.id, ip).await? => {
                                    chosen = Some(ip);
                                    break;
                                }
                                Some(_) => {}
                                None => break,
                            }
                        }
                    }
                    if chosen.is_none() {
                        let mut taken: Vec<u128> = db::taken_in(self.db(), &s.id)
                            .await?
                            .into_iter()
                            .map(ipam::to_u128)
                            .collect();
                        taken.sort_unstable();
                        chosen = ipam::free_candidate(&s.allocation_pools, &taken);
                    }
                    let ip = chosen.ok_or_else(|| {
                        NetworkError::conflict(
                            "IpAddressGenerationFailure",
                            format!("No more IP addresses available on network {}.", s.network_id),
                        )
                    })?;
                    out.push(FixedIp {
                        subnet_id: s.id.clone(),
                        ip_address: ip,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Writes `port` with addresses chosen for `wants`, choosing again when an automatic
    /// choice lost a race.
    /// A new port (`seen` None) is inserted within `quota`; an update rewrites revision `seen`.
    async fn write_port(
        &self,
        port: &mut Port,
        wants: &[Want],
        subnets: &[Subnet],
        seen: Option<i64>,
        quota: Option<db::Within>,
    ) -> Result<()> {
        let mut dense = false;
        for attempt in 0..ATTEMPTS {
            port.fixed_ips = self.choose(subnets, wants, &port.mac_address, dense).await?;
            let written = match seen {
                None => db::insert_port(self.db(), port, quota).await?,
                Some(rev) => db::update_port(self.db(), port, rev).await?.ok_or_else(|| {
                    NetworkError::conflict(
                        "Conflict",
                        format!("Port {} was changed by another request; try again.", port.id),
                    )
                })?,
            };
            match written {
                PortWrite::Done => return Ok(()),
                PortWrite::OverQuota => return Err(crate::quotas::over_quota("port")),
                PortWrite::MacTaken => {
                    return Err(NetworkError::conflict(
                        "MacAddressInUse",
                        format!(
                            "Unable to complete operation for network {}. The mac address {} is in use.",
                            port.network_id, port.mac_address
                        ),
                    ))
                }
                PortWrite::AddressTaken => {
                    if let Some(taken) = self.first_requested_taken(wants).await? {
                        return Err(taken);
                    }
                    // An automatic choice collided with a concurrent allocation; after a few
                    // collisions, choose from what is free rather than at random.
                    dense = attempt >= 2;
                }
            }
        }
        Err(NetworkError::conflict(
            "IpAddressGenerationFailure",
            format!(
                "No IP address could be allocated on network {} after {ATTEMPTS} attempts.",
                port.network_id
            ),
        ))
    }

    async fn first_requested_taken(&self, wants: &[Want]) -> Result<Option<NetworkError>> {
        for w in wants {
            if let Want::Address(subnet, ip) = w {
                if db::address_taken(self.db(), subnet, *ip).await? {
                    return Ok(Some(NetworkError::conflict(
                        "IpAddressAlreadyAllocated",
                        format!("IP address {ip} already allocated in subnet {subnet}"),
                    )));
                }
            }
        }
        Ok(None)
    }

    pub async fn create_port(&self, caller: &AuthContext, input: PortInput) -> Result<Port> {
        let network_id = input
            .network_id
            .clone()
            .ok_or_else(|| NetworkError::invalid("'network_id' is required"))?;
        let net = self.visible_network(caller, &network_id).await?;
        let project_id = owner_of(caller, input.project_id.as_deref(), input.tenant_id.as_deref())?;
        let t = target(&project_id).with("network_project_id", net.project_id.clone());
        self.enforce("create_port", caller, &t)?;
        if input.mac_address.is_some() {
            self.enforce("create_port:mac_address", caller, &t)?;
        }
        if input
            .fixed_ips
            .as_ref()
            .is_some_and(|f| f.iter().any(|i| i.ip_address.is_some()))
        {
            self.enforce("create_port:fixed_ips:ip_address", caller, &t)?;
        }
        if input.host_id.is_some() || input.profile.is_some() || input.status.is_some() {
            self.enforce("create_port:binding", caller, &t)?;
        }
        if input.extra_dhcp_opts.as_ref().is_some_and(|o| !o.is_empty()) {
            return Err(NetworkError::invalid("extra_dhcp_opts is not supported here"));
        }
        let quota = self.quota_for(&project_id, "port").await?;
        let now = now_micros();
        let mut port = Port {
            id: new_id(),
            network_id: network_id.clone(),
            name: input.name.clone().unwrap_or_default(),
            description: input.description.clone().unwrap_or_default(),
            project_id: project_id.clone(),
            mac_address: String::new(),
            admin_state_up: input.admin_state_up.unwrap_or(true),
            status: "DOWN".into(),
            device_id: input.device_id.clone().unwrap_or_default(),
            device_owner: input.device_owner.clone().unwrap_or_default(),
            binding: unbound(),
            // A port that does not say inherits its network's setting.
            port_security_enabled: input.port_security_enabled.unwrap_or(net.port_security_enabled),
            allowed_address_pairs: Vec::new(),
            fixed_ips: Vec::new(),
            security_groups: Vec::new(),
            revision_number: 1,
            created_at: now,
            updated_at: now,
            tags: Vec::new(),
        };
        if let Some(tags) = &input.tags {
            crate::tags::check_tags(tags)?;
            port.tags = tags.clone();
            port.tags.sort();
        }
        self.apply_port_input(caller, &mut port, &input, &net, true).await?;
        let subnets = db::subnets_of(self.db(), &network_id).await?;
        let wants = self.wants(&subnets, input.fixed_ips.as_deref())?;
        match &input.mac_address {
            Some(mac) => {
                port.mac_address = ipam::normalize_mac(mac)
                    .ok_or_else(|| NetworkError::invalid(format!("'{mac}' is not a valid MAC address")))?;
                self.write_port(&mut port, &wants, &subnets, None, quota).await?;
            }
            None => {
                // A generated MAC that collides (one in 16 million) is generated again.
                let mut result = Err(NetworkError::conflict("MacAddressInUse", "no free MAC address"));
                for _ in 0..8 {
                    port.mac_address = ipam::random_mac();
                    result = self.write_port(&mut port, &wants, &subnets, None, quota).await;
                    if !matches!(
                        &result,
                        Err(NetworkError::Conflict {
                            kind: "MacAddressInUse",
                            ..
                        })
                    ) {
                        break;
                    }
                }
                result?;
            }
        }
        self.port_synced(&port).await;
        Ok(port)
    }

    /// Fields shared by create (`creating`) and update.
    async fn apply_port_input(
        &self,
        caller: &AuthContext,
        port: &mut Port,
        input: &PortInput,
        net: &Network,
        creating: bool,
    ) -> Result<()> {
        if let Some(v) = &input.name {
            check_len("name", v)?;
            port.name = v.clone();
        }
        if let Some(v) = &input.description {
            check_len("description", v)?;
            port.description = v.clone();
        }
        if let Some(v) = input.admin_state_up {
            port.admin_state_up = v;
        }
        if let Some(v) = &input.device_id {
            check_len("device_id", v)?;
            port.device_id = v.clone();
        }
        if let Some(v) = &input.device_owner {
            check_len("device_owner", v)?;
            port.device_owner = v.clone();
        }
        if let Some(v) = input.port_security_enabled {
            port.port_security_enabled = v;
        }
        if let Some(h) = &input.host_id {
            port.binding.host_id = h.clone();
            if h.is_empty() {
                port.binding.vif_type = "unbound".into();
                port.binding.vif_details = json!({});
            } else {
                port.binding.vif_type = self.inner.dataplane.vif_type().into();
                port.binding.vif_details = json!({
                    "bridge_name": dataplane::bridge_name(&net.id),
                    "port_filter": true,
                    "connectivity": "l2",
                });
            }
        }
        if let Some(v) = &input.vnic_type {
            if v != "normal" {
                return Err(NetworkError::invalid(format!(
                    "binding:vnic_type '{v}' is not supported here: normal"
                )));
            }
            port.binding.vnic_type = v.clone();
        }
        if let Some(p) = &input.profile {
            if !p.is_object() {
                return Err(NetworkError::invalid("binding:profile must be a dictionary"));
            }
            port.binding.profile = p.clone();
        }
        if let Some(s) = &input.status {
            if !["ACTIVE", "DOWN", "BUILD", "ERROR"].contains(&s.as_str()) {
                return Err(NetworkError::invalid(format!("'{s}' is not a valid port status")));
            }
            port.status = s.clone();
        }
        if let Some(pairs) = &input.allowed_address_pairs {
            let mut out = Vec::new();
            for p in pairs {
                let valid = p.ip_address.parse::<IpAddr>().is_ok() || p.ip_address.parse::<ipnet::IpNet>().is_ok();
                if !valid {
                    return Err(NetworkError::invalid(format!(
                        "'{}' is not a valid IP address or CIDR",
                        p.ip_address
                    )));
                }
                let mac = match &p.mac_address {
                    Some(m) => ipam::normalize_mac(m)
                        .ok_or_else(|| NetworkError::invalid(format!("'{m}' is not a valid MAC address")))?,
                    None => port.mac_address.clone(),
                };
                out.push(AddressPair {
                    ip_address: p.ip_address.clone(),
                    mac_address: mac,
                });
            }
            if !out.is_empty() && !port.port_security_enabled {
                return Err(NetworkError::conflict(
                    "AddressPairAndPortSecurityRequired",
                    "Port Security must be enabled in order to have allowed address pairs on a port.",
                ));
            }
            port.allowed_address_pairs = out;
        }
        match &input.security_groups {
            Some(groups) => {
                let mut ids = Vec::new();
                for g in groups {
                    let sg = self.visible_security_group(caller, g).await?;
                    if !ids.contains(&sg.id) {
                        ids.push(sg.id);
                    }
                }
                ids.sort();
                port.security_groups = ids;
            }
            None if port.security_groups.is_empty()
                && port.port_security_enabled
                && port.device_owner != DHCP_OWNER
                && creating =>
            {
                port.security_groups = vec![self.default_security_group(&port.project_id).await?];
            }
            None => {}
        }
        if !port.port_security_enabled && !port.security_groups.is_empty() && input.security_groups.is_some() {
            // An InvalidInput in Neutron: 400.
            return Err(NetworkError::invalid_as(
                "PortSecurityAndIPRequiredForSecurityGroups",
                "Port security must be enabled and port must have an IP address in order to use security groups.",
            ));
        }
        if !port.port_security_enabled && !port.security_groups.is_empty() && !creating {
            // Neutron does not drop a port's groups on its own when port security is turned
            // off: the request must clear them too.
            return Err(NetworkError::conflict(
                "PortSecurityPortHasSecurityGroup",
                "Port has security group associated. Cannot disable port security or ip address until security group is removed",
            ));
        }
        if !port.port_security_enabled {
            port.security_groups.clear();
        }
        Ok(())
    }

    pub(crate) async fn visible_port(&self, caller: &AuthContext, id: &str) -> Result<Port> {
        match db::get_port(self.db(), id).await? {
            Some(p) if is_admin(caller) || caller.project_id() == Some(p.project_id.as_str()) => Ok(p),
            _ => Err(NetworkError::not_found("PortNotFound", "Port", id)),
        }
    }

    pub async fn get_port(&self, caller: &AuthContext, id: &str) -> Result<Port> {
        let p = self.visible_port(caller, id).await?;
        self.enforce("get_port", caller, &target(&p.project_id))?;
        Ok(p)
    }

    pub async fn list_ports(&self, caller: &AuthContext, filter: &Filter, page: &Page) -> Result<Vec<Port>> {
        self.enforce(
            "get_port",
            caller,
            &Target::new().opt("project_id", caller.project_id()),
        )?;
        let mut f = Filters::new();
        if !is_admin(caller) {
            f.eq("project_id", Some(caller.project_id().unwrap_or("")));
        }
        for (k, v) in filter {
            match k.as_str() {
                "id" | "name" | "description" | "network_id" | "project_id" | "mac_address" | "status"
                | "device_id" | "device_owner" => {
                    f.eq(k, Some(v.as_str()));
                }
                "tenant_id" => {
                    f.eq("project_id", Some(v.as_str()));
                }
                "binding:host_id" => {
                    f.eq("binding_host_id", Some(v.as_str()));
                }
                "admin_state_up" | "port_security_enabled" => {
                    f.eq_flag(k, Some(flag(k, v)?));
                }
                "fixed_ips" => {
                    // `fixed_ips=ip_address=10.0.0.5` or `fixed_ips=subnet_id=...`
                    let (attr, value) = v.split_once('=').ok_or_else(|| {
                        NetworkError::invalid(format!(
                            "'{v}' is not a valid fixed_ips filter: ip_address=X or subnet_id=Y"
                        ))
                    })?;
                    let col = match attr {
                        "ip_address" => "ip_address",
                        "subnet_id" => "subnet_id",
                        _ => {
                            return Err(NetworkError::invalid(format!(
                                "'{attr}' is not a valid fixed_ips filter"
                            )))
                        }
                    };
                    f.raw(
                        |p| format!("id IN (SELECT port_id FROM ip_allocations WHERE {col} = {p})"),
                        value,
                    );
                }
                "security_groups" => {
                    f.raw(
                        |p| format!("id IN (SELECT port_id FROM port_security_groups WHERE security_group_id = {p})"),
                        v.as_str(),
                    );
                }
                "revision_number" => {
                    f.eq(k, Some(integer(v)?));
                }
                t if tag_filter(&mut f, TagKind::Ports, t, v) => {}
                _ => {
                    return Err(NetworkError::invalid(format!(
                        "{k} is not a valid filter attribute of ports"
                    )))
                }
            }
        }
        Ok(db::list_ports(self.db(), f, page).await?)
    }

    pub async fn update_port(&self, caller: &AuthContext, id: &str, input: PortInput) -> Result<Port> {
        let before = self.visible_port(caller, id).await?;
        let net = self.visible_network(caller, &before.network_id).await?;
        let t = target(&before.project_id).with("network_project_id", net.project_id.clone());
        self.enforce("update_port", caller, &t)?;
        if input.network_id.as_ref().is_some_and(|n| *n != before.network_id) || input.project_id.is_some() {
            return Err(NetworkError::invalid(
                "network_id and project_id of a port cannot be changed",
            ));
        }
        if input.tags.is_some() {
            // Neutron: tags are set on create only; later through .../tags.
            return Err(NetworkError::invalid_as(
                "HTTPBadRequest",
                "Cannot update read-only attribute tags",
            ));
        }
        if input.host_id.is_some() || input.profile.is_some() {
            self.enforce("update_port:binding", caller, &t)?;
        }
        if input.status.is_some() {
            self.enforce("update_port:status", caller, &t)?;
        }
        if input.mac_address.is_some() {
            self.enforce("create_port:mac_address", caller, &t)?;
        }
        let mut port = before.clone();
        self.apply_port_input(caller, &mut port, &input, &net, false).await?;
        if let Some(mac) = &input.mac_address {
            port.mac_address = ipam::normalize_mac(mac)
                .ok_or_else(|| NetworkError::invalid(format!("'{mac}' is not a valid MAC address")))?;
            if !port.binding.host_id.is_empty() && port.mac_address != before.mac_address {
                return Err(NetworkError::conflict(
                    "PortBound",
                    format!("Unable to update the MAC address of port {id}: it is bound."),
                ));
            }
        }
        let subnets = db::subnets_of(self.db(), &port.network_id).await?;
        let wants = match &input.fixed_ips {
            Some(f) => {
                if f.iter().any(|i| i.ip_address.is_some()) {
                    self.enforce("create_port:fixed_ips:ip_address", caller, &t)?;
                }
                // Addresses the port keeps are asked for again; new ones are allocated.
                self.wants(&subnets, Some(f))?
            }
            None => before
                .fixed_ips
                .iter()
                .map(|f| Want::Address(f.subnet_id.clone(), f.ip_address))
                .collect(),
        };
        if port == before && input.fixed_ips.is_none() {
            return Ok(port);
        }
        port.revision_number += 1;
        port.updated_at = now_micros();
        self.write_port(&mut port, &wants, &subnets, Some(before.revision_number), None)
            .await?;
        self.port_synced(&port).await;
        Ok(port)
    }

    pub async fn delete_port(&self, caller: &AuthContext, id: &str) -> Result<()> {
        let p = self.visible_port(caller, id).await?;
        self.enforce("delete_port", caller, &target(&p.project_id))?;
        db::delete_port(self.db(), id).await?;
        if let Err(e) = self.inner.dataplane.unplug(&p.id).await {
            tracing::error!(port = %p.id, error = %e, "unplugging the deleted port failed");
        }
        if let Err(e) = self.inner.dataplane.port_removed(&p.network_id, &p.id).await {
            tracing::error!(port = %p.id, error = %e, "removing the port from the dataplane failed");
        }
        Ok(())
    }

    /// Plugs the port's device into its network's bridge on this host and marks the port
    /// ACTIVE: what a compute agent does before its hypervisor starts the guest.
    pub async fn plug_port(&self, caller: &AuthContext, id: &str) -> Result<(Port, String)> {
        let before = self.visible_port(caller, id).await?;
        let net = self.visible_network(caller, &before.network_id).await?;
        self.enforce("update_port:status", caller, &target(&before.project_id))?;
        let device = self
            .inner
            .dataplane
            .plug(&net.id, &before, net.mtu)
            .await
            .map_err(|e| NetworkError::internal(format!("plugging port {id}"), e))?;
        let port = self.set_status(&before, "ACTIVE").await?;
        Ok((port, device))
    }

    /// Removes the port's device and marks the port DOWN.
    pub async fn unplug_port(&self, caller: &AuthContext, id: &str) -> Result<Port> {
        let before = self.visible_port(caller, id).await?;
        self.enforce("update_port:status", caller, &target(&before.project_id))?;
        self.inner
            .dataplane
            .unplug(id)
            .await
            .map_err(|e| NetworkError::internal(format!("unplugging port {id}"), e))?;
        self.set_status(&before, "DOWN").await
    }

    async fn set_status(&self, before: &Port, status: &str) -> Result<Port> {
        if before.status == status {
            return Ok(before.clone());
        }
        let mut port = before.clone();
        port.status = status.into();
        port.revision_number += 1;
        port.updated_at = now_micros();
        let keep: Vec<Want> = port
            .fixed_ips
            .iter()
            .map(|f| Want::Address(f.subnet_id.clone(), f.ip_address))
            .collect();
        let subnets = db::subnets_of(self.db(), &port.network_id).await?;
        self.write_port(&mut port, &keep, &subnets, Some(before.revision_number), None)
            .await?;
        Ok(port)
    }

    /// Tells the dataplane about one port; the DHCP port changes the whole network.
    async fn port_synced(&self, port: &Port) {
        if port.device_owner == DHCP_OWNER {
            return self.sync(&port.network_id).await;
        }
        if let Err(e) = self.inner.dataplane.port_changed(&port.network_id, port).await {
            tracing::error!(port = %port.id, error = %e, "applying the port to the dataplane failed");
        }
    }

    /// The network's DHCP port, with an address on `subnet` (created on the first DHCP subnet).
    pub(crate) async fn ensure_dhcp_port(&self, net: &Network, subnet: &Subnet) -> Result<()> {
        let mut f = Filters::new();
        f.eq("network_id", Some(net.id.as_str()))
            .eq("device_owner", Some(DHCP_OWNER));
        let existing = db::list_ports(self.db(), f, &Page::default()).await?.into_iter().next();
        let subnets = db::subnets_of(self.db(), &net.id).await?;
        match existing {
            Some(mut port) => {
                if port.fixed_ips.iter().any(|f| f.subnet_id == subnet.id) {
                    return Ok(());
                }
                let mut wants: Vec<Want> = port
                    .fixed_ips
                    .iter()
                    .map(|f| Want::Address(f.subnet_id.clone(), f.ip_address))
                    .collect();
                wants.push(Want::Any(subnet.id.clone()));
                let seen = port.revision_number;
                port.revision_number += 1;
                port.updated_at = now_micros();
                self.write_port(&mut port, &wants, &subnets, Some(seen), None).await
            }
            None => {
                let now = now_micros();
                let mut port = Port {
                    id: new_id(),
                    network_id: net.id.clone(),
                    name: String::new(),
                    description: String::new(),
                    project_id: net.project_id.clone(),
                    mac_address: ipam::random_mac(),
                    admin_state_up: true,
                    status: "ACTIVE".into(),
                    device_id: format!("dhcp{}", net.id),
                    device_owner: DHCP_OWNER.into(),
                    binding: unbound(),
                    port_security_enabled: false,
                    allowed_address_pairs: Vec::new(),
                    fixed_ips: Vec::new(),
                    security_groups: Vec::new(),
                    revision_number: 1,
                    created_at: now,
                    updated_at: now,
                    tags: Vec::new(),
                };
                // The DHCP port is the service's own: no quota stops it.
                self.write_port(&mut port, &[Want::Any(subnet.id.clone())], &subnets, None, None)
                    .await
            }
        }
    }
}
