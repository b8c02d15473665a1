//! The compute agent (the seed's nova-compute): one per hypervisor host. It receives builds on
//! `compute.<host>`, asks the conductor for what it needs, calls the Network (and Image, and
//! Volume) APIs with the user's token (its own service user's where a user's may not reach),
//! fetches images into the host's cache for drivers that need files, and hands the hypervisor driver everything it needs.
//!
//! It must not open any database: this crate does not even depend on the store, so a
//! compromised hypervisor host holds no database credentials. `rpc` is the wire both ends of
//! the compute services share.

mod agent;
pub mod clients;
pub mod images;
pub mod rpc;

pub use agent::{Agent, AgentConfig};
