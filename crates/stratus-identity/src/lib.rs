//! The Identity service (Keystone v3): who callers are, what they may act on, and where the
//! other services live.
//!
//! It authenticates users (passwords, tokens, application credentials), issues and validates
//! Fernet tokens that any node sharing the key repository can check, keeps users, projects,
//! domains, groups, roles and their assignments, and serves the service catalog.
//!
//! This crate holds the service logic and its store; it must not know HTTP paths or JSON
//! shapes (that is `stratus-identity-api`), and its store is private so handlers cannot reach
//! around the service to the tables.

mod auth;
mod bootstrap;
mod config;
pub mod ec2sig;
mod error;
mod keys;
pub mod model;
mod resources;
mod store;
mod token;

use std::sync::Arc;

use stratus_api::policy::Policy;
use stratus_store::{Db, Location};
use tokio::sync::{RwLock, Semaphore};

pub use auth::{AuthRequest, CatalogEndpoint, CatalogEntry, IssuedToken, TokenData};
pub use bootstrap::{Bootstrap, BootstrapReport, CatalogService, ServiceUser};
pub use config::IdentityConfig;
pub use error::{IdentityError, Result};
pub use keys::KeyRepository;
pub use resources::{
    AccessToken, AssignmentFilter, DomainConfig, EndpointGroupInput, LimitFilter, LimitInput, PolicyInput,
    RegisteredLimitInput, AuthorizeRole, Consumer, ConsumerInput, Credential, CredentialInput, Ec2Credential,
    ListFilter, Named, OAuthToken, SignedRequest, TrustInput, TrustRoleRef,
};
pub use model::Trust;
pub use stratus_api::auth::RoleRef;

/// The default policy rules of Identity.
pub const DEFAULT_POLICY: &str = include_str!("policy.yaml");

/// The Identity service. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct IdentityService {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    cfg: IdentityConfig,
    keys: RwLock<fernet::MultiFernet>,
    /// Encrypts what is stored but must be read back: credential blobs, OAuth secrets.
    credential_keys: fernet::MultiFernet,
    policy: Policy,
    revocations: RwLock<auth::RevocationCache>,
    hashes: Semaphore,
    caches: auth::Caches,
}

impl IdentityService {
    /// Opens Identity's store (migrating it), sets up the key repository if it is empty, and
    /// loads the keys.
    pub async fn open(location: &Location, cfg: IdentityConfig, policy: Policy) -> Result<Self> {
        let db = Db::open(location, "identity", &store::MIGRATOR).await?;
        let repo = KeyRepository::new(&cfg.key_repository);
        repo.setup()?;
        let keys = repo.load()?;
        let credential_repo = KeyRepository::new(&cfg.credential_key_repository);
        credential_repo.setup()?;
        let credential_keys = credential_repo.load()?;
        let hashes = Semaphore::new(cfg.max_concurrent_hashes.max(1));
        Ok(IdentityService {
            inner: Arc::new(Inner {
                db,
                keys: RwLock::new(keys),
                credential_keys,
                policy,
                revocations: RwLock::new(auth::RevocationCache::default()),
                hashes,
                caches: auth::Caches::default(),
                cfg,
            }),
        })
    }

    /// Re-reads the key repository, after a rotation by `stratus identity rotate-keys`.
    pub async fn reload_keys(&self) -> Result<()> {
        let keys = KeyRepository::new(&self.inner.cfg.key_repository).load()?;
        *self.inner.keys.write().await = keys;
        Ok(())
    }

    pub fn config(&self) -> &IdentityConfig {
        &self.inner.cfg
    }

    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    pub async fn close(&self) {
        self.inner.db.close().await;
    }

    pub(crate) fn inner_cfg(&self) -> &IdentityConfig {
        &self.inner.cfg
    }

    fn db(&self) -> &Db {
        &self.inner.db
    }

    /// Encrypts a secret to store.
    pub(crate) fn seal_secret(&self, plain: &str) -> String {
        self.inner.credential_keys.encrypt(plain.as_bytes())
    }

    /// Decrypts a stored secret; a value no key opens is an internal error (a lost key).
    pub(crate) fn open_secret(&self, sealed: &str) -> Result<String> {
        let bytes = self
            .inner
            .credential_keys
            .decrypt(sealed)
            .map_err(|e| IdentityError::Internal {
                what: format!("a stored secret cannot be decrypted with the credential keys ({e:?})"),
                source: None,
            })?;
        String::from_utf8(bytes).map_err(|e| IdentityError::internal("a stored secret is not text", e))
    }
}

/// A new resource id in Keystone's shape: 32 lowercase hex digits.
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Unix microseconds as Keystone prints times: `2026-11-25T15:09:56.000000Z`.
pub fn format_time(micros: i64) -> String {
    stratus_api::time::micros_z(micros)
}

/// Parses the times clients send (`2026-11-25T15:09:56Z`, with or without fraction and zone).
pub fn parse_time(s: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S"].iter().find_map(|f| {
        chrono::NaiveDateTime::parse_from_str(s.trim_end_matches('Z'), f)
            .ok()
            .map(|t| t.and_utc().timestamp_micros())
    })
}
