//! Keystone's security-compliance options, each turned on by its `stratus up` flag: lockout
//! after failed logins, unique recent passwords, the password pattern, expiry, the change on
//! first use, and the user options that exempt a user. Users change their own passwords
//! through python-openstackclient; statuses are checked over HTTP.

mod common;

use common::cli::Cli;
use common::http::Api;
use common::{password_auth, Server};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn login(s: &Server, user: &str, password: &str) -> (StatusCode, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/auth/tokens", s.identity()))
        .json(&password_auth(user, password, None))
        .send()
        .await
        .expect("auth");
    let st = r.status();
    (st, r.json().await.unwrap_or(Value::Null))
}

async fn change_own(s: &Server, user_id: &str, original: &str, new: &str) -> (StatusCode, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/users/{user_id}/password", s.identity()))
        .json(&json!({"user": {"original_password": original, "password": new}}))
        .send()
        .await
        .expect("change password");
    let st = r.status();
    (st, r.json().await.unwrap_or(Value::Null))
}

async fn new_user(admin: &Api, name: &str, password: &str, options: Value) -> String {
    let (st, u) = admin
        .send(
            Method::POST,
            "/identity/v3/users",
            Some(json!({"user": {"name": name, "password": password, "options": options}})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{u}");
    u["user"]["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn lockout_history_pattern_and_user_options() {
    let server = tokio::task::spawn_blocking(|| {
        Server::start(&[
            "--lockout-failure-attempts",
            "2",
            "--lockout-duration",
            "2",
            "--unique-last-password-count",
            "2",
            "--password-regex",
            r"(?=.*\d)(?=.*[a-zA-Z]).{7,}$",
            "--password-regex-description",
            "at least 7 characters, with a letter and a digit",
        ])
    })
    .await
    .expect("start");
    let admin = Api::admin(&server).await;

    // The pattern (with look-ahead, as Keystone's own example) applies to every new password.
    let (st, b) = admin
        .send(Method::POST, "/identity/v3/users", Some(json!({"user": {"name": "weak", "password": "short"}})))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{b}");
    assert!(b.to_string().contains("with a letter and a digit"), "{b}");
    let ana = new_user(&admin, "ana", "first-pass1", json!({})).await;

    // Lockout: two failures lock the account, even for the right password, until it lapses.
    for _ in 0..2 {
        assert_eq!(login(&server, "ana", "wrong-pass1").await.0, StatusCode::UNAUTHORIZED);
    }
    let (st, b) = login(&server, "ana", "first-pass1").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "locked: {b}");
    assert!(b.to_string().contains("locked"), "{b}");
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(login(&server, "ana", "first-pass1").await.0, StatusCode::CREATED);

    // A user exempted from lockout is never locked.
    new_user(&admin, "bo", "bo-pass-1", json!({"ignore_lockout_failure_attempts": true})).await;
    for _ in 0..3 {
        login(&server, "bo", "wrong-pass1").await;
    }
    assert_eq!(login(&server, "bo", "bo-pass-1").await.0, StatusCode::CREATED);

    // History: the user changes their own password with the client; the last two may not
    // come back, an older one may.
    let cli_ana = [
        "--os-auth-url",
        &server.identity(),
        "--os-username",
        "ana",
        "--os-password",
        "first-pass1",
        "--os-user-domain-id",
        "default",
        "--os-identity-api-version",
        "3",
    ]
    .map(str::to_owned);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(common::cli::openstack_cli())
            .env("PYTHONWARNINGS", "ignore")
            .env_remove("OS_CLOUD")
            .args(&cli_ana)
            .args(["user", "password", "set", "--original-password", "first-pass1", "--password", "second-pass2"])
            .output()
            .expect("run openstack")
    })
    .await
    .expect("join");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(login(&server, "ana", "first-pass1").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(login(&server, "ana", "second-pass2").await.0, StatusCode::CREATED);
    let (st, b) = change_own(&server, &ana, "second-pass2", "first-pass1").await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "a recent password: {b}");
    let (st, b) = change_own(&server, &ana, "second-pass2", "second-pass2").await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "the current password: {b}");
    let (st, b) = change_own(&server, &ana, "second-pass2", "nodigits").await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "the pattern holds for users too: {b}");
    assert_eq!(change_own(&server, &ana, "second-pass2", "third-pass3").await.0, StatusCode::NO_CONTENT);
    assert_eq!(change_own(&server, &ana, "third-pass3", "first-pass1").await.0, StatusCode::NO_CONTENT);
    // An administrator's reset is not held to the history.
    let (st, b) = admin
        .send(
            Method::PATCH,
            &format!("/identity/v3/users/{ana}"),
            Some(json!({"user": {"password": "first-pass1"}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");

    // A locked password is changed only by an administrator.
    let (st, b) = admin
        .send(
            Method::PATCH,
            &format!("/identity/v3/users/{ana}"),
            Some(json!({"user": {"options": {"lock_password": true}}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["user"]["options"]["lock_password"], true, "{b}");
    assert_eq!(change_own(&server, &ana, "first-pass1", "fourth-pass4").await.0, StatusCode::FORBIDDEN);
    let (st, b) = admin
        .send(
            Method::PATCH,
            &format!("/identity/v3/users/{ana}"),
            Some(json!({"user": {"options": {"no_such_option": true}}})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{b}");
}

#[test]
fn expiry_and_the_change_on_first_use() {
    let server = Server::start(&["--password-expires-days", "30", "--change-password-upon-first-use"]);
    let admin = Cli::admin(&server);
    // A password an administrator sets is expired at once: the user must change it first.
    let u = admin.json(&["user", "create", "--password", "given-by-admin", "cleo"]);
    let cleo = u["id"].as_str().expect("id").to_owned();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (st, b) = rt.block_on(login(&server, "cleo", "given-by-admin"));
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{b}");
    assert!(b.to_string().contains("expired"), "{b}");
    let (st, b) = rt.block_on(change_own(&server, &cleo, "given-by-admin", "chosen-by-cleo"));
    assert_eq!(st, StatusCode::NO_CONTENT, "{b}");
    let (st, b) = rt.block_on(login(&server, "cleo", "chosen-by-cleo"));
    assert_eq!(st, StatusCode::CREATED, "{b}");
    // The password the user chose expires in 30 days, and says so.
    let expires = b["token"]["user"]["password_expires_at"].as_str().expect("an expiry").to_owned();
    let shown = admin.json(&["user", "show", "cleo"]);
    assert_eq!(shown["password_expires_at"].as_str(), Some(expires.as_str()), "{shown}");
    let in_days = (chrono::NaiveDateTime::parse_from_str(&expires, "%Y-%m-%dT%H:%M:%S%.f").expect("a time")
        - chrono::Utc::now().naive_utc())
    .num_days();
    assert!((29..=30).contains(&in_days), "{expires}");
    // A user exempted from both keeps an administrator's password and it never expires.
    admin.ok(&[
        "user",
        "create",
        "--password",
        "service-secret",
        "--ignore-change-password-upon-first-use",
        "--ignore-password-expiry",
        "svc",
    ]);
    let (st, b) = rt.block_on(login(&server, "svc", "service-secret"));
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert!(b["token"]["user"]["password_expires_at"].is_null(), "{b}");
}
