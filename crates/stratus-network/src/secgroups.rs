//! Security groups and their rules, with the `default` group every project gets on first use.

use std::net::IpAddr;

use ipnet::IpNet;
use stratus_api::{AuthContext, Target};
use stratus_store::now_micros;
use stratus_store::sql::Filters;

use crate::db;
use crate::error::{NetworkError, Result};
use crate::inputs::{RuleInput, SecurityGroupInput};
use crate::model::{SecurityGroup, SecurityGroupRule};
use crate::networks::{flag, target, Filter};
use crate::{check_len, is_admin, new_id, owner_of, NetworkService};
use stratus_store::sql::Page;

/// Protocol names Neutron accepts, with their numbers.
const PROTOCOLS: &[(&str, u8)] = &[
    ("icmp", 1),
    ("igmp", 2),
    ("tcp", 6),
    ("udp", 17),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("ipv6-icmp", 58),
    ("icmpv6", 58),
    ("sctp", 132),
    ("dccp", 33),
    ("vrrp", 112),
];

fn rule(
    group: &SecurityGroup,
    direction: &str,
    ethertype: &str,
    remote_group: Option<String>,
    now: i64,
) -> SecurityGroupRule {
    SecurityGroupRule {
        id: new_id(),
        security_group_id: group.id.clone(),
        project_id: group.project_id.clone(),
        direction: direction.into(),
        ethertype: ethertype.into(),
        protocol: None,
        port_range_min: None,
        port_range_max: None,
        remote_ip_prefix: None,
        remote_group_id: remote_group,
        description: String::new(),
        revision_number: 1,
        created_at: now,
        updated_at: now,
    }
}

impl NetworkService {
    /// The project's `default` group, made on first use with Neutron's four rules: all egress,
    /// and ingress from members of the group, for IPv4 and IPv6.
    pub async fn default_security_group(&self, project_id: &str) -> Result<String> {
        if let Some(id) = db::default_security_group(self.db(), project_id).await? {
            return Ok(id);
        }
        let now = now_micros();
        let mut g = SecurityGroup {
            id: new_id(),
            name: "default".into(),
            description: "Default security group".into(),
            project_id: project_id.to_owned(),
            stateful: true,
            rules: Vec::new(),
            revision_number: 1,
            created_at: now,
            updated_at: now,
        };
        let me = Some(g.id.clone());
        g.rules = vec![
            rule(&g, "egress", "IPv4", None, now),
            rule(&g, "egress", "IPv6", None, now),
            rule(&g, "ingress", "IPv4", me.clone(), now),
            rule(&g, "ingress", "IPv6", me, now),
        ];
        // The default group is the service's own doing: no quota stops it (it counts, as in
        // Neutron).
        match db::insert_security_group(self.db(), &g, true, None).await {
            Ok(_) => Ok(g.id),
            // Another request made it first.
            Err(stratus_store::StoreError::Conflict(_)) => {
                db::default_security_group(self.db(), project_id).await?.ok_or_else(|| {
                    NetworkError::conflict("Conflict", "The default security group is being created; try again.")
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn create_security_group(
        &self,
        caller: &AuthContext,
        input: SecurityGroupInput,
    ) -> Result<SecurityGroup> {
        let project_id = owner_of(caller, input.project_id.as_deref(), input.tenant_id.as_deref())?;
        self.enforce("create_security_group", caller, &target(&project_id))?;
        let name = input.name.unwrap_or_default();
        check_len("name", &name)?;
        let description = input.description.unwrap_or_default();
        check_len("description", &description)?;
        if name.eq_ignore_ascii_case("default") {
            return Err(NetworkError::conflict(
                "SecurityGroupDefaultAlreadyExists",
                "Default security group already exists.",
            ));
        }
        self.default_security_group(&project_id).await?;
        let within = self.quota_for(&project_id, "security_group").await?;
        let now = now_micros();
        let mut g = SecurityGroup {
            id: new_id(),
            name,
            description,
            project_id,
            stateful: input.stateful.unwrap_or(true),
            rules: Vec::new(),
            revision_number: 1,
            created_at: now,
            updated_at: now,
        };
        g.rules = vec![
            rule(&g, "egress", "IPv4", None, now),
            rule(&g, "egress", "IPv6", None, now),
        ];
        db::insert_security_group(self.db(), &g, false, within).await??;
        // The order a show lists them in (the store's: time made, then id), so that create and
        // show agree.
        g.rules
            .sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(g)
    }

    pub(crate) async fn visible_security_group(&self, caller: &AuthContext, id: &str) -> Result<SecurityGroup> {
        match db::get_security_group(self.db(), id).await? {
            Some(g) if is_admin(caller) || caller.project_id() == Some(g.project_id.as_str()) => Ok(g),
            _ => Err(NetworkError::not_found("SecurityGroupNotFound", "Security group", id)),
        }
    }

    pub async fn get_security_group(&self, caller: &AuthContext, id: &str) -> Result<SecurityGroup> {
        let g = self.visible_security_group(caller, id).await?;
        self.enforce("get_security_group", caller, &target(&g.project_id))?;
        Ok(g)
    }

    pub async fn list_security_groups(
        &self,
        caller: &AuthContext,
        filter: &Filter,
        page: &Page,
    ) -> Result<Vec<SecurityGroup>> {
        self.enforce(
            "get_security_group",
            caller,
            &Target::new().opt("project_id", caller.project_id()),
        )?;
        if let Some(p) = caller.project_id() {
            self.default_security_group(p).await?;
        }
        let mut f = Filters::new();
        if !is_admin(caller) {
            f.eq("project_id", Some(caller.project_id().unwrap_or("")));
        }
        for (k, v) in filter {
            match k.as_str() {
                "id" | "name" | "description" | "project_id" => {
                    f.eq(k, Some(v.as_str()));
                }
                "tenant_id" => {
                    f.eq("project_id", Some(v.as_str()));
                }
                "stateful" => {
                    f.eq_flag(k, Some(flag(k, v)?));
                }
                _ => {
                    return Err(NetworkError::invalid(format!(
                        "{k} is not a valid filter attribute of security groups"
                    )))
                }
            }
        }
        Ok(db::list_security_groups(self.db(), f, page).await?)
    }

    pub async fn update_security_group(
        &self,
        caller: &AuthContext,
        id: &str,
        input: SecurityGroupInput,
    ) -> Result<SecurityGroup> {
        let mut g = self.visible_security_group(caller, id).await?;
        self.enforce("update_security_group", caller, &target(&g.project_id))?;
        if let Some(n) = input.name {
            check_len("name", &n)?;
            let is_default = db::is_default_group(self.db(), id).await?;
            if is_default && n != g.name {
                return Err(NetworkError::conflict(
                    "SecurityGroupCannotUpdateDefault",
                    "Updating default security group not allowed.",
                ));
            }
            // Neutron's name_not_default: only the project's default group is called that.
            if !is_default && n.eq_ignore_ascii_case("default") {
                return Err(NetworkError::conflict(
                    "SecurityGroupDefaultAlreadyExists",
                    "Default security group already exists.",
                ));
            }
            g.name = n;
        }
        if let Some(d) = input.description {
            check_len("description", &d)?;
            g.description = d;
        }
        g.revision_number += 1;
        g.updated_at = now_micros();
        db::update_security_group(self.db(), &g).await?;
        Ok(g)
    }

    pub async fn delete_security_group(&self, caller: &AuthContext, id: &str) -> Result<()> {
        let g = self.visible_security_group(caller, id).await?;
        self.enforce("delete_security_group", caller, &target(&g.project_id))?;
        if db::is_default_group(self.db(), id).await? && !is_admin(caller) {
            return Err(NetworkError::conflict(
                "SecurityGroupCannotRemoveDefault",
                "Removing default security group not allowed.",
            ));
        }
        if !db::delete_security_group(self.db(), id).await? {
            return Err(NetworkError::conflict(
                "SecurityGroupInUse",
                format!("Security Group {id} in use."),
            ));
        }
        Ok(())
    }

    pub async fn create_security_group_rule(
        &self,
        caller: &AuthContext,
        input: RuleInput,
    ) -> Result<SecurityGroupRule> {
        let group_id = input
            .security_group_id
            .clone()
            .ok_or_else(|| NetworkError::invalid("'security_group_id' is required"))?;
        let g = self.visible_security_group(caller, &group_id).await?;
        self.enforce("create_security_group_rule", caller, &target(&g.project_id))?;
        let direction = input
            .direction
            .clone()
            .ok_or_else(|| NetworkError::invalid("'direction' is required: ingress or egress"))?;
        if direction != "ingress" && direction != "egress" {
            return Err(NetworkError::invalid(format!(
                "'{direction}' is not a valid direction: ingress or egress"
            )));
        }
        let ethertype = input.ethertype.clone().unwrap_or_else(|| "IPv4".into());
        if ethertype != "IPv4" && ethertype != "IPv6" {
            return Err(NetworkError::invalid_as(
                "SecurityGroupRuleInvalidEtherType",
                format!(
                    "Security group rule for ethertype '{ethertype}' not supported. Allowed values are IPv4, IPv6."
                ),
            ));
        }
        let protocol = match input.protocol.as_deref().map(str::to_ascii_lowercase) {
            None => None,
            Some(p) if p == "any" => None,
            Some(p) if PROTOCOLS.iter().any(|(n, _)| *n == p) => Some(p),
            Some(p) => match p.parse::<u8>() {
                Ok(_) => Some(p),
                Err(_) => {
                    return Err(NetworkError::invalid_as(
                        "SecurityGroupRuleInvalidProtocol",
                        format!(
                            "Security group rule protocol {p} not supported. Only protocol values {} and integer representations [0 to 255] are supported.",
                            PROTOCOLS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                        ),
                    ))
                }
            },
        };
        let ported = matches!(
            protocol.as_deref(),
            Some("tcp" | "udp" | "sctp" | "dccp" | "6" | "17" | "132" | "33")
        );
        let icmp = matches!(protocol.as_deref(), Some("icmp" | "ipv6-icmp" | "icmpv6" | "1" | "58"));
        let (min, max) = (input.port_range_min, input.port_range_max);
        // Neutron's order: the values first (any protocol), then what the protocol needs.
        for v in [min, max].into_iter().flatten() {
            if !(0..=65535).contains(&v) {
                return Err(NetworkError::invalid_as(
                    "SecurityGroupInvalidPortValue",
                    format!("Invalid value for port {v}"),
                ));
            }
        }
        if (min.is_some() || max.is_some()) && !ported && !icmp {
            return Err(NetworkError::invalid_as(
                "SecurityGroupProtocolRequiredWithPorts",
                "Must also specify protocol if port range is given.",
            ));
        }
        if ported && (min.is_some() || max.is_some()) {
            if let Some(zero) = [min, max].into_iter().flatten().find(|v| *v == 0) {
                return Err(NetworkError::invalid_as(
                    "SecurityGroupInvalidPortValue",
                    format!("Invalid value for port {zero}"),
                ));
            }
            match (min, max) {
                (Some(a), Some(b)) if a <= b => {}
                _ => {
                    return Err(NetworkError::invalid_as(
                        "SecurityGroupInvalidPortRange",
                        "For TCP/UDP protocols, port_range_min must be <= port_range_max",
                    ))
                }
            }
        }
        if icmp {
            for (v, field, attr) in [(min, "type", "port_range_min"), (max, "code", "port_range_max")] {
                if let Some(v) = v.filter(|v| !(0..=255).contains(v)) {
                    return Err(NetworkError::invalid_as(
                        "SecurityGroupInvalidIcmpValue",
                        format!("Invalid value for ICMP {field} ({attr}) {v}. It must be 0 to 255."),
                    ));
                }
            }
            if let (None, Some(code)) = (min, max) {
                return Err(NetworkError::invalid_as(
                    "SecurityGroupMissingIcmpType",
                    format!("ICMP code (port-range-max) {code} is provided but ICMP type (port-range-min) is missing."),
                ));
            }
        }
        let remote_ip_prefix = match &input.remote_ip_prefix {
            Some(p) => {
                let net: IpNet = p
                    .parse()
                    .or_else(|_| p.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| NetworkError::invalid(format!("'{p}' is not a valid IP prefix")))?;
                if net.addr().is_ipv4() != (ethertype == "IPv4") {
                    return Err(NetworkError::invalid_as(
                        "SecurityGroupRuleParameterConflict",
                        format!("Conflicting value ethertype {ethertype} for CIDR {p}"),
                    ));
                }
                Some(net.trunc().to_string())
            }
            None => None,
        };
        if remote_ip_prefix.is_some() && input.remote_group_id.is_some() {
            return Err(NetworkError::invalid_as(
                "SecurityGroupRemoteGroupAndRemoteIpPrefix",
                "Only remote_ip_prefix or remote_group_id may be provided.",
            ));
        }
        if let Some(rg) = &input.remote_group_id {
            self.visible_security_group(caller, rg).await?;
        }
        if input.remote_address_group_id.as_ref().is_some_and(|v| !v.is_null()) {
            return Err(NetworkError::invalid("address groups are not supported here"));
        }
        let description = input.description.clone().unwrap_or_default();
        check_len("description", &description)?;
        let now = now_micros();
        let r = SecurityGroupRule {
            id: new_id(),
            security_group_id: g.id.clone(),
            project_id: g.project_id.clone(),
            direction,
            ethertype,
            protocol,
            port_range_min: min,
            port_range_max: if ported && min.is_some() && max.is_none() {
                min
            } else {
                max
            },
            remote_ip_prefix,
            remote_group_id: input.remote_group_id.clone(),
            description,
            revision_number: 1,
            created_at: now,
            updated_at: now,
        };
        let same = |o: &SecurityGroupRule| {
            (
                &o.direction,
                &o.ethertype,
                &o.protocol,
                o.port_range_min,
                o.port_range_max,
                &o.remote_ip_prefix,
                &o.remote_group_id,
            ) == (
                &r.direction,
                &r.ethertype,
                &r.protocol,
                r.port_range_min,
                r.port_range_max,
                &r.remote_ip_prefix,
                &r.remote_group_id,
            )
        };
        if let Some(dup) = g.rules.iter().find(|o| same(o)) {
            return Err(NetworkError::conflict(
                "SecurityGroupRuleExists",
                format!("Security group rule already exists. Rule id is {}.", dup.id),
            ));
        }
        let within = self.quota_for(&r.project_id, "security_group_rule").await?;
        db::insert_rule(self.db(), &r, within).await??;
        Ok(r)
    }

    pub async fn get_security_group_rule(&self, caller: &AuthContext, id: &str) -> Result<SecurityGroupRule> {
        match db::get_rule(self.db(), id).await? {
            Some(r) if is_admin(caller) || caller.project_id() == Some(r.project_id.as_str()) => {
                self.enforce("get_security_group_rule", caller, &target(&r.project_id))?;
                Ok(r)
            }
            _ => Err(NetworkError::not_found(
                "SecurityGroupRuleNotFound",
                "Security group rule",
                id,
            )),
        }
    }

    pub async fn list_security_group_rules(
        &self,
        caller: &AuthContext,
        filter: &Filter,
        page: &Page,
    ) -> Result<Vec<SecurityGroupRule>> {
        self.enforce(
            "get_security_group_rule",
            caller,
            &Target::new().opt("project_id", caller.project_id()),
        )?;
        let mut f = Filters::new();
        if !is_admin(caller) {
            f.eq("project_id", Some(caller.project_id().unwrap_or("")));
        }
        for (k, v) in filter {
            match k.as_str() {
                "id" | "security_group_id" | "direction" | "ethertype" | "protocol" | "remote_ip_prefix"
                | "remote_group_id" | "project_id" | "description" => {
                    f.eq(k, Some(v.as_str()));
                }
                "tenant_id" => {
                    f.eq("project_id", Some(v.as_str()));
                }
                "port_range_min" | "port_range_max" => {
                    let n: i64 = v
                        .parse()
                        .map_err(|_| NetworkError::invalid(format!("'{v}' is not an integer")))?;
                    f.eq(k, Some(n));
                }
                _ => {
                    return Err(NetworkError::invalid(format!(
                        "{k} is not a valid filter attribute of security group rules"
                    )))
                }
            }
        }
        Ok(db::list_rules(self.db(), f, page).await?)
    }

    pub async fn delete_security_group_rule(&self, caller: &AuthContext, id: &str) -> Result<()> {
        let r = self.get_security_group_rule(caller, id).await?;
        self.enforce("delete_security_group_rule", caller, &target(&r.project_id))?;
        db::delete_rule(self.db(), id).await?;
        Ok(())
    }
}
