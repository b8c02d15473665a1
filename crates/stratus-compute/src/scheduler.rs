//! Choosing a host: filters remove the hosts that cannot take the guest, and say why; weighers
//! order the rest. This is the decision only. Claiming the chosen host's resources is done in
//! the store, atomically, by the caller.
//!
//! The filters that look at a host's aggregates live one per file beside this one
//! ([`availability_zone`], [`aggregate_instance_extra_specs`]); the rest are the small checks
//! of [`reject`].

mod aggregate_instance_extra_specs;
mod availability_zone;
pub mod extra_specs_ops;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// What the scheduler knows of one compute host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostState {
    pub host: String,
    pub enabled: bool,
    /// Its agent reported recently.
    pub up: bool,
    pub availability_zone: String,
    pub hypervisor_type: String,
    pub vcpus: u64,
    pub vcpus_used: u64,
    pub memory_mb: u64,
    pub memory_mb_used: u64,
    pub disk_gb: u64,
    pub disk_gb_used: u64,
    /// Each metadata key of the host's aggregates with the values they give it (Nova's
    /// `aggregate_metadata_get_by_host`); the zone is `availability_zone` among them.
    #[serde(default)]
    pub aggregate_metadata: BTreeMap<String, BTreeSet<String>>,
}

/// How far a host's resources may be promised beyond what it has (Nova's allocation ratios).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ratios {
    pub cpu: f64,
    pub ram: f64,
    pub disk: f64,
}

impl Default for Ratios {
    /// Nova's initial allocation ratios.
    fn default() -> Self {
        Ratios {
            cpu: 16.0,
            ram: 1.5,
            disk: 1.0,
        }
    }
}

impl HostState {
    pub fn free_vcpus(&self, r: &Ratios) -> f64 {
        self.vcpus as f64 * r.cpu - self.vcpus_used as f64
    }
    pub fn free_memory_mb(&self, r: &Ratios) -> f64 {
        self.memory_mb as f64 * r.ram - self.memory_mb_used as f64
    }
    pub fn free_disk_gb(&self, r: &Ratios) -> f64 {
        self.disk_gb as f64 * r.disk - self.disk_gb_used as f64
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroupPolicy {
    Affinity,
    AntiAffinity,
    SoftAffinity,
    SoftAntiAffinity,
}

/// A server group the guest belongs to, with where its other members run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub policy: GroupPolicy,
    /// Hosts of the group's other members, one entry per member.
    pub member_hosts: Vec<String>,
    /// For anti-affinity: members a host may hold (Nova's `max_server_per_host`, 1 by default).
    pub max_server_per_host: Option<u32>,
}

/// What one guest needs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RequestSpec {
    pub vcpus: u64,
    pub memory_mb: u64,
    pub disk_gb: u64,
    pub availability_zone: Option<String>,
    /// The image's `hypervisor_type` (or `img_hv_type`) property.
    pub hypervisor_type: Option<String>,
    pub group: Option<Group>,
    /// Hosts already tried for this guest (a reschedule).
    pub ignore_hosts: Vec<String>,
    /// The flavor's extra specs, as at boot.
    #[serde(default)]
    pub extra_specs: BTreeMap<String, String>,
    /// The one host an administrator asked for (2.74): the others are not candidates.
    #[serde(default)]
    pub requested_host: Option<String>,
}

/// Prefer the emptiest hosts (spread) or the fullest (stack).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weighing {
    Spread,
    Stack,
}

/// No host fits; the message names what removed how many.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct NoValidHost(pub String);

/// Why a host cannot take the guest, or None.
fn reject(h: &HostState, spec: &RequestSpec, r: &Ratios) -> Option<String> {
    if !h.enabled {
        return Some("disabled".into());
    }
    if !h.up {
        return Some("down".into());
    }
    if spec.ignore_hosts.contains(&h.host) {
        return Some("already tried".into());
    }
    if spec.requested_host.as_ref().is_some_and(|r| *r != h.host) {
        return Some("are not the requested host".into());
    }
    if let Some(why) = availability_zone::reject(h, spec) {
        return Some(why);
    }
    if h.free_memory_mb(r) < spec.memory_mb as f64 {
        return Some(format!("lack {} MB RAM", spec.memory_mb));
    }
    if h.free_vcpus(r) < spec.vcpus as f64 {
        return Some(format!("lack {} vCPUs", spec.vcpus));
    }
    if h.free_disk_gb(r) < spec.disk_gb as f64 {
        return Some(format!("lack {} GB disk", spec.disk_gb));
    }
    if let Some(hv) = &spec.hypervisor_type {
        if !h.hypervisor_type.eq_ignore_ascii_case(hv) {
            return Some(format!("do not run {hv} guests"));
        }
    }
    if let Some(why) = aggregate_instance_extra_specs::reject(h, spec) {
        return Some(why);
    }
    if let Some(g) = &spec.group {
        let members_here = g.member_hosts.iter().filter(|m| **m == h.host).count();
        match g.policy {
            GroupPolicy::Affinity if !g.member_hosts.is_empty() && members_here == 0 => {
                return Some("are not the host of the server group (affinity)".into())
            }
            GroupPolicy::AntiAffinity if members_here >= g.max_server_per_host.unwrap_or(1) as usize => {
                return Some("already hold a member of the server group (anti-affinity)".into())
            }
            _ => {}
        }
    }
    None
}

/// Normalises values to 0..1 over their range, as Nova's weighers do.
fn normalise(v: &[f64]) -> Vec<f64> {
    let (lo, hi) = v
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), x| (l.min(*x), h.max(*x)));
    v.iter()
        .map(|x| if hi > lo { (x - lo) / (hi - lo) } else { 0.0 })
        .collect()
}

/// The hosts that fit, best first: the first is the choice, the next `alternates` are where
/// a failed build goes next.
pub fn select(
    hosts: &[HostState],
    spec: &RequestSpec,
    ratios: &Ratios,
    weighing: Weighing,
    alternates: usize,
) -> Result<Vec<String>, NoValidHost> {
    let mut rejected: BTreeMap<String, usize> = BTreeMap::new();
    let mut fit: Vec<&HostState> = Vec::new();
    for h in hosts {
        match reject(h, spec, ratios) {
            Some(why) => *rejected.entry(why).or_default() += 1,
            None => fit.push(h),
        }
    }
    if fit.is_empty() {
        let mut reasons: Vec<(String, usize)> = rejected.into_iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let why = reasons
            .iter()
            .map(|(r, n)| format!("{n} {r}"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(NoValidHost(if hosts.is_empty() {
            "No valid host was found. There are no compute hosts.".into()
        } else {
            format!("No valid host was found. 0/{} hosts: {why}", hosts.len())
        }));
    }
    let ram = normalise(&fit.iter().map(|h| h.free_memory_mb(ratios)).collect::<Vec<_>>());
    let cpu = normalise(&fit.iter().map(|h| h.free_vcpus(ratios)).collect::<Vec<_>>());
    let disk = normalise(&fit.iter().map(|h| h.free_disk_gb(ratios)).collect::<Vec<_>>());
    let sign = match weighing {
        Weighing::Spread => 1.0,
        Weighing::Stack => -1.0,
    };
    let mut scored: Vec<(f64, &str)> = fit
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let mut w = sign * (ram[i] + cpu[i] + disk[i]);
            if let Some(g) = &spec.group {
                let here = g.member_hosts.iter().filter(|m| **m == h.host).count() as f64;
                // Soft policies weigh rather than filter, more strongly than resources.
                match g.policy {
                    GroupPolicy::SoftAffinity => w += 10.0 * here,
                    GroupPolicy::SoftAntiAffinity => w -= 10.0 * here,
                    _ => {}
                }
            }
            (w, h.host.as_str())
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    Ok(scored
        .into_iter()
        .take(1 + alternates)
        .map(|(_, h)| h.to_owned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn host(name: &str, free_ram: u64) -> HostState {
        HostState {
            host: name.into(),
            enabled: true,
            up: true,
            availability_zone: "nova".into(),
            hypervisor_type: "fake".into(),
            vcpus: 4,
            vcpus_used: 0,
            memory_mb: free_ram,
            memory_mb_used: 0,
            disk_gb: 100,
            disk_gb_used: 0,
            aggregate_metadata: Default::default(),
        }
    }

    const EXACT: Ratios = Ratios {
        cpu: 1.0,
        ram: 1.0,
        disk: 1.0,
    };

    fn spec(ram: u64) -> RequestSpec {
        RequestSpec {
            vcpus: 1,
            memory_mb: ram,
            disk_gb: 1,
            ..Default::default()
        }
    }

    #[test]
    fn no_valid_host_says_which_filter_removed_how_many() {
        let mut off = host("c", 8192);
        off.enabled = false;
        let hosts = [host("a", 2048), host("b", 1024), off];
        let e = select(&hosts, &spec(4096), &EXACT, Weighing::Spread, 2).expect_err("none fits");
        assert_eq!(
            e.0,
            "No valid host was found. 0/3 hosts: 2 lack 4096 MB RAM, 1 disabled"
        );
        let e = select(&[], &spec(1), &EXACT, Weighing::Spread, 2).expect_err("no hosts");
        assert!(e.0.contains("no compute hosts"));
    }

    #[test]
    fn spread_and_stack_order_the_fitting_hosts() {
        let hosts = [host("a", 2048), host("b", 8192), host("c", 4096)];
        let spread = select(&hosts, &spec(512), &EXACT, Weighing::Spread, 2).expect("fits");
        assert_eq!(spread, ["b", "c", "a"]);
        let stack = select(&hosts, &spec(512), &EXACT, Weighing::Stack, 1).expect("fits");
        assert_eq!(stack, ["a", "c"]);
        // Ratios let a host promise more than it has.
        let big = select(&hosts, &spec(10000), &Ratios::default(), Weighing::Spread, 0).expect("1.5x RAM");
        assert_eq!(big, ["b"]);
    }

    #[test]
    fn zones_hypervisors_retries_and_groups() {
        let mut east = host("east", 4096);
        east.availability_zone = "east".into();
        let hosts = [host("a", 4096), host("b", 4096), east];
        let mut s = spec(512);
        s.availability_zone = Some("east".into());
        assert_eq!(select(&hosts, &s, &EXACT, Weighing::Spread, 2).expect("east"), ["east"]);

        let mut s = spec(512);
        s.hypervisor_type = Some("qemu".into());
        let e = select(&hosts, &s, &EXACT, Weighing::Spread, 2).expect_err("no qemu");
        assert!(e.0.contains("3 do not run qemu guests"), "{}", e.0);

        let mut s = spec(512);
        s.ignore_hosts = vec!["a".into(), "east".into()];
        assert_eq!(select(&hosts, &s, &EXACT, Weighing::Spread, 2).expect("b left"), ["b"]);

        let group = |policy, members: &[&str]| Group {
            policy,
            member_hosts: members.iter().map(|m| m.to_string()).collect(),
            max_server_per_host: None,
        };
        let mut s = spec(512);
        s.group = Some(group(GroupPolicy::AntiAffinity, &["a", "b"]));
        assert_eq!(select(&hosts, &s, &EXACT, Weighing::Spread, 2).expect("anti"), ["east"]);
        s.group = Some(group(GroupPolicy::Affinity, &["b"]));
        assert_eq!(
            select(&hosts, &s, &EXACT, Weighing::Spread, 2).expect("affinity"),
            ["b"]
        );
        s.group = Some(group(GroupPolicy::Affinity, &[]));
        assert_eq!(
            select(&hosts, &s, &EXACT, Weighing::Spread, 2)
                .expect("first member")
                .len(),
            3
        );
        s.group = Some(group(GroupPolicy::SoftAntiAffinity, &["a", "b"]));
        assert_eq!(
            select(&hosts, &s, &EXACT, Weighing::Spread, 0).expect("soft anti"),
            ["east"]
        );
        s.group = Some(group(GroupPolicy::SoftAffinity, &["a"]));
        assert_eq!(select(&hosts, &s, &EXACT, Weighing::Spread, 0).expect("soft"), ["a"]);
        s.group = Some(group(GroupPolicy::AntiAffinity, &["a", "b", "east"]));
        let e = select(&hosts, &s, &EXACT, Weighing::Spread, 0).expect_err("full");
        assert!(e.0.contains("3 already hold a member"), "{}", e.0);
    }
}
