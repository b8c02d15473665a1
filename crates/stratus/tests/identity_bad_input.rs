//! Every kind of bad input to Identity gets the 4xx Keystone gives, with a message, never a 500.

mod common;

use common::{password_auth, Server, ADMIN_PASSWORD};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

async fn issue(c: &Client, s: &Server, body: &Value) -> reqwest::Response {
    c.post(format!("{}/auth/tokens", s.identity()))
        .json(body)
        .send()
        .await
        .expect("request")
}

async fn token(c: &Client, s: &Server, body: &Value) -> String {
    let r = issue(c, s, body).await;
    assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
    r.headers()["x-subject-token"].to_str().expect("token").to_owned()
}

async fn admin(c: &Client, s: &Server) -> String {
    token(c, s, &password_auth("admin", ADMIN_PASSWORD, Some("admin"))).await
}

/// Asserts the status and that the body is Keystone's error shape with a message.
async fn expect_error(r: reqwest::Response, status: StatusCode, needle: &str) {
    assert_eq!(r.status(), status);
    assert!(r.headers().contains_key("x-openstack-request-id"));
    let body: Value = r.json().await.expect("json error body");
    let msg = body["error"]["message"].as_str().unwrap_or_default();
    assert_eq!(body["error"]["code"], status.as_u16(), "{body}");
    assert!(msg.contains(needle), "message {msg:?} should contain {needle:?}");
}

async fn validate(c: &Client, s: &Server, auth: &str, subject: &str) -> reqwest::Response {
    c.get(format!("{}/auth/tokens", s.identity()))
        .header("x-auth-token", auth)
        .header("x-subject-token", subject)
        .send()
        .await
        .expect("request")
}

async fn get(c: &Client, s: &Server, path: &str, tok: &str) -> reqwest::Response {
    c.get(format!("{}{path}", s.identity()))
        .header("x-auth-token", tok)
        .send()
        .await
        .expect("request")
}

async fn post(c: &Client, s: &Server, path: &str, tok: &str, body: Value) -> reqwest::Response {
    c.post(format!("{}{path}", s.identity()))
        .header("x-auth-token", tok)
        .json(&body)
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn bad_requests_get_clear_4xx() {
    let s = Server::start(&["--lockout-failure-attempts", "3", "--lockout-duration", "600"]);
    let c = Client::new();
    let adm = admin(&c, &s).await;

    // malformed and mistyped bodies
    let r = c
        .post(format!("{}/auth/tokens", s.identity()))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("req");
    expect_error(r, StatusCode::BAD_REQUEST, "Malformed request body").await;
    let r = issue(&c, &s, &json!({"auth": {"identity": {"methods": "password"}}})).await;
    expect_error(r, StatusCode::BAD_REQUEST, "auth.identity.methods").await;
    // Keystone keeps attributes it does not know inside the resource, and refuses them beside it.
    let r = post(
        &c,
        &s,
        "/projects",
        &adm,
        json!({"project": {"name": "x"}, "colour": "red"}),
    )
    .await;
    expect_error(r, StatusCode::BAD_REQUEST, "unknown field `colour`").await;
    let r = post(
        &c,
        &s,
        "/projects",
        &adm,
        json!({"project": {"name": "x", "colour": "red", "id": "mine"}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let x: Value = r.json().await.expect("json");
    assert_eq!(x["project"]["colour"], "red", "{x}");
    assert_ne!(x["project"]["id"], "mine", "an id in a create body is not used: {x}");
    let xid = x["project"]["id"].as_str().expect("id").to_owned();
    let r = c
        .patch(format!("{}/projects/{xid}", s.identity()))
        .header("x-auth-token", &adm)
        .json(&json!({"project": {"id": "other"}}))
        .send()
        .await
        .expect("patch");
    expect_error(r, StatusCode::BAD_REQUEST, "does not match").await;
    let r = c
        .patch(format!("{}/projects/{xid}", s.identity()))
        .header("x-auth-token", &adm)
        .json(&json!({"project": {"size": 3, "enabled": false}}))
        .send()
        .await
        .expect("patch");
    let x: Value = r.json().await.expect("json");
    assert_eq!(
        (x["project"]["colour"].clone(), x["project"]["size"].clone()),
        (json!("red"), json!(3)),
        "{x}"
    );
    let r = post(&c, &s, "/projects", &adm, json!({"project": {"name": "y".repeat(65)}})).await;
    expect_error(r, StatusCode::BAD_REQUEST, "64").await;
    let r = post(&c, &s, "/projects", &adm, json!({"project": {"name": ""}})).await;
    expect_error(r, StatusCode::BAD_REQUEST, "project.name").await;

    // unknown method, wrong password, unknown user
    let r = issue(&c, &s, &json!({"auth": {"identity": {"methods": ["kerberos"]}}})).await;
    expect_error(r, StatusCode::UNAUTHORIZED, "unsupported method").await;
    let r = issue(&c, &s, &password_auth("admin", "wrong", Some("admin"))).await;
    expect_error(r, StatusCode::UNAUTHORIZED, "requires authentication").await;
    let r = issue(&c, &s, &password_auth("nobody", "x", None)).await;
    expect_error(r, StatusCode::UNAUTHORIZED, "requires authentication").await;

    // a user, a project, a role to play with
    let r = post(&c, &s, "/projects", &adm, json!({"project": {"name": "p1"}})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let p1: Value = r.json().await.expect("json");
    let p1 = p1["project"]["id"].as_str().expect("id").to_owned();
    let r = post(&c, &s, "/projects", &adm, json!({"project": {"name": "p2"}})).await;
    let p2: Value = r.json().await.expect("json");
    let p2 = p2["project"]["id"].as_str().expect("id").to_owned();
    let r = post(
        &c,
        &s,
        "/users",
        &adm,
        json!({"user": {"name": "bob", "password": "bob-pw"}}),
    )
    .await;
    let bob: Value = r.json().await.expect("json");
    let bob = bob["user"]["id"].as_str().expect("id").to_owned();
    let roles: Value = get(&c, &s, "/roles?name=member", &adm)
        .await
        .json()
        .await
        .expect("json");
    let member = roles["roles"][0]["id"].as_str().expect("member role").to_owned();
    let r = c
        .put(format!("{}/projects/{p1}/users/{bob}/roles/{member}", s.identity()))
        .header("x-auth-token", &adm)
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    // scope to a project the user has no role on
    let r = issue(&c, &s, &password_auth("bob", "bob-pw", Some("p2"))).await;
    expect_error(r, StatusCode::UNAUTHORIZED, &format!("has no access to project {p2}")).await;

    // member refused an admin call
    let bt = token(&c, &s, &password_auth("bob", "bob-pw", Some("p1"))).await;
    expect_error(
        get(&c, &s, "/users", &bt).await,
        StatusCode::FORBIDDEN,
        "identity:list_users",
    )
    .await;

    // tampered, foreign-key and missing tokens
    let mut tampered = bt.clone().into_bytes();
    let mid = tampered.len() / 2;
    tampered[mid] = if tampered[mid] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    let r = get(&c, &s, "/auth/projects", &tampered).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .expect("hdr")
        .starts_with("Keystone uri="));
    expect_error(validate(&c, &s, &adm, &tampered).await, StatusCode::NOT_FOUND, "token").await;
    let other = Server::start(&[]);
    let foreign = admin(&c, &other).await;
    expect_error(
        get(&c, &s, "/auth/projects", &foreign).await,
        StatusCode::UNAUTHORIZED,
        "invalid",
    )
    .await;
    drop(other);
    let r = c.get(format!("{}/projects", s.identity())).send().await.expect("req");
    expect_error(r, StatusCode::UNAUTHORIZED, "requires authentication").await;

    // revoked token
    let r = c
        .delete(format!("{}/auth/tokens", s.identity()))
        .header("x-auth-token", &adm)
        .header("x-subject-token", &bt)
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    expect_error(
        get(&c, &s, "/auth/projects", &bt).await,
        StatusCode::UNAUTHORIZED,
        "revoked",
    )
    .await;
    expect_error(validate(&c, &s, &adm, &bt).await, StatusCode::NOT_FOUND, "token").await;

    // role assignment removal revokes bob's tokens for that project
    let bt = token(&c, &s, &password_auth("bob", "bob-pw", Some("p1"))).await;
    let r = c
        .delete(format!("{}/projects/{p1}/users/{bob}/roles/{member}", s.identity()))
        .header("x-auth-token", &adm)
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        get(&c, &s, "/auth/projects", &bt).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = c
        .put(format!("{}/projects/{p1}/users/{bob}/roles/{member}", s.identity()))
        .header("x-auth-token", &adm)
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    // disabled project, then disabled user
    let bt = token(&c, &s, &password_auth("bob", "bob-pw", Some("p1"))).await;
    let r = c
        .patch(format!("{}/projects/{p1}", s.identity()))
        .header("x-auth-token", &adm)
        .json(&json!({"project": {"enabled": false}}))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        get(&c, &s, "/auth/projects", &bt).await.status(),
        StatusCode::UNAUTHORIZED
    );
    expect_error(
        issue(&c, &s, &password_auth("bob", "bob-pw", Some("p1"))).await,
        StatusCode::UNAUTHORIZED,
        "disabled",
    )
    .await;
    let r = c
        .patch(format!("{}/users/{bob}", s.identity()))
        .header("x-auth-token", &adm)
        .json(&json!({"user": {"enabled": false}}))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), StatusCode::OK);
    expect_error(
        issue(&c, &s, &password_auth("bob", "bob-pw", None)).await,
        StatusCode::UNAUTHORIZED,
        "disabled",
    )
    .await;

    // oversized body
    let big = "x".repeat(200_000);
    // Its own client: the server answers before reading the body and closes that connection.
    let r = post(
        &Client::new(),
        &s,
        "/projects",
        &adm,
        json!({"project": {"name": "big", "description": big}}),
    )
    .await;
    expect_error(r, StatusCode::PAYLOAD_TOO_LARGE, "larger than").await;

    // pagination: bad markers and limits, and a real next link
    expect_error(
        get(&c, &s, "/projects?marker=nosuch", &adm).await,
        StatusCode::BAD_REQUEST,
        "Marker nosuch",
    )
    .await;
    expect_error(
        get(&c, &s, "/projects?limit=-1", &adm).await,
        StatusCode::BAD_REQUEST,
        "limit",
    )
    .await;
    let page: Value = get(&c, &s, "/projects?limit=1", &adm).await.json().await.expect("json");
    assert_eq!(page["projects"].as_array().map(Vec::len), Some(1));
    let next = page["links"]["next"].as_str().expect("a next link");
    assert!(next.contains("marker="), "{next}");

    // conflicts and missing things
    expect_error(
        post(&c, &s, "/projects", &adm, json!({"project": {"name": "p1"}})).await,
        StatusCode::CONFLICT,
        "Duplicate",
    )
    .await;
    expect_error(
        get(&c, &s, "/projects/nosuch", &adm).await,
        StatusCode::NOT_FOUND,
        "Could not find project: nosuch",
    )
    .await;
    expect_error(
        get(&c, &s, "/nowhere", &adm).await,
        StatusCode::NOT_FOUND,
        "could not be found",
    )
    .await;

    // lockout after three failures, even with the right password
    let r = post(
        &c,
        &s,
        "/users",
        &adm,
        json!({"user": {"name": "carol", "password": "carol-pw"}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    for _ in 0..3 {
        assert_eq!(
            issue(&c, &s, &password_auth("carol", "bad", None)).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    expect_error(
        issue(&c, &s, &password_auth("carol", "carol-pw", None)).await,
        StatusCode::UNAUTHORIZED,
        "locked",
    )
    .await;

    // the request id a caller sends comes back
    let rid = "req-0b6c1e1e-1c1a-4a8e-9a55-6f1f3a9d2b10";
    let r = c
        .get(format!("{}/auth/projects", s.identity()))
        .header("x-auth-token", &adm)
        .header("x-openstack-request-id", rid)
        .send()
        .await
        .expect("req");
    assert_eq!(r.headers()["x-openstack-request-id"], rid);
    let log = s.log();
    assert!(!log.contains("panicked at"), "server log shows a panic:\n{log}");
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let s = Server::start(&["--token-expiration", "1"]);
    let c = Client::new();
    let t = admin(&c, &s).await;
    assert_eq!(get(&c, &s, "/auth/projects", &t).await.status(), StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    expect_error(
        get(&c, &s, "/auth/projects", &t).await,
        StatusCode::UNAUTHORIZED,
        "expired",
    )
    .await;
}
