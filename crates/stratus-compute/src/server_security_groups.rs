//! A server's security groups as Nova serves them (`GET /servers/{id}/os-security-groups`,
//! the `addSecurityGroup` and `removeSecurityGroup` actions): the groups are the Network
//! service's, read from and set on the server's ports through the Network API with the
//! caller's token, as `nova/network/security_group_api.py` does.
//!
//! Nothing here decides what a group allows or who may use one: the Network API refuses what
//! the caller may not do. The only thing written here is the server's record of the groups
//! its made ports carry, so that a port made again (a rescheduled build) gets them and the
//! server's view names them.

use std::collections::HashMap;

use serde_json::Value;
use stratus_api::{AuthContext, Target};
use stratus_compute_agent::clients::{ClientError, Rest};

use crate::instances_db as idb;
use crate::model::{Instance, RequestedNetworks, SecurityGroupRef};
use crate::service::{ComputeError, ComputeService, Result};

/// A security group in Nova's shape: only its ingress rules, as Nova shows them.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSecurityGroup {
    pub id: String,
    pub name: String,
    pub description: String,
    pub tenant_id: String,
    pub rules: Vec<SecurityGroupRule>,
}

/// An ingress rule in Nova's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct SecurityGroupRule {
    pub id: String,
    pub parent_group_id: String,
    pub ip_protocol: Option<String>,
    pub from_port: Option<i64>,
    pub to_port: Option<i64>,
    pub source: RuleSource,
}

/// Where a rule lets traffic come from.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleSource {
    /// Addresses in a CIDR (Neutron's `remote_ip_prefix`; none is `0.0.0.0/0`).
    Cidr(String),
    /// The members of a group, by its name and project.
    Group { name: String, tenant_id: String },
}

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_owned()
}

fn project_of(g: &Value) -> String {
    g["project_id"]
        .as_str()
        .or(g["tenant_id"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// The ids of the groups on a Neutron port.
fn groups_on(port: &Value) -> Vec<String> {
    port["security_groups"]
        .as_array()
        .map(|a| a.iter().filter_map(|g| g.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// A Neutron rule as Nova shows it. None for egress rules (Nova shows ingress only) and for
/// rules whose remote group the caller cannot see (Nova leaves those out).
fn rule_of(r: &Value, known: &HashMap<String, Value>) -> Option<SecurityGroupRule> {
    if r["direction"] != "ingress" {
        return None;
    }
    let protocol = match &r["protocol"] {
        Value::String(p) => Some(p.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let (min, max) = (r["port_range_min"].as_i64(), r["port_range_max"].as_i64());
    // Nova's reading of a rule with a protocol and no port range: every port.
    let (from_port, to_port) = match (&protocol, min, max) {
        (Some(p), None, None) if p.eq_ignore_ascii_case("tcp") || p.eq_ignore_ascii_case("udp") => {
            (Some(1), Some(65535))
        }
        (Some(_), None, None) => (Some(-1), Some(-1)),
        _ => (min, max),
    };
    let source = match r["remote_group_id"].as_str() {
        Some(remote) => {
            let g = known.get(remote)?;
            RuleSource::Group {
                name: text(g, "name"),
                tenant_id: project_of(g),
            }
        }
        None => RuleSource::Cidr(
            r["remote_ip_prefix"]
                .as_str()
                .filter(|c| !c.is_empty())
                .unwrap_or("0.0.0.0/0")
                .to_owned(),
        ),
    };
    Some(SecurityGroupRule {
        id: text(r, "id"),
        parent_group_id: text(r, "security_group_id"),
        ip_protocol: protocol,
        from_port,
        to_port,
        source,
    })
}

/// A Neutron group as Nova shows it; `known` holds the groups its rules may name.
fn group_of(g: &Value, known: &HashMap<String, Value>) -> ServerSecurityGroup {
    ServerSecurityGroup {
        id: text(g, "id"),
        name: text(g, "name"),
        description: text(g, "description"),
        tenant_id: project_of(g),
        rules: g["security_group_rules"]
            .as_array()
            .map(|rules| rules.iter().filter_map(|r| rule_of(r, known)).collect())
            .unwrap_or_default(),
    }
}

/// Nova's test of a port that can carry groups: port security on, and an address (or one to
/// come).
fn can_carry_groups(port: &Value) -> bool {
    let has_ip = port["fixed_ips"].as_array().is_some_and(|a| !a.is_empty());
    let deferred = port["ip_allocation"] == "deferred";
    (has_ip || deferred) && port["port_security_enabled"].as_bool().unwrap_or(true)
}

/// The Network API's failure as Nova reports it for these calls.
fn network_error(e: ClientError) -> ComputeError {
    match e.status() {
        Some(401 | 403) => ComputeError::Denied(e.to_string()),
        Some(404) => ComputeError::NotFound(e.to_string()),
        Some(409) => ComputeError::Conflict(e.to_string()),
        Some(400) => ComputeError::Invalid(e.to_string()),
        _ => ComputeError::Unavailable(e.to_string()),
    }
}

fn uuid_like(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

/// Neutron's longest group name: a longer one names no group.
const MAX_NAME: usize = 255;

impl ComputeService {
    fn network_api(&self) -> Result<&Rest> {
        self.pipeline().get().map(|(_, r)| r).ok_or_else(|| {
            ComputeError::Unavailable("This cloud runs no compute pipeline: the Network API is not connected.".into())
        })
    }

    /// The security groups on the server's ports, sorted by project and name as Nova sorts
    /// them; a group the caller cannot see is left out.
    pub async fn server_security_groups(
        &self,
        caller: &AuthContext,
        server_id: &str,
    ) -> Result<Vec<ServerSecurityGroup>> {
        let i = self.get_server(caller, server_id).await?;
        self.enforce(
            "os_compute_api:os-security-groups:list",
            caller,
            &Target::new().with("project_id", &i.project_id),
        )?;
        let rest = self.network_api()?;
        let token = caller.token.as_str();
        let ports = rest.ports_of_device(token, &i.id).await.map_err(network_error)?;
        let mut ids: Vec<String> = Vec::new();
        for g in ports.iter().flat_map(groups_on) {
            if !ids.contains(&g) {
                ids.push(g);
            }
        }
        let mut known: HashMap<String, Value> = HashMap::new();
        for id in &ids {
            if let Some(g) = visible_group(rest, token, id).await? {
                known.insert(id.clone(), g);
            }
        }
        // The groups their rules name, for the names Nova shows.
        let mut remote: Vec<String> = Vec::new();
        for g in known.values() {
            for r in g["security_group_rules"].as_array().into_iter().flatten() {
                if let Some(id) = r["remote_group_id"].as_str() {
                    if !known.contains_key(id) && !remote.iter().any(|x| x == id) {
                        remote.push(id.to_owned());
                    }
                }
            }
        }
        for id in remote {
            if let Some(g) = visible_group(rest, token, &id).await? {
                known.insert(id, g);
            }
        }
        let mut out: Vec<ServerSecurityGroup> = ids
            .iter()
            .filter_map(|id| known.get(id))
            .map(|g| group_of(g, &known))
            .collect();
        out.sort_by(|a, b| (&a.tenant_id, &a.name).cmp(&(&b.tenant_id, &b.name)));
        Ok(out)
    }

    /// `addSecurityGroup`: the group (by name in the caller's project, or by id) goes on every
    /// port of the server.
    pub async fn add_security_group(&self, caller: &AuthContext, server_id: &str, group: &str) -> Result<()> {
        let i = self.get_server(caller, server_id).await?;
        self.enforce(
            "os_compute_api:os-security-groups:add",
            caller,
            &Target::new().with("project_id", &i.project_id),
        )?;
        let rest = self.network_api()?;
        let token = caller.token.as_str();
        let g = find_group(rest, caller, group).await?;
        let ports = server_ports(rest, token, &i).await?;
        // Every port is checked before any changes, so that a refusal leaves none changed.
        for p in &ports {
            if !can_carry_groups(p) {
                return Err(ComputeError::Invalid(
                    "Network requires port_security_enabled and subnet associated in order to apply security groups."
                        .into(),
                ));
            }
            if groups_on(p).contains(&g.id) {
                return Err(ComputeError::Invalid(format!(
                    "Security group {group} is already associated with the instance {}",
                    i.id
                )));
            }
        }
        for p in &ports {
            let mut groups = groups_on(p);
            groups.push(g.id.clone());
            tracing::info!(group = %g.id, port = %text(p, "id"), instance = %i.id, "adding a security group to a port");
            rest.set_port_security_groups(token, &text(p, "id"), &groups)
                .await
                .map_err(|e| match e.status() {
                    // Nova's SecurityGroupCannotBeApplied, with the Network API's reason.
                    Some(400) => ComputeError::Invalid(format!("The security group cannot be applied: {e}")),
                    _ => network_error(e),
                })?;
        }
        self.record_port_groups(rest, token, &i).await;
        Ok(())
    }

    /// `removeSecurityGroup`: the group comes off every port of the server that has it; a 404
    /// when none has it.
    pub async fn remove_security_group(&self, caller: &AuthContext, server_id: &str, group: &str) -> Result<()> {
        let i = self.get_server(caller, server_id).await?;
        self.enforce(
            "os_compute_api:os-security-groups:remove",
            caller,
            &Target::new().with("project_id", &i.project_id),
        )?;
        let rest = self.network_api()?;
        let token = caller.token.as_str();
        let g = find_group(rest, caller, group).await?;
        let ports = server_ports(rest, token, &i).await?;
        let mut found = false;
        for p in &ports {
            let mut groups = groups_on(p);
            let Some(at) = groups.iter().position(|x| *x == g.id) else {
                continue;
            };
            groups.remove(at);
            tracing::info!(group = %g.id, port = %text(p, "id"), instance = %i.id, "removing a security group from a port");
            rest.set_port_security_groups(token, &text(p, "id"), &groups)
                .await
                .map_err(network_error)?;
            found = true;
        }
        if !found {
            return Err(ComputeError::NotFound(format!(
                "Security group {group} not associated with the instance {}",
                i.id
            )));
        }
        self.record_port_groups(rest, token, &i).await;
        Ok(())
    }

    /// Writes on the server's record the groups its made ports carry now (the ports given by
    /// the user keep their own and are not recorded). The ports are what counts: a failure
    /// here is logged, not answered.
    async fn record_port_groups(&self, rest: &Rest, token: &str, i: &Instance) {
        let RequestedNetworks::List(list) = &i.requested_networks else {
            return;
        };
        let given: Vec<&str> = list.iter().filter_map(|r| r.port_id.as_deref()).collect();
        let ports = match rest.ports_of_device(token, &i.id).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(instance = %i.id, error = %e, "reading the server's ports to record their groups failed");
                return;
            }
        };
        let Some(made) = ports.iter().find(|p| !given.contains(&text(p, "id").as_str())) else {
            return;
        };
        let mut refs = Vec::new();
        for id in groups_on(made) {
            let name = match rest.security_group(token, &id).await {
                Ok(g) => text(&g, "name"),
                Err(e) => {
                    tracing::warn!(instance = %i.id, group = %id, error = %e, "reading a group to record it failed");
                    return;
                }
            };
            refs.push(SecurityGroupRef { id, name });
        }
        let mut list = list.clone();
        for r in list.iter_mut().filter(|r| r.port_id.is_none()) {
            r.security_groups = refs.clone();
        }
        if let Err(e) = idb::set_requested_networks(self.db(), &i.id, &RequestedNetworks::List(list)).await {
            tracing::warn!(instance = %i.id, error = %e, "recording the server's security groups failed");
        }
    }
}

/// A group by id; None when the caller cannot see it.
async fn visible_group(rest: &Rest, token: &str, id: &str) -> Result<Option<Value>> {
    match rest.security_group(token, id).await {
        Ok(g) => Ok(Some(g)),
        Err(e) if matches!(e.status(), Some(403 | 404)) => Ok(None),
        Err(e) => Err(network_error(e)),
    }
}

/// The server's ports; Nova's 404 when it has none.
async fn server_ports(rest: &Rest, token: &str, i: &Instance) -> Result<Vec<Value>> {
    let ports = rest.ports_of_device(token, &i.id).await.map_err(network_error)?;
    if ports.is_empty() {
        return Err(ComputeError::NotFound(format!(
            "instance_id {} could not be found as device id on any ports",
            i.id
        )));
    }
    Ok(ports)
}

/// A group by id, or else by name among the caller's project's, as Neutron's client finds
/// one: a 404 when there is none, a 409 when the name is not unique.
async fn find_group(rest: &Rest, caller: &AuthContext, name_or_id: &str) -> Result<SecurityGroupRef> {
    let project = caller.project_id().unwrap_or_default();
    let not_found = || {
        ComputeError::NotFound(format!(
            "Security group {name_or_id} is not found for project {project}"
        ))
    };
    if name_or_id.chars().count() > MAX_NAME {
        return Err(not_found());
    }
    let token = caller.token.as_str();
    let as_ref = |g: &Value| SecurityGroupRef {
        id: text(g, "id"),
        name: text(g, "name"),
    };
    if uuid_like(name_or_id) {
        if let Some(g) = visible_group(rest, token, name_or_id).await? {
            return Ok(as_ref(&g));
        }
    }
    let mut filters = vec![("name".to_owned(), name_or_id.to_owned())];
    if let Some(p) = caller.project_id() {
        filters.push(("project_id".to_owned(), p.to_owned()));
    }
    let found = rest
        .find_security_groups(token, &filters)
        .await
        .map_err(network_error)?;
    match found.as_slice() {
        [one] => Ok(as_ref(one)),
        [] => Err(not_found()),
        _ => Err(ComputeError::Conflict(format!(
            "Multiple security_group matches found for name '{name_or_id}', use an ID to be more specific."
        ))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn neutron_group() -> Value {
        json!({
            "id": "g1", "name": "web", "description": "for web", "project_id": "p1",
            "security_group_rules": [
                {"id": "r1", "security_group_id": "g1", "direction": "ingress", "protocol": "tcp",
                 "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "10.0.0.0/8", "remote_group_id": null},
                {"id": "r2", "security_group_id": "g1", "direction": "ingress", "protocol": "udp",
                 "port_range_min": null, "port_range_max": null, "remote_ip_prefix": null, "remote_group_id": null},
                {"id": "r3", "security_group_id": "g1", "direction": "ingress", "protocol": "icmp",
                 "port_range_min": null, "port_range_max": null, "remote_ip_prefix": null, "remote_group_id": "g1"},
                {"id": "r4", "security_group_id": "g1", "direction": "egress", "protocol": null,
                 "port_range_min": null, "port_range_max": null, "remote_ip_prefix": null, "remote_group_id": null},
                {"id": "r5", "security_group_id": "g1", "direction": "ingress", "protocol": null,
                 "port_range_min": null, "port_range_max": null, "remote_ip_prefix": null, "remote_group_id": "hidden"},
                {"id": "r6", "security_group_id": "g1", "direction": "ingress", "protocol": null,
                 "port_range_min": null, "port_range_max": null, "remote_ip_prefix": "::/0", "remote_group_id": null},
            ],
        })
    }

    #[test]
    fn neutron_rules_read_as_nova_shows_them() {
        let g = neutron_group();
        let known: HashMap<String, Value> = [("g1".to_owned(), g.clone())].into();
        let s = group_of(&g, &known);
        assert_eq!(
            (s.id.as_str(), s.name.as_str(), s.tenant_id.as_str()),
            ("g1", "web", "p1")
        );
        assert_eq!(s.description, "for web");
        let ids: Vec<&str> = s.rules.iter().map(|r| r.id.as_str()).collect();
        // Egress, and a rule naming a group the caller cannot see, are left out.
        assert_eq!(ids, ["r1", "r2", "r3", "r6"]);
        assert_eq!((s.rules[0].from_port, s.rules[0].to_port), (Some(22), Some(22)));
        assert_eq!(s.rules[0].source, RuleSource::Cidr("10.0.0.0/8".into()));
        // A protocol without ports: TCP and UDP mean 1-65535, others -1.
        assert_eq!((s.rules[1].from_port, s.rules[1].to_port), (Some(1), Some(65535)));
        assert_eq!(s.rules[1].source, RuleSource::Cidr("0.0.0.0/0".into()));
        assert_eq!((s.rules[2].from_port, s.rules[2].to_port), (Some(-1), Some(-1)));
        assert_eq!(
            s.rules[2].source,
            RuleSource::Group {
                name: "web".into(),
                tenant_id: "p1".into()
            }
        );
        // No protocol: no ports either.
        assert_eq!(s.rules[3].ip_protocol, None);
        assert_eq!((s.rules[3].from_port, s.rules[3].to_port), (None, None));
        assert_eq!(s.rules[3].source, RuleSource::Cidr("::/0".into()));
    }

    #[test]
    fn ports_without_address_or_port_security_carry_no_groups() {
        assert!(can_carry_groups(&json!({"fixed_ips": [{"ip_address": "10.0.0.3"}]})));
        assert!(can_carry_groups(&json!({"fixed_ips": [], "ip_allocation": "deferred"})));
        assert!(!can_carry_groups(&json!({"fixed_ips": []})));
        assert!(!can_carry_groups(
            &json!({"fixed_ips": [{"ip_address": "10.0.0.3"}], "port_security_enabled": false})
        ));
    }

    #[test]
    fn network_failures_keep_their_meaning() {
        let refused = |status| ClientError::Refused {
            service: "Network",
            status,
            message: "no".into(),
            over_quota: false,
        };
        assert!(matches!(network_error(refused(404)), ComputeError::NotFound(_)));
        assert!(matches!(network_error(refused(403)), ComputeError::Denied(_)));
        assert!(matches!(network_error(refused(400)), ComputeError::Invalid(_)));
        assert!(matches!(network_error(refused(409)), ComputeError::Conflict(_)));
        assert!(matches!(network_error(refused(500)), ComputeError::Unavailable(_)));
        let down = ClientError::Transport {
            service: "Network",
            message: "refused".into(),
        };
        assert!(matches!(network_error(down), ComputeError::Unavailable(_)));
    }
}
