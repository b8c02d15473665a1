//! AMQP 0-9-1 to RabbitMQ, with the `lapin` crate.
//!
//! A topic is a durable queue `stratus.<topic>` for work (casts and calls, one consumer each)
//! and a fanout exchange `stratus.<topic>.fanout` with one exclusive queue per listener.
//! Work messages are persistent and published with confirms: `send` returns once the broker
//! has taken responsibility for the message, and republishes after a reconnect otherwise, so a
//! cast survives a broker restart (at least once: a handler may see a message twice). A
//! listener acknowledges a message only after its handler returned. Calls carry `reply_to`,
//! the caller's exclusive reply queue, and a correlation id.
//!
//! One task owns the connection: it reconnects with backoff when the broker goes away and sets
//! up again the reply queue and every listener.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::Confirmation;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::{oneshot, watch};

use crate::transport::{Handler, Listener, Transport};
use crate::BusError;

/// How long a sender waits for a broker that is away before giving up.
const BROKER_WAIT: Duration = Duration::from_secs(60);
/// Messages a listener handles at once.
const PREFETCH: u16 = 64;

fn work_queue(topic: &str) -> String {
    format!("stratus.{topic}")
}

fn fanout_exchange(topic: &str) -> String {
    format!("stratus.{topic}.fanout")
}

#[derive(Clone)]
struct Live {
    conn: Arc<Connection>,
    /// In confirm mode: every publish is acknowledged by the broker.
    publish: Channel,
    reply_to: String,
    /// Queues and exchanges declared on this connection.
    declared: Arc<Mutex<HashSet<String>>>,
}

struct ListenSpec {
    topic: String,
    handler: Arc<dyn Handler>,
    channels: Mutex<Vec<Channel>>,
}

struct Inner {
    uri: String,
    live: watch::Sender<Option<Live>>,
    pending: Mutex<HashMap<String, oneshot::Sender<Vec<u8>>>>,
    listeners: Mutex<HashMap<u64, Arc<ListenSpec>>>,
    next_id: AtomicU64,
    closed: AtomicBool,
}

/// The AMQP transport; cloning shares the connection.
#[derive(Clone)]
pub struct Amqp {
    inner: Arc<Inner>,
}

fn err(e: lapin::Error) -> BusError {
    BusError::Transport(e.to_string())
}

impl Amqp {
    /// Connects to the broker at `uri` and keeps the connection up. Fails when the first
    /// connection cannot be made within a minute.
    pub async fn connect(uri: &str) -> Result<Amqp, BusError> {
        let (live, _) = watch::channel(None);
        let amqp = Amqp {
            inner: Arc::new(Inner {
                uri: uri.to_owned(),
                live,
                pending: Mutex::new(HashMap::new()),
                listeners: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
                closed: AtomicBool::new(false),
            }),
        };
        tokio::spawn(supervise(Arc::downgrade(&amqp.inner)));
        amqp.live().await?;
        Ok(amqp)
    }

    /// The current connection, waiting for a reconnect when there is none.
    async fn live(&self) -> Result<Live, BusError> {
        let mut rx = self.inner.live.subscribe();
        let waited = tokio::time::timeout(BROKER_WAIT, async {
            rx.wait_for(Option::is_some).await.map(|live| live.clone())
        })
        .await;
        match waited {
            Ok(Ok(live)) => live.ok_or_else(|| BusError::Transport("no connection".into())),
            Ok(Err(_)) => Err(BusError::Transport("the transport is closed".into())),
            Err(_) => Err(BusError::Transport(format!(
                "the message broker at {} has been unreachable for {BROKER_WAIT:?}",
                crate::redact(&self.inner.uri)
            ))),
        }
    }

    async fn declare_queue(live: &Live, topic: &str) -> Result<(), BusError> {
        let name = work_queue(topic);
        if live.declared.lock().unwrap_or_else(|e| e.into_inner()).contains(&name) {
            return Ok(());
        }
        let durable = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        live.publish
            .queue_declare(name.as_str().into(), durable, FieldTable::default())
            .await
            .map_err(err)?;
        live.declared.lock().unwrap_or_else(|e| e.into_inner()).insert(name);
        Ok(())
    }

    async fn declare_exchange(live: &Live, topic: &str) -> Result<(), BusError> {
        let name = fanout_exchange(topic);
        if live.declared.lock().unwrap_or_else(|e| e.into_inner()).contains(&name) {
            return Ok(());
        }
        live.publish
            .exchange_declare(
                name.as_str().into(),
                ExchangeKind::Fanout,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(err)?;
        live.declared.lock().unwrap_or_else(|e| e.into_inner()).insert(name);
        Ok(())
    }

    /// Publishes until the broker confirms it, across reconnects, for at most [`BROKER_WAIT`].
    async fn publish_confirmed(
        &self,
        topic: &str,
        fanout: bool,
        body: &[u8],
        props: BasicProperties,
    ) -> Result<(), BusError> {
        let deadline = tokio::time::Instant::now() + BROKER_WAIT;
        let mut last = String::new();
        while tokio::time::Instant::now() < deadline {
            let live = self.live().await?;
            let attempt = async {
                let (exchange, key) = if fanout {
                    Self::declare_exchange(&live, topic).await?;
                    (fanout_exchange(topic), String::new())
                } else {
                    Self::declare_queue(&live, topic).await?;
                    (String::new(), work_queue(topic))
                };
                let confirm = live
                    .publish
                    .basic_publish(
                        exchange.as_str().into(),
                        key.as_str().into(),
                        BasicPublishOptions::default(),
                        body,
                        props.clone(),
                    )
                    .await
                    .map_err(err)?
                    .await
                    .map_err(err)?;
                match confirm {
                    Confirmation::Ack(_) | Confirmation::NotRequested => Ok(()),
                    Confirmation::Nack(_) => Err(BusError::Transport("the broker refused the message".into())),
                }
            };
            match attempt.await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::warn!(topic, error = %e, "publishing failed; retrying");
                    last = e.to_string();
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        Err(BusError::Transport(format!("could not publish to {topic}: {last}")))
    }

    /// Removes a topic's queue and exchange from the broker, with any messages in them.
    pub async fn delete_topic(&self, topic: &str) -> Result<(), BusError> {
        let live = self.live().await?;
        live.publish
            .queue_delete(work_queue(topic).as_str().into(), QueueDeleteOptions::default())
            .await
            .map_err(err)?;
        live.publish
            .exchange_delete(fanout_exchange(topic).as_str().into(), ExchangeDeleteOptions::default())
            .await
            .map_err(err)?;
        live.declared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|n| !n.starts_with(&work_queue(topic)));
        Ok(())
    }

    /// Stops reconnecting and closes the connection.
    pub async fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        if let Some(live) = self.inner.live.send_replace(None) {
            let _ = live.conn.close(200, "closing".into()).await;
        }
    }
}

/// Keeps a connection up for as long as the transport exists.
async fn supervise(weak: std::sync::Weak<Inner>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let Some(inner) = weak.upgrade() else { return };
        if inner.closed.load(Ordering::SeqCst) {
            return;
        }
        let uri = inner.uri.clone();
        drop(inner);
        let conn = match Connection::connect(&uri, ConnectionProperties::default()).await {
            Ok(c) => Arc::new(c),
            Err(e) => {
                tracing::warn!(broker = %crate::redact(&uri), error = %e, retry_in = ?backoff, "cannot reach the message broker");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        let Some(inner) = weak.upgrade() else { return };
        let mut events = conn.events_listener();
        match setup(&inner, &conn).await {
            Ok(live) => {
                backoff = Duration::from_millis(100);
                tracing::info!(broker = %crate::redact(&uri), "connected to the message broker");
                inner.live.send_replace(Some(live));
            }
            Err(e) => {
                tracing::warn!(error = %e, "setting up on the message broker failed; reconnecting");
                let _ = conn.close(200, "setup failed".into()).await;
                tokio::time::sleep(backoff).await;
                continue;
            }
        }
        drop(inner);
        // Wait for the connection to fail (or the transport to go away).
        loop {
            tokio::select! {
                ev = events.next() => match ev {
                    Some(lapin::Event::Error(e)) => {
                        tracing::warn!(error = %e, "lost the message broker; reconnecting");
                        break;
                    }
                    Some(_) => {}
                    None => break,
                },
                _ = tokio::time::sleep(Duration::from_secs(1)) => {
                    if !conn.status().connected() {
                        tracing::warn!("the message broker connection closed; reconnecting");
                        break;
                    }
                    match weak.upgrade() {
                        Some(i) if !i.closed.load(Ordering::SeqCst) => {}
                        _ => return,
                    }
                }
            }
        }
        let Some(inner) = weak.upgrade() else { return };
        inner.live.send_replace(None);
        // Calls waiting for replies on the lost reply queue will not get them.
        inner.pending.lock().unwrap_or_else(|e| e.into_inner()).clear();
        for spec in inner.listeners.lock().unwrap_or_else(|e| e.into_inner()).values() {
            spec.channels.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
    }
}

/// The confirm-mode publishing channel, the reply queue and every listener, on a new connection.
async fn setup(inner: &Arc<Inner>, conn: &Arc<Connection>) -> Result<Live, BusError> {
    let publish = conn.create_channel().await.map_err(err)?;
    publish
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(err)?;
    let replies = conn.create_channel().await.map_err(err)?;
    let q = replies
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(err)?;
    let reply_to = q.name().as_str().to_owned();
    let mut consumer = replies
        .basic_consume(
            reply_to.as_str().into(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(err)?;
    let weak = Arc::downgrade(inner);
    tokio::spawn(async move {
        let _keep = replies;
        while let Some(Ok(d)) = consumer.next().await {
            let Some(inner) = weak.upgrade() else { return };
            if let Some(corr) = d.properties.correlation_id() {
                let waiting = inner
                    .pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(corr.as_str());
                if let Some(tx) = waiting {
                    let _ = tx.send(d.data);
                }
            }
        }
    });
    let live = Live {
        conn: conn.clone(),
        publish,
        reply_to,
        declared: Default::default(),
    };
    let specs: Vec<Arc<ListenSpec>> = inner
        .listeners
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .cloned()
        .collect();
    for spec in specs {
        start_listener(&live, &spec).await?;
    }
    Ok(live)
}

/// Consumes a topic's work queue and a fresh fanout queue on a channel of their own.
async fn start_listener(live: &Live, spec: &Arc<ListenSpec>) -> Result<(), BusError> {
    let ch = live.conn.create_channel().await.map_err(err)?;
    ch.basic_qos(PREFETCH, BasicQosOptions::default()).await.map_err(err)?;
    let work = work_queue(&spec.topic);
    ch.queue_declare(
        work.as_str().into(),
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .map_err(err)?;
    let exchange = fanout_exchange(&spec.topic);
    ch.exchange_declare(
        exchange.as_str().into(),
        ExchangeKind::Fanout,
        ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .map_err(err)?;
    let fq = ch
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(err)?;
    ch.queue_bind(
        fq.name().clone(),
        exchange.as_str().into(),
        "".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .map_err(err)?;
    for queue in [work, fq.name().as_str().to_owned()] {
        let mut consumer = ch
            .basic_consume(
                queue.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(err)?;
        let (handler, reply_ch) = (spec.handler.clone(), ch.clone());
        tokio::spawn(async move {
            while let Some(Ok(d)) = consumer.next().await {
                let (handler, reply_ch) = (handler.clone(), reply_ch.clone());
                tokio::spawn(async move {
                    let reply = handler.handle(d.data.clone()).await;
                    if let (Some(to), Some(corr)) = (d.properties.reply_to(), d.properties.correlation_id()) {
                        let props = BasicProperties::default().with_correlation_id(corr.clone());
                        if let Err(e) = reply_ch
                            .basic_publish("".into(), to.clone(), BasicPublishOptions::default(), &reply, props)
                            .await
                        {
                            tracing::warn!(error = %e, "sending a reply failed");
                        }
                    }
                    // Acknowledged only now: a message whose handler did not finish is redelivered.
                    if let Err(e) = d.ack(BasicAckOptions::default()).await {
                        tracing::warn!(error = %e, "acknowledging a message failed; it will be redelivered");
                    }
                });
            }
        });
    }
    spec.channels.lock().unwrap_or_else(|e| e.into_inner()).push(ch);
    Ok(())
}

#[async_trait]
impl Transport for Amqp {
    async fn send(&self, topic: &str, body: Vec<u8>) -> Result<(), BusError> {
        // Persistent: kept on disk by the broker until a listener acknowledges it.
        let props = BasicProperties::default().with_delivery_mode(2);
        self.publish_confirmed(topic, false, &body, props).await
    }

    async fn fanout(&self, topic: &str, body: Vec<u8>) -> Result<(), BusError> {
        self.publish_confirmed(topic, true, &body, BasicProperties::default())
            .await
    }

    async fn request(&self, topic: &str, body: Vec<u8>, timeout: Duration) -> Result<Vec<u8>, BusError> {
        let live = self.live().await?;
        let corr = uuid::Uuid::new_v4().simple().to_string();
        let (tx, rx) = oneshot::channel();
        self.inner
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(corr.clone(), tx);
        // A request nobody took in time expires in the queue rather than running late.
        let props = BasicProperties::default()
            .with_reply_to(live.reply_to.as_str().into())
            .with_correlation_id(corr.as_str().into())
            .with_expiration(timeout.as_millis().to_string().as_str().into());
        let sent = async {
            Self::declare_queue(&live, topic).await?;
            live.publish
                .basic_publish(
                    "".into(),
                    work_queue(topic).as_str().into(),
                    BasicPublishOptions::default(),
                    &body,
                    props,
                )
                .await
                .map_err(err)?
                .await
                .map_err(err)
        }
        .await;
        let result = match sent {
            Err(e) => Err(e),
            Ok(_) => match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(reply)) => Ok(reply),
                Ok(Err(_)) => Err(BusError::Transport(
                    "the connection to the message broker was lost before the reply came".into(),
                )),
                Err(_) => Err(BusError::Timeout {
                    topic: topic.to_owned(),
                    method: String::new(),
                    after: timeout,
                }),
            },
        };
        self.inner
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&corr);
        result
    }

    async fn listen(&self, topic: &str, handler: Arc<dyn Handler>) -> Result<Listener, BusError> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let spec = Arc::new(ListenSpec {
            topic: topic.to_owned(),
            handler,
            channels: Mutex::new(Vec::new()),
        });
        self.inner
            .listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, spec.clone());
        let live = self.live().await?;
        start_listener(&live, &spec).await?;
        let weak = Arc::downgrade(&self.inner);
        Ok(Listener::new(move || {
            if let Some(inner) = weak.upgrade() {
                inner.listeners.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            }
            let channels: Vec<Channel> = std::mem::take(&mut *spec.channels.lock().unwrap_or_else(|e| e.into_inner()));
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    for ch in channels {
                        let _ = ch.close(200, "listener stopped".into()).await;
                    }
                });
            }
        }))
    }
}
