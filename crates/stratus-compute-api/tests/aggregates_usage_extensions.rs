//! The compute router over SQLite, without Identity or compute hosts: aggregates in the shape
//! each microversion gives them (tempest's schemas: no hosts or metadata in create's answer,
//! the uuid from 2.41, a 200 for every call), their bodies held to Nova's schemas; the
//! extension list; usage and hypervisor requests refused as Nova refuses them.

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

async fn router() -> (axum::Router, TestLocation) {
    let loc = TestLocation::new(Backend::Sqlite).await;
    let policy = Policy::load(stratus_compute::DEFAULT_POLICY, None).expect("policy");
    let svc = ComputeService::open(&loc.location, ComputeConfig::default(), policy)
        .await
        .expect("open");
    (
        stratus_compute_api::router(svc, Arc::new(Tokens), "http://stratus.test"),
        loc,
    )
}

async fn call(
    r: &axum::Router,
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
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .expect("request");
    let resp = r.clone().oneshot(req).await.expect("answer");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body");
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    k.sort();
    k
}

#[tokio::test]
async fn aggregates_in_novas_shapes_at_each_microversion() {
    let (r, _loc) = router().await;
    let (s, b) = call(
        &r,
        "admin",
        "2.1",
        Method::POST,
        "/os-aggregates",
        Some(json!({"aggregate": {"name": "a1"}})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        keys(&b["aggregate"]),
        [
            "availability_zone",
            "created_at",
            "deleted",
            "deleted_at",
            "id",
            "name",
            "updated_at"
        ]
    );
    assert_eq!(b["aggregate"]["id"], 1);
    assert_eq!(b["aggregate"]["availability_zone"], Value::Null);
    assert!(b["aggregate"]["created_at"]
        .as_str()
        .is_some_and(|t| t.len() == 26 && !t.ends_with('Z')));

    let (s, b) = call(
        &r,
        "admin",
        "2.41",
        Method::POST,
        "/os-aggregates",
        Some(json!({"aggregate": {"name": "a2", "availability_zone": "east"}})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["aggregate"]["availability_zone"], "east");
    assert_eq!(b["aggregate"]["uuid"].as_str().map(str::len), Some(36));

    let (s, b) = call(&r, "admin", "2.41", Method::GET, "/os-aggregates/2", None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["aggregate"]["hosts"], json!([]));
    assert_eq!(b["aggregate"]["metadata"], json!({"availability_zone": "east"}));
    let (_, b) = call(&r, "admin", "2.40", Method::GET, "/os-aggregates", None).await;
    assert_eq!(b["aggregates"].as_array().map(Vec::len), Some(2));
    assert!(b["aggregates"][0].get("uuid").is_none(), "no uuid before 2.41: {b}");

    let (s, b) = call(
        &r,
        "admin",
        "2.1",
        Method::PUT,
        "/os-aggregates/1",
        Some(json!({"aggregate": {"name": "a1-new", "availability_zone": "west"}})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        (
            b["aggregate"]["name"].as_str(),
            b["aggregate"]["availability_zone"].as_str()
        ),
        (Some("a1-new"), Some("west"))
    );
    assert!(b["aggregate"]["updated_at"].is_string(), "{b}");

    let (s, b) = call(
        &r,
        "admin",
        "2.1",
        Method::POST,
        "/os-aggregates/1/action",
        Some(json!({"set_metadata": {"metadata": {"ssd": "true", "gone": null}}})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        b["aggregate"]["metadata"],
        json!({"availability_zone": "west", "ssd": "true"})
    );

    // Refusals, in Nova's faults.
    for (method, path, body, status, fault) in [
        (
            Method::POST,
            "/os-aggregates",
            json!({"aggregate": {"name": ""}}),
            StatusCode::BAD_REQUEST,
            "badRequest",
        ),
        (
            Method::POST,
            "/os-aggregates",
            json!({"aggregate": {"name": "x".repeat(256)}}),
            StatusCode::BAD_REQUEST,
            "badRequest",
        ),
        (
            Method::POST,
            "/os-aggregates",
            json!({"aggregate": {"name": "x", "colour": "red"}}),
            StatusCode::BAD_REQUEST,
            "badRequest",
        ),
        (
            Method::POST,
            "/os-aggregates",
            json!({"aggregate": {}}),
            StatusCode::BAD_REQUEST,
            "badRequest",
        ),
        (
            Method::POST,
            "/os-aggregates",
            json!({"aggregate": {"name": "a2"}}),
            StatusCode::CONFLICT,
            "conflictingRequest",
        ),
        (
            Method::PUT,
            "/os-aggregates/1",
            json!({"aggregate": {}}),
            StatusCode::BAD_REQUEST,
            "badRequest",
        ),
        (
            Method::PUT,
            "/os-aggregates/1",
            json!({"aggregate": {"availability_zone": null}}),
            StatusCode::BAD_REQUEST,
            "badRequest",
        ),
        (
            Method::PUT,
            "/os-aggregates/99",
            json!({"aggregate": {"name": "n"}}),
            StatusCode::NOT_FOUND,
            "itemNotFound",
        ),
        (
            Method::PUT,
            "/os-aggregates/abc",
            json!({"aggregate": {"name": "n"}}),
            StatusCode::BAD_REQUEST,
            "badRequest",
        ),
        (
            Method::POST,
            "/os-aggregates/1/action",
            json!({"add_host": {"host": "nowhere"}}),
            StatusCode::NOT_FOUND,
            "itemNotFound",
        ),
        (
            Method::POST,
            "/os-aggregates/1/action",
            json!({"add_host": {"host": "bad host"}}),
            StatusCode::BAD_REQUEST,
            "badRequest",
        ),
        (
            Method::POST,
            "/os-aggregates/1/action",
            json!({"remove_host": {"host": "nowhere"}}),
            StatusCode::NOT_FOUND,
            "itemNotFound",
        ),
        (
            Method::POST,
            "/os-aggregates/1/action",
            json!({"set_metadata": {"metadata": {"k": 1}}}),
            StatusCode::BAD_REQUEST,
            "badRequest",
        ),
        (
            Method::POST,
            "/os-aggregates/1/action",
            json!({"fly": {}}),
            StatusCode::BAD_REQUEST,
            "badRequest",
        ),
        (
            Method::POST,
            "/os-aggregates/1/action",
            json!({"add_host": {"host": "a"}, "remove_host": {"host": "a"}}),
            StatusCode::BAD_REQUEST,
            "badRequest",
        ),
    ] {
        let (s, b) = call(&r, "admin", "2.1", method.clone(), path, Some(body.clone())).await;
        assert_eq!(s, status, "{method} {path} {body}: {b}");
        assert!(b[fault]["message"].is_string(), "{method} {path} {body}: {b}");
    }
    let (s, _) = call(&r, "admin", "2.1", Method::GET, "/os-aggregates/-1", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, b) = call(&r, "dora", "2.1", Method::GET, "/os-aggregates", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    let (s, b) = call(
        &r,
        "dora",
        "2.1",
        Method::POST,
        "/os-aggregates",
        Some(json!({"aggregate": {"name": "mine"}})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");

    // Delete answers 200 without a body; the aggregate is gone.
    let (s, b) = call(&r, "admin", "2.1", Method::DELETE, "/os-aggregates/2", None).await;
    assert_eq!((s, b), (StatusCode::OK, Value::Null));
    let (s, _) = call(&r, "admin", "2.1", Method::GET, "/os-aggregates/2", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn extensions_usage_and_hypervisors_refuse_as_nova() {
    let (r, _loc) = router().await;
    let (s, b) = call(&r, "dora", "2.1", Method::GET, "/extensions", None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let aliases: Vec<&str> = b["extensions"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|e| e["alias"].as_str())
        .collect();
    for served in [
        "os-aggregates",
        "os-simple-tenant-usage",
        "os-hypervisors",
        "os-keypairs",
        "OS-EXT-AZ",
    ] {
        assert!(aliases.contains(&served), "{served} in {aliases:?}");
    }
    let (s, b) = call(&r, "dora", "2.1", Method::GET, "/extensions/os-aggregates", None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        keys(&b["extension"]),
        ["alias", "description", "links", "name", "namespace", "updated"]
    );
    assert_eq!(b["extension"]["name"], "Aggregates");
    let (s, b) = call(&r, "dora", "2.1", Method::GET, "/extensions/os-cells", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "not served, so not listed: {b}");

    // Usage: nothing ran, so a project's usage is {}; bad periods are 400s; all projects are
    // for administrators.
    let (s, b) = call(
        &r,
        "dora",
        "2.1",
        Method::GET,
        "/os-simple-tenant-usage/p-dora?start=2024-01-01T00:00:00",
        None,
    )
    .await;
    assert_eq!((s, &b), (StatusCode::OK, &json!({"tenant_usage": {}})));
    for q in [
        "start=yesterday",
        "start=2024-01-02T00:00:00&end=2024-01-01T00:00:00",
        "start=2024-01-01",
        "start=2024-01-01T00:00:00Z",
    ] {
        let (s, b) = call(
            &r,
            "admin",
            "2.1",
            Method::GET,
            &format!("/os-simple-tenant-usage?{q}"),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}: {b}");
        assert!(b["badRequest"]["message"].is_string(), "{b}");
    }
    let (s, _) = call(
        &r,
        "admin",
        "2.40",
        Method::GET,
        "/os-simple-tenant-usage?limit=-1",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = call(
        &r,
        "admin",
        "2.40",
        Method::GET,
        "/os-simple-tenant-usage?marker=nope",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, b) = call(
        &r,
        "admin",
        "2.39",
        Method::GET,
        "/os-simple-tenant-usage?marker=nope&detailed=1",
        None,
    )
    .await;
    assert_eq!(
        (s, &b),
        (StatusCode::OK, &json!({"tenant_usages": []})),
        "no paging before 2.40"
    );
    let (s, _) = call(&r, "dora", "2.1", Method::GET, "/os-simple-tenant-usage", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = call(&r, "dora", "2.1", Method::GET, "/os-simple-tenant-usage/p-other", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = call(&r, "admin", "2.1", Method::GET, "/os-simple-tenant-usage/", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "an empty tenant id names nothing");

    // Hypervisors: integers before 2.53 (anything else is a 404), uuids after (else a 400);
    // the policy first; the search routes end at 2.53.
    for (mv, id, status) in [
        ("2.1", "7", StatusCode::NOT_FOUND),
        ("2.1", "not-an-id", StatusCode::NOT_FOUND),
        ("2.52", "0b3f8e7a-9d52-4b1b-8a39-1a2b3c4d5e6f", StatusCode::NOT_FOUND),
        ("2.53", "0b3f8e7a-9d52-4b1b-8a39-1a2b3c4d5e6f", StatusCode::NOT_FOUND),
        ("2.53", "7", StatusCode::BAD_REQUEST),
    ] {
        for path in [format!("/os-hypervisors/{id}"), format!("/os-hypervisors/{id}/uptime")] {
            let (s, b) = call(&r, "admin", mv, Method::GET, &path, None).await;
            assert_eq!(s, status, "{mv} {path}: {b}");
        }
    }
    let (s, _) = call(&r, "dora", "2.53", Method::GET, "/os-hypervisors/7", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, b) = call(&r, "admin", "2.52", Method::GET, "/os-hypervisors/any/search", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "no host matches: {b}");
    let (s, _) = call(&r, "admin", "2.53", Method::GET, "/os-hypervisors/any/search", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, b) = call(&r, "admin", "2.33", Method::GET, "/os-hypervisors?limit=abc", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (s, _) = call(&r, "admin", "2.33", Method::GET, "/os-hypervisors?marker=7", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = call(
        &r,
        "admin",
        "2.53",
        Method::GET,
        "/os-hypervisors?hypervisor_hostname_pattern=a&limit=1",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = call(
        &r,
        "admin",
        "2.53",
        Method::GET,
        "/os-hypervisors?with_servers=maybe",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, b) = call(&r, "admin", "2.1", Method::GET, "/os-hypervisors/statistics", None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["hypervisor_statistics"]["count"], 0);
    let (s, _) = call(&r, "dora", "2.1", Method::GET, "/os-hypervisors/statistics", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}
