//! Aggregates, zones, usage, hypervisors and extensions on a real `stratus up` with two fake
//! compute hosts: over raw HTTP on both stores (an aggregate's zone becomes its host's in
//! os-availability-zone, os-services and the servers booted into it; flavors' aggregate extra
//! specs steer the scheduler; usage is counted from the servers' real lives; hypervisors at
//! each microversion), and through python-openstackclient (`aggregate create --zone`,
//! `aggregate add host`, `availability zone list`, `usage list`).

mod common;

use std::time::{Duration, Instant};

use chrono::Utc;
use common::cli::Cli;
use common::http::Api;
use common::{Server, Store};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const MV: &str = "2.61";

/// Nova's naive UTC times, as os-simple-tenant-usage reads them.
fn at(offset: chrono::Duration) -> String {
    (Utc::now() + offset).format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

async fn ok(api: &Api, m: Method, path: &str, body: Option<Value>, mv: &str) -> Value {
    let (s, b) = api.compute(m.clone(), path, body, mv).await;
    assert!(s.is_success(), "{m} {path}: {s} {b}");
    b
}

/// Boots a server (no network) and waits for it to leave BUILD.
async fn boot(api: &Api, image: &str, flavor: &str, zone: Option<&str>) -> Value {
    let mut body = json!({"server": {"name": "s", "flavorRef": flavor, "imageRef": image, "networks": "none"}});
    if let Some(z) = zone {
        body["server"]["availability_zone"] = json!(z);
    }
    let created = ok(api, Method::POST, "/servers", Some(body), MV).await;
    let id = created["server"]["id"].as_str().expect("id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = ok(api, Method::GET, &format!("/servers/{id}"), None, MV).await;
        if s["server"]["status"] != "BUILD" {
            return s["server"].clone();
        }
        assert!(Instant::now() < deadline, "server stayed in BUILD: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn over_http(store: Store) {
    let (server, loc) = Server::start_on(store, &["--compute-hosts", "host-a,host-b"]).await;
    let api = Api::admin(&server).await;
    api.wait_hosts_up(2).await;

    // ---------------------------------------------------------------- hypervisors
    let list = ok(&api, Method::GET, "/os-hypervisors/detail", None, "2.1").await;
    let hv = &list["hypervisors"][0];
    assert_eq!(
        (hv["id"].as_i64(), hv["service"]["id"].as_i64()),
        (Some(1), Some(1)),
        "{hv}"
    );
    assert!(hv["cpu_info"].is_string() && hv["host_ip"].is_string(), "{hv}");
    let one = ok(&api, Method::GET, "/os-hypervisors/2", None, "2.1").await;
    assert_eq!(one["hypervisor"]["hypervisor_hostname"], "host-b");
    let at228 = ok(&api, Method::GET, "/os-hypervisors/2", None, "2.28").await;
    assert!(at228["hypervisor"]["cpu_info"].is_object(), "{at228}");
    let uptime = ok(&api, Method::GET, "/os-hypervisors/1/uptime", None, "2.1").await;
    assert!(
        uptime["hypervisor"]["uptime"]
            .as_str()
            .is_some_and(|u| u.contains("load average")),
        "{uptime}"
    );
    let stats = ok(&api, Method::GET, "/os-hypervisors/statistics", None, "2.1").await;
    assert_eq!(stats["hypervisor_statistics"]["count"], 2, "{stats}");
    let found = ok(&api, Method::GET, "/os-hypervisors/host-/search", None, "2.52").await;
    assert_eq!(found["hypervisors"].as_array().map(Vec::len), Some(2), "{found}");
    let (s, _) = api
        .compute(Method::GET, "/os-hypervisors/host-/search", None, "2.53")
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "gone at 2.53");
    let page = ok(&api, Method::GET, "/os-hypervisors?limit=1", None, "2.33").await;
    let next = page["hypervisors_links"][0]["href"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(next.ends_with("/os-hypervisors?limit=1&marker=1"), "{page}");
    let by_uuid = ok(
        &api,
        Method::GET,
        "/os-hypervisors?hypervisor_hostname_pattern=host-b",
        None,
        "2.53",
    )
    .await;
    let uuid = by_uuid["hypervisors"][0]["id"]
        .as_str()
        .expect("a uuid at 2.53")
        .to_owned();
    let shown = ok(&api, Method::GET, &format!("/os-hypervisors/{uuid}"), None, "2.53").await;
    assert_eq!(shown["hypervisor"]["service"]["id"], json!(uuid));
    let (s, b) = api.compute(Method::GET, "/os-hypervisors/1", None, "2.53").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");

    // ---------------------------------------------------------------- zones
    let agg = ok(
        &api,
        Method::POST,
        "/os-aggregates",
        Some(json!({"aggregate": {"name": "east-agg", "availability_zone": "east"}})),
        MV,
    )
    .await;
    let east = agg["aggregate"]["id"].as_i64().expect("id");
    let added = ok(
        &api,
        Method::POST,
        &format!("/os-aggregates/{east}/action"),
        Some(json!({"add_host": {"host": "host-a"}})),
        MV,
    )
    .await;
    assert_eq!(added["aggregate"]["hosts"], json!(["host-a"]));
    let zones = ok(&api, Method::GET, "/os-availability-zone", None, MV).await;
    let names: Vec<&str> = zones["availabilityZoneInfo"]
        .as_array()
        .expect("zones")
        .iter()
        .filter_map(|z| z["zoneName"].as_str())
        .collect();
    assert_eq!(names, ["east", "nova"], "{zones}");
    let detail = ok(&api, Method::GET, "/os-availability-zone/detail", None, MV).await;
    assert!(
        detail["availabilityZoneInfo"][0]["hosts"]["host-a"]["nova-compute"]["available"] == true,
        "{detail}"
    );
    let services = ok(&api, Method::GET, "/os-services?host=host-a", None, MV).await;
    assert_eq!(services["services"][0]["zone"], "east", "{services}");
    // A second zone for host-a is refused.
    let west = ok(
        &api,
        Method::POST,
        "/os-aggregates",
        Some(json!({"aggregate": {"name": "west-agg", "availability_zone": "west"}})),
        MV,
    )
    .await["aggregate"]["id"]
        .as_i64()
        .expect("id");
    let (s, b) = api
        .compute(
            Method::POST,
            &format!("/os-aggregates/{west}/action"),
            Some(json!({"add_host": {"host": "host-a"}})),
            MV,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert!(
        b["conflictingRequest"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("east")),
        "{b}"
    );

    // Servers asked into east land on host-a and show the zone; unasked ones show their
    // host's; an unknown zone is refused.
    let img = api.raw_image().await;
    let in_east = boot(&api, &img, "1", Some("east")).await;
    assert_eq!(in_east["status"], "ACTIVE", "{in_east}");
    assert_eq!(in_east["OS-EXT-SRV-ATTR:host"], "host-a");
    assert_eq!(in_east["OS-EXT-AZ:availability_zone"], "east");
    let anywhere = boot(&api, &img, "1", None).await;
    let zone = if anywhere["OS-EXT-SRV-ATTR:host"] == "host-a" {
        "east"
    } else {
        "nova"
    };
    assert_eq!(anywhere["OS-EXT-AZ:availability_zone"], zone, "{anywhere}");
    let (s, b) = api
        .compute(
            Method::POST,
            "/servers",
            Some(json!({"server": {"name": "x", "flavorRef": "1", "imageRef": img, "networks": "none", "availability_zone": "mars"}})),
            MV,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    // No rename of a zone with servers in it.
    let (s, b) = api
        .compute(
            Method::PUT,
            &format!("/os-aggregates/{east}"),
            Some(json!({"aggregate": {"availability_zone": "east-2"}})),
            MV,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");

    // ---------------------------------------------------------------- extra specs
    let fast = ok(
        &api,
        Method::POST,
        "/os-aggregates",
        Some(json!({"aggregate": {"name": "fast"}})),
        MV,
    )
    .await["aggregate"]["id"]
        .as_i64()
        .expect("id");
    ok(
        &api,
        Method::POST,
        &format!("/os-aggregates/{fast}/action"),
        Some(json!({"add_host": {"host": "host-b"}})),
        MV,
    )
    .await;
    ok(
        &api,
        Method::POST,
        &format!("/os-aggregates/{fast}/action"),
        Some(json!({"set_metadata": {"metadata": {"ssd": "true"}}})),
        MV,
    )
    .await;
    for (id, want) in [("ssd-1", "true"), ("hdd-1", "false")] {
        ok(
            &api,
            Method::POST,
            "/flavors",
            Some(json!({"flavor": {"name": id, "id": id, "ram": 64, "vcpus": 1, "disk": 1}})),
            MV,
        )
        .await;
        ok(
            &api,
            Method::POST,
            &format!("/flavors/{id}/os-extra_specs"),
            Some(json!({"extra_specs": {"aggregate_instance_extra_specs:ssd": want}})),
            MV,
        )
        .await;
    }
    for _ in 0..2 {
        let on_ssd = boot(&api, &img, "ssd-1", None).await;
        assert_eq!(on_ssd["OS-EXT-SRV-ATTR:host"], "host-b", "{on_ssd}");
    }
    let nowhere = boot(&api, &img, "hdd-1", None).await;
    assert_eq!(nowhere["status"], "ERROR", "{nowhere}");
    assert!(
        nowhere["fault"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("No valid host") && m.contains("aggregate")),
        "{nowhere}"
    );

    // ---------------------------------------------------------------- usage
    let period = format!(
        "start={}&end={}",
        at(chrono::Duration::hours(-1)),
        at(chrono::Duration::hours(1))
    );
    let all = ok(
        &api,
        Method::GET,
        &format!("/os-simple-tenant-usage?detailed=1&{period}"),
        None,
        MV,
    )
    .await;
    let mine = all["tenant_usages"]
        .as_array()
        .expect("usages")
        .iter()
        .find(|t| t["tenant_id"] == api.project.as_str())
        .cloned()
        .expect("the admin project's usage");
    // Four servers ran (the ERROR one never launched).
    assert_eq!(mine["server_usages"].as_array().map(Vec::len), Some(4), "{mine}");
    assert!(mine["total_hours"].as_f64().is_some_and(|h| h > 0.0), "{mine}");
    let u = &mine["server_usages"][0];
    assert_eq!(
        (u["vcpus"].as_i64(), u["memory_mb"].as_i64(), u["flavor"].as_str()),
        (Some(1), Some(512), Some("m1.tiny")),
        "{u}"
    );
    let shown = ok(
        &api,
        Method::GET,
        &format!("/os-simple-tenant-usage/{}?{period}", api.project),
        None,
        MV,
    )
    .await;
    assert_eq!(
        shown["tenant_usage"]["server_usages"].as_array().map(Vec::len),
        Some(4),
        "{shown}"
    );
    let paged = ok(
        &api,
        Method::GET,
        &format!("/os-simple-tenant-usage?limit=1&{period}"),
        None,
        MV,
    )
    .await;
    assert!(
        paged["tenant_usages_links"][0]["href"]
            .as_str()
            .is_some_and(|h| h.contains("marker=")),
        "{paged}"
    );
    // A deleted server counts up to its deletion, as terminated.
    let gone = in_east["id"].as_str().expect("id").to_owned();
    let (s, _) = api.compute(Method::DELETE, &format!("/servers/{gone}"), None, MV).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, _) = api.compute(Method::GET, &format!("/servers/{gone}"), None, MV).await;
        if s == StatusCode::NOT_FOUND {
            break;
        }
        assert!(Instant::now() < deadline, "server not deleted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let shown = ok(
        &api,
        Method::GET,
        &format!("/os-simple-tenant-usage/{}?{period}", api.project),
        None,
        MV,
    )
    .await;
    let ended = shown["tenant_usage"]["server_usages"]
        .as_array()
        .expect("servers")
        .iter()
        .find(|u| u["instance_id"] == gone.as_str())
        .cloned()
        .expect("still counted");
    assert_eq!(ended["state"], "terminated", "{ended}");
    assert!(ended["ended_at"].is_string(), "{ended}");
    let (s, b) = api
        .compute(
            Method::GET,
            "/os-simple-tenant-usage?start=2030-01-02T00:00:00&end=2030-01-01T00:00:00",
            None,
            MV,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");

    // ---------------------------------------------------------------- aggregates away
    let (s, b) = api
        .compute(Method::DELETE, &format!("/os-aggregates/{east}"), None, MV)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "hosts left: {b}");
    ok(
        &api,
        Method::POST,
        &format!("/os-aggregates/{east}/action"),
        Some(json!({"remove_host": {"host": "host-a"}})),
        MV,
    )
    .await;
    let (s, _) = api
        .compute(Method::DELETE, &format!("/os-aggregates/{east}"), None, MV)
        .await;
    assert_eq!(s, StatusCode::OK);
    let services = ok(&api, Method::GET, "/os-services?host=host-a", None, MV).await;
    assert_eq!(
        services["services"][0]["zone"], "nova",
        "back in the default zone: {services}"
    );

    // ---------------------------------------------------------------- extensions
    let ext = ok(&api, Method::GET, "/extensions/os-aggregates", None, MV).await;
    assert_eq!(ext["extension"]["name"], "Aggregates");
    let (s, b) = api.compute(Method::GET, "/extensions/os-nothing", None, MV).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");

    drop(server);
    loc.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregates_zones_usage_and_hypervisors_over_http_on_sqlite() {
    over_http(Store::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregates_zones_usage_and_hypervisors_over_http_on_postgres() {
    over_http(Store::Postgres).await;
}

#[test]
fn aggregates_zones_and_usage_through_the_openstack_client() {
    let server = Server::start(&["--compute-hosts", "host-a,host-b"]);
    let admin = Cli::admin(&server);
    let deadline = Instant::now() + Duration::from_secs(30);
    while admin.json(&["hypervisor", "list"]).as_array().map_or(0, Vec::len) < 2 {
        assert!(Instant::now() < deadline, "hosts did not register");
        std::thread::sleep(Duration::from_millis(200));
    }

    let agg = admin.json(&[
        "aggregate",
        "create",
        "--zone",
        "east",
        "--property",
        "ssd=true",
        "east-agg",
    ]);
    assert_eq!(agg["availability_zone"], "east", "{agg}");
    let agg = admin.json(&["aggregate", "add", "host", "east-agg", "host-a"]);
    assert_eq!(agg["hosts"], json!(["host-a"]), "{agg}");
    let shown = admin.json(&["aggregate", "show", "east-agg"]);
    assert_eq!(shown["properties"]["ssd"], "true", "{shown}");
    let zones = admin.json(&["availability", "zone", "list", "--compute"]);
    let names: Vec<&str> = zones
        .as_array()
        .expect("zones")
        .iter()
        .filter_map(|z| z["Zone Name"].as_str())
        .collect();
    assert!(names.contains(&"east") && names.contains(&"nova"), "{zones}");
    let long = admin.json(&["availability", "zone", "list", "--compute", "--long"]);
    assert!(
        long.as_array()
            .expect("zones")
            .iter()
            .any(|z| z["Zone Name"] == "east" && z["Host Name"] == "host-a"),
        "{long}"
    );

    let image = server.dir.path().join("disk.raw");
    std::fs::write(&image, vec![7u8; 1 << 20]).expect("image file");
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
        "server",
        "create",
        "--flavor",
        "m1.tiny",
        "--image",
        "img",
        "--no-network",
        "--availability-zone",
        "east",
        "--wait",
        "in-east",
    ]);
    assert_eq!(s["OS-EXT-AZ:availability_zone"], "east", "{s}");
    assert_eq!(s["OS-EXT-SRV-ATTR:host"], "host-a", "{s}");

    // A row for the admin project (by name, or by id where the client cannot list projects),
    // with the hours of the server. (The client asks `detailed=True`, which Nova reads as not
    // detailed: no server count, as against Nova.)
    let project = admin.json(&["project", "show", "admin"])["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let usage = admin.json(&["usage", "list"]);
    let row = usage
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["Project"] == "admin" || r["Project"] == project.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("no usage row for admin: {usage}"));
    assert!(row["RAM MB-Hours"].as_f64().is_some_and(|h| h > 0.0), "{row}");
    let mine = admin.json(&["usage", "show", "--project", "admin"]);
    assert!(mine["CPU Hours"].is_number() || mine["CPU Hours"].is_string(), "{mine}");

    admin.ok(&["server", "delete", "--wait", "in-east"]);
    admin.ok(&["aggregate", "remove", "host", "east-agg", "host-a"]);
    admin.ok(&["aggregate", "delete", "east-agg"]);
    assert!(admin.json(&["aggregate", "list"]).as_array().expect("list").is_empty());
}
