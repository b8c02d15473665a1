//! Faults and bad input found by trying Stratus as an attacker, a crash and a careless operator
//! would, each reproduced against a real `stratus up` (fake driver, memory dataplane), on
//! SQLite and on PostgreSQL where a store is involved: quotas that hold for every resource
//! under 100 concurrent requests, sizes that cannot overflow a quota sum, NUL refused at the
//! edge, faults that say what to fix, and the small ones.

mod common;

use std::time::{Duration, Instant};

use common::http::Api;
use common::{Server, Store};
use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const MAX_I64: i64 = i64::MAX;

/// Waits for a server to leave BUILD; returns it.
async fn settled(api: &Api, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (st, s) = api.compute(Method::GET, &format!("/servers/{id}"), None, "2.61").await;
        assert_eq!(st, StatusCode::OK, "{s}");
        if s["server"]["status"] != "BUILD" {
            return s["server"].clone();
        }
        assert!(Instant::now() < deadline, "server {id} stayed in BUILD: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn image(api: &Api) -> String {
    let (st, img) = api
        .send(
            Method::POST,
            "/image/v2/images",
            Some(json!({"name": "img", "disk_format": "raw", "container_format": "bare", "visibility": "public"})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{img}");
    let id = img["id"].as_str().expect("image").to_owned();
    let r = api
        .request(Method::PUT, &format!("/image/v2/images/{id}/file"))
        .header("content-type", "application/octet-stream")
        .body(vec![7u8; 4096])
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    id
}

// ------------------------------------------------------------------ 1. volume sizes

async fn huge_volume_sizes(store: Store) {
    let (s, loc) = Server::start_on(store, &[]).await;
    let admin = Api::admin(&s).await;
    let m = admin.member_of_new_project(&s, "sizes").await;
    let vols = format!("/volume/v3/{}/volumes", m.project);
    for (size, needle) in [
        (json!(MAX_I64), "2147483647"),
        (json!("99999999999999999999999"), "2147483647"),
        (json!(2147483647), "2097152 GiB"),
    ] {
        let (st, body) = m
            .send(Method::POST, &vols, Some(json!({"volume": {"size": size}})))
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "size {size}: {body}");
        assert!(body.to_string().contains(needle), "size {size}: {body}");
    }
    let (st, body) = m
        .send(Method::POST, &vols, Some(json!({"volume": {"size": 1001}})))
        .await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE, "over the 1000 GiB quota: {body}");
    // The project still works: create, extend refused past the backend, limits, quota show.
    let (st, v) = m.send(Method::POST, &vols, Some(json!({"volume": {"size": 1}}))).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    let id = v["volume"]["id"].as_str().expect("id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, v) = m.send(Method::GET, &format!("{vols}/{id}"), None).await;
        if v["volume"]["status"] == "available" {
            break;
        }
        assert!(Instant::now() < deadline, "{v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (st, body) = m
        .send(
            Method::POST,
            &format!("{vols}/{id}/action"),
            Some(json!({"os-extend": {"new_size": MAX_I64}})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    let (st, limits) = m
        .send(Method::GET, &format!("/volume/v3/{}/limits", m.project), None)
        .await;
    assert_eq!(st, StatusCode::OK, "{limits}");
    assert_eq!(limits["limits"]["absolute"]["totalGigabytesUsed"], 1, "{limits}");
    let (st, q) = admin
        .send(
            Method::GET,
            &format!("/volume/v3/{}/os-quota-sets/{}?usage=True", admin.project, m.project),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{q}");
    assert_eq!(q["quota_set"]["gigabytes"]["in_use"], 1, "{q}");

    // Compute quotas cannot overflow either: limits past Nova's largest are refused, and a
    // flavor and limits at Nova's largest sum without overflowing.
    let (st, body) = admin
        .compute(
            Method::PUT,
            &format!("/os-quota-sets/{}", m.project),
            Some(json!({"quota_set": {"cores": MAX_I64}})),
            "2.1",
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    let (st, body) = admin
        .compute(
            Method::PUT,
            &format!("/os-quota-sets/{}", m.project),
            Some(json!({"quota_set": {"cores": 2147483647, "ram": 2147483647}})),
            "2.1",
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let (st, f) = admin
        .compute(
            Method::POST,
            "/flavors",
            Some(json!({"flavor": {"name": "huge", "vcpus": 2147483647, "ram": 2147483647, "disk": 0}})),
            "2.1",
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{f}");
    let img = image(&admin).await;
    for _ in 0..2 {
        let (st, body) = m
            .compute(
                Method::POST,
                "/servers",
                Some(json!({"server": {"name": "big", "imageRef": img, "flavorRef": f["flavor"]["id"], "networks": "none"}})),
                "2.61",
            )
            .await;
        assert!(st == StatusCode::ACCEPTED || st == StatusCode::FORBIDDEN, "{st} {body}");
    }
    let (st, l) = m.compute(Method::GET, "/limits", None, "2.61").await;
    assert_eq!(st, StatusCode::OK, "{l}");
    drop(s);
    loc.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn huge_volume_sizes_are_refused_and_the_project_keeps_working_on_sqlite() {
    huge_volume_sizes(Store::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn huge_volume_sizes_are_refused_and_the_project_keeps_working_on_postgres() {
    huge_volume_sizes(Store::Postgres).await;
}

// ------------------------------------------------------------------ 2. NUL at the edge

async fn nul(store: Store) {
    let (s, loc) = Server::start_on(store, &[]).await;
    let admin = Api::admin(&s).await;
    // Before authentication: a user name holding NUL.
    let r = admin
        .c
        .post(format!("{}/auth/tokens", s.identity()))
        .json(&common::password_auth("ad\u{0}min", "x", Some("admin")))
        .send()
        .await
        .expect("auth");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.expect("json");
    assert!(
        body["error"]["message"].as_str().is_some_and(|m| m.contains("NUL")),
        "{body}"
    );
    for (m, path, body, fault) in [
        (Method::GET, "/network/v2.0/networks/%00", None, "NeutronError"),
        (Method::GET, "/network/v2.0/networks?name=a%00", None, "NeutronError"),
        (Method::GET, "/compute/v2.1/servers/%00", None, "badRequest"),
        (Method::GET, "/image/v2/images?name=%00", None, "message"),
        (Method::GET, "/identity/v3/users?name=%00", None, "error"),
        (
            Method::POST,
            "/network/v2.0/networks",
            Some(json!({"network": {"name": "a\u{0}b"}})),
            "NeutronError",
        ),
        (
            Method::POST,
            "/compute/v2.1/os-keypairs",
            Some(json!({"keypair": {"name": "k\u{0}"}})),
            "badRequest",
        ),
        (
            Method::POST,
            "/identity/v3/projects",
            Some(json!({"project": {"name": "p", "description": "\u{0}"}})),
            "error",
        ),
    ] {
        let (st, b) = admin.send(m.clone(), path, body).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{m} {path}: {b}");
        assert!(b.get(fault).is_some(), "{m} {path}: the service's own fault shape: {b}");
        assert!(b.to_string().contains("NUL"), "{m} {path}: {b}");
    }
    let (st, nets) = admin.send(Method::GET, "/network/v2.0/networks", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        nets["networks"].as_array().map(Vec::len),
        Some(0),
        "nothing was made: {nets}"
    );
    drop(s);
    loc.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nul_is_refused_at_the_edge_on_sqlite() {
    nul(Store::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nul_is_refused_at_the_edge_on_postgres() {
    nul(Store::Postgres).await;
}

// ------------------------------------------------------------------ 3. network quotas

/// Fires `n` copies of a create at once; returns how many were made (201) and checks every
/// other answer is Neutron's 409 OverQuota.
async fn burst(api: &Api, path: &str, n: usize, body: impl Fn(usize) -> Value) -> usize {
    let answers = join_all((0..n).map(|i| {
        let api = api.clone();
        let b = body(i);
        let path = path.to_owned();
        async move { api.send(Method::POST, &path, Some(b)).await }
    }))
    .await;
    let mut made = 0;
    for (st, b) in answers {
        match st {
            StatusCode::CREATED => made += 1,
            StatusCode::CONFLICT => assert_eq!(b["NeutronError"]["type"], "OverQuota", "{b}"),
            other => panic!("{path}: {other} {b}"),
        }
    }
    made
}

async fn count(admin: &Api, collection: &str, key: &str, project: &str) -> usize {
    let (st, l) = admin
        .send(
            Method::GET,
            &format!("/network/v2.0/{collection}?project_id={project}"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{l}");
    l[key].as_array().map_or(0, Vec::len)
}

async fn network_quotas(store: Store) {
    let (s, loc) = Server::start_on(store, &[]).await;
    let admin = Api::admin(&s).await;
    let m = admin.member_of_new_project(&s, "netq").await;
    let p = m.project.clone();
    let (st, b) = admin
        .send(
            Method::PUT,
            &format!("/network/v2.0/quotas/{p}"),
            Some(json!({"quota": {"network": 3, "port": 10, "security_group": 4, "security_group_rule": 12, "subnet": 2}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");

    let made = burst(
        &m,
        "/network/v2.0/networks",
        100,
        |i| json!({"network": {"name": format!("n{i}")}}),
    )
    .await;
    assert_eq!(made, 3);
    assert_eq!(count(&admin, "networks", "networks", &p).await, 3);
    let (_, nets) = m.send(Method::GET, "/network/v2.0/networks", None).await;
    let net = nets["networks"][0]["id"].as_str().expect("net").to_owned();

    let made = burst(&m, "/network/v2.0/subnets", 100, |i| {
        json!({"subnet": {"network_id": net, "cidr": format!("10.{}.{}.0/24", i / 200, i % 200), "ip_version": 4, "enable_dhcp": false}})
    })
    .await;
    assert_eq!(made, 2);
    assert_eq!(count(&admin, "subnets", "subnets", &p).await, 2);

    let made = burst(&m, "/network/v2.0/ports", 100, |_| json!({"port": {"network_id": net}})).await;
    assert_eq!(made, 10);
    assert_eq!(count(&admin, "ports", "ports", &p).await, 10);

    // The default group (made at the first request that needs it) counts as one.
    let made = burst(
        &m,
        "/network/v2.0/security-groups",
        100,
        |i| json!({"security_group": {"name": format!("g{i}")}}),
    )
    .await;
    let groups = count(&admin, "security-groups", "security_groups", &p).await;
    assert_eq!(groups, 4, "made {made} besides the default group");
    let (_, gs) = m.send(Method::GET, "/network/v2.0/security-groups?name=g0", None).await;
    let (_, gs) = if gs["security_groups"].as_array().is_some_and(|a| !a.is_empty()) {
        (StatusCode::OK, gs)
    } else {
        m.send(Method::GET, "/network/v2.0/security-groups", None).await
    };
    let g = gs["security_groups"][0]["id"].as_str().expect("group").to_owned();
    let rules_before = count(&admin, "security-group-rules", "security_group_rules", &p).await;
    assert!(rules_before <= 12, "{rules_before}");
    let made = burst(&m, "/network/v2.0/security-group-rules", 100, |i| {
        json!({"security_group_rule": {"security_group_id": g, "direction": "ingress", "protocol": "tcp",
                                       "port_range_min": 1000 + i, "port_range_max": 1000 + i, "ethertype": "IPv4"}})
    })
    .await;
    assert_eq!(rules_before + made, 12);
    assert_eq!(
        count(&admin, "security-group-rules", "security_group_rules", &p).await,
        12
    );
    drop(s);
    loc.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn network_quotas_hold_under_100_concurrent_creates_on_sqlite() {
    network_quotas(Store::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn network_quotas_hold_under_100_concurrent_creates_on_postgres() {
    network_quotas(Store::Postgres).await;
}

// ------------------------------------------------------------------ 3 and 5. boots and ports

/// Concurrent boots on a network past the port quota: the ports stay within it, and the boots
/// that found the quota used up end in ERROR with a quota fault after one host, not "no valid
/// host" after three.
async fn boots_within_the_port_quota(store: Store) {
    let (s, loc) = Server::start_on(store, &["--compute-hosts", "h1,h2,h3"]).await;
    let admin = Api::admin(&s).await;
    let m = admin.member_of_new_project(&s, "bootq").await;
    let p = m.project.clone();
    let (st, b) = admin
        .compute(
            Method::PUT,
            &format!("/os-quota-sets/{p}"),
            Some(json!({"quota_set": {"instances": 50, "cores": 50, "ram": 512000}})),
            "2.1",
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (st, b) = admin
        .send(
            Method::PUT,
            &format!("/network/v2.0/quotas/{p}"),
            Some(json!({"quota": {"port": 5}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (_, net) = m
        .send(
            Method::POST,
            "/network/v2.0/networks",
            Some(json!({"network": {"name": "n"}})),
        )
        .await;
    let net = net["network"]["id"].as_str().expect("net").to_owned();
    let (st, sub) = m
        .send(
            Method::POST,
            "/network/v2.0/subnets",
            Some(json!({"subnet": {"network_id": net, "cidr": "10.9.0.0/24", "ip_version": 4, "enable_dhcp": false}})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{sub}");
    let img = image(&admin).await;
    let posted = join_all((0..12).map(|i| {
        let m = m.clone();
        let body = json!({"server": {"name": format!("s{i}"), "imageRef": img, "flavorRef": "1", "networks": [{"uuid": net}]}});
        async move { m.compute(Method::POST, "/servers", Some(body), "2.61").await }
    }))
    .await;
    let mut active = 0;
    for (st, b) in posted {
        assert_eq!(st, StatusCode::ACCEPTED, "{b}");
        let id = b["server"]["id"].as_str().expect("id").to_owned();
        let srv = settled(&m, &id).await;
        match srv["status"].as_str() {
            Some("ACTIVE") => active += 1,
            Some("ERROR") => {
                let fault = &srv["fault"];
                assert_eq!(fault["code"], 403, "{srv}");
                let msg = fault["message"].as_str().unwrap_or_default();
                assert!(msg.contains("Quota exceeded for ports"), "{srv}");
                let (_, actions) = m
                    .compute(Method::GET, &format!("/servers/{id}/os-instance-actions"), None, "2.61")
                    .await;
                let req = actions["instanceActions"][0]["request_id"]
                    .as_str()
                    .expect("req")
                    .to_owned();
                let (_, a) = m
                    .compute(
                        Method::GET,
                        &format!("/servers/{id}/os-instance-actions/{req}"),
                        None,
                        "2.61",
                    )
                    .await;
                let tries = a["instanceAction"]["events"].as_array().map_or(0, |e| {
                    e.iter().filter(|e| e["event"] == "compute_allocate_network").count()
                });
                assert_eq!(tries, 1, "a quota refusal is not retried on other hosts: {a}");
            }
            other => panic!("{other:?}: {srv}"),
        }
    }
    assert_eq!(active, 5, "as many servers as the port quota allows");
    assert_eq!(count(&admin, "ports", "ports", &p).await, 5);
    drop(s);
    loc.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn boots_stay_within_the_port_quota_and_say_so_on_sqlite() {
    boots_within_the_port_quota(Store::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn boots_stay_within_the_port_quota_and_say_so_on_postgres() {
    boots_within_the_port_quota(Store::Postgres).await;
}

// ------------------------------------------------------------------ 4. server groups

async fn server_group_quotas(store: Store) {
    let (s, loc) = Server::start_on(store, &[]).await;
    let admin = Api::admin(&s).await;
    let m = admin.member_of_new_project(&s, "groups").await;
    let made = join_all((0..100).map(|i| {
        let m = m.clone();
        async move {
            m.compute(
                Method::POST,
                "/os-server-groups",
                Some(json!({"server_group": {"name": format!("g{i}"), "policies": ["soft-anti-affinity"]}})),
                "2.1",
            )
            .await
        }
    }))
    .await;
    let mut ok = 0;
    for (st, b) in &made {
        match *st {
            StatusCode::OK => ok += 1,
            StatusCode::FORBIDDEN => assert!(b.to_string().contains("server_groups"), "{b}"),
            other => panic!("{other}: {b}"),
        }
    }
    assert_eq!(ok, 10, "Nova's default of 10 server groups");
    let (_, l) = m.compute(Method::GET, "/limits", None, "2.1").await;
    assert_eq!(l["limits"]["absolute"]["totalServerGroupsUsed"], 10, "{l}");
    assert_eq!(l["limits"]["absolute"]["maxServerGroups"], 10, "{l}");

    // Raised with the real client, as an operator would.
    let cli = common::cli::Cli::admin(&s);
    cli.ok(&[
        "quota",
        "set",
        "--server-groups",
        "12",
        "--server-group-members",
        "3",
        &m.project,
    ]);
    let q = cli.json(&["quota", "show", &m.project]);
    let limit = |name: &str| {
        q.as_array()
            .and_then(|rows| rows.iter().find(|r| r["Resource"] == name))
            .map(|r| r["Limit"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(limit("server-groups"), 12, "{q}");
    assert_eq!(limit("server-group-members"), 3, "{q}");
    let (_, l) = m.compute(Method::GET, "/limits", None, "2.1").await;
    assert_eq!(l["limits"]["absolute"]["maxServerGroupMembers"], 3, "{l}");

    let (st, g) = m
        .compute(
            Method::POST,
            "/os-server-groups",
            Some(json!({"server_group": {"name": "more", "policies": ["soft-anti-affinity"]}})),
            "2.1",
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{g}");
    let group = g["server_group"]["id"].as_str().expect("group").to_owned();

    // Members: 3 at most, under concurrent boots.
    let img = image(&admin).await;
    let boots = join_all((0..8).map(|i| {
        let m = m.clone();
        let body = json!({"server": {"name": format!("m{i}"), "imageRef": img, "flavorRef": "1", "networks": "none"},
                          "os:scheduler_hints": {"group": group}});
        async move { m.compute(Method::POST, "/servers", Some(body), "2.61").await }
    }))
    .await;
    let accepted = boots.iter().filter(|(st, _)| *st == StatusCode::ACCEPTED).count();
    for (st, b) in &boots {
        if *st != StatusCode::ACCEPTED {
            assert_eq!(*st, StatusCode::FORBIDDEN, "{b}");
            assert!(b.to_string().contains("too many servers in group"), "{b}");
        }
    }
    assert_eq!(accepted, 3);
    let (_, g) = m
        .compute(Method::GET, &format!("/os-server-groups/{group}"), None, "2.1")
        .await;
    assert_eq!(g["server_group"]["members"].as_array().map(Vec::len), Some(3), "{g}");
    drop(s);
    loc.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn server_group_quotas_hold_on_sqlite() {
    server_group_quotas(Store::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn server_group_quotas_hold_on_postgres() {
    server_group_quotas(Store::Postgres).await;
}

// ------------------------------------------------------------------ 5. faults

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_build_that_failed_everywhere_says_why_in_its_fault() {
    let s = Server::start(&["--fake-failure-rate", "1"]);
    let admin = Api::admin(&s).await;
    let img = image(&admin).await;
    let (st, b) = admin
        .compute(
            Method::POST,
            "/servers",
            Some(json!({"server": {"name": "doomed", "imageRef": img, "flavorRef": "1", "networks": "none"}})),
            "2.61",
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{b}");
    let srv = settled(&admin, b["server"]["id"].as_str().expect("id")).await;
    assert_eq!(srv["status"], "ERROR");
    let details = srv["fault"]["details"].as_str().unwrap_or_default();
    assert!(details.contains("No valid host"), "{srv}");
    assert!(
        details.contains("Last failure on") && details.contains("the fake hypervisor on"),
        "the host's own error is in the fault: {srv}"
    );
}

// ------------------------------------------------------------------ 8. the small ones

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hypervisors_detail_counts_running_vms_and_rules_keep_one_order() {
    let s = Server::start(&[]);
    let admin = Api::admin(&s).await;
    let img = image(&admin).await;
    let (st, b) = admin
        .compute(
            Method::POST,
            "/servers",
            Some(json!({"server": {"name": "one", "imageRef": img, "flavorRef": "1", "networks": "none"}})),
            "2.61",
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{b}");
    let srv = settled(&admin, b["server"]["id"].as_str().expect("id")).await;
    assert_eq!(srv["status"], "ACTIVE");
    let (st, hv) = admin.compute(Method::GET, "/os-hypervisors/detail", None, "2.1").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(hv["hypervisors"][0]["running_vms"], 1, "{hv}");
    let (_, list) = admin.compute(Method::GET, "/os-hypervisors", None, "2.1").await;
    assert!(
        list["hypervisors"][0].get("running_vms").is_none(),
        "the list names hosts only: {list}"
    );

    for i in 0..5 {
        let (st, g) = admin
            .send(
                Method::POST,
                "/network/v2.0/security-groups",
                Some(json!({"security_group": {"name": format!("order{i}")}})),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED);
        let id = g["security_group"]["id"].as_str().expect("id");
        let (_, shown) = admin
            .send(Method::GET, &format!("/network/v2.0/security-groups/{id}"), None)
            .await;
        let ids = |v: &Value| -> Vec<String> {
            v["security_group"]["security_group_rules"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .map(|r| r["id"].as_str().unwrap_or_default().to_owned())
                        .collect()
                })
                .unwrap_or_default()
        };
        assert_eq!(ids(&g), ids(&shown), "create and show list the rules in one order");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_build_interrupted_by_a_restart_closes_its_open_step() {
    let s = Server::start(&["--fake-spawn-delay", "30"]);
    let admin = Api::admin(&s).await;
    let img = image(&admin).await;
    let (st, b) = admin
        .compute(
            Method::POST,
            "/servers",
            Some(json!({"server": {"name": "cut", "imageRef": img, "flavorRef": "1", "networks": "none"}})),
            "2.61",
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{b}");
    let id = b["server"]["id"].as_str().expect("id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, srv) = admin
            .compute(Method::GET, &format!("/servers/{id}"), None, "2.61")
            .await;
        if srv["server"]["OS-EXT-STS:task_state"] == "spawning" {
            break;
        }
        assert!(Instant::now() < deadline, "{srv}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let dir = s.kill();
    let s = Server::start_in(dir, &["--fake-spawn-delay", "30"]);
    let admin = Api::admin(&s).await;
    let srv = settled(&admin, &id).await;
    assert_eq!(srv["status"], "ERROR", "{srv}");
    let (_, actions) = admin
        .compute(Method::GET, &format!("/servers/{id}/os-instance-actions"), None, "2.61")
        .await;
    let req = actions["instanceActions"][0]["request_id"]
        .as_str()
        .expect("req")
        .to_owned();
    let (_, a) = admin
        .compute(
            Method::GET,
            &format!("/servers/{id}/os-instance-actions/{req}"),
            None,
            "2.61",
        )
        .await;
    let events = a["instanceAction"]["events"].as_array().cloned().unwrap_or_default();
    let spawn = events
        .iter()
        .find(|e| e["event"] == "compute_spawn")
        .unwrap_or_else(|| panic!("no spawn event: {a}"));
    assert_eq!(spawn["result"], "Error", "{a}");
    assert!(
        events.iter().all(|e| !e["result"].is_null()),
        "no step is left open: {a}"
    );
}

// ------------------------------------------------------------------ 6. a first start

#[test]
fn a_driver_and_dataplane_that_cannot_boot_a_guest_are_refused_at_start() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stratus"))
        .args(["up", "--data-dir"])
        .arg(dir.path().join("data"))
        .args([
            "--bind",
            "127.0.0.1:0",
            "--compute-driver",
            "qemu",
            "--network-dataplane",
            "memory",
        ])
        .output()
        .expect("run stratus");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("network_dataplane linux"), "{err}");
}

#[test]
fn stratus_up_says_what_a_guest_gets() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().expect("tmp");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_stratus"))
        .args(["up", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--bind", &format!("127.0.0.1:{port}"), "--password-hash-rounds", "4"])
        .args(["--compute-driver", "fake", "--network-dataplane", "memory"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run stratus");
    let stdout = child.stdout.take().expect("stdout");
    let lines: Vec<String> = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .take_while(|l| !l.starts_with("export OS_CLOUD"))
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    let said = lines.join("\n");
    assert!(
        said.contains("# compute driver fake, network dataplane memory: guests are records only"),
        "{said}"
    );
}
