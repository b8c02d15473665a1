//! The Compute service (Nova v2.1): the sizes guests come in (flavors), the keys they are
//! given (keypairs), and, as the pipeline grows, instances and their provisioning.
//!
//! It must not know HTTP paths (`stratus-compute-api` does), and it never talks to another
//! service's tables: images, networks and volumes are reached through their APIs.

pub mod aggregates;
#[cfg(test)]
mod aggregates_tests;
mod conductor;
mod db;
mod flavors;
mod groups;
pub mod hosts;
pub mod image_proxy;
mod instances_db;
mod keypairs;
pub mod keys;
#[cfg(test)]
mod listing_tests;
pub mod model;
mod quotas;
pub mod scheduler;
mod server_filter;
pub mod server_security_groups;
pub mod servers;
mod service;
pub mod usage;
#[cfg(test)]
mod usage_tests;

pub use aggregates::{Aggregate, AggregateUpdate};
pub use conductor::Destination;
pub use groups::ServerGroup;
pub use hosts::{Hypervisor, HypervisorQuery, HypervisorRef, HypervisorStatistics, Zone};
pub use instances_db::Usage;
pub use keypairs::{CreatedKeypair, NewKeypair};
pub use keys::KeyType;
pub use model::{Flavor, Instance, InstanceAction, Keypair, NetworkRequest, NewFlavor, RequestedNetworks};
pub use quotas::{ComputeLimits, INJECTION_QUOTAS, NETWORK_QUOTAS, QUOTA_RESOURCES};
pub use server_filter::ServerFilter;
pub use servers::{generate_password, status_of, NewServer, VolumeAttachment};
pub use service::{ComputeConfig, ComputeError, ComputeService, DEFAULT_POLICY};
pub use usage::{ServerUsage, TenantUsage, UsageQuery, UsageReport};
