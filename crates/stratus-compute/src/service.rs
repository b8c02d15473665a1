//! The compute service's handle: its store, its policy and its configuration.

use std::sync::Arc;

use stratus_api::policy::Policy;
use stratus_api::{AuthContext, Target};
use stratus_store::{Db, Location};

use crate::db;

/// The service's errors, carrying Nova's meaning.
#[derive(Debug, thiserror::Error)]
pub enum ComputeError {
    #[error("{0}")]
    NotFound(String),
    /// Already exists, or in a state that forbids the action: Nova answers 409.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Denied(String),
    /// Over a quota: Nova answers 403.
    #[error("{0}")]
    OverQuota(String),
    /// Another service's API (Image, Network) is unreachable or failed: try again later (503).
    #[error("{0}")]
    Unavailable(String),
    /// The host's hypervisor cannot do this at all (Nova's 501).
    #[error("{0}")]
    NotImplemented(String),
    #[error("compute records")]
    Store(#[from] stratus_store::StoreError),
    /// Making a key or certificate failed: ours to fix, a 500.
    #[error("keypair generation")]
    KeyGeneration(#[from] crate::keys::KeyGenError),
}

impl From<stratus_api::ApiError> for ComputeError {
    fn from(e: stratus_api::ApiError) -> Self {
        ComputeError::Denied(e.message)
    }
}

pub type Result<T, E = ComputeError> = std::result::Result<T, E>;

#[derive(Debug, Clone)]
pub struct ComputeConfig {
    /// Keypairs per user (Nova's `key_pairs` quota).
    pub quota_key_pairs: i64,
    /// Servers, vCPUs and MiB of RAM per project (Nova's defaults: 10, 20, 51200).
    pub quota_instances: i64,
    pub quota_cores: i64,
    pub quota_ram: i64,
    /// Server groups per project, and servers per group (Nova's defaults: 10 and 10).
    pub quota_server_groups: i64,
    pub quota_server_group_members: i64,
    /// Make Nova's m1.* flavors at the first start.
    pub default_flavors: bool,
    pub availability_zone: String,
    pub ratios: crate::scheduler::Ratios,
    pub weighing: crate::scheduler::Weighing,
    /// Hosts a build may be tried on before the server goes to ERROR.
    pub max_attempts: usize,
    /// A host whose agent has not reported for this long is down.
    pub service_down_time: std::time::Duration,
    /// A build not finished in this time goes to ERROR.
    pub build_timeout: std::time::Duration,
    pub call_timeout: std::time::Duration,
    /// Whether a create answers with the server's admin password (Nova's
    /// `[api] enable_instance_password`, on by default).
    pub enable_instance_password: bool,
}

impl Default for ComputeConfig {
    fn default() -> Self {
        ComputeConfig {
            quota_key_pairs: 100,
            quota_instances: 10,
            quota_cores: 20,
            quota_ram: 51200,
            quota_server_groups: 10,
            quota_server_group_members: 10,
            default_flavors: true,
            availability_zone: "nova".into(),
            ratios: Default::default(),
            weighing: crate::scheduler::Weighing::Spread,
            max_attempts: 3,
            service_down_time: std::time::Duration::from_secs(60),
            build_timeout: std::time::Duration::from_secs(600),
            call_timeout: std::time::Duration::from_secs(60),
            enable_instance_password: true,
        }
    }
}

/// The default policy rules of the Compute service.
pub const DEFAULT_POLICY: &str = include_str!("policy.yaml");

#[derive(Clone)]
pub struct ComputeService {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    db: Db,
    cfg: ComputeConfig,
    policy: Policy,
    pipeline: std::sync::OnceLock<(stratus_bus::Bus, stratus_compute_agent::clients::Rest)>,
}

impl ComputeService {
    pub async fn open(location: &Location, cfg: ComputeConfig, policy: Policy) -> Result<Self> {
        let db = Db::open(location, "compute", &db::MIGRATOR).await?;
        let svc = ComputeService {
            inner: Arc::new(Inner {
                db,
                cfg,
                policy,
                pipeline: Default::default(),
            }),
        };
        if svc.inner.cfg.default_flavors {
            svc.ensure_default_flavors().await?;
        }
        Ok(svc)
    }

    pub async fn close(&self) {
        self.inner.db.close().await;
    }

    pub(crate) fn db(&self) -> &Db {
        &self.inner.db
    }

    pub(crate) fn shared(&self) -> &Arc<Inner> {
        &self.inner
    }

    pub(crate) fn from_shared(weak: &std::sync::Weak<Inner>) -> Option<Self> {
        weak.upgrade().map(|inner| ComputeService { inner })
    }

    pub(crate) fn pipeline(&self) -> &std::sync::OnceLock<(stratus_bus::Bus, stratus_compute_agent::clients::Rest)> {
        &self.inner.pipeline
    }

    pub fn config(&self) -> &ComputeConfig {
        &self.inner.cfg
    }

    pub(crate) fn enforce(&self, action: &str, caller: &AuthContext, target: &Target) -> Result<()> {
        Ok(self.inner.policy.enforce(action, caller, target)?)
    }

    /// Whether the caller may read the API's extension list (`os_compute_api:extensions`,
    /// anyone by default).
    pub fn allow_extensions(&self, caller: &AuthContext) -> Result<()> {
        self.enforce("os_compute_api:extensions", caller, &Target::new())
    }
}
