//! Calls, casts and fanouts of methods with versioned arguments, over any transport.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tracing::Instrument;

use crate::envelope::{compatible, Context, Envelope, RemoteError, Reply, FORMAT};
use crate::transport::{Handler, Listener, Transport};
use crate::BusError;

/// The receiving side of a topic: a service's methods.
#[async_trait]
pub trait Endpoint: Send + Sync + 'static {
    /// The newest version of this endpoint's messages, `major.minor`.
    fn version(&self) -> &str;
    async fn dispatch(&self, ctx: Context, method: &str, args: Value) -> Result<Value, RemoteError>;
}

#[derive(Clone)]
pub struct Bus {
    transport: Arc<dyn Transport>,
}

impl Bus {
    pub fn new(transport: Arc<dyn Transport>) -> Self {
        Bus { transport }
    }

    /// `memory://` or `amqp://user:password@host:port/vhost`.
    pub async fn connect(url: &str) -> Result<Bus, BusError> {
        if url == "memory://" || url == "memory" {
            return Ok(Bus::new(Arc::new(crate::memory::Memory::new())));
        }
        if url.starts_with("amqp://") {
            return Ok(Bus::new(Arc::new(crate::amqp::Amqp::connect(url).await?)));
        }
        Err(BusError::BadUrl(url.to_owned()))
    }

    fn encode<A: Serialize>(method: &str, version: &str, ctx: &Context, args: &A) -> Result<Vec<u8>, BusError> {
        let env = Envelope {
            format: FORMAT,
            method: method.to_owned(),
            version: version.to_owned(),
            context: ctx.clone(),
            args: serde_json::to_value(args).map_err(|e| BusError::Encoding(e.to_string()))?,
        };
        serde_json::to_vec(&env).map_err(|e| BusError::Encoding(e.to_string()))
    }

    /// Calls `method` on one listener of `topic` and waits for its result.
    pub async fn call<A: Serialize, R: DeserializeOwned>(
        &self,
        topic: &str,
        method: &str,
        version: &str,
        ctx: &Context,
        args: &A,
        timeout: Duration,
    ) -> Result<R, BusError> {
        let body = Self::encode(method, version, ctx, args)?;
        let reply = self
            .transport
            .request(topic, body, timeout)
            .await
            .map_err(|e| match e {
                BusError::Timeout { topic, after, .. } => BusError::Timeout {
                    topic,
                    method: method.to_owned(),
                    after,
                },
                e => e,
            })?;
        match serde_json::from_slice::<Reply>(&reply).map_err(|e| BusError::Encoding(e.to_string()))? {
            Reply::Ok(v) => serde_json::from_value(v).map_err(|e| BusError::Encoding(e.to_string())),
            Reply::Err(e) => Err(BusError::Remote(e)),
        }
    }

    /// Sends `method` to one listener of `topic`, without waiting for it to run.
    pub async fn cast<A: Serialize>(
        &self,
        topic: &str,
        method: &str,
        version: &str,
        ctx: &Context,
        args: &A,
    ) -> Result<(), BusError> {
        self.transport
            .send(topic, Self::encode(method, version, ctx, args)?)
            .await
    }

    /// Sends `method` to every listener of `topic`.
    pub async fn fanout<A: Serialize>(
        &self,
        topic: &str,
        method: &str,
        version: &str,
        ctx: &Context,
        args: &A,
    ) -> Result<(), BusError> {
        self.transport
            .fanout(topic, Self::encode(method, version, ctx, args)?)
            .await
    }

    /// Serves `endpoint` on `topic` until the listener is dropped.
    pub async fn serve(&self, topic: &str, endpoint: Arc<dyn Endpoint>) -> Result<Listener, BusError> {
        self.transport
            .listen(
                topic,
                Arc::new(Dispatch {
                    endpoint,
                    topic: topic.to_owned(),
                }),
            )
            .await
    }
}

struct Dispatch {
    endpoint: Arc<dyn Endpoint>,
    topic: String,
}

#[async_trait]
impl Handler for Dispatch {
    async fn handle(&self, body: Vec<u8>) -> Vec<u8> {
        let reply = match serde_json::from_slice::<Envelope>(&body) {
            Err(e) => Reply::Err(RemoteError::new("BadMessage", format!("undecodable message: {e}"))),
            Ok(env) if env.format != FORMAT => Reply::Err(RemoteError::new(
                "BadMessage",
                format!("envelope format {} is not {FORMAT}", env.format),
            )),
            Ok(env) if !compatible(self.endpoint.version(), &env.version) => Reply::Err(RemoteError::new(
                "UnsupportedVersion",
                format!(
                    "{} {} speaks version {}, the message is {}",
                    self.topic,
                    env.method,
                    self.endpoint.version(),
                    env.version
                ),
            )),
            Ok(env) => {
                let span = tracing::info_span!("rpc", request_id = %env.context.request_id, topic = %self.topic, method = %env.method);
                match self
                    .endpoint
                    .dispatch(env.context, &env.method, env.args)
                    .instrument(span)
                    .await
                {
                    Ok(v) => Reply::Ok(v),
                    Err(e) => Reply::Err(e),
                }
            }
        };
        serde_json::to_vec(&reply).unwrap_or_default()
    }
}
