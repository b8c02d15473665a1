//! Compute hosts as the administrators' APIs see them (Nova's os-hypervisors and
//! os-availability-zone): one host by id or uuid, hosts by a name pattern with the servers on
//! them, their summed resources, the uptime their agents report, and the zones the hosts'
//! aggregates make.
//!
//! It reads; it changes nothing. A host's uptime is asked of its agent over the bus, since
//! only the agent runs on the host.

use std::collections::BTreeMap;

use stratus_api::{AuthContext, Target};
use stratus_compute_agent::rpc::{compute_topic, VERSION};

use crate::instances_db as idb;
use crate::model::ComputeNode;
use crate::service::{ComputeError, ComputeService, Result};

/// How a request names a hypervisor: by integer id before microversion 2.53, by uuid after.
/// What names none is kept as given, so that the policy is checked before the refusal (as
/// Nova does): a 404 for a non-integer before 2.53, a 400 for a non-uuid after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HypervisorRef<'a> {
    Id(i64),
    Uuid(&'a str),
    NotAnId(&'a str),
    NotAUuid(&'a str),
}

impl<'a> HypervisorRef<'a> {
    /// `id` as a request at microversion 2.53 or later (`uuids`) or before names it.
    pub fn parse(id: &'a str, uuids: bool) -> Self {
        if uuids {
            let hex: String = id.chars().filter(|c| *c != '-').collect();
            if hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                HypervisorRef::Uuid(id)
            } else {
                HypervisorRef::NotAUuid(id)
            }
        } else {
            match id.trim().parse::<i64>() {
                Ok(n) => HypervisorRef::Id(n),
                Err(_) => HypervisorRef::NotAnId(id),
            }
        }
    }

    fn matches(&self, n: &ComputeNode) -> bool {
        match self {
            HypervisorRef::Id(id) => n.id == *id,
            HypervisorRef::Uuid(u) => {
                let want: String = u.chars().filter(|c| *c != '-').collect();
                n.service_id.replace('-', "").eq_ignore_ascii_case(&want)
            }
            HypervisorRef::NotAnId(_) | HypervisorRef::NotAUuid(_) => false,
        }
    }

    /// The refusal of a reference that names no hypervisor.
    fn refusal(&self) -> ComputeError {
        match self {
            HypervisorRef::NotAUuid(u) => ComputeError::Invalid(format!("Invalid uuid {u:.80}")),
            other => hypervisor_not_found(other),
        }
    }
}

impl std::fmt::Display for HypervisorRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HypervisorRef::Id(id) => write!(f, "{id}"),
            HypervisorRef::Uuid(u) | HypervisorRef::NotAnId(u) | HypervisorRef::NotAUuid(u) => {
                write!(f, "{u:.80}")
            }
        }
    }
}

/// A host with whether its agent reported in time, and (when asked) the servers on it as
/// (id, name) pairs.
#[derive(Debug, Clone, PartialEq)]
pub struct Hypervisor {
    pub node: ComputeNode,
    pub up: bool,
    pub servers: Option<Vec<(String, String)>>,
}

/// Which hypervisors a list asks for.
#[derive(Debug, Clone, Default)]
pub struct HypervisorQuery<'a> {
    /// The policy of the route (`os_compute_api:os-hypervisors:list`, `...:search`, ...).
    pub policy: &'a str,
    /// Hosts whose name contains this (SQL `LIKE` wildcards `%` and `_` allowed); none matching
    /// is a 404.
    pub pattern: Option<&'a str>,
    pub with_servers: bool,
    pub limit: Option<u32>,
    pub marker: Option<HypervisorRef<'a>>,
}

/// The resources of the enabled hosts, summed (Nova's hypervisor statistics).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HypervisorStatistics {
    pub count: i64,
    pub vcpus: i64,
    pub vcpus_used: i64,
    pub memory_mb: i64,
    pub memory_mb_used: i64,
    pub local_gb: i64,
    pub local_gb_used: i64,
    pub free_ram_mb: i64,
    pub free_disk_gb: i64,
    pub current_workload: i64,
    pub running_vms: i64,
    pub disk_available_least: i64,
}

/// An availability zone: available when an enabled host is in it; with its enabled hosts.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    pub name: String,
    pub available: bool,
    pub hosts: Vec<(ComputeNode, bool)>,
}

/// SQL `LIKE` as MySQL runs it for Nova (case-insensitively): `%` any run, `_` one character.
fn like(text: &str, pattern: &str) -> bool {
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    // Classic wildcard matching with backtracking to the last `%`.
    let (mut ti, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '_' || p[pi] == t[ti]) {
            ti += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '%')
}

fn hypervisor_not_found(r: &dyn std::fmt::Display) -> ComputeError {
    ComputeError::NotFound(format!("Hypervisor with ID '{r}' could not be found."))
}

impl ComputeService {
    fn nodes_up(&self, nodes: Vec<ComputeNode>) -> Vec<(ComputeNode, bool)> {
        let now = stratus_store::now_micros();
        let down = self.config().service_down_time.as_micros() as i64;
        nodes
            .into_iter()
            .map(|n| {
                let up = now - n.heartbeat_at <= down;
                (n, up)
            })
            .collect()
    }

    async fn servers_by_host(&self, hosts: &[&str]) -> Result<BTreeMap<String, Vec<(String, String)>>> {
        let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for h in hosts {
            let mut list = idb::list(self.db(), None, Some(h)).await?;
            list.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
            out.insert(
                (*h).to_owned(),
                list.into_iter().map(|i| (i.id.clone(), instance_name(&i.id))).collect(),
            );
        }
        Ok(out)
    }

    /// Hypervisors in id order: all, a page of them, or those whose name matches a pattern.
    pub async fn list_hypervisors(&self, caller: &AuthContext, q: &HypervisorQuery<'_>) -> Result<Vec<Hypervisor>> {
        self.enforce(q.policy, caller, &Target::new())?;
        let mut nodes = self.nodes_up(idb::nodes(self.db()).await?);
        if let Some(p) = q.pattern {
            nodes.retain(|(n, _)| like(&n.host, &format!("%{p}%")));
            if nodes.is_empty() {
                return Err(ComputeError::NotFound(format!(
                    "No hypervisor matching '{p}' could be found."
                )));
            }
        }
        if let Some(m) = &q.marker {
            let at = nodes
                .iter()
                .position(|(n, _)| m.matches(n))
                .ok_or_else(|| ComputeError::Invalid(format!("marker [{m}] not found")))?;
            nodes.drain(..=at);
        }
        if let Some(l) = q.limit {
            nodes.truncate(l as usize);
        }
        let servers = if q.with_servers {
            let hosts: Vec<&str> = nodes.iter().map(|(n, _)| n.host.as_str()).collect();
            Some(self.servers_by_host(&hosts).await?)
        } else {
            None
        };
        Ok(nodes
            .into_iter()
            .map(|(node, up)| Hypervisor {
                servers: servers.as_ref().map(|s| s.get(&node.host).cloned().unwrap_or_default()),
                node,
                up,
            })
            .collect())
    }

    /// One hypervisor, under `policy` (show or uptime).
    pub async fn get_hypervisor(
        &self,
        caller: &AuthContext,
        policy: &str,
        r: HypervisorRef<'_>,
        with_servers: bool,
    ) -> Result<Hypervisor> {
        self.enforce(policy, caller, &Target::new())?;
        let (node, up) = self
            .nodes_up(idb::nodes(self.db()).await?)
            .into_iter()
            .find(|(n, _)| r.matches(n))
            .ok_or_else(|| r.refusal())?;
        let servers = if with_servers {
            Some(
                self.servers_by_host(&[node.host.as_str()])
                    .await?
                    .remove(&node.host)
                    .unwrap_or_default(),
            )
        } else {
            None
        };
        Ok(Hypervisor { node, up, servers })
    }

    /// What the host's agent says of the host's uptime (the `uptime` command's line); 400
    /// when the host is down or its agent does not answer.
    pub async fn hypervisor_uptime(&self, caller: &AuthContext, request_id: &str, h: &Hypervisor) -> Result<String> {
        self.enforce("os_compute_api:os-hypervisors:uptime", caller, &Target::new())?;
        let host = &h.node.host;
        let unavailable = || ComputeError::Invalid(format!("Compute service of {host} is unavailable at this time."));
        if !h.up {
            return Err(unavailable());
        }
        let (bus, _) = self.pipeline().get().ok_or_else(unavailable)?;
        let ctx = stratus_bus::Context {
            request_id: request_id.to_owned(),
            user_id: caller.user_id.clone(),
            project_id: caller.project_id().map(str::to_owned),
            roles: caller.roles.iter().map(|r| r.name.clone()).collect(),
            token: Some(caller.token.clone()),
        };
        bus.call::<_, String>(
            &compute_topic(host),
            "host_uptime",
            VERSION,
            &ctx,
            &serde_json::json!({}),
            self.config().call_timeout,
        )
        .await
        .map_err(|e| {
            tracing::warn!(host = %host, error = %e, "asking a host's uptime failed");
            unavailable()
        })
    }

    /// The enabled hosts' resources, summed.
    pub async fn hypervisor_statistics(&self, caller: &AuthContext) -> Result<HypervisorStatistics> {
        self.enforce("os_compute_api:os-hypervisors:statistics", caller, &Target::new())?;
        let mut s = HypervisorStatistics::default();
        for n in idb::nodes(self.db()).await?.into_iter().filter(|n| n.enabled) {
            s.count += 1;
            s.vcpus += n.vcpus;
            s.vcpus_used += n.vcpus_used;
            s.memory_mb += n.memory_mb;
            s.memory_mb_used += n.memory_mb_used;
            s.local_gb += n.disk_gb;
            s.local_gb_used += n.disk_gb_used;
            s.free_ram_mb += n.memory_mb - n.memory_mb_used;
            s.free_disk_gb += n.disk_gb - n.disk_gb_used;
            s.current_workload += n.current_workload;
            s.running_vms += n.running_vms;
            s.disk_available_least += n.disk_gb - n.disk_gb_used;
        }
        Ok(s)
    }

    /// The zones of the hosts, as Nova lists them: those with an enabled host first
    /// (available, with their enabled hosts), then those whose hosts are all disabled.
    pub async fn availability_zones(&self, caller: &AuthContext, detail: bool) -> Result<Vec<Zone>> {
        let policy = if detail {
            "os_compute_api:os-availability-zone:detail"
        } else {
            "os_compute_api:os-availability-zone:list"
        };
        self.enforce(policy, caller, &Target::new())?;
        let nodes = self.nodes_up(idb::nodes(self.db()).await?);
        let mut zones: Vec<Zone> = Vec::new();
        for (n, up) in nodes.iter().filter(|(n, _)| n.enabled) {
            match zones.iter_mut().find(|z| z.name == n.availability_zone) {
                Some(z) => z.hosts.push((n.clone(), *up)),
                None => zones.push(Zone {
                    name: n.availability_zone.clone(),
                    available: true,
                    hosts: vec![(n.clone(), *up)],
                }),
            }
        }
        for (n, _) in nodes.iter().filter(|(n, _)| !n.enabled) {
            if !zones.iter().any(|z| z.name == n.availability_zone) {
                zones.push(Zone {
                    name: n.availability_zone.clone(),
                    available: false,
                    hosts: vec![],
                });
            }
        }
        Ok(zones)
    }

    /// Zones a server may be asked into: those with an enabled host (Nova's available zones).
    pub(crate) async fn bootable_zones(&self) -> Result<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        for n in idb::nodes(self.db()).await?.into_iter().filter(|n| n.enabled) {
            if !out.contains(&n.availability_zone) {
                out.push(n.availability_zone);
            }
        }
        Ok(out)
    }
}

/// Nova's `instance.name` for a server: what hypervisor server lists call it.
pub fn instance_name(id: &str) -> String {
    format!("instance-{}", &id[..8.min(id.len())])
}

#[cfg(test)]
mod tests {
    use super::like;

    #[test]
    fn host_patterns_match_as_sql_like() {
        assert!(like("compute-1", "%pute%"));
        assert!(like("compute-1", "%COMPUTE-1%"));
        assert!(like("compute-1", "%c_mpute%"));
        assert!(like("compute-1", "%%"));
        assert!(!like("compute-1", "%net%"));
        assert!(!like("a", "%ab%"));
        assert!(like("aXbXc", "%a%c%"));
    }
}
