//! The seam between the bus and what carries its bytes.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::BusError;

/// Receives what a topic's listener is given. For a request, the returned bytes are the reply;
/// for a cast or a fanout they are dropped. A message is acknowledged only once this returns.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    async fn handle(&self, body: Vec<u8>) -> Vec<u8>;
}

/// Carries bytes between topics' senders and listeners.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Queues `body` for one listener of `topic`, at least once; a message sent before any
    /// listener exists waits for one.
    async fn send(&self, topic: &str, body: Vec<u8>) -> Result<(), BusError>;
    /// Gives `body` to every listener of `topic` at this moment.
    async fn fanout(&self, topic: &str, body: Vec<u8>) -> Result<(), BusError>;
    /// Queues `body` for one listener of `topic` and waits for its reply.
    async fn request(&self, topic: &str, body: Vec<u8>, timeout: Duration) -> Result<Vec<u8>, BusError>;
    /// Starts handing `topic`'s messages (queued and fanned out) to `handler`, several at a
    /// time, until the returned [`Listener`] is dropped.
    async fn listen(&self, topic: &str, handler: Arc<dyn Handler>) -> Result<Listener, BusError>;
}

/// A running listener (or any background work tied to one); dropping it stops it.
pub struct Listener {
    stop: Option<Box<dyn FnOnce() + Send>>,
}

impl Listener {
    pub fn new(stop: impl FnOnce() + Send + 'static) -> Self {
        Listener {
            stop: Some(Box::new(stop)),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop();
        }
    }
}
