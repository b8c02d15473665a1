//! The dataplane: what makes a network real on this host. Per network a Linux bridge, and a
//! DHCP server (dnsmasq in a namespace) that knows each port's MAC and addresses; per port a
//! TAP the compute agent plugs into the bridge.
//!
//! The service describes each network as a [`NetworkPlan`] and hands it to the dataplane
//! after every change; a dataplane makes the host match the plan (idempotently) and must be
//! able to start from whatever a previous run left.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::model::{Port, Subnet};

/// Everything the dataplane needs to serve one network.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkPlan {
    pub network_id: String,
    pub mtu: i64,
    pub admin_state_up: bool,
    pub subnets: Vec<Subnet>,
    /// The network's DHCP port, whose addresses the DHCP server listens on.
    pub dhcp_port: Option<Port>,
    /// Every other port, for the DHCP host entries (MAC to addresses).
    pub ports: Vec<Port>,
}

/// Names of what the dataplane creates, after the objects they serve (Neutron's linuxbridge
/// agent names them the same way, so operators recognise them).
pub fn bridge_name(network_id: &str) -> String {
    format!("brq{}", short(network_id))
}
pub fn tap_name(port_id: &str) -> String {
    format!("tap{}", short(port_id))
}
pub fn namespace_name(network_id: &str) -> String {
    format!("qdhcp-{network_id}")
}
fn short(id: &str) -> String {
    id.chars().take(11).collect()
}

#[async_trait::async_trait]
pub trait Dataplane: Send + Sync + 'static {
    /// Makes the host serve `plan`: bridge, DHCP namespace and server, host entries.
    async fn apply(&self, plan: &NetworkPlan) -> std::io::Result<()>;
    /// Removes everything serving the network.
    async fn remove(&self, network_id: &str) -> std::io::Result<()>;
    /// At start: applies every plan and removes what serves networks no longer known.
    async fn reconcile(&self, plans: &[NetworkPlan]) -> std::io::Result<()>;
    /// A port of a network already applied was created or changed (its MAC or addresses).
    /// Cheaper than [`Dataplane::apply`]: the DHCP server's entries change, nothing else.
    async fn port_changed(&self, network_id: &str, port: &Port) -> std::io::Result<()>;
    /// A port of a network already applied was deleted.
    async fn port_removed(&self, network_id: &str, port_id: &str) -> std::io::Result<()>;
    /// Plugs the port's device (`tap<port>`) into the network's bridge on this host, as a
    /// compute agent does before its hypervisor opens the device; idempotent. Returns the
    /// device's name.
    async fn plug(&self, network_id: &str, port: &Port, mtu: i64) -> std::io::Result<String>;
    /// Removes the port's device; removing one that is not there is not an error.
    async fn unplug(&self, port_id: &str) -> std::io::Result<()>;
    /// A short name for logs and the binding's `vif_type` ("bridge" for Linux bridges).
    fn vif_type(&self) -> &'static str {
        "bridge"
    }
}

/// A dataplane in memory, for tests and for hosts where the kernel's networking is not ours
/// to change. It keeps the last plan of each network.
#[derive(Default)]
pub struct FakeDataplane {
    plans: Mutex<BTreeMap<String, NetworkPlan>>,
    plugged: Mutex<BTreeMap<String, String>>,
}

impl FakeDataplane {
    pub fn new() -> Self {
        Self::default()
    }
    /// The plan the network is served by, if any.
    pub fn plan(&self, network_id: &str) -> Option<NetworkPlan> {
        self.plans.lock().ok().and_then(|p| p.get(network_id).cloned())
    }
    pub fn networks(&self) -> Vec<String> {
        self.plans
            .lock()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl Dataplane for FakeDataplane {
    async fn apply(&self, plan: &NetworkPlan) -> std::io::Result<()> {
        if let Ok(mut p) = self.plans.lock() {
            p.insert(plan.network_id.clone(), plan.clone());
        }
        Ok(())
    }
    async fn remove(&self, network_id: &str) -> std::io::Result<()> {
        if let Ok(mut p) = self.plans.lock() {
            p.remove(network_id);
        }
        Ok(())
    }
    async fn reconcile(&self, plans: &[NetworkPlan]) -> std::io::Result<()> {
        if let Ok(mut p) = self.plans.lock() {
            p.clear();
            for plan in plans {
                p.insert(plan.network_id.clone(), plan.clone());
            }
        }
        Ok(())
    }
    async fn port_changed(&self, network_id: &str, port: &Port) -> std::io::Result<()> {
        if let Some(plan) = self.plans.lock().ok().as_mut().and_then(|p| p.get_mut(network_id)) {
            plan.ports.retain(|p| p.id != port.id);
            plan.ports.push(port.clone());
        }
        Ok(())
    }
    async fn port_removed(&self, network_id: &str, port_id: &str) -> std::io::Result<()> {
        if let Some(plan) = self.plans.lock().ok().as_mut().and_then(|p| p.get_mut(network_id)) {
            plan.ports.retain(|p| p.id != port_id);
        }
        Ok(())
    }
    async fn plug(&self, network_id: &str, port: &Port, _mtu: i64) -> std::io::Result<String> {
        if let Ok(mut p) = self.plugged.lock() {
            p.insert(port.id.clone(), network_id.to_owned());
        }
        Ok(tap_name(&port.id))
    }
    async fn unplug(&self, port_id: &str) -> std::io::Result<()> {
        if let Ok(mut p) = self.plugged.lock() {
            p.remove(port_id);
        }
        Ok(())
    }
}
