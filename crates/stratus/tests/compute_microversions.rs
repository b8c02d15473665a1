//! Compute microversions 2.63 to 2.79 on a real `stratus up` with two fake compute hosts, over
//! raw HTTP on both stores: each change seen at its microversion and absent (or refused) at
//! the one before. Then python-openstackclient locks a server with a reason and lists locked
//! servers (2.73), as a user would.

mod common;

use std::time::{Duration, Instant};

use chrono::Utc;
use common::cli::Cli;
use common::http::Api;
use common::{Server, Store};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn ok(api: &Api, m: Method, path: &str, body: Option<Value>, mv: &str) -> Value {
    let (s, b) = api.compute(m.clone(), path, body, mv).await;
    assert!(s.is_success(), "{m} {path} at {mv}: {s} {b}");
    b
}

async fn refused(api: &Api, m: Method, path: &str, body: Option<Value>, mv: &str, want: StatusCode) -> Value {
    let (s, b) = api.compute(m.clone(), path, body, mv).await;
    assert_eq!(s, want, "{m} {path} at {mv}: {b}");
    b
}

/// Creates a server from `body` at `mv` and waits for it to be ACTIVE.
async fn boot(api: &Api, body: Value, mv: &str) -> Value {
    let created = ok(api, Method::POST, "/servers", Some(json!({ "server": body })), mv).await;
    let id = created["server"]["id"].as_str().expect("id").to_owned();
    wait(api, &id, "ACTIVE").await
}

async fn wait(api: &Api, id: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = ok(api, Method::GET, &format!("/servers/{id}"), None, "2.79").await;
        if s["server"]["status"] == want {
            return s["server"].clone();
        }
        assert!(
            s["server"]["status"] != "ERROR" && Instant::now() < deadline,
            "server did not become {want}: {s}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn plain(name: &str, img: &str) -> Value {
    json!({"name": name, "flavorRef": "1", "imageRef": img, "networks": "none"})
}

async fn over_http(store: Store) {
    let (server, _loc) = Server::start_on(store, &["--compute-hosts", "host-a,host-b"]).await;
    let api = Api::admin(&server).await;
    api.wait_hosts_up(2).await;
    let img = api.raw_image().await;

    // ---------------------------------------------------------------- 2.74: a requested host
    let mut on_b = plain("on-b", &img);
    on_b["host"] = json!("host-b");
    refused(&api, Method::POST, "/servers", Some(json!({"server": on_b.clone()})), "2.73", StatusCode::BAD_REQUEST).await;
    let s = boot(&api, on_b.clone(), "2.74").await;
    assert_eq!(s["OS-EXT-SRV-ATTR:host"], "host-b", "{s}");
    let mut on_a = plain("on-a", &img);
    on_a["hypervisor_hostname"] = json!("host-a");
    assert_eq!(boot(&api, on_a, "2.74").await["OS-EXT-SRV-ATTR:host"], "host-a");
    let mut nowhere = plain("nowhere", &img);
    nowhere["host"] = json!("host-z");
    let b = refused(&api, Method::POST, "/servers", Some(json!({"server": nowhere})), "2.74", StatusCode::BAD_REQUEST).await;
    assert!(b.to_string().contains("host-z"), "{b}");
    let mut two = plain("two", &img);
    two["host"] = json!("host-a");
    two["hypervisor_hostname"] = json!("host-b");
    refused(&api, Method::POST, "/servers", Some(json!({"server": two})), "2.74", StatusCode::BAD_REQUEST).await;
    let member = api.member_of_new_project(&server, "mv").await;
    refused(&member, Method::POST, "/servers", Some(json!({"server": on_b})), "2.74", StatusCode::FORBIDDEN).await;
    let id = s["id"].as_str().expect("id").to_owned();
    let path = format!("/servers/{id}");

    // ---------------------------------------------------------------- 2.63: trusted certificates
    let mut certs = plain("certs", &img);
    certs["trusted_image_certificates"] = json!(["cert-1", "cert-2"]);
    refused(&api, Method::POST, "/servers", Some(json!({"server": certs.clone()})), "2.62", StatusCode::BAD_REQUEST).await;
    let c = boot(&api, certs.clone(), "2.63").await;
    assert_eq!(c["trusted_image_certificates"], json!(["cert-1", "cert-2"]), "{c}");
    let cid = c["id"].as_str().expect("id").to_owned();
    let at62 = ok(&api, Method::GET, &format!("/servers/{cid}"), None, "2.62").await;
    assert!(at62["server"].get("trusted_image_certificates").is_none(), "{at62}");
    assert_eq!(s["trusted_image_certificates"], Value::Null, "none asked: null");
    certs["trusted_image_certificates"] = json!(["same", "same"]);
    refused(&api, Method::POST, "/servers", Some(json!({"server": certs})), "2.63", StatusCode::BAD_REQUEST).await;

    // ---------------------------------------------------------------- 2.71: the server's groups
    let g = ok(
        &api,
        Method::POST,
        "/os-server-groups",
        Some(json!({"server_group": {"name": "g", "policy": "anti-affinity"}})),
        "2.64",
    )
    .await;
    let gid = g["server_group"]["id"].as_str().expect("group").to_owned();
    let created = ok(
        &api,
        Method::POST,
        "/servers",
        Some(json!({"server": plain("member", &img), "os:scheduler_hints": {"group": gid}})),
        "2.71",
    )
    .await;
    let mid = created["server"]["id"].as_str().expect("id").to_owned();
    wait(&api, &mid, "ACTIVE").await;
    let shown = ok(&api, Method::GET, &format!("/servers/{mid}"), None, "2.71").await;
    assert_eq!(shown["server"]["server_groups"], json!([gid]), "{shown}");
    let alone = ok(&api, Method::GET, &path, None, "2.71").await;
    assert_eq!(alone["server"]["server_groups"], json!([]), "{alone}");
    let at70 = ok(&api, Method::GET, &path, None, "2.70").await;
    assert!(at70["server"].get("server_groups").is_none(), "{at70}");
    let listed = ok(&api, Method::GET, "/servers/detail", None, "2.79").await;
    assert!(listed["servers"][0].get("server_groups").is_none(), "not in lists: {listed}");

    // ---------------------------------------------------------------- 2.73: lock reasons
    ok(&api, Method::POST, &format!("{path}/action"), Some(json!({"lock": {"locked_reason": "maintenance"}})), "2.73").await;
    let locked = ok(&api, Method::GET, &path, None, "2.73").await;
    assert_eq!(
        (&locked["server"]["locked"], &locked["server"]["locked_reason"]),
        (&json!(true), &json!("maintenance")),
        "{locked}"
    );
    let only_locked = ok(&api, Method::GET, "/servers?locked=true", None, "2.73").await;
    let ids: Vec<&str> = only_locked["servers"].as_array().expect("list").iter().filter_map(|s| s["id"].as_str()).collect();
    assert_eq!(ids, [id.as_str()], "{only_locked}");
    refused(&api, Method::GET, "/servers?locked=perhaps", None, "2.73", StatusCode::BAD_REQUEST).await;
    refused(
        &api,
        Method::POST,
        &format!("{path}/action"),
        Some(json!({"lock": {"locked_reason": "x", "why": 1}})),
        "2.73",
        StatusCode::BAD_REQUEST,
    )
    .await;
    ok(&api, Method::POST, &format!("{path}/action"), Some(json!({"unlock": null})), "2.73").await;
    let unlocked = ok(&api, Method::GET, &path, None, "2.73").await;
    assert_eq!(unlocked["server"]["locked_reason"], Value::Null, "{unlocked}");

    // ---------------------------------------------------------------- 2.75: strict list, full update
    refused(&api, Method::GET, "/servers?bogus=1", None, "2.75", StatusCode::BAD_REQUEST).await;
    ok(&api, Method::GET, "/servers?bogus=1", None, "2.74").await;
    let upd = ok(&api, Method::PUT, &path, Some(json!({"server": {"name": "renamed"}})), "2.75").await;
    assert_eq!(upd["server"]["OS-EXT-STS:vm_state"], "active", "{upd}");
    assert_eq!(upd["server"]["server_groups"], json!([]), "{upd}");
    let upd = ok(&api, Method::PUT, &path, Some(json!({"server": {"name": "renamed"}})), "2.74").await;
    assert!(upd["server"].get("OS-EXT-STS:vm_state").is_none(), "{upd}");
    let flavor = ok(&api, Method::GET, "/flavors/1", None, "2.75").await;
    assert_eq!(flavor["flavor"]["swap"], 0, "{flavor}");

    // ---------------------------------------------------------------- 2.66: changes-before
    let past = "2000-01-01T00:00:00Z";
    let none = ok(&api, Method::GET, &format!("/servers?changes-before={past}"), None, "2.66").await;
    assert_eq!(none["servers"], json!([]), "{none}");
    let now = (Utc::now() + chrono::Duration::minutes(1)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let all = ok(&api, Method::GET, &format!("/servers?changes-before={now}"), None, "2.66").await;
    assert!(all["servers"].as_array().is_some_and(|l| l.len() >= 4), "{all}");
    refused(
        &api,
        Method::GET,
        &format!("/servers?changes-since={now}&changes-before={past}"),
        None,
        "2.66",
        StatusCode::BAD_REQUEST,
    )
    .await;
    // Instance actions: pages (2.58) and the same window.
    let actions = ok(&api, Method::GET, &format!("{path}/os-instance-actions"), None, "2.66").await;
    let n = actions["instanceActions"].as_array().map_or(0, Vec::len);
    assert!(n >= 3, "create, lock, unlock: {actions}");
    let page = ok(&api, Method::GET, &format!("{path}/os-instance-actions?limit=1"), None, "2.66").await;
    assert_eq!(page["instanceActions"].as_array().map(Vec::len), Some(1), "{page}");
    assert!(page["links"][0]["href"].as_str().is_some_and(|h| h.contains("marker=")), "{page}");
    let old = ok(&api, Method::GET, &format!("{path}/os-instance-actions?changes-before={past}"), None, "2.66").await;
    assert_eq!(old["instanceActions"], json!([]), "{old}");

    // ---------------------------------------------------------------- 2.78: topology
    let topo = ok(&api, Method::GET, &format!("{path}/topology"), None, "2.78").await;
    assert_eq!(topo, json!({"nodes": [], "pagesize_kb": null}));
    refused(&api, Method::GET, &format!("{path}/topology"), None, "2.77", StatusCode::NOT_FOUND).await;
    refused(&member, Method::GET, &format!("{path}/topology"), None, "2.78", StatusCode::NOT_FOUND).await;

    // ---------------------------------------------------------------- 2.70, 2.79: attachments
    let vols = format!("/volume/v3/{}/volumes", api.project);
    let (st, v) = api.send(Method::POST, &vols, Some(json!({"volume": {"size": 1, "name": "data"}}))).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    let vid = v["volume"]["id"].as_str().expect("volume").to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    while api.send(Method::GET, &format!("{vols}/{vid}"), None).await.1["volume"]["status"] != "available" {
        assert!(Instant::now() < deadline, "volume not available");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let attach = json!({"volumeAttachment": {"volumeId": vid, "delete_on_termination": true}});
    refused(&api, Method::POST, &format!("{path}/os-volume_attachments"), Some(attach.clone()), "2.78", StatusCode::BAD_REQUEST).await;
    let a = ok(&api, Method::POST, &format!("{path}/os-volume_attachments"), Some(attach), "2.79").await;
    assert_eq!(
        (&a["volumeAttachment"]["delete_on_termination"], &a["volumeAttachment"]["tag"]),
        (&json!(true), &Value::Null),
        "{a}"
    );
    let list = ok(&api, Method::GET, &format!("{path}/os-volume_attachments"), None, "2.69").await;
    assert!(list["volumeAttachments"][0].get("tag").is_none(), "{list}");
    let one = ok(&api, Method::GET, &format!("{path}/os-volume_attachments/{vid}"), None, "2.79").await;
    assert_eq!(one["volumeAttachment"]["delete_on_termination"], true, "{one}");
    // Attached, then the server goes and takes the volume with it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while api.send(Method::GET, &format!("{vols}/{vid}"), None).await.1["volume"]["status"] != "in-use" {
        assert!(Instant::now() < deadline, "volume not attached");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (st, _) = api.compute(Method::DELETE, &path, None, "2.79").await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let deadline = Instant::now() + Duration::from_secs(30);
    while api.send(Method::GET, &format!("{vols}/{vid}"), None).await.0 != StatusCode::NOT_FOUND {
        assert!(Instant::now() < deadline, "the volume outlived its server");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // ---------------------------------------------------------------- 2.67: a volume's type at build
    let bdm = |t: &str| {
        json!({"name": "bfv", "flavorRef": "1", "networks": "none", "block_device_mapping_v2": [
            {"boot_index": 0, "uuid": img, "source_type": "image", "destination_type": "volume",
             "volume_size": 1, "delete_on_termination": true, "volume_type": t}]})
    };
    refused(&api, Method::POST, "/servers", Some(json!({"server": bdm("__DEFAULT__")})), "2.66", StatusCode::BAD_REQUEST).await;
    let b = refused(&api, Method::POST, "/servers", Some(json!({"server": bdm("no-such-type")})), "2.67", StatusCode::BAD_REQUEST).await;
    assert!(b.to_string().contains("no-such-type"), "{b}");
    let bfv = boot(&api, bdm("__DEFAULT__"), "2.67").await;
    let root = bfv["os-extended-volumes:volumes_attached"][0]["id"].as_str().expect("root volume").to_owned();
    let (_, rv) = api.send(Method::GET, &format!("{vols}/{root}"), None).await;
    assert_eq!(rv["volume"]["volume_type"], "__DEFAULT__", "{rv}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microversions_2_63_to_2_79_over_http_on_sqlite() {
    over_http(Store::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microversions_2_63_to_2_79_over_http_on_postgres() {
    over_http(Store::Postgres).await;
}

/// `openstack server lock --reason` and `server list --locked`, with the client choosing 2.73.
#[test]
fn the_client_locks_with_a_reason() {
    let server = Server::start(&["--compute-hosts", "host-a"]);
    let cli = Cli::admin(&server);
    let disk = server.dir.path().join("disk.raw");
    std::fs::write(&disk, vec![7u8; 1 << 20]).expect("image file");
    cli.ok(&["image", "create", "--disk-format", "raw", "--file", disk.to_str().expect("path"), "img"]);
    let id = cli.json(&[
        "--os-compute-api-version", "2.73", "server", "create", "--flavor", "m1.tiny", "--image", "img", "--nic", "none",
        "--wait", "locked-one", "-f", "json",
    ])["id"]
        .as_str()
        .expect("id")
        .to_owned();
    cli.ok(&["--os-compute-api-version", "2.73", "server", "lock", "--reason", "disk check", &id]);
    let shown = cli.json(&["--os-compute-api-version", "2.73", "server", "show", &id, "-f", "json"]);
    assert_eq!(shown["locked_reason"], "disk check", "{shown}");
    let listed = cli.json(&["--os-compute-api-version", "2.73", "server", "list", "--locked", "-f", "json"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    cli.ok(&["--os-compute-api-version", "2.73", "server", "unlock", &id]);
    let listed = cli.json(&["--os-compute-api-version", "2.73", "server", "list", "--locked", "-f", "json"]);
    assert_eq!(listed, json!([]), "{listed}");
}
