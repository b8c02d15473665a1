//! HTTP conventions shared by every Stratus service.
//!
//! Everything an OpenStack client sees at the edge of any service and that must look the same
//! everywhere lives here: fault bodies, `X-Openstack-Request-Id`, the caller's auth context,
//! policy enforcement, pagination, version documents and strict request-body parsing.
//!
//! This crate must not know about any particular service, its storage or its resources: it
//! takes a [`auth::TokenValidator`] and policy rules as data, and nothing else.

pub mod auth;
pub mod body;
pub mod error;
pub mod microversion;
pub mod nul;
pub mod pagination;
pub mod policy;
pub mod request_id;
#[cfg(feature = "testing")]
pub mod testing;
pub mod time;
pub mod version;

pub use auth::{AuthContext, Caller, Scope, TokenValidator};
pub use body::ValidJson;
pub use error::{ApiError, ErrorKind, FaultStyle};
pub use policy::{Policy, Target};
