//! The Compute API's flavors and keypairs through python-openstackclient, and their bad input
//! over raw HTTP with Nova's faults.

mod common;

use common::cli::Cli;
use common::{password_auth, Server, ADMIN_PASSWORD};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMkX/D2GUQlJX7OBj+x6rmepYtcmzpQmAKI5RcHHxjKH test@stratus";

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|i| i["Name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn flavors_and_keypairs_through_the_openstack_client() {
    let server = Server::start(&[]);
    let admin = Cli::admin(&server);

    // Nova's classic flavors are there from the first start.
    let flavors = admin.json(&["flavor", "list"]);
    assert_eq!(
        names(&flavors),
        ["m1.tiny", "m1.small", "m1.medium", "m1.large", "m1.xlarge"],
        "{flavors}"
    );
    let tiny = admin.json(&["flavor", "show", "m1.tiny"]);
    assert_eq!(
        (tiny["ram"].as_i64(), tiny["vcpus"].as_i64(), tiny["disk"].as_i64()),
        (Some(512), Some(1), Some(1))
    );

    // A private flavor shared with one project, with extra specs and a description.
    admin.ok(&["project", "create", "demo"]);
    admin.ok(&["user", "create", "--password", "pw-of-dora", "dora"]);
    admin.ok(&["role", "add", "--project", "demo", "--user", "dora", "member"]);
    let f = admin.json(&[
        "flavor",
        "create",
        "--id",
        "nano-1",
        "--ram",
        "256",
        "--vcpus",
        "1",
        "--disk",
        "2",
        "--ephemeral",
        "1",
        "--swap",
        "128",
        "--description",
        "for tests",
        "--property",
        "hw:cpu_policy=shared",
        "--private",
        "--project",
        "demo",
        "nano",
    ]);
    assert_eq!(f["id"], "nano-1", "{f}");
    assert_eq!(f["os-flavor-access:is_public"], false);
    assert_eq!(f["properties"]["hw:cpu_policy"], "shared", "{f}");
    assert_eq!(f["description"], "for tests");
    assert_eq!(f["swap"], 128);
    admin.ok(&["flavor", "set", "--property", "quota:disk_read_iops_sec=100", "nano"]);
    admin.ok(&["flavor", "unset", "--property", "hw:cpu_policy", "nano"]);
    let f = admin.json(&["flavor", "show", "nano"]);
    assert_eq!(f["properties"].as_object().map(|m| m.len()), Some(1), "{f}");
    assert!(f["access_project_ids"].to_string().len() > 4, "{f}");

    // The member of demo sees it; a member of another project does not.
    let dora = Cli::user(&server, "dora", "pw-of-dora", "demo");
    assert!(names(&dora.json(&["flavor", "list", "--all"])).contains(&"nano".to_owned()));
    let err = dora.fails(&["flavor", "create", "--ram", "1", "--vcpus", "1", "--disk", "1", "mine"]);
    assert!(err.contains("403") || err.contains("Policy"), "{err}");
    admin.ok(&["project", "create", "other"]);
    admin.ok(&["user", "create", "--password", "pw-of-otto", "otto"]);
    admin.ok(&["role", "add", "--project", "other", "--user", "otto", "member"]);
    let otto = Cli::user(&server, "otto", "pw-of-otto", "other");
    assert!(!names(&otto.json(&["flavor", "list", "--all"])).contains(&"nano".to_owned()));
    otto.fails(&["flavor", "show", "nano-1"]);

    // Keypairs: imported, listed, shown, per user.
    let key_file = server.dir.path().join("id.pub");
    std::fs::write(&key_file, format!("{ED25519}\n")).expect("key file");
    let k = dora.json(&[
        "keypair",
        "create",
        "--public-key",
        key_file.to_str().expect("path"),
        "laptop",
    ]);
    assert_eq!(
        k["fingerprint"], "98:53:90:55:74:f7:86:02:42:36:d2:ba:26:74:31:ae",
        "{k}"
    );
    assert_eq!(names(&dora.json(&["keypair", "list"])), ["laptop"]);
    let shown = dora.json(&["keypair", "show", "laptop"]);
    assert_eq!(shown["type"], "ssh", "{shown}");
    assert!(
        admin.json(&["keypair", "list"]).as_array().expect("list").is_empty(),
        "keypairs belong to their user"
    );
    let err = dora.fails(&[
        "keypair",
        "create",
        "--public-key",
        key_file.to_str().expect("path"),
        "laptop",
    ]);
    assert!(err.contains("already exists"), "{err}");
    dora.ok(&["keypair", "delete", "laptop"]);
    assert!(dora.json(&["keypair", "list"]).as_array().expect("list").is_empty());

    admin.ok(&["flavor", "delete", "nano"]);
    assert!(!names(&admin.json(&["flavor", "list", "--all"])).contains(&"nano".to_owned()));
}

async fn token(server: &Server) -> String {
    let r = Client::new()
        .post(format!("{}/auth/tokens", server.identity()))
        .json(&password_auth("admin", ADMIN_PASSWORD, Some("admin")))
        .send()
        .await
        .expect("auth");
    r.headers()["x-subject-token"].to_str().expect("token").to_owned()
}

async fn call(
    server: &Server,
    token: &str,
    version: &str,
    m: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut r = Client::new()
        .request(m, format!("{}/compute/v2.1{path}", server.url))
        .header("x-auth-token", token)
        .header("openstack-api-version", format!("compute {version}"));
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.expect("request");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn fault(body: &Value, key: &str, needle: &str) {
    let msg = body[key]["message"].as_str().unwrap_or_default();
    assert!(msg.contains(needle), "{key} message should contain {needle:?}: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_flavor_and_keypair_requests_get_nova_faults() {
    let server = Server::start(&[]);
    let t = token(&server).await;

    // Version discovery and negotiation.
    let v: Value = Client::new()
        .get(format!("{}/compute", server.url))
        .send()
        .await
        .expect("versions")
        .json()
        .await
        .expect("json");
    assert_eq!(v["versions"][0]["id"], "v2.0", "{v}");
    assert_eq!(v["versions"][1]["id"], "v2.1", "{v}");
    assert_eq!(v["versions"][1]["min_version"], "2.1");
    let (s, b) = call(&server, &t, "2.999", Method::GET, "/flavors", None).await;
    assert_eq!(s, StatusCode::NOT_ACCEPTABLE, "{b}");

    let flavor = |body: Value| {
        call(
            &server,
            &t,
            "2.61",
            Method::POST,
            "/flavors",
            Some(json!({ "flavor": body })),
        )
    };
    for (body, needle) in [
        (json!({"name": "x", "ram": 0, "vcpus": 1, "disk": 1}), "ram"),
        (json!({"name": "x", "ram": 64, "vcpus": -1, "disk": 1}), "vcpus"),
        (json!({"name": "x", "ram": "lots", "vcpus": 1, "disk": 1}), "ram"),
        (json!({"name": " x", "ram": 64, "vcpus": 1, "disk": 1}), "name"),
        (
            json!({"name": "x", "ram": 64, "vcpus": 1, "disk": 1, "rxtx_factor": 0}),
            "rxtx_factor",
        ),
        (
            json!({"name": "x", "ram": 64, "vcpus": 1, "disk": 1, "id": "a/b"}),
            "id",
        ),
        (
            json!({"name": "x", "ram": 64, "vcpus": 1, "disk": 1, "colour": "red"}),
            "colour",
        ),
        (json!({"name": "x", "ram": 64, "vcpus": 1}), "disk"),
    ] {
        let (s, b) = flavor(body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {b}");
        fault(&b, "badRequest", needle);
    }
    let (s, b) = flavor(json!({"name": "m1.tiny", "ram": 64, "vcpus": 1, "disk": 1})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    fault(&b, "conflictingRequest", "already exists");
    let (s, b) = flavor(json!({"name": "dup-id", "ram": 64, "vcpus": 1, "disk": 1, "id": "1"})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    fault(&b, "conflictingRequest", "ID 1 already exists");
    let (s, b) = call(
        &server,
        &t,
        "2.1",
        Method::POST,
        "/flavors",
        Some(json!({"flavor": {"name": "d", "ram": 64, "vcpus": 1, "disk": 1, "description": "x"}})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "description needs 2.55: {b}");
    let (s, b) = call(
        &server,
        &t,
        "2.61",
        Method::POST,
        "/flavors/1/action",
        Some(json!({"addTenantAccess": {"tenant": "p"}})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    fault(&b, "conflictingRequest", "public flavor");
    let (s, b) = call(&server, &t, "2.61", Method::GET, "/flavors/nope", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    fault(&b, "itemNotFound", "Flavor nope could not be found");
    let (s, b) = call(
        &server,
        &t,
        "2.61",
        Method::POST,
        "/flavors/1/os-extra_specs",
        Some(json!({"extra_specs": {"bad/key": "x"}})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (s, b) = call(&server, &t, "2.61", Method::GET, "/flavors?sort_key=colour", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (s, b) = call(&server, &t, "2.61", Method::GET, "/flavors?marker=nope", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");

    let keypair = |body: Value| {
        call(
            &server,
            &t,
            "2.10",
            Method::POST,
            "/os-keypairs",
            Some(json!({ "keypair": body })),
        )
    };
    for (body, needle) in [
        (
            json!({"name": "k", "public_key": "ssh-rsa AAAA-not-a-key"}),
            "Keypair data is invalid",
        ),
        (json!({"name": "k", "public_key": null}), "public_key"),
        (json!({"name": "bad/name", "public_key": ED25519}), "Keypair name"),
        (json!({"name": "", "public_key": ED25519}), "Keypair name"),
        (json!({"name": "k", "public_key": ED25519, "type": "x509"}), "x509"),
        (json!({"name": "k", "public_key": ED25519, "type": "pgp"}), "type"),
    ] {
        let (s, b) = keypair(body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {b}");
        fault(&b, "badRequest", needle);
    }
    let (s, b) = call(
        &server,
        &t,
        "2.1",
        Method::POST,
        "/os-keypairs",
        Some(json!({"keypair": {"name": "k", "public_key": ED25519, "type": "ssh"}})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "type needs 2.2: {b}");
    let (s, b) = keypair(json!({"name": "k", "public_key": ED25519})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = call(&server, &t, "2.10", Method::GET, "/os-keypairs/nope", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    let (s, b) = call(&server, &t, "2.1", Method::GET, "/os-keypairs?colour=red", None).await;
    assert_eq!(s, StatusCode::OK, "before 2.75 Nova ignores unknown query parameters: {b}");
    let (s, b) = call(&server, &t, "2.35", Method::GET, "/os-keypairs?limit=1", None).await;
    assert_eq!(
        (s, b["keypairs"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(1)),
        "{b}"
    );
    let (s, _) = call(&server, &t, "2.2", Method::DELETE, "/os-keypairs/k", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
}
