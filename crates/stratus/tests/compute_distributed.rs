//! The cloud spread over processes, as on many machines: the APIs in one, the conductor and
//! the scheduler in another, and two compute agents in two more, sharing PostgreSQL and
//! RabbitMQ. A server boots and is deleted through the real client. (The name says amqp so
//! that it runs in the RabbitMQ test group, one at a time.)

mod common;

use std::time::{Duration, Instant};

use common::cli::Cli;
use common::{Role, Server};
use stratus_store::testing::TestLocation;
use stratus_store::{Backend, Location};

const RABBITMQ: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_roles_on_postgres_and_amqp() {
    let db = TestLocation::new(Backend::Postgres).await;
    let Location::Postgres(url) = &db.location else {
        panic!("a PostgreSQL location");
    };
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let (host_a, host_b) = (format!("dist-{tag}-a"), format!("dist-{tag}-b"));
    let api = Server::start_serve(&["--roles", "api", "--database", url, "--transport", RABBITMQ]);
    let _brains = Role::start(&[
        "--roles",
        "conductor,scheduler",
        "--database",
        url,
        "--transport",
        RABBITMQ,
    ]);
    let _agent_a = Role::start(&[
        "--roles",
        "compute",
        "--compute-hosts",
        &host_a,
        "--transport",
        RABBITMQ,
        "--public-url",
        &api.url,
    ]);
    let _agent_b = Role::start(&[
        "--roles",
        "compute",
        "--compute-hosts",
        &host_b,
        "--transport",
        RABBITMQ,
        "--public-url",
        &api.url,
    ]);
    let admin = Cli::admin(&api);

    // Both agents registered through the conductor.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let hv = admin.json(&["hypervisor", "list"]).to_string();
        if hv.contains(&host_a) && hv.contains(&host_b) {
            break;
        }
        assert!(Instant::now() < deadline, "the agents never registered: {hv}");
        std::thread::sleep(Duration::from_millis(200));
    }

    let image = api.dir.path().join("disk.raw");
    std::fs::write(&image, vec![5u8; 65536]).expect("image");
    admin.ok(&[
        "image",
        "create",
        "--disk-format",
        "raw",
        "--file",
        image.to_str().expect("path"),
        "img",
    ]);
    admin.ok(&["network", "create", "net"]);
    admin.ok(&[
        "subnet",
        "create",
        "--network",
        "net",
        "--subnet-range",
        "10.5.0.0/24",
        "net-v4",
    ]);
    let mut hosts = std::collections::BTreeSet::new();
    for n in 1..=2 {
        let name = format!("far-{n}");
        let s = admin.json(&[
            "server",
            "create",
            "--flavor",
            "m1.tiny",
            "--image",
            "img",
            "--network",
            "net",
            "--wait",
            &name,
        ]);
        assert_eq!(s["status"], "ACTIVE", "{s}");
        let shown = admin.json(&["server", "show", &name]);
        assert!(shown["addresses"].to_string().contains("10.5.0."), "{shown}");
        hosts.insert(shown["OS-EXT-SRV-ATTR:host"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(
        hosts,
        [host_a.clone(), host_b.clone()].into_iter().collect(),
        "one server per agent"
    );
    admin.ok(&["server", "delete", "--wait", "far-1", "far-2"]);
    assert!(admin.json(&["server", "list"]).as_array().expect("list").is_empty());
    assert!(admin
        .json(&["port", "list", "--device-owner", "compute:nova"])
        .as_array()
        .expect("ports")
        .is_empty());

    // The agents' queues go with the test; the shared topics stay for the next deployment.
    if let Ok(amqp) = stratus_bus::amqp::Amqp::connect(RABBITMQ).await {
        for h in [&host_a, &host_b] {
            let _ = amqp.delete_topic(&format!("compute.{h}")).await;
        }
        amqp.close().await;
    }
    drop(api);
    db.cleanup().await;
}

/// An agent killed in the middle of a build: when it starts again it undoes the build and the
/// conductor sends it to the other host, so the server ends ACTIVE there, never stuck in BUILD.
#[test]
fn an_agent_killed_mid_build_on_amqp_leaves_nothing_stuck() {
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let (host_a, host_b) = (format!("slow-{tag}-a"), format!("slow-{tag}-b"));
    // Agents in other processes reach the conductor only over RabbitMQ.
    let api = Server::start_serve(&["--roles", "api,conductor,scheduler", "--transport", RABBITMQ]);
    let start = |host: &str| {
        Role::start(&[
            "--roles",
            "compute",
            "--compute-hosts",
            host,
            "--transport",
            RABBITMQ,
            "--public-url",
            &api.url,
            "--fake-spawn-delay",
            "3",
        ])
    };
    let agent_a = start(&host_a);
    let agent_b = start(&host_b);
    let admin = Cli::admin(&api);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !admin.json(&["hypervisor", "list"]).to_string().contains(&host_b)
        || !admin.json(&["hypervisor", "list"]).to_string().contains(&host_a)
    {
        assert!(Instant::now() < deadline, "agents never registered");
        std::thread::sleep(Duration::from_millis(200));
    }
    let image = api.dir.path().join("disk.raw");
    std::fs::write(&image, vec![5u8; 4096]).expect("image");
    admin.ok(&[
        "image",
        "create",
        "--disk-format",
        "raw",
        "--file",
        image.to_str().expect("path"),
        "img",
    ]);
    let s = admin.json(&[
        "server", "create", "--flavor", "m1.tiny", "--image", "img", "--nic", "none", "victim",
    ]);
    let id = s["id"].as_str().expect("id").to_owned();
    // Wait until the build is spawning on one host, then kill that host's agent.
    let mut first = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while first.is_empty() {
        let shown = admin.json(&["server", "show", &id]);
        if shown["OS-EXT-STS:task_state"] == "spawning" {
            first = shown["OS-EXT-SRV-ATTR:host"].as_str().unwrap_or_default().to_owned();
        }
        assert!(Instant::now() < deadline, "the build never reached spawning: {shown}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (victim, survivor) = if first == host_a {
        (agent_a, host_b.clone())
    } else {
        (agent_b, host_a.clone())
    };
    drop(victim);
    let _restarted = start(&first);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let shown = admin.json(&["server", "show", &id]);
        if shown["status"] == "ACTIVE" {
            assert_eq!(shown["OS-EXT-SRV-ATTR:host"], survivor.as_str(), "{shown}");
            break;
        }
        assert_ne!(shown["status"], "ERROR", "{shown}");
        assert!(
            Instant::now() < deadline,
            "the server stayed {}: {shown}",
            shown["status"]
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let actions = admin.json(&["server", "event", "list", &id]);
    let req = actions
        .as_array()
        .expect("actions")
        .iter()
        .find(|a| a["Action"] == "create")
        .and_then(|a| a["Request ID"].as_str())
        .expect("create action")
        .to_owned();
    // The build was rescheduled: a spawn failed on the restarted host, then succeeded on
    // another (events name their host from 2.62).
    let ev = admin.json(&["--os-compute-api-version", "2.62", "server", "event", "show", &id, &req]);
    let events = ev["events"].as_array().cloned().unwrap_or_default();
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "conductor_reschedule" && e["result"] == "Error"),
        "the build was rescheduled: {ev}"
    );
    let spawn_hosts: std::collections::BTreeSet<String> = events
        .iter()
        .filter(|e| e["event"] == "compute_spawn")
        .filter_map(|e| e["host"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(spawn_hosts.len(), 2, "each attempt on its own host: {ev}");
    admin.ok(&["server", "delete", "--wait", &id]);
    if let Ok(rt) = tokio::runtime::Runtime::new() {
        rt.block_on(async {
            if let Ok(amqp) = stratus_bus::amqp::Amqp::connect(RABBITMQ).await {
                for h in [&host_a, &host_b] {
                    let _ = amqp.delete_topic(&format!("compute.{h}")).await;
                }
                amqp.close().await;
            }
        });
    }
}

/// Two schedulers (and two conductors) in two processes on one PostgreSQL, sharing the work
/// over RabbitMQ, never overcommit a host between them: a burst of 40 boots against a host
/// that fits 24 builds exactly 24.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_schedulers_on_postgres_and_amqp_never_overcommit() {
    let db = TestLocation::new(Backend::Postgres).await;
    let Location::Postgres(url) = &db.location else {
        panic!("a PostgreSQL location");
    };
    let host = format!("twin-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let api = Server::start_serve(&["--roles", "api", "--database", url, "--transport", RABBITMQ]);
    let _one = Role::start(&[
        "--roles",
        "conductor,scheduler",
        "--database",
        url,
        "--transport",
        RABBITMQ,
    ]);
    let _two = Role::start(&[
        "--roles",
        "conductor,scheduler",
        "--database",
        url,
        "--transport",
        RABBITMQ,
    ]);
    let _agent = Role::start(&[
        "--roles",
        "compute",
        "--compute-hosts",
        &host,
        "--transport",
        RABBITMQ,
        "--public-url",
        &api.url,
    ]);

    let c = reqwest::Client::new();
    let r = c
        .post(format!("{}/auth/tokens", api.identity()))
        .json(&common::password_auth("admin", common::ADMIN_PASSWORD, Some("admin")))
        .send()
        .await
        .expect("auth");
    let token = r.headers()["x-subject-token"].to_str().expect("token").to_owned();
    let project = r.json::<serde_json::Value>().await.expect("json")["token"]["project"]["id"]
        .as_str()
        .expect("project")
        .to_owned();
    let call = |m: reqwest::Method, path: String, body: Option<serde_json::Value>| {
        let mut rq = c
            .request(m, format!("{}{path}", api.url))
            .header("x-auth-token", &token)
            .header("openstack-api-version", "compute 2.61");
        if let Some(b) = body {
            rq = rq.json(&b);
        }
        rq.send()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let hv: serde_json::Value = call(reqwest::Method::GET, "/compute/v2.1/os-hypervisors".into(), None)
            .await
            .expect("hypervisors")
            .json()
            .await
            .expect("json");
        if hv.to_string().contains(&host) {
            break;
        }
        assert!(Instant::now() < deadline, "the agent never registered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let img: serde_json::Value = call(
        reqwest::Method::POST,
        "/image/v2/images".into(),
        Some(serde_json::json!({"name": "img", "disk_format": "raw", "container_format": "bare"})),
    )
    .await
    .expect("image")
    .json()
    .await
    .expect("json");
    let image = img["id"].as_str().expect("image id").to_owned();
    let up = c
        .put(format!("{}/image/v2/images/{image}/file", api.url))
        .header("x-auth-token", &token)
        .header("content-type", "application/octet-stream")
        .body(vec![1u8; 1024])
        .send()
        .await
        .expect("upload");
    assert!(up.status().is_success());
    let q = call(
        reqwest::Method::PUT,
        format!("/compute/v2.1/os-quota-sets/{project}"),
        Some(serde_json::json!({"quota_set": {"instances": -1, "cores": -1, "ram": -1}})),
    )
    .await
    .expect("quota");
    assert!(q.status().is_success());

    let mut tasks = Vec::new();
    for n in 0..40 {
        let body = serde_json::json!({"server": {"name": format!("twin-{n}"), "flavorRef": "2", "imageRef": image, "networks": "none"}});
        tasks.push(call(reqwest::Method::POST, "/compute/v2.1/servers".into(), Some(body)));
    }
    for t in futures::future::join_all(tasks).await {
        assert_eq!(t.expect("create").status(), reqwest::StatusCode::ACCEPTED);
    }
    let mut servers: Vec<serde_json::Value>;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let list: serde_json::Value = call(reqwest::Method::GET, "/compute/v2.1/servers/detail".into(), None)
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        servers = list["servers"].as_array().cloned().unwrap_or_default();
        if servers.len() == 40
            && servers
                .iter()
                .all(|s| s["status"] == "ACTIVE" || s["status"] == "ERROR")
        {
            break;
        }
        assert!(Instant::now() < deadline, "the burst never settled");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let active = servers.iter().filter(|s| s["status"] == "ACTIVE").count();
    assert_eq!(active, 24, "exactly what fits the host is built");
    let hv: serde_json::Value = call(reqwest::Method::GET, "/compute/v2.1/os-hypervisors/detail".into(), None)
        .await
        .expect("hypervisors")
        .json()
        .await
        .expect("json");
    assert_eq!(hv["hypervisors"][0]["memory_mb_used"], 24 * 2048, "{hv}");
    for s in &servers {
        let id = s["id"].as_str().expect("id");
        let _ = call(reqwest::Method::DELETE, format!("/compute/v2.1/servers/{id}"), None).await;
    }
    if let Ok(amqp) = stratus_bus::amqp::Amqp::connect(RABBITMQ).await {
        let _ = amqp.delete_topic(&format!("compute.{host}")).await;
        amqp.close().await;
    }
    drop(api);
    db.cleanup().await;
}
