//! The compute router over SQLite, without Identity: keypairs in the shapes each microversion
//! gives them (what tempest's keypair tests compare), and the server list's query filters
//! (`changes-since`, `image`, `flavor`, `name`) refused or answered as Nova answers them.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{json, Value};
use stratus_api::auth::{AuthContext, TokenValidator};
use stratus_api::policy::Policy;
use stratus_api::testing::caller;
use stratus_api::ApiError;
use stratus_compute::{ComputeConfig, ComputeService};
use stratus_store::testing::TestLocation;
use stratus_store::Backend;
use tower::ServiceExt;

/// `ssh-keygen -t ecdsa -b 384`: the kind of key tempest's client makes and sends.
const P384: &str = "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBKu1FLz4ex+NZR98nMUqjgNkLRzu/J0z9dHSWTNAQ/Wwms1crDauSCAR4IHk6zWMT1MSdzmgziLJQi12ZEQEbYWvfx6cDIh3fdxtUau3DWQCrEiUO10mvzui5NCSfb44yA== p384@stratus";

/// "dora" is a member of p-dora; "admin" an administrator.
struct Tokens;

#[async_trait::async_trait]
impl TokenValidator for Tokens {
    async fn validate(&self, token: &str) -> Result<Arc<AuthContext>, ApiError> {
        match token {
            "dora" => Ok(Arc::new(caller("p-dora", &["member", "reader"]))),
            "admin" => Ok(Arc::new(caller("p-admin", &["admin", "member", "reader"]))),
            _ => Err(ApiError::unauthorized("unknown token")),
        }
    }
}

struct Api {
    router: axum::Router,
    _loc: TestLocation,
}

impl Api {
    async fn new() -> Self {
        let loc = TestLocation::new(Backend::Sqlite).await;
        let policy = Policy::load(stratus_compute::DEFAULT_POLICY, None).expect("policy");
        let svc = ComputeService::open(&loc.location, ComputeConfig::default(), policy)
            .await
            .expect("open");
        Api {
            router: stratus_compute_api::router(svc, Arc::new(Tokens), "http://stratus.test"),
            _loc: loc,
        }
    }

    async fn call(
        &self,
        token: &str,
        mv: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(format!("/v2.1{path}"))
            .header("x-auth-token", token)
            .header("openstack-api-version", format!("compute {mv}"))
            .header("content-type", "application/json");
        let req = req
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .expect("request");
        let resp = self.router.clone().oneshot(req).await.expect("answer");
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body");
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn create(&self, mv: &str, keypair: Value) -> (StatusCode, Value) {
        self.call(
            "dora",
            mv,
            Method::POST,
            "/os-keypairs",
            Some(json!({ "keypair": keypair })),
        )
        .await
    }
}

fn message<'a>(b: &'a Value, fault: &str) -> &'a str {
    b[fault]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("a {fault} fault: {b}"))
}

#[tokio::test]
async fn keypairs_are_shown_as_they_were_given_at_every_microversion() {
    let api = Api::new().await;
    let given = format!("{P384}\n");

    // 2.1: 200, no type; the list entry is the create answer without user_id.
    let (s, b) = api.create("2.1", json!({"name": "v21", "public_key": given})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let mut made = b["keypair"].clone();
    assert_eq!(made["public_key"], given.as_str());
    assert_eq!(made["fingerprint"], "db:e3:b9:57:c7:64:8f:23:e5:c5:0f:02:24:52:e0:2d");
    assert_eq!(made["user_id"], "user-p-dora");
    assert!(
        made.get("type").is_none() && made.get("private_key").is_none(),
        "{made}"
    );
    made.as_object_mut().expect("object").remove("user_id");
    let (s, b) = api.call("dora", "2.1", Method::GET, "/os-keypairs", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["keypairs"], json!([{ "keypair": made }]));
    let (_, b) = api.call("dora", "2.1", Method::GET, "/os-keypairs/v21", None).await;
    assert_eq!(b["keypair"]["public_key"], given.as_str());
    assert!(b["keypair"].get("type").is_none(), "{b}");

    // 2.2: 201 and a type, ssh by default; the list shows the same.
    let (s, b) = api.create("2.2", json!({"name": "v22", "public_key": P384})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["keypair"]["type"], "ssh");
    let (_, list) = api.call("dora", "2.2", Method::GET, "/os-keypairs", None).await;
    let entry = list["keypairs"]
        .as_array()
        .expect("list")
        .iter()
        .find(|k| k["keypair"]["name"] == "v22")
        .expect("listed")
        .clone();
    let mut made = b["keypair"].clone();
    made.as_object_mut().expect("object").remove("user_id");
    assert_eq!(entry["keypair"], made);

    // Generated (no public key): the private key once, in the answer only.
    let (s, b) = api.create("2.2", json!({"name": "made"})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert!(b["keypair"]["private_key"]
        .as_str()
        .is_some_and(|p| p.starts_with("-----BEGIN RSA PRIVATE KEY-----")));
    assert_eq!(b["keypair"]["type"], "ssh");
    let (_, shown) = api.call("dora", "2.2", Method::GET, "/os-keypairs/made", None).await;
    assert!(shown["keypair"].get("private_key").is_none(), "{shown}");
    assert_eq!(shown["keypair"]["public_key"], b["keypair"]["public_key"]);
    let (s, b) = api.create("2.2", json!({"name": "cert", "type": "x509"})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["keypair"]["type"], "x509");
    assert!(b["keypair"]["public_key"]
        .as_str()
        .is_some_and(|p| p.starts_with("-----BEGIN CERTIFICATE-----")));
    let (_, shown) = api.call("dora", "2.2", Method::GET, "/os-keypairs/cert", None).await;
    assert_eq!(shown["keypair"]["type"], "x509");

    // A name twice: 409 with Nova's words, imported or generated.
    for body in [json!({"name": "v21", "public_key": P384}), json!({"name": "v21"})] {
        let (s, b) = api.create("2.1", body).await;
        assert_eq!(s, StatusCode::CONFLICT, "{b}");
        assert_eq!(message(&b, "conflictingRequest"), "Key pair 'v21' already exists.");
    }

    // 2.10: an administrator makes, shows and lists another user's keypairs.
    let (s, b) = api
        .call(
            "admin",
            "2.10",
            Method::POST,
            "/os-keypairs",
            Some(json!({"keypair": {"name": "for-dora", "type": "ssh", "public_key": P384, "user_id": "user-p-dora"}})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["keypair"]["user_id"], "user-p-dora");
    let (s, b) = api
        .call(
            "admin",
            "2.10",
            Method::GET,
            "/os-keypairs/for-dora?user_id=user-p-dora",
            None,
        )
        .await;
    assert_eq!(
        (s, &b["keypair"]["user_id"]),
        (StatusCode::OK, &json!("user-p-dora")),
        "{b}"
    );
    let (_, b) = api
        .call("admin", "2.10", Method::GET, "/os-keypairs?user_id=user-p-dora", None)
        .await;
    assert_eq!(b["keypairs"].as_array().map(Vec::len), Some(5), "{b}");
    let (_, b) = api.call("admin", "2.10", Method::GET, "/os-keypairs", None).await;
    assert_eq!(b["keypairs"], json!([]), "the administrator's own are apart");
}

#[tokio::test]
async fn bad_keypairs_are_refused_with_nova_faults() {
    let api = Api::new().await;
    for (mv, body, needle) in [
        (
            "2.2",
            json!({"name": "k", "public_key": P384, "type": "pgp"}),
            "is not one of ['ssh', 'x509']",
        ),
        (
            "2.2",
            json!({"name": "k", "public_key": P384, "type": "x509"}),
            "failed to generate X509 fingerprint",
        ),
        (
            "2.2",
            json!({"name": "k", "public_key": "ssh-rsa JUNK nova@ubuntu"}),
            "Keypair data is invalid",
        ),
        (
            "2.2",
            json!({"name": "k", "public_key": " "}),
            "Keypair data is invalid",
        ),
        ("2.2", json!({"name": "k", "public_key": null}), "public_key"),
        (
            "2.10",
            json!({"name": "dora.laptop", "public_key": P384}),
            "unsafe characters",
        ),
        ("2.10", json!({"name": "k@home"}), "unsafe characters"),
        ("2.10", json!({"name": "key_/.\\@:"}), "unsafe characters"),
        ("2.10", json!({"name": ""}), "between 1 and 255"),
        ("2.1", json!({"name": "k", "type": "ssh", "public_key": P384}), "2.2"),
        ("2.9", json!({"name": "k", "user_id": "x", "public_key": P384}), "2.10"),
        ("2.10", json!({"name": "k", "colour": "red"}), "colour"),
    ] {
        let (s, b) = api.create(mv, body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{mv} {body}: {b}");
        let m = message(&b, "badRequest");
        assert!(m.contains(needle), "{mv} {body}: {m}");
    }
    let (s, b) = api
        .create(
            "2.10",
            json!({"name": "theirs", "public_key": P384, "user_id": "someone-else"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
}

#[tokio::test]
async fn server_list_filters_answer_as_nova() {
    let api = Api::new().await;
    for q in [
        "changes-since=2051-01-01T12:34:00Z&status=ACTIVE",
        "changes-since=2011-01-01",
        "image=non_existing_image",
        "flavor=non_existing_flavor",
        "flavor=1",
        "name=%5E.*%5C-instance%5C-%5B0-9%5D%2B%24",
        "name=%7B%7D",
    ] {
        for path in ["/servers", "/servers/detail"] {
            let (s, b) = api
                .call("dora", "2.61", Method::GET, &format!("{path}?{q}"), None)
                .await;
            assert_eq!((s, &b["servers"]), (StatusCode::OK, &json!([])), "{path}?{q}: {b}");
        }
    }
    for (q, needle) in [
        ("changes-since=2011/01/01", "'2011/01/01' is not a 'date-time'"),
        ("changes-since=yesterday", "changes-since"),
        ("name=%28", "name"),
        ("name=%28%3F%3Dx%29", "name"),
    ] {
        let (s, b) = api
            .call("dora", "2.1", Method::GET, &format!("/servers?{q}"), None)
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}: {b}");
        let m = message(&b, "badRequest");
        assert!(m.contains(needle), "{q}: {m}");
    }
}
