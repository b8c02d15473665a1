//! Flavors and keypairs as the service and its callers see them.

use std::collections::BTreeMap;

/// A size of guest: memory, vCPUs and disks.
#[derive(Debug, Clone, PartialEq)]
pub struct Flavor {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub memory_mb: i64,
    pub vcpus: i64,
    pub root_gb: i64,
    pub ephemeral_gb: i64,
    /// MiB.
    pub swap: i64,
    pub rxtx_factor: f64,
    pub is_public: bool,
    pub disabled: bool,
    pub extra_specs: BTreeMap<String, String>,
}

/// A request to create a flavor; `id` is made when not given (or `auto`).
#[derive(Debug, Clone, Default)]
pub struct NewFlavor {
    pub id: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub memory_mb: i64,
    pub vcpus: i64,
    pub root_gb: i64,
    pub ephemeral_gb: i64,
    pub swap: i64,
    pub rxtx_factor: f64,
    pub is_public: bool,
}

/// A user's public key, which guests get in their metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Keypair {
    pub id: i64,
    pub user_id: String,
    pub name: String,
    /// `ssh` (x509 certificates are refused).
    pub key_type: String,
    pub public_key: String,
    /// MD5 of the key, colon-separated hex, as Nova shows it.
    pub fingerprint: String,
    pub created_at: i64,
}
