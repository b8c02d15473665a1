//! Networks, and the plans the dataplane serves them by.

use stratus_api::{AuthContext, Target};
use stratus_store::now_micros;
use stratus_store::sql::Filters;

use crate::dataplane::NetworkPlan;
use crate::db;
use crate::error::{NetworkError, Result};
use crate::inputs::NetworkInput;
use crate::model::{Network, Provider};
use crate::tags::{tag_filter, TagKind};
use crate::{check_len, is_admin, new_id, owner_of, NetworkService};
use stratus_store::sql::Page;

pub(crate) fn target(project_id: &str) -> Target {
    Target::new().with("project_id", project_id)
}

/// List filters as `(attribute, value)` pairs from the query string.
pub type Filter = Vec<(String, String)>;

pub(crate) fn flag(key: &str, v: &str) -> Result<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(NetworkError::invalid(format!(
            "'{v}' is not a valid boolean value for filter '{key}'"
        ))),
    }
}

/// An integer filter value.
pub(crate) fn integer(v: &str) -> Result<i64> {
    v.parse()
        .map_err(|_| NetworkError::invalid(format!("'{v}' is not an integer")))
}

impl NetworkService {
    pub async fn create_network(&self, caller: &AuthContext, input: NetworkInput) -> Result<Network> {
        let project_id = owner_of(caller, input.project_id.as_deref(), input.tenant_id.as_deref())?;
        let t = target(&project_id);
        self.enforce("create_network", caller, &t)?;
        if input.shared == Some(true) {
            self.enforce("create_network:shared", caller, &t)?;
        }
        if input.external == Some(true) {
            self.enforce("create_network:router:external", caller, &t)?;
        }
        let provider = Provider {
            network_type: input.network_type.clone(),
            physical_network: input.physical_network.clone(),
            segmentation_id: input.segmentation_id,
        };
        if provider != Provider::default() {
            self.enforce("create_network:provider", caller, &t)?;
            check_provider(&provider)?;
        }
        let name = input.name.unwrap_or_default();
        let description = input.description.unwrap_or_default();
        check_len("name", &name)?;
        check_len("description", &description)?;
        let mtu = input.mtu.unwrap_or(self.config().default_mtu);
        if !(68..=9216).contains(&mtu) {
            return Err(NetworkError::invalid(format!(
                "'{mtu}' is not a valid MTU: it must be between 68 and 9216"
            )));
        }
        let within = self.quota_for(&project_id, "network").await?;
        let now = now_micros();
        let net = Network {
            id: new_id(),
            name,
            description,
            project_id,
            admin_state_up: input.admin_state_up.unwrap_or(true),
            shared: input.shared.unwrap_or(false),
            external: input.external.unwrap_or(false),
            mtu,
            provider: Provider {
                network_type: provider.network_type.or(Some("flat".into())),
                ..provider
            },
            status: "ACTIVE".into(),
            port_security_enabled: input.port_security_enabled.unwrap_or(true),
            revision_number: 1,
            created_at: now,
            updated_at: now,
            subnets: Vec::new(),
            tags: Vec::new(),
        };
        db::insert_network(self.db(), &net, within).await??;
        self.sync(&net.id).await;
        tracing::info!(network = %net.id, project = %net.project_id, "network created");
        Ok(net)
    }

    /// Whether the caller can see the network: its own, shared, external, or as admin.
    pub(crate) fn can_see_network(&self, caller: &AuthContext, n: &Network) -> bool {
        is_admin(caller) || n.shared || n.external || caller.project_id() == Some(n.project_id.as_str())
    }

    pub(crate) async fn visible_network(&self, caller: &AuthContext, id: &str) -> Result<Network> {
        match db::get_network(self.db(), id).await? {
            Some(n) if self.can_see_network(caller, &n) => Ok(n),
            _ => Err(NetworkError::not_found("NetworkNotFound", "Network", id)),
        }
    }

    pub async fn get_network(&self, caller: &AuthContext, id: &str) -> Result<Network> {
        let n = self.visible_network(caller, id).await?;
        self.enforce("get_network", caller, &target(&n.project_id))?;
        Ok(n)
    }

    pub async fn list_networks(&self, caller: &AuthContext, filter: &Filter, page: &Page) -> Result<Vec<Network>> {
        self.enforce("get_network", caller, &target(caller.project_id().unwrap_or("")))?;
        let mut f = Filters::new();
        if !is_admin(caller) {
            let p = f.bind(caller.project_id().unwrap_or(""));
            f.clause(format!("(project_id = {p} OR shared = 1 OR external = 1)"));
        }
        for (k, v) in filter {
            match k.as_str() {
                "id" | "name" | "description" | "status" | "project_id" => {
                    f.eq(k, Some(v.as_str()));
                }
                "tenant_id" => {
                    f.eq("project_id", Some(v.as_str()));
                }
                "shared" | "admin_state_up" | "port_security_enabled" => {
                    f.eq_flag(k, Some(flag(k, v)?));
                }
                "revision_number" => {
                    f.eq(k, Some(integer(v)?));
                }
                t if tag_filter(&mut f, TagKind::Networks, t, v) => {}
                "router:external" => {
                    f.eq_flag("external", Some(flag(k, v)?));
                }
                "mtu" => {
                    let n: i64 = v
                        .parse()
                        .map_err(|_| NetworkError::invalid(format!("'{v}' is not an integer")))?;
                    f.eq("mtu", Some(n));
                }
                "provider:network_type" => {
                    f.eq("network_type", Some(v.as_str()));
                }
                "provider:physical_network" => {
                    f.eq("physical_network", Some(v.as_str()));
                }
                _ => {
                    return Err(NetworkError::invalid(format!(
                        "{k} is not a valid filter attribute of networks"
                    )))
                }
            }
        }
        Ok(db::list_networks(self.db(), f, page).await?)
    }

    pub async fn update_network(&self, caller: &AuthContext, id: &str, input: NetworkInput) -> Result<Network> {
        let before = self.visible_network(caller, id).await?;
        let t = target(&before.project_id);
        self.enforce("update_network", caller, &t)?;
        let mut n = before.clone();
        if input.project_id.is_some() || input.tenant_id.is_some() {
            return Err(NetworkError::invalid("the project of a network cannot be changed"));
        }
        if input.network_type.is_some() || input.physical_network.is_some() || input.segmentation_id.is_some() {
            return Err(NetworkError::invalid(
                "provider attributes cannot be changed on an existing network",
            ));
        }
        if let Some(v) = input.name {
            check_len("name", &v)?;
            n.name = v;
        }
        if let Some(v) = input.description {
            check_len("description", &v)?;
            n.description = v;
        }
        if let Some(v) = input.admin_state_up {
            n.admin_state_up = v;
        }
        if let Some(v) = input.shared {
            if v != n.shared {
                self.enforce("update_network:shared", caller, &t)?;
                if !v {
                    self.check_unshare(&n).await?;
                }
            }
            n.shared = v;
        }
        if let Some(v) = input.external {
            if v != n.external {
                self.enforce("update_network:router:external", caller, &t)?;
            }
            n.external = v;
        }
        if let Some(v) = input.mtu {
            if !(68..=9216).contains(&v) {
                return Err(NetworkError::invalid(format!(
                    "'{v}' is not a valid MTU: it must be between 68 and 9216"
                )));
            }
            n.mtu = v;
        }
        // Ports made from now on inherit it; those there keep theirs, as in Neutron.
        if let Some(v) = input.port_security_enabled {
            n.port_security_enabled = v;
        }
        if n == before {
            return Ok(n);
        }
        n.revision_number += 1;
        n.updated_at = now_micros();
        if !db::update_network(self.db(), &n, before.revision_number).await? {
            return Err(NetworkError::conflict(
                "Conflict",
                format!("Network {id} was changed by another request; try again."),
            ));
        }
        self.sync(id).await;
        Ok(n)
    }

    /// A network cannot stop being shared while other projects have ports on it.
    async fn check_unshare(&self, n: &Network) -> Result<()> {
        let mut f = Filters::new();
        f.eq("network_id", Some(n.id.as_str()))
            .raw(|p| format!("project_id <> {p}"), n.project_id.as_str());
        f.raw(|p| format!("device_owner <> {p}"), "network:dhcp");
        if !db::list_ports(
            self.db(),
            f,
            &Page {
                limit: Some(1),
                ..Default::default()
            },
        )
        .await?
        .is_empty()
        {
            return Err(NetworkError::conflict(
                "InvalidSharedSetting",
                format!(
                    "Unable to reconfigure sharing settings for network {}. Multiple tenants are using it.",
                    n.id
                ),
            ));
        }
        Ok(())
    }

    pub async fn delete_network(&self, caller: &AuthContext, id: &str) -> Result<()> {
        let n = self.visible_network(caller, id).await?;
        self.enforce("delete_network", caller, &target(&n.project_id))?;
        let in_use = db::ports_on(self.db(), id, "network:dhcp").await?;
        if in_use > 0 || !db::delete_network(self.db(), id).await? {
            return Err(NetworkError::conflict(
                "NetworkInUse",
                format!("Unable to complete operation on network {id}. There are one or more ports still in use on the network."),
            ));
        }
        if let Err(e) = self.inner.dataplane.remove(id).await {
            tracing::error!(network = %id, error = %e, "removing the network's dataplane failed; it will be removed at the next start");
        }
        tracing::info!(network = %id, "network deleted");
        Ok(())
    }

    /// The dataplane's view of a network.
    pub async fn plan(&self, network_id: &str) -> Result<Option<NetworkPlan>> {
        let Some(n) = db::get_network(self.db(), network_id).await? else {
            return Ok(None);
        };
        let subnets = db::subnets_of(self.db(), network_id).await?;
        let mut f = Filters::new();
        f.eq("network_id", Some(network_id));
        let ports = db::list_ports(self.db(), f, &Page::default()).await?;
        let (dhcp, ports): (Vec<_>, Vec<_>) = ports.into_iter().partition(|p| p.device_owner == "network:dhcp");
        Ok(Some(NetworkPlan {
            network_id: n.id,
            mtu: n.mtu,
            admin_state_up: n.admin_state_up,
            subnets,
            dhcp_port: dhcp.into_iter().next(),
            ports,
        }))
    }

    /// Hands the network's current plan to the dataplane. A dataplane failure is logged, not
    /// returned: the record is right, and the next change or start applies it again.
    pub(crate) async fn sync(&self, network_id: &str) {
        match self.plan(network_id).await {
            Ok(Some(plan)) => {
                if let Err(e) = self.inner.dataplane.apply(&plan).await {
                    tracing::error!(network = %network_id, error = %e, "applying the network to the dataplane failed");
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(network = %network_id, error = %e, "reading the network for the dataplane failed")
            }
        }
    }

    /// At start: makes the dataplane serve exactly the networks on record.
    pub async fn reconcile_dataplane(&self) -> Result<()> {
        let nets = db::list_networks(self.db(), Filters::new(), &Page::default()).await?;
        let mut plans = Vec::with_capacity(nets.len());
        for n in nets {
            if let Some(p) = self.plan(&n.id).await? {
                plans.push(p);
            }
        }
        self.inner
            .dataplane
            .reconcile(&plans)
            .await
            .map_err(|e| NetworkError::internal("reconciling the dataplane", e))
    }
}

fn check_provider(p: &Provider) -> Result<()> {
    match p.network_type.as_deref() {
        None | Some("flat") | Some("local") => {
            if p.segmentation_id.is_some() {
                return Err(NetworkError::invalid(
                    "provider:segmentation_id is only valid for vlan networks",
                ));
            }
        }
        Some("vlan") => match p.segmentation_id {
            Some(id) if (1..=4094).contains(&id) => {}
            _ => {
                return Err(NetworkError::invalid(
                    "provider:segmentation_id of a vlan network must be between 1 and 4094",
                ))
            }
        },
        Some(other) => {
            return Err(NetworkError::invalid(format!(
                "provider:network_type '{other}' is not supported here: flat, local or vlan"
            )))
        }
    }
    Ok(())
}
