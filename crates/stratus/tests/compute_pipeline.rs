//! The pipeline under load, over raw HTTP: a burst of concurrent boots against one host never
//! claims more than the host has, quotas hold under the burst, and every server ends ACTIVE or
//! in ERROR with the reason.

mod common;

use std::time::Duration;

use common::{password_auth, Server, ADMIN_PASSWORD};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

struct Api {
    c: Client,
    url: String,
    token: String,
    project: String,
}

impl Api {
    async fn login(s: &Server) -> Api {
        let c = Client::new();
        let r = c
            .post(format!("{}/auth/tokens", s.identity()))
            .json(&password_auth("admin", ADMIN_PASSWORD, Some("admin")))
            .send()
            .await
            .expect("auth");
        let token = r.headers()["x-subject-token"].to_str().expect("token").to_owned();
        let body: Value = r.json().await.expect("json");
        Api {
            c,
            url: s.url.clone(),
            token,
            project: body["token"]["project"]["id"].as_str().expect("project").to_owned(),
        }
    }

    /// A 4 KiB raw image, active; returns its id.
    async fn upload_image(&self) -> String {
        let (s, img) = self
            .send(
                reqwest::Method::POST,
                "/image/v2/images",
                Some(json!({"name": "img", "disk_format": "raw", "container_format": "bare"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{img}");
        let image = img["id"].as_str().expect("image").to_owned();
        let r = self
            .c
            .put(format!("{}/image/v2/images/{image}/file", self.url))
            .header("x-auth-token", &self.token)
            .header("content-type", "application/octet-stream")
            .body(vec![1u8; 4096])
            .send()
            .await
            .expect("upload");
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        image
    }

    async fn send(&self, m: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut r = self
            .c
            .request(m, format!("{}{path}", self.url))
            .header("x-auth-token", &self.token)
            .header("openstack-api-version", "compute 2.61");
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.expect("request");
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_boots_never_overcommits_a_host() {
    let server = Server::start(&["--compute-hosts", "only-host"]);
    let api = Api::login(&server).await;
    let image = api.upload_image().await;
    let (s, q) = api
        .send(
            reqwest::Method::PUT,
            &format!("/compute/v2.1/os-quota-sets/{}", api.project),
            Some(json!({"quota_set": {"instances": 45, "cores": 1000, "ram": 10000000}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{q}");

    // The fake host has 32 GiB (48 GiB with the 1.5 RAM ratio): 24 servers of 2 GiB fit.
    let mut tasks = Vec::new();
    for n in 0..50 {
        let (c, url, token, image) = (api.c.clone(), api.url.clone(), api.token.clone(), image.clone());
        tasks.push(tokio::spawn(async move {
            let body = json!({"server": {"name": format!("burst-{n}"), "flavorRef": "2", "imageRef": image, "networks": "none"}});
            let r = c
                .post(format!("{url}/compute/v2.1/servers"))
                .header("x-auth-token", &token)
                .header("openstack-api-version", "compute 2.61")
                .json(&body)
                .send()
                .await
                .expect("create");
            let s = r.status();
            (s, r.json::<Value>().await.unwrap_or(Value::Null))
        }));
    }
    let mut accepted = 0;
    let mut over_quota = 0;
    for t in tasks {
        let (s, body) = t.await.expect("task");
        match s {
            StatusCode::ACCEPTED => accepted += 1,
            StatusCode::FORBIDDEN => {
                assert!(body.to_string().contains("Quota exceeded for instances"), "{body}");
                over_quota += 1
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(
        (accepted, over_quota),
        (45, 5),
        "the quota of 45 holds under 50 concurrent creates"
    );

    // Every accepted server settles: 24 ACTIVE, the rest ERROR for want of RAM.
    let mut settled = Vec::new();
    for _ in 0..300 {
        let (_, list) = api
            .send(reqwest::Method::GET, "/compute/v2.1/servers/detail", None)
            .await;
        settled = list["servers"].as_array().cloned().unwrap_or_default();
        if settled.len() == 45
            && settled
                .iter()
                .all(|s| s["status"] == "ACTIVE" || s["status"] == "ERROR")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let active = settled.iter().filter(|s| s["status"] == "ACTIVE").count();
    let errors: Vec<&Value> = settled.iter().filter(|s| s["status"] == "ERROR").collect();
    assert_eq!((active, errors.len()), (24, 21), "exactly what fits is built");
    for e in &errors {
        let msg = e["fault"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains("No valid host was found"), "{msg}");
    }
    let (_, hv) = api
        .send(reqwest::Method::GET, "/compute/v2.1/os-hypervisors/detail", None)
        .await;
    let h = &hv["hypervisors"][0];
    assert_eq!(h["memory_mb_used"], 24 * 2048, "{hv}");
    assert!(h["memory_mb_used"].as_i64().unwrap_or(i64::MAX) as f64 <= h["memory_mb"].as_f64().unwrap_or(0.0) * 1.5);

    // Deleting all of them gives every claim back.
    for s in &settled {
        let id = s["id"].as_str().expect("id");
        let (st, _) = api
            .send(reqwest::Method::DELETE, &format!("/compute/v2.1/servers/{id}"), None)
            .await;
        assert_eq!(st, StatusCode::NO_CONTENT);
    }
    for _ in 0..300 {
        let (_, list) = api.send(reqwest::Method::GET, "/compute/v2.1/servers", None).await;
        if list["servers"].as_array().is_some_and(Vec::is_empty) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, hv) = api
        .send(reqwest::Method::GET, "/compute/v2.1/os-hypervisors/detail", None)
        .await;
    assert_eq!(hv["hypervisors"][0]["memory_mb_used"], 0, "{hv}");
}

/// Bad create requests get Nova's 400 with a message naming the problem, and leave nothing:
/// no server, no port, no quota used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_server_requests_get_nova_faults_and_leave_nothing() {
    let server = Server::start(&["--compute-hosts", "only-host"]);
    let api = Api::login(&server).await;
    let image = api.upload_image().await;
    let (_, net) = api
        .send(
            reqwest::Method::POST,
            "/network/v2.0/networks",
            Some(json!({"network": {"name": "n"}})),
        )
        .await;
    let net = net["network"]["id"].as_str().expect("network").to_owned();
    api.send(
        reqwest::Method::POST,
        "/network/v2.0/subnets",
        Some(json!({"subnet": {"network_id": net, "cidr": "10.44.0.0/24", "ip_version": 4}})),
    )
    .await;

    let good = json!({"name": "s", "flavorRef": "1", "imageRef": image, "networks": [{"uuid": net}]});
    let with = |k: &str, v: Value| {
        let mut b = good.clone();
        b[k] = v;
        json!({ "server": b })
    };
    let cases: Vec<(Value, &str)> = vec![
        (with("security_groups", json!([{"name": 5}])), "security_groups"),
        (with("security_groups", json!([{"name": "ghost"}])), "ghost"),
        (with("flavorRef", json!("no-such-flavor")), "no-such-flavor"),
        (
            with("imageRef", json!("00000000-0000-0000-0000-000000000000")),
            "00000000-0000-0000-0000-000000000000",
        ),
        (
            with("networks", json!([{"uuid": "00000000-0000-0000-0000-00000000dead"}])),
            "00000000-0000-0000-0000-00000000dead",
        ),
        (with("networks", json!("sideways")), "networks"),
        (with("user_data", json!("%%% not base64 %%%")), "user_data"),
        (
            json!({"server": {"name": "s", "flavorRef": "1", "imageRef": image, "networks": [{"uuid": net}],
                              "min_count": 3, "max_count": 2}}),
            "count",
        ),
        (with("key_name", json!("no-such-key")), "key_name"),
        (with("colour", json!("blue")), "colour"),
        (json!({"server": {"name": "s", "imageRef": image}}), "flavorRef"),
        (json!({"servers": [good]}), "server"),
    ];
    for (body, names) in cases {
        let (s, fault) = api
            .send(reqwest::Method::POST, "/compute/v2.1/servers", Some(body.clone()))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body} -> {fault}");
        let msg = fault["badRequest"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(names), "{body}: the message names {names:?}: {fault}");
    }
    let (_, list) = api.send(reqwest::Method::GET, "/compute/v2.1/servers", None).await;
    assert_eq!(list["servers"], json!([]), "no server was made");
    let (_, ports) = api
        .send(
            reqwest::Method::GET,
            "/network/v2.0/ports?device_owner=compute:nova",
            None,
        )
        .await;
    assert_eq!(ports["ports"], json!([]), "no port was made");
    let (_, limits) = api.send(reqwest::Method::GET, "/compute/v2.1/limits", None).await;
    assert_eq!(limits["limits"]["absolute"]["totalInstancesUsed"], 0, "{limits}");
}
