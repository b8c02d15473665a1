//! The message bus of Stratus: the seed's "Message Queue", over which the compute API asks the
//! scheduler for a host, casts the build to `compute.<host>`, and the compute agent asks the
//! conductor for what it needs.
//!
//! [`Bus`] offers oslo.messaging's three patterns on named topics: `call` (request and reply,
//! with a timeout), `cast` (fire and forget, at least once) and `fanout` (to every listener
//! now). Messages are versioned [`envelope::Envelope`]s that carry the method, the caller's
//! [`Context`] and the request id. Two transports implement [`Transport`]: in-process
//! ([`memory::Memory`], the default of `stratus up`) and AMQP 0-9-1 to RabbitMQ
//! ([`amqp::Amqp`]), chosen by URL.
//!
//! This crate must not know any service's methods or types: it moves JSON between endpoints.

pub mod amqp;
pub mod envelope;
pub mod memory;
mod rpc;
mod transport;

pub use envelope::{Context, RemoteError};
pub use rpc::{Bus, Endpoint};
pub use transport::{Handler, Listener, Transport};

use std::time::Duration;

/// What can go wrong on the bus, as a caller sees it.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("no reply to {method} on {topic} within {after:?}")]
    Timeout {
        topic: String,
        method: String,
        after: Duration,
    },
    /// The other side handled the message and failed.
    #[error("{0}")]
    Remote(RemoteError),
    /// The transport could not take or deliver the message.
    #[error("message transport: {0}")]
    Transport(String),
    #[error("message encoding: {0}")]
    Encoding(String),
    #[error("unknown transport URL {0:?}: use memory:// or amqp://user:password@host:port/vhost")]
    BadUrl(String),
}

/// A URL with its credentials hidden, for logs (`amqp://***@host:5672/`).
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}
