//! The Network service (Neutron v2.0): networks, subnets, ports and security groups (with the
//! rule templates new groups are made from), tags on them, quotas, the addresses ports get,
//! and the dataplane that makes them real.
//!
//! In the seed's flow the compute agent asks this service to "allocate and configure the
//! network such that the instance gets the IP address": it creates or binds a port, this
//! service picks its MAC and addresses (never one address for two ports, whatever the
//! concurrency, because the database's keys decide), and the dataplane serves them by DHCP.
//!
//! This crate holds the service logic, its records and the dataplane trait; it must not know
//! HTTP paths or JSON envelopes (that is `stratus-network-api`), and it never touches the
//! kernel except through a [`Dataplane`].

pub mod dataplane;
mod db;
mod default_rules;
mod error;
pub mod inputs;
mod ipam;
pub mod linux;
pub mod model;
mod networks;
mod ports;
mod providers;
mod quotas;
mod rules;
mod secgroups;
mod subnets;
mod tags;

use std::sync::Arc;

use stratus_api::policy::Policy;
use stratus_api::{AuthContext, Target};
use stratus_store::{Db, Location};

pub use dataplane::{Dataplane, FakeDataplane, NetworkPlan};
pub use error::{NetworkError, Result};
pub use linux::LinuxDataplane;
pub use quotas::QuotaSet;
pub use stratus_store::sql::Page;
pub use tags::{TagKind, MAX_TAG_LEN};

/// The default policy rules of the Network service.
pub const DEFAULT_POLICY: &str = include_str!("policy.yaml");

/// How the service runs.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// MTU of new networks (Linux bridges with no overlay: 1500).
    pub default_mtu: i64,
    /// Default quotas, by Neutron's resource names; -1 means unlimited.
    pub default_quotas: Vec<(&'static str, i64)>,
    /// The drivers of advanced services (Neutron's `service_provider` option); none, as
    /// Stratus runs no advanced service.
    pub service_providers: Vec<model::ServiceProvider>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            default_mtu: 1500,
            default_quotas: vec![
                ("network", 100),
                ("subnet", 100),
                ("port", 500),
                ("security_group", 10),
                ("security_group_rule", 100),
            ],
            service_providers: Vec::new(),
        }
    }
}

/// The Network service. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct NetworkService {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    cfg: NetworkConfig,
    policy: Policy,
    dataplane: Arc<dyn Dataplane>,
}

impl NetworkService {
    pub async fn open(
        location: &Location,
        cfg: NetworkConfig,
        policy: Policy,
        dataplane: Arc<dyn Dataplane>,
    ) -> Result<Self> {
        let db = Db::open(location, "network", &db::MIGRATOR).await?;
        Ok(NetworkService {
            inner: Arc::new(Inner {
                db,
                cfg,
                policy,
                dataplane,
            }),
        })
    }

    pub fn config(&self) -> &NetworkConfig {
        &self.inner.cfg
    }

    pub async fn close(&self) {
        self.inner.db.close().await;
    }

    fn db(&self) -> &Db {
        &self.inner.db
    }

    fn enforce(&self, action: &str, caller: &AuthContext, target: &Target) -> Result<()> {
        Ok(self.inner.policy.enforce(action, caller, target)?)
    }
}

/// Whether the caller administers the whole service.
fn is_admin(caller: &AuthContext) -> bool {
    caller.has_role("admin")
}

/// The project a new resource belongs to: the caller's, or another one an admin names.
fn owner_of(caller: &AuthContext, project_id: Option<&str>, tenant_id: Option<&str>) -> Result<String> {
    let asked = project_id.or(tenant_id);
    match (asked, caller.project_id()) {
        (Some(p), Some(mine)) if p == mine => Ok(p.to_owned()),
        (Some(p), _) if is_admin(caller) => Ok(p.to_owned()),
        (Some(_), _) => Err(NetworkError::Denied(
            "Only an administrator may create resources for another project.".into(),
        )),
        (None, Some(mine)) => Ok(mine.to_owned()),
        (None, None) => Err(NetworkError::invalid(
            "a project-scoped token or a project_id is required",
        )),
    }
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Unix microseconds as Neutron prints times: `2026-11-25T15:09:56Z`.
pub fn format_time(micros: i64) -> String {
    stratus_api::time::seconds_z(micros)
}

/// Names and descriptions are at most 255 characters, as Neutron's attribute maps say.
fn check_len(field: &str, v: &str) -> Result<()> {
    if v.chars().count() > 255 {
        return Err(NetworkError::invalid(format!(
            "'{field}' exceeds maximum length of 255"
        )));
    }
    Ok(())
}
