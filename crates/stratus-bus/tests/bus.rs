//! The bus on both transports: calls with results, remote errors and versions; casts to one
//! of several listeners; fanouts to all; timeouts; and, on RabbitMQ, no cast lost when the
//! broker restarts in the middle of traffic.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};
use stratus_bus::amqp::Amqp;
use stratus_bus::memory::Memory;
use stratus_bus::{Bus, BusError, Context, Endpoint, RemoteError, Transport};

const RABBITMQ: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Records what it was given; `add` returns a sum, `fail` fails, `slow` sleeps.
struct Recorder {
    name: &'static str,
    seen: Arc<Mutex<Vec<(String, Value, Context)>>>,
}

#[async_trait]
impl Endpoint for Recorder {
    fn version(&self) -> &str {
        "1.2"
    }
    async fn dispatch(&self, ctx: Context, method: &str, args: Value) -> Result<Value, RemoteError> {
        self.seen
            .lock()
            .expect("lock")
            .push((method.to_owned(), args.clone(), ctx.clone()));
        match method {
            "add" => {
                Ok(json!({"sum": args["a"].as_i64().unwrap_or(0) + args["b"].as_i64().unwrap_or(0), "by": self.name}))
            }
            "fail" => Err(RemoteError::new("NoValidHost", "0/3 hosts: 3 lack 4096 MB RAM")),
            "slow" => {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(Value::Null)
            }
            _ => Ok(Value::Null),
        }
    }
}

fn recorder(name: &'static str) -> (Arc<Recorder>, Arc<Mutex<Vec<(String, Value, Context)>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    (
        Arc::new(Recorder {
            name,
            seen: seen.clone(),
        }),
        seen,
    )
}

fn ctx() -> Context {
    Context {
        request_id: "req-0123".into(),
        user_id: "u1".into(),
        project_id: Some("p1".into()),
        roles: vec!["member".into()],
        token: Some("tok".into()),
    }
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..400 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Everything but the broker restart, on any transport.
async fn patterns(bus: Bus, topic: &str) {
    let (a, seen_a) = recorder("a");
    let (b, seen_b) = recorder("b");
    let la = bus.serve(topic, a).await.expect("serve a");

    // call: result, context, remote errors and versions
    let sum: Value = bus
        .call(
            topic,
            "add",
            "1.0",
            &ctx(),
            &json!({"a": 2, "b": 3}),
            Duration::from_secs(5),
        )
        .await
        .expect("call");
    assert_eq!(sum["sum"], 5);
    assert_eq!(
        seen_a.lock().expect("lock")[0].2,
        ctx(),
        "the caller's context arrives whole"
    );
    let e = bus
        .call::<_, Value>(topic, "fail", "1.0", &ctx(), &json!({}), Duration::from_secs(5))
        .await
        .expect_err("remote failure");
    assert!(
        matches!(&e, BusError::Remote(r) if r.kind == "NoValidHost" && r.message.contains("4096 MB")),
        "{e:?}"
    );
    let e = bus
        .call::<_, Value>(topic, "add", "1.3", &ctx(), &json!({}), Duration::from_secs(5))
        .await
        .expect_err("too new");
    assert!(
        matches!(&e, BusError::Remote(r) if r.kind == "UnsupportedVersion"),
        "{e:?}"
    );
    let e = bus
        .call::<_, Value>(topic, "add", "2.0", &ctx(), &json!({}), Duration::from_secs(5))
        .await
        .expect_err("other major");
    assert!(
        matches!(&e, BusError::Remote(r) if r.kind == "UnsupportedVersion"),
        "{e:?}"
    );
    let e = bus
        .call::<_, Value>(topic, "slow", "1.0", &ctx(), &json!({}), Duration::from_millis(300))
        .await
        .expect_err("timeout");
    assert!(
        matches!(&e, BusError::Timeout { method, .. } if method == "slow"),
        "{e:?}"
    );
    let lonely = format!("{topic}.nobody");
    let e = bus
        .call::<_, Value>(&lonely, "add", "1.0", &ctx(), &json!({}), Duration::from_millis(300))
        .await
        .expect_err("nobody listens");
    assert!(matches!(e, BusError::Timeout { .. }), "{e:?}");

    // cast: each message to exactly one of two listeners, both used
    let lb = bus.serve(topic, b).await.expect("serve b");
    let before = seen_a.lock().expect("lock").len();
    for i in 0..40 {
        bus.cast(topic, "note", "1.0", &ctx(), &json!({"i": i}))
            .await
            .expect("cast");
    }
    let count = |s: &Arc<Mutex<Vec<(String, Value, Context)>>>, m: &str| {
        s.lock().expect("lock").iter().filter(|(x, _, _)| x == m).count()
    };
    until("40 casts", || count(&seen_a, "note") + count(&seen_b, "note") == 40).await;
    assert!(
        count(&seen_a, "note") > 0 && count(&seen_b, "note") > 0,
        "both listeners get work"
    );
    assert!(seen_a.lock().expect("lock").len() > before);

    // fanout: every listener
    bus.fanout(topic, "refresh", "1.0", &ctx(), &json!({}))
        .await
        .expect("fanout");
    until("fanout to both", || {
        count(&seen_a, "refresh") == 1 && count(&seen_b, "refresh") == 1
    })
    .await;

    // a cast sent while nobody listens waits for a listener
    drop(la);
    drop(lb);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let later = format!("{topic}.later");
    bus.cast(&later, "note", "1.0", &ctx(), &json!({"early": true}))
        .await
        .expect("early cast");
    let (c, seen_c) = recorder("c");
    let _lc = bus.serve(&later, c).await.expect("serve late");
    until("the early cast", || count(&seen_c, "note") == 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patterns_in_memory() {
    patterns(Bus::new(Arc::new(Memory::new())), "scheduler").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patterns_on_amqp() {
    let amqp = Amqp::connect(RABBITMQ).await.expect("RabbitMQ at 127.0.0.1:5672");
    let topic = format!("test-{}", uuid::Uuid::new_v4().simple());
    patterns(Bus::new(Arc::new(amqp.clone())), &topic).await;
    for t in [topic.clone(), format!("{topic}.nobody"), format!("{topic}.later")] {
        amqp.delete_topic(&t).await.expect("clean up");
    }
    amqp.close().await;
}

fn rabbitmqctl(args: &[&str]) {
    let out = std::process::Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("rabbitmqctl (Debian's rabbitmq-server) must be installed");
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Restores the broker even when the test fails half-way.
struct Restart;
impl Drop for Restart {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl").arg("start_app").output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_casts_survive_a_broker_restart() {
    let amqp = Amqp::connect(RABBITMQ).await.expect("RabbitMQ at 127.0.0.1:5672");
    let transport: Arc<dyn Transport> = Arc::new(amqp.clone());
    let bus = Bus::new(transport);
    let topic = format!("test-{}", uuid::Uuid::new_v4().simple());
    let (r, seen) = recorder("r");
    let _l = bus.serve(&topic, r).await.expect("serve");

    let n = 300;
    let sender = {
        let (bus, topic) = (bus.clone(), topic.clone());
        tokio::spawn(async move {
            let mut longest = Duration::ZERO;
            for i in 0..n {
                let t = std::time::Instant::now();
                bus.cast(&topic, "note", "1.0", &ctx(), &json!({"i": i}))
                    .await
                    .expect("a cast is taken by the broker, across the restart");
                longest = longest.max(t.elapsed());
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            longest
        })
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    let guard = Restart;
    tokio::task::spawn_blocking(|| {
        rabbitmqctl(&["stop_app"]);
        std::thread::sleep(Duration::from_secs(2));
        rabbitmqctl(&["start_app"]);
    })
    .await
    .expect("restart");
    drop(guard);
    let longest = sender.await.expect("sender");
    assert!(
        longest > Duration::from_millis(500),
        "some cast waited for the broker to come back (longest {longest:?}), so the restart hit traffic"
    );

    let distinct = || {
        seen.lock()
            .expect("lock")
            .iter()
            .filter_map(|(_, a, _)| a["i"].as_i64())
            .collect::<HashSet<_>>()
            .len()
    };
    for _ in 0..600 {
        if distinct() == n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(distinct(), n, "every cast arrived (at least once)");

    // Calls work again on the new connection.
    let sum: Value = bus
        .call(
            &topic,
            "add",
            "1.0",
            &ctx(),
            &json!({"a": 1, "b": 1}),
            Duration::from_secs(10),
        )
        .await
        .expect("call after the restart");
    assert_eq!(sum["sum"], 2);
    amqp.delete_topic(&topic).await.expect("clean up");
    amqp.close().await;
}
