//! Nova's image proxy (up to microversion 2.35) and a server's security groups, on a real
//! `stratus up`: the images are the Image API's, shown in Nova's view and changed through it
//! with the caller's token; the groups are the Network API's, on the server's ports. Raw HTTP
//! for Nova's shapes and faults, python-openstackclient for `server add/remove security group`.

mod common;

use common::cli::Cli;
use common::http::Api;
use common::Server;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const V: &str = "2.35";

fn message(b: &Value) -> String {
    b.as_object()
        .and_then(|o| o.values().next())
        .and_then(|f| f["message"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// An image made through the Image API, with `data` uploaded when given.
async fn glance_image(api: &Api, body: Value, data: Option<usize>) -> String {
    let (st, v) = api.send(Method::POST, "/image/v2/images", Some(body)).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().expect("image id").to_owned();
    if let Some(n) = data {
        let r = api
            .request(Method::PUT, &format!("/image/v2/images/{id}/file"))
            .header("content-type", "application/octet-stream")
            .body(vec![1u8; n])
            .send()
            .await
            .expect("upload");
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }
    id
}

fn ids(list: &Value) -> Vec<String> {
    list["images"]
        .as_array()
        .expect("images")
        .iter()
        .map(|i| i["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_proxy_shows_and_changes_the_image_apis_images() {
    let server = Server::start(&[]);
    let admin = Api::admin(&server).await;
    let snap_of = "8a2b0c3e-6f1d-4d5e-9a7b-1c2d3e4f5a6b";
    let cirros = glance_image(
        &admin,
        json!({"name": "cirros", "disk_format": "raw", "container_format": "bare", "visibility": "public",
               "min_ram": 64, "min_disk": 1, "os_distro": "cirros", "auto_disk_config": "true"}),
        Some(2048),
    )
    .await;
    let snap = glance_image(
        &admin,
        json!({"name": "snap", "disk_format": "raw", "container_format": "bare",
               "image_type": "snapshot", "instance_uuid": snap_of}),
        Some(1024),
    )
    .await;
    let queued = glance_image(
        &admin,
        json!({"name": "empty", "disk_format": "raw", "container_format": "bare"}),
        None,
    )
    .await;

    // The list: id, name and Nova's three links, newest first as the Image API lists them.
    let (st, l) = admin.compute(Method::GET, "/images", None, V).await;
    assert_eq!(st, StatusCode::OK, "{l}");
    assert_eq!(ids(&l), [queued.clone(), snap.clone(), cirros.clone()], "{l}");
    let first = &l["images"][2];
    assert_eq!(first["name"], "cirros");
    let links = first["links"].as_array().expect("links");
    assert_eq!(links.len(), 3, "{first}");
    assert_eq!(links[0]["href"], format!("{}/compute/v2.1/images/{cirros}", server.url));
    assert_eq!(links[1]["href"], format!("{}/compute/images/{cirros}", server.url));
    assert_eq!(links[2]["type"], "application/vnd.openstack.image");
    assert_eq!(links[2]["href"], format!("{}/image/images/{cirros}", server.url));
    assert!(l.get("images_links").is_none(), "one page: {l}");

    // The detail view, with Nova's status, progress, size and metadata.
    let (st, c) = admin.compute(Method::GET, &format!("/images/{cirros}"), None, V).await;
    assert_eq!(st, StatusCode::OK, "{c}");
    let c = &c["image"];
    assert_eq!(
        (c["status"].as_str(), c["progress"].as_i64()),
        (Some("ACTIVE"), Some(100)),
        "{c}"
    );
    assert_eq!((c["minRam"].as_i64(), c["minDisk"].as_i64()), (Some(64), Some(1)));
    assert_eq!(c["OS-EXT-IMG-SIZE:size"], 2048);
    assert_eq!(
        c["metadata"],
        json!({"os_distro": "cirros", "auto_disk_config": "true"}),
        "{c}"
    );
    assert_eq!(c["OS-DCF:diskConfig"], "AUTO");
    let created = c["created"].as_str().expect("created");
    assert!(created.len() == 20 && created.ends_with('Z'), "{created}");
    assert!(c.get("server").is_none());
    let (_, s) = admin.compute(Method::GET, &format!("/images/{snap}"), None, V).await;
    assert_eq!(s["image"]["server"]["id"], snap_of, "a snapshot names its server: {s}");
    assert_eq!(
        s["image"]["server"]["links"][0]["href"],
        format!("{}/compute/v2.1/servers/{snap_of}", server.url)
    );
    let (_, q) = admin.compute(Method::GET, &format!("/images/{queued}"), None, V).await;
    assert_eq!(
        (q["image"]["status"].as_str(), q["image"]["progress"].as_i64()),
        (Some("SAVING"), Some(25))
    );
    assert_eq!(q["image"]["OS-EXT-IMG-SIZE:size"], 0);

    // Nova's filters, translated for the Image API.
    for (query, want) in [
        ("name=cirros", vec![cirros.clone()]),
        // Nova lower-cases the status for the Image API: its own SAVING is Glance's saving,
        // which a queued image is not.
        ("status=QUEUED", vec![queued.clone()]),
        ("status=SAVING", vec![]),
        ("status=active", vec![snap.clone(), cirros.clone()]),
        ("minRam=64", vec![cirros.clone()]),
        ("minDisk=1", vec![cirros.clone()]),
        ("type=snapshot", vec![snap.clone()]),
        (&format!("server=http://x/servers/{snap_of}"), vec![snap.clone()]),
        ("property-os_distro=cirros", vec![cirros.clone()]),
        (
            "changes-since=2000-01-01",
            vec![queued.clone(), snap.clone(), cirros.clone()],
        ),
        ("changes-since=2999-01-01T00:00:00Z", vec![]),
        ("unknown=ignored", vec![queued.clone(), snap.clone(), cirros.clone()]),
    ] {
        let (st, l) = admin
            .compute(Method::GET, &format!("/images/detail?{query}"), None, V)
            .await;
        assert_eq!(st, StatusCode::OK, "{query}: {l}");
        assert_eq!(ids(&l), want, "{query}");
    }

    // Pages: a full page links the next one, which starts after it.
    let (_, p1) = admin.compute(Method::GET, "/images/detail?limit=2", None, V).await;
    assert_eq!(ids(&p1), [queued.clone(), snap.clone()]);
    let next = p1["images_links"][0]["href"].as_str().expect("a next link").to_owned();
    assert!(
        next.contains("/compute/v2.1/images/detail?") && next.contains(&format!("marker={snap}")),
        "{next}"
    );
    let path = next.split("/compute/v2.1").nth(1).expect("path");
    let (_, p2) = admin.compute(Method::GET, path, None, V).await;
    assert_eq!(ids(&p2), [cirros.clone()], "{p2}");
    assert!(p2.get("images_links").is_none());

    // Refusals: bad paging and times, the Image API's own, and nothing at 2.36.
    for q in [
        "limit=0",
        "limit=x",
        "page_size=0",
        "changes-since=soon",
        "minRam=lots",
        "marker=nope",
    ] {
        let (st, b) = admin.compute(Method::GET, &format!("/images?{q}"), None, V).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{q}: {b}");
        assert!(b["badRequest"]["message"].is_string(), "{b}");
    }
    let (st, b) = admin.compute(Method::GET, "/images", None, "2.36").await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{b}");
    let (st, b) = admin
        .compute(Method::GET, "/images/0d3c6a1e-0000-4000-8000-000000000000", None, V)
        .await;
    assert_eq!(
        (st, message(&b)),
        (StatusCode::NOT_FOUND, "Image not found.".to_owned())
    );

    // Metadata: the image's custom properties, changed with JSON patches.
    let md = format!("/images/{cirros}/metadata");
    let (st, m) = admin.compute(Method::GET, &md, None, V).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(m["metadata"]["os_distro"], "cirros");
    let (st, m) = admin
        .compute(
            Method::POST,
            &md,
            Some(json!({"metadata": {"hw_disk_bus": "virtio", "os_distro": "cirros-0.6"}})),
            V,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{m}");
    assert_eq!(
        m["metadata"],
        json!({"os_distro": "cirros-0.6", "auto_disk_config": "true", "hw_disk_bus": "virtio"})
    );
    let (st, m) = admin
        .compute(
            Method::PUT,
            &format!("{md}/hw_disk_bus"),
            Some(json!({"meta": {"hw_disk_bus": "scsi"}})),
            V,
        )
        .await;
    assert_eq!((st, &m), (StatusCode::OK, &json!({"meta": {"hw_disk_bus": "scsi"}})));
    let (_, m) = admin.compute(Method::GET, &format!("{md}/hw_disk_bus"), None, V).await;
    assert_eq!(m, json!({"meta": {"hw_disk_bus": "scsi"}}));
    let (_, g) = admin
        .send(Method::GET, &format!("/image/v2/images/{cirros}"), None)
        .await;
    assert_eq!(g["hw_disk_bus"], "scsi", "the Image API has it: {g}");
    let (st, _) = admin
        .compute(Method::DELETE, &format!("{md}/hw_disk_bus"), None, V)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, b) = admin
        .compute(Method::DELETE, &format!("{md}/hw_disk_bus"), None, V)
        .await;
    assert_eq!(
        (st, message(&b)),
        (StatusCode::NOT_FOUND, "Invalid metadata key".to_owned())
    );
    let (st, b) = admin.compute(Method::GET, &format!("{md}/hw_disk_bus"), None, V).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{b}");
    let (st, m) = admin
        .compute(Method::PUT, &md, Some(json!({"metadata": {"only": "this"}})), V)
        .await;
    assert_eq!((st, &m), (StatusCode::OK, &json!({"metadata": {"only": "this"}})));
    let (_, g) = admin
        .send(Method::GET, &format!("/image/v2/images/{cirros}"), None)
        .await;
    assert!(
        g.get("os_distro").is_none() && g["only"] == "this",
        "replaced whole: {g}"
    );
    assert_eq!(g["name"], "cirros", "core attributes are not metadata: {g}");
    for (body, path) in [
        (json!({"metadata": {"a/b": "v"}}), md.clone()),
        (json!({"metadata": {"k": 7}}), md.clone()),
        (json!({"meta": {"k": "v"}}), md.clone()),
        (json!({"meta": {"other": "v"}}), format!("{md}/k")),
    ] {
        let (st, b) = admin.compute(Method::POST, &path, Some(body.clone()), V).await;
        let (st2, _) = admin.compute(Method::PUT, &path, Some(body.clone()), V).await;
        assert!(
            (st == StatusCode::BAD_REQUEST || st == StatusCode::METHOD_NOT_ALLOWED) && st2 == StatusCode::BAD_REQUEST,
            "{path} {body}: {st} {st2} {b}"
        );
    }

    // Nova's metadata_items quota counts every property the image would have: a 403.
    let project = admin.project.clone();
    let (st, b) = admin
        .compute(
            Method::PUT,
            &format!("/os-quota-sets/{project}"),
            Some(json!({"quota_set": {"metadata_items": 2}})),
            V,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (st, b) = admin
        .compute(
            Method::POST,
            &md,
            Some(json!({"metadata": {"two": "2", "three": "3"}})),
            V,
        )
        .await;
    assert_eq!(
        (st, message(&b)),
        (StatusCode::FORBIDDEN, "Image metadata limit exceeded".to_owned())
    );
    let (st, _) = admin
        .compute(Method::POST, &md, Some(json!({"metadata": {"two": "2"}})), V)
        .await;
    assert_eq!(st, StatusCode::OK, "two items fit");
    let (st, _) = admin.compute(Method::DELETE, &format!("{md}/two"), None, V).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "a removal is never over quota");

    // Another project sees the public image but may not change or delete it, and does not
    // see the private ones.
    let alice = admin.member_of_new_project(&server, "alice").await;
    let (st, l) = alice.compute(Method::GET, "/images", None, V).await;
    assert_eq!((st, ids(&l)), (StatusCode::OK, vec![cirros.clone()]));
    let (st, b) = alice.compute(Method::GET, &format!("/images/{snap}"), None, V).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{b}");
    let (st, b) = alice
        .compute(Method::DELETE, &format!("/images/{cirros}"), None, V)
        .await;
    assert_eq!(
        (st, message(&b)),
        (
            StatusCode::FORBIDDEN,
            "You are not allowed to delete the image.".to_owned()
        )
    );
    let (st, b) = alice
        .compute(Method::POST, &md, Some(json!({"metadata": {"mine": "no"}})), V)
        .await;
    assert_eq!(
        (st, message(&b)),
        (StatusCode::FORBIDDEN, format!("Not authorized for image {cirros}."))
    );

    // The owner deletes through the proxy; the Image API no longer has it.
    let (st, _) = admin.compute(Method::DELETE, &format!("/images/{snap}"), None, V).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = admin.send(Method::GET, &format!("/image/v2/images/{snap}"), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = admin.compute(Method::DELETE, &format!("/images/{snap}"), None, V).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

/// A server of `api`'s on `network`, ACTIVE.
async fn active_server(api: &Api, image: &str, networks: Value, name: &str) -> String {
    let (st, s) = api
        .compute(
            Method::POST,
            "/servers",
            Some(json!({"server": {"name": name, "imageRef": image, "flavorRef": "1", "networks": networks}})),
            "2.37",
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{s}");
    let id = s["server"]["id"].as_str().expect("server id").to_owned();
    for _ in 0..400 {
        let (_, v) = api.compute(Method::GET, &format!("/servers/{id}"), None, "2.37").await;
        match v["server"]["status"].as_str() {
            Some("ACTIVE") => return id,
            Some("ERROR") => panic!("server {name} failed: {v}"),
            _ => tokio::time::sleep(std::time::Duration::from_millis(25)).await,
        }
    }
    panic!("server {name} did not become ACTIVE");
}

async fn neutron(api: &Api, m: Method, path: &str, body: Value) -> Value {
    let (st, v) = api.send(m, &format!("/network/v2.0{path}"), Some(body)).await;
    assert!(st.is_success(), "{path}: {st} {v}");
    v
}

fn group_names(list: &Value) -> Vec<String> {
    list["security_groups"]
        .as_array()
        .expect("security_groups")
        .iter()
        .map(|g| g["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_servers_security_groups_are_its_ports() {
    let server = Server::start(&[]);
    let admin = Api::admin(&server).await;
    let image = glance_image(
        &admin,
        json!({"name": "img", "disk_format": "raw", "container_format": "bare", "visibility": "public"}),
        Some(1024),
    )
    .await;
    let alice = admin.member_of_new_project(&server, "alice").await;
    let net = neutron(&alice, Method::POST, "/networks", json!({"network": {"name": "net"}})).await;
    let net = net["network"]["id"].as_str().expect("network").to_owned();
    neutron(
        &alice,
        Method::POST,
        "/subnets",
        json!({"subnet": {"network_id": net, "cidr": "10.60.0.0/24", "ip_version": 4}}),
    )
    .await;
    let web = neutron(
        &alice,
        Method::POST,
        "/security-groups",
        json!({"security_group": {"name": "web", "description": "http"}}),
    )
    .await;
    let web_id = web["security_group"]["id"].as_str().expect("web").to_owned();
    neutron(
        &alice,
        Method::POST,
        "/security-group-rules",
        json!({"security_group_rule": {"security_group_id": web_id, "direction": "ingress", "protocol": "tcp",
               "port_range_min": 80, "port_range_max": 80, "remote_ip_prefix": "10.0.0.0/8"}}),
    )
    .await;
    let db = neutron(
        &alice,
        Method::POST,
        "/security-groups",
        json!({"security_group": {"name": "db"}}),
    )
    .await;
    let db_id = db["security_group"]["id"].as_str().expect("db").to_owned();
    let vm = active_server(&alice, &image, json!([{"uuid": net}]), "vm").await;
    let sgs = format!("/servers/{vm}/os-security-groups");
    let action = format!("/servers/{vm}/action");

    // The project's default group, in Nova's shape: ingress rules only, the remote group by
    // name and project.
    let (st, l) = alice.compute(Method::GET, &sgs, None, "2.1").await;
    assert_eq!(st, StatusCode::OK, "{l}");
    assert_eq!(group_names(&l), ["default"]);
    let default = &l["security_groups"][0];
    assert_eq!(default["tenant_id"], alice.project.as_str());
    let rules = default["rules"].as_array().expect("rules");
    assert!(!rules.is_empty(), "{default}");
    for r in rules {
        assert_eq!(
            r["group"],
            json!({"name": "default", "tenant_id": alice.project}),
            "{r}"
        );
        assert_eq!(r["ip_range"], json!({}), "{r}");
        assert_eq!(r["parent_group_id"], default["id"]);
    }

    // addSecurityGroup, by name and by id: on the port, in the list, on the server.
    let (st, b) = alice
        .compute(
            Method::POST,
            &action,
            Some(json!({"addSecurityGroup": {"name": "web"}})),
            "2.1",
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{b}");
    let (st, b) = alice
        .compute(
            Method::POST,
            &action,
            Some(json!({"addSecurityGroup": {"name": db_id}})),
            "2.1",
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{b}");
    let (_, l) = alice.compute(Method::GET, &sgs, None, "2.62").await;
    assert_eq!(group_names(&l), ["db", "default", "web"], "sorted by name: {l}");
    let web_view = l["security_groups"]
        .as_array()
        .expect("list")
        .iter()
        .find(|g| g["name"] == "web")
        .cloned()
        .expect("web");
    assert_eq!(web_view["description"], "http");
    assert_eq!(
        web_view["rules"],
        json!([{"id": web_view["rules"][0]["id"], "parent_group_id": web_id, "ip_protocol": "tcp",
                "from_port": 80, "to_port": 80, "group": {}, "ip_range": {"cidr": "10.0.0.0/8"}}]),
        "{web_view}"
    );
    let (_, ports) = alice
        .send(Method::GET, &format!("/network/v2.0/ports?device_id={vm}"), None)
        .await;
    let on_port = ports["ports"][0]["security_groups"].as_array().expect("groups").clone();
    assert_eq!(on_port.len(), 3, "{ports}");
    assert!(on_port.contains(&json!(web_id)) && on_port.contains(&json!(db_id)));
    let (_, shown) = alice.compute(Method::GET, &format!("/servers/{vm}"), None, "2.1").await;
    let mut names: Vec<&str> = shown["server"]["security_groups"]
        .as_array()
        .expect("security_groups")
        .iter()
        .filter_map(|g| g["name"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["db", "default", "web"], "{shown}");

    // Nova's refusals.
    for (body, status, needle) in [
        (
            json!({"addSecurityGroup": {"name": "web"}}),
            StatusCode::BAD_REQUEST,
            "already associated".to_owned(),
        ),
        (
            json!({"addSecurityGroup": {"name": "ghost"}}),
            StatusCode::NOT_FOUND,
            format!("Security group ghost is not found for project {}", alice.project),
        ),
        (
            json!({"addSecurityGroup": "web"}),
            StatusCode::BAD_REQUEST,
            "Missing parameter dict".to_owned(),
        ),
        (
            json!({"addSecurityGroup": {}}),
            StatusCode::BAD_REQUEST,
            "Security group not specified".to_owned(),
        ),
        (
            json!({"removeSecurityGroup": {"name": " "}}),
            StatusCode::BAD_REQUEST,
            "Security group name cannot be empty".to_owned(),
        ),
    ] {
        let (st, b) = alice.compute(Method::POST, &action, Some(body.clone()), "2.1").await;
        assert_eq!(st, status, "{body}: {b}");
        assert!(message(&b).contains(&needle), "{body}: {b}");
    }
    neutron(
        &alice,
        Method::POST,
        "/security-groups",
        json!({"security_group": {"name": "twin"}}),
    )
    .await;
    neutron(
        &alice,
        Method::POST,
        "/security-groups",
        json!({"security_group": {"name": "twin"}}),
    )
    .await;
    let (st, b) = alice
        .compute(
            Method::POST,
            &action,
            Some(json!({"addSecurityGroup": {"name": "twin"}})),
            "2.1",
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "two groups of that name: {b}");

    // removeSecurityGroup; a second time it is not there (Nova's 404).
    let (st, b) = alice
        .compute(
            Method::POST,
            &action,
            Some(json!({"removeSecurityGroup": {"name": "web"}})),
            "2.1",
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{b}");
    let (_, l) = alice.compute(Method::GET, &sgs, None, "2.1").await;
    assert_eq!(group_names(&l), ["db", "default"]);
    let (st, b) = alice
        .compute(
            Method::POST,
            &action,
            Some(json!({"removeSecurityGroup": {"name": "web"}})),
            "2.1",
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{b}");
    assert!(message(&b).contains("not associated with the instance"), "{b}");

    // A server without ports has no groups, and none can be added.
    let bare = active_server(&alice, &image, json!("none"), "bare").await;
    let (st, l) = alice
        .compute(Method::GET, &format!("/servers/{bare}/os-security-groups"), None, "2.1")
        .await;
    assert_eq!((st, group_names(&l).len()), (StatusCode::OK, 0));
    let (st, b) = alice
        .compute(
            Method::POST,
            &format!("/servers/{bare}/action"),
            Some(json!({"addSecurityGroup": {"name": "web"}})),
            "2.1",
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{b}");
    assert!(
        message(&b).contains("could not be found as device id on any ports"),
        "{b}"
    );

    // Another project does not find the server at all.
    let bob = admin.member_of_new_project(&server, "bob").await;
    let (st, _) = bob.compute(Method::GET, &sgs, None, "2.1").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = bob
        .compute(
            Method::POST,
            &action,
            Some(json!({"addSecurityGroup": {"name": "web"}})),
            "2.1",
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[test]
fn openstack_server_add_and_remove_security_group() {
    let server = Server::start(&[]);
    let admin = Cli::admin(&server);
    let image = server.dir.path().join("disk.raw");
    std::fs::write(&image, vec![7u8; 1 << 16]).expect("image file");
    admin.ok(&[
        "image",
        "create",
        "--disk-format",
        "raw",
        "--file",
        image.to_str().expect("path"),
        "img",
    ]);
    admin.ok(&["network", "create", "private"]);
    admin.ok(&[
        "subnet",
        "create",
        "--network",
        "private",
        "--subnet-range",
        "10.61.0.0/24",
        "private-v4",
    ]);
    let web = admin.json(&["security", "group", "create", "web"]);
    let db = admin.json(&["security", "group", "create", "db"]);
    let s = admin.json(&[
        "server",
        "create",
        "--flavor",
        "m1.tiny",
        "--image",
        "img",
        "--network",
        "private",
        "--wait",
        "vm",
    ]);
    assert_eq!(s["status"], "ACTIVE", "{s}");
    let id = s["id"].as_str().expect("id").to_owned();
    let port_groups = || -> Vec<String> {
        let ports = admin.json(&["port", "list", "--device-id", &id]);
        let port = ports[0]["ID"].as_str().expect("port").to_owned();
        let shown = admin.json(&["port", "show", &port]);
        let mut g: Vec<String> = serde_json::from_value(shown["security_group_ids"].clone()).unwrap_or_default();
        g.sort();
        g
    };
    assert_eq!(port_groups().len(), 1, "the default group");

    // By name and by id, as OSC passes either to Nova.
    admin.ok(&["server", "add", "security", "group", "vm", "web"]);
    admin.ok(&[
        "server",
        "add",
        "security",
        "group",
        "vm",
        db["id"].as_str().expect("db id"),
    ]);
    let groups = port_groups();
    assert_eq!(groups.len(), 3, "{groups:?}");
    assert!(groups.contains(&web["id"].as_str().expect("web id").to_owned()));
    let shown = admin.json(&["server", "show", "vm"]);
    let listed = shown["security_groups"].to_string();
    assert!(listed.contains("web") && listed.contains("db"), "{shown}");

    let err = admin.fails(&["server", "add", "security", "group", "vm", "web"]);
    assert!(
        err.contains("already associated") || err.contains("were not added"),
        "{err}"
    );
    let err = admin.fails(&["server", "add", "security", "group", "vm", "ghost"]);
    assert!(err.contains("ghost"), "{err}");

    admin.ok(&["server", "remove", "security", "group", "vm", "web"]);
    let groups = port_groups();
    assert_eq!(groups.len(), 2, "{groups:?}");
    assert!(!groups.contains(&web["id"].as_str().expect("web id").to_owned()));
    let err = admin.fails(&["server", "remove", "security", "group", "vm", "web"]);
    assert!(
        err.contains("not associated") || err.contains("were not removed"),
        "{err}"
    );
    admin.ok(&["server", "delete", "--wait", "vm"]);
}
