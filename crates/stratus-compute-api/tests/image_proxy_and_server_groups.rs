//! The compute router over SQLite, without Identity and with no pipeline (so no Image or
//! Network API behind it): the image proxy's microversion cut at 2.36, the bodies it refuses
//! before it would ask the Image API, the server security group routes' 404s, and a missing
//! Image API answered as a 503, never a 500.

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

async fn call(r: &axum::Router, mv: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(format!("/v2.1{path}"))
        .header("x-auth-token", "dora")
        .header("openstack-api-version", format!("compute {mv}"))
        .header("content-type", "application/json")
        // What the outer layers of `stratus up` give every request.
        .extension(stratus_api::request_id::RequestId("req-test".into()))
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .expect("request");
    let resp = r.clone().oneshot(req).await.expect("answer");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body");
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

const IMAGE: &str = "/images/0c9f5a6e-3b1d-4bb5-9a59-2f0c1c3ee0a1";

#[tokio::test]
async fn the_image_proxy_ends_at_2_35() {
    let (r, _loc) = router().await;
    let meta = json!({"metadata": {"k": "v"}});
    for (m, path, body) in [
        (Method::GET, "/images".to_owned(), None),
        (Method::GET, "/images/detail".to_owned(), None),
        (Method::GET, IMAGE.to_owned(), None),
        (Method::DELETE, IMAGE.to_owned(), None),
        (Method::GET, format!("{IMAGE}/metadata"), None),
        (Method::POST, format!("{IMAGE}/metadata"), Some(meta.clone())),
        (Method::PUT, format!("{IMAGE}/metadata"), Some(meta.clone())),
        (Method::GET, format!("{IMAGE}/metadata/k"), None),
        (
            Method::PUT,
            format!("{IMAGE}/metadata/k"),
            Some(json!({"meta": {"k": "v"}})),
        ),
        (Method::DELETE, format!("{IMAGE}/metadata/k"), None),
    ] {
        let (s, b) = call(&r, "2.36", m.clone(), &path, body.clone()).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{m} {path} at 2.36: {b}");
        assert_eq!(b["itemNotFound"]["message"], "The resource could not be found.", "{b}");
        // At 2.35 the route is there; with no Image API behind it the answer is a 503.
        let (s, b) = call(&r, "2.35", m.clone(), &path, body).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{m} {path} at 2.35: {b}");
    }
}

#[tokio::test]
async fn image_metadata_bodies_are_refused_before_the_image_api_is_asked() {
    let (r, _loc) = router().await;
    let md = format!("{IMAGE}/metadata");
    for (m, path, body, needle) in [
        (Method::POST, md.clone(), json!({"metadata": {"a/b": "v"}}), "metadata"),
        (Method::POST, md.clone(), json!({"metadata": {"": "v"}}), "metadata"),
        (Method::POST, md.clone(), json!({"metadata": {"k": 1}}), "not a string"),
        (
            Method::POST,
            md.clone(),
            json!({"metadata": {"k": "v".repeat(256)}}),
            "255",
        ),
        (
            Method::POST,
            md.clone(),
            json!({"metadata": {}, "extra": 1}),
            "metadata",
        ),
        (Method::PUT, md.clone(), json!({"meta": {"k": "v"}}), "metadata"),
        (
            Method::PUT,
            format!("{md}/k"),
            json!({"meta": {"k": "v", "j": "w"}}),
            "exactly one",
        ),
        (Method::PUT, format!("{md}/k"), json!({"meta": {}}), "exactly one"),
        (
            Method::PUT,
            format!("{md}/k"),
            json!({"meta": {"j": "v"}}),
            "Request body and URI mismatch",
        ),
        (
            Method::PUT,
            format!("{md}/k"),
            json!({"meta": {"k": null}}),
            "not a string",
        ),
    ] {
        let (s, b) = call(&r, "2.35", m.clone(), &path, Some(body.clone())).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{m} {path} {body}: {b}");
        let msg = b["badRequest"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "{m} {path} {body}: {msg}");
    }
    // Paging and times are Nova's positive integers and ISO 8601.
    for q in [
        "limit=0",
        "limit=x",
        "page_size=-1",
        "offset=abc",
        "changes-since=tomorrow",
        "marker=",
    ] {
        let (s, b) = call(&r, "2.35", Method::GET, &format!("/images/detail?{q}"), None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}: {b}");
    }
}

#[tokio::test]
async fn server_security_groups_of_a_missing_server_are_404s() {
    let (r, _loc) = router().await;
    let server = "/servers/5b0e2d0e-53c6-4c55-a4c5-5c0b7d5f1f7e";
    let (s, b) = call(&r, "2.1", Method::GET, &format!("{server}/os-security-groups"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    assert!(b["itemNotFound"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("could not be found"));
    // The route is served at every microversion, unlike the top-level os-security-groups.
    let (s, _) = call(&r, "2.62", Method::GET, &format!("{server}/os-security-groups"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    for action in ["addSecurityGroup", "removeSecurityGroup"] {
        let (s, b) = call(
            &r,
            "2.1",
            Method::POST,
            &format!("{server}/action"),
            Some(json!({ action: {"name": "web"} })),
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{action}: {b}");
    }
}

#[tokio::test]
async fn the_image_size_extension_is_listed() {
    let (r, _loc) = router().await;
    let (s, b) = call(&r, "2.1", Method::GET, "/extensions/OS-EXT-IMG-SIZE", None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["extension"]["name"], "ImageSize");
}
