//! The in-process transport: topics are queues in memory, shared by every service of one
//! `stratus up`. Work is given round-robin to a topic's listeners, and waits when there is
//! none; fanouts reach every listener.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use crate::transport::{Handler, Listener, Transport};
use crate::BusError;

struct Msg {
    body: Vec<u8>,
    reply: Option<oneshot::Sender<Vec<u8>>>,
}

#[derive(Default)]
struct Topic {
    waiting: VecDeque<Msg>,
    listeners: Vec<(u64, mpsc::UnboundedSender<Msg>)>,
    next: usize,
}

#[derive(Default, Clone)]
pub struct Memory {
    topics: Arc<Mutex<HashMap<String, Topic>>>,
    ids: Arc<std::sync::atomic::AtomicU64>,
}

impl Memory {
    pub fn new() -> Self {
        Self::default()
    }

    fn deliver(&self, topic: &str, mut msg: Msg) {
        let mut topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
        let t = topics.entry(topic.to_owned()).or_default();
        // Listeners that went away are skipped (and forgotten).
        while !t.listeners.is_empty() {
            let i = t.next % t.listeners.len();
            t.next = t.next.wrapping_add(1);
            match t.listeners[i].1.send(msg) {
                Ok(()) => return,
                Err(mpsc::error::SendError(back)) => {
                    msg = back;
                    t.listeners.remove(i);
                }
            }
        }
        t.waiting.push_back(msg);
    }
}

#[async_trait]
impl Transport for Memory {
    async fn send(&self, topic: &str, body: Vec<u8>) -> Result<(), BusError> {
        self.deliver(topic, Msg { body, reply: None });
        Ok(())
    }

    async fn fanout(&self, topic: &str, body: Vec<u8>) -> Result<(), BusError> {
        let mut topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = topics.get_mut(topic) {
            t.listeners.retain(|(_, l)| {
                l.send(Msg {
                    body: body.clone(),
                    reply: None,
                })
                .is_ok()
            });
        }
        Ok(())
    }

    async fn request(&self, topic: &str, body: Vec<u8>, timeout: Duration) -> Result<Vec<u8>, BusError> {
        let (tx, rx) = oneshot::channel();
        self.deliver(topic, Msg { body, reply: Some(tx) });
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(BusError::Transport(format!("the listener of {topic} went away"))),
            Err(_) => Err(BusError::Timeout {
                topic: topic.to_owned(),
                method: String::new(),
                after: timeout,
            }),
        }
    }

    async fn listen(&self, topic: &str, handler: Arc<dyn Handler>) -> Result<Listener, BusError> {
        let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
        let id = self.ids.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        {
            let mut topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
            let t = topics.entry(topic.to_owned()).or_default();
            for msg in t.waiting.drain(..) {
                let _ = tx.send(msg);
            }
            t.listeners.push((id, tx));
        }
        let task = tokio::spawn(async move {
            while let Some(msg) = rx.recv().await {
                let handler = handler.clone();
                tokio::spawn(async move {
                    let reply = handler.handle(msg.body).await;
                    if let Some(to) = msg.reply {
                        let _ = to.send(reply);
                    }
                });
            }
        });
        let (topics, topic) = (self.topics.clone(), topic.to_owned());
        Ok(Listener::new(move || {
            task.abort();
            if let Some(t) = topics.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&topic) {
                t.listeners.retain(|(i, _)| *i != id);
            }
        }))
    }
}
