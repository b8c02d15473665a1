//! The Block Storage service (Cinder v3): volumes a guest attaches, their snapshots, and the
//! backend that holds their data.
//!
//! In the seed's flow the compute agent asks this service to "attach volumes to instance" and
//! gets "the block storage info": the attachment's `connection_info`, which for the file
//! backend names a qcow2 or raw file on the host.
//!
//! It holds the volume status machine, the backends, and the records and lifecycles of
//! volumes, snapshots, attachments, volume types and quotas, with crash repair at start. It
//! must not know HTTP paths (`stratus-volume-api` does), and it never runs `qemu-img` on data
//! it has not created or checked.

mod attachments;
pub mod backend;
mod db;
pub mod images;
mod legacy;
pub mod model;
mod quotas;
mod service;
mod snapshots;
pub mod status;
mod types;

pub use backend::{BackendError, FileBackend, VolumeBackend, VolumeFormat};
pub use model::{SnapshotFilter, VolumeFilter, VolumeUpdate};
pub use quotas::{QuotaSet, QuotaUsage, RESOURCES as QUOTA_RESOURCES};
pub use service::{VolumeConfig, VolumeError, VolumeService, DEFAULT_POLICY};
pub use status::{Status, Transition};
pub use stratus_store::sql::Page;
