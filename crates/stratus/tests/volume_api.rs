//! The Block Storage API driven as Nova drives it (the attachments API of microversion 3.27
//! and later), and bad input of every kind getting Cinder's status, fault key and a message
//! while nothing changes.

mod common;

use std::time::Duration;

use common::{password_auth, Server, ADMIN_PASSWORD};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

struct Api {
    c: Client,
    base: String,
    token: String,
    project: String,
    version: &'static str,
}

impl Api {
    async fn login(s: &Server, user: &str, password: &str, project: &str) -> Api {
        let c = Client::new();
        let r = c
            .post(format!("{}/auth/tokens", s.identity()))
            .json(&password_auth(user, password, Some(project)))
            .send()
            .await
            .expect("auth");
        assert_eq!(r.status(), StatusCode::CREATED, "login {user}");
        let token = r.headers()["x-subject-token"].to_str().expect("token").to_owned();
        let body: Value = r.json().await.expect("token body");
        Api {
            c,
            base: format!("{}/volume/v3", s.url),
            token,
            project: body["token"]["project"]["id"].as_str().expect("project").to_owned(),
            version: "3.44",
        }
    }

    /// A request under `/volume/v3/{project_id}`.
    async fn call(&self, m: Method, path: &str, body: Option<Value>) -> reqwest::Response {
        self.raw(m, &format!("/{}{path}", self.project), body).await
    }

    async fn raw(&self, m: Method, path: &str, body: Option<Value>) -> reqwest::Response {
        let mut r = self
            .c
            .request(m, format!("{}{path}", self.base))
            .header("x-auth-token", &self.token)
            .header("openstack-api-version", format!("volume {}", self.version));
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().await.expect("request")
    }

    async fn json(&self, m: Method, path: &str, body: Option<Value>, want: StatusCode) -> Value {
        let r = self.call(m.clone(), path, body).await;
        let status = r.status();
        let text = r.text().await.expect("body");
        assert_eq!(status, want, "{m} {path}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn volume(&self, id: &str) -> Value {
        self.json(Method::GET, &format!("/volumes/{id}"), None, StatusCode::OK)
            .await["volume"]
            .clone()
    }

    /// Creates a volume and waits until it is available.
    async fn available_volume(&self, body: Value) -> String {
        let v = self
            .json(
                Method::POST,
                "/volumes",
                Some(json!({ "volume": body })),
                StatusCode::ACCEPTED,
            )
            .await;
        let id = v["volume"]["id"].as_str().expect("id").to_owned();
        self.wait(&id, "available").await;
        id
    }

    async fn wait(&self, id: &str, status: &str) -> Value {
        for _ in 0..300 {
            let v = self.volume(id).await;
            if v["status"] == status {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("volume {id} never became {status}");
    }

    async fn count(&self) -> usize {
        self.json(Method::GET, "/volumes", None, StatusCode::OK).await["volumes"]
            .as_array()
            .map_or(0, Vec::len)
    }
}

/// Asserts the status, Cinder's fault key and a message containing `needle`.
async fn expect(r: reqwest::Response, status: StatusCode, key: &str, needle: &str) {
    let got = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(got, status, "expected {status} {key}: {body}");
    let msg = body[key]["message"].as_str().unwrap_or_default();
    assert_eq!(body[key]["code"], status.as_u16(), "{body}");
    assert!(msg.contains(needle), "message {msg:?} should contain {needle:?}");
}

const INSTANCE: &str = "6b0bd2a4-0b8f-4c5d-9d0e-1c2b3a4d5e6f";
const OTHER_INSTANCE: &str = "0e4a6e7e-38a4-4c33-8d3c-7c66b6b1d8a2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_as_nova_drives_them() {
    let server = Server::start(&[]);
    let api = Api::login(&server, "admin", ADMIN_PASSWORD, "admin").await;
    let id = api.available_volume(json!({"size": 1, "name": "root"})).await;

    // Reserve: no connector yet.
    let r = api
        .call(
            Method::POST,
            "/attachments",
            Some(json!({"attachment": {"volume_uuid": id, "instance_uuid": INSTANCE}})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["openstack-api-version"], "volume 3.44");
    let a: Value = r.json().await.expect("json");
    let att = a["attachment"]["id"].as_str().expect("attachment id").to_owned();
    assert_eq!(a["attachment"]["status"], "reserved", "{a}");
    assert_eq!(a["attachment"]["connection_info"], Value::Null);
    assert_eq!(api.volume(&id).await["status"], "reserved");

    // A second attachment of a volume that is not multi-attach is refused.
    let r = api
        .call(
            Method::POST,
            "/attachments",
            Some(json!({"attachment": {"volume_uuid": id, "instance_uuid": OTHER_INSTANCE}})),
        )
        .await;
    expect(r, StatusCode::BAD_REQUEST, "badRequest", "status must be available").await;

    // Update with the host's connector: the connection info names the file.
    let connector = json!({"host": "compute-1", "initiator": null, "mountpoint": "/dev/vdb", "multipath": false});
    let a = api
        .json(
            Method::PUT,
            &format!("/attachments/{att}"),
            Some(json!({"attachment": {"connector": connector}})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(a["attachment"]["status"], "attaching", "{a}");
    let ci = &a["attachment"]["connection_info"];
    assert_eq!(ci["driver_volume_type"], "file", "{a}");
    let path = ci["data"]["device_path"].as_str().expect("device_path");
    assert!(std::path::Path::new(path).exists(), "{path}");
    assert!(path.contains(&id));
    assert_eq!(ci["data"]["access_mode"], "rw");
    assert_eq!(api.volume(&id).await["status"], "attaching");

    // Complete: in use, and the volume lists the server.
    let r = api
        .call(
            Method::POST,
            &format!("/attachments/{att}/action"),
            Some(json!({"os-complete": null})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let v = api.volume(&id).await;
    assert_eq!(v["status"], "in-use", "{v}");
    assert_eq!(v["attachments"][0]["server_id"], INSTANCE);
    assert_eq!(v["attachments"][0]["attachment_id"], att.as_str());
    assert_eq!(v["attachments"][0]["device"], "/dev/vdb");
    assert_eq!(v["attachments"][0]["host_name"], "compute-1");
    let a = api
        .json(Method::GET, &format!("/attachments/{att}"), None, StatusCode::OK)
        .await;
    assert_eq!(a["attachment"]["status"], "attached");

    // What an in-use volume refuses.
    let r = api.call(Method::DELETE, &format!("/volumes/{id}"), None).await;
    expect(r, StatusCode::BAD_REQUEST, "badRequest", "(current status: in-use)").await;
    let r = api
        .call(
            Method::POST,
            "/snapshots",
            Some(json!({"snapshot": {"volume_id": id, "name": "hot"}})),
        )
        .await;
    expect(r, StatusCode::BAD_REQUEST, "badRequest", "Use force").await;
    let r = api
        .call(
            Method::POST,
            &format!("/volumes/{id}/action"),
            Some(json!({"os-extend": {"new_size": 2}})),
        )
        .await;
    expect(r, StatusCode::BAD_REQUEST, "badRequest", "must be available to extend").await;
    // With force, an attached volume can be snapshotted (crash-consistent).
    let s = api
        .json(
            Method::POST,
            "/snapshots",
            Some(json!({"snapshot": {"volume_id": id, "name": "hot", "force": true}})),
            StatusCode::ACCEPTED,
        )
        .await;
    let snap = s["snapshot"]["id"].as_str().expect("snapshot").to_owned();

    // Detach: the attachment goes and the volume is available again.
    let d = api
        .json(Method::DELETE, &format!("/attachments/{att}"), None, StatusCode::OK)
        .await;
    assert_eq!(d["attachments"], json!([]), "{d}");
    assert_eq!(api.volume(&id).await["status"], "available");
    let r = api.call(Method::GET, &format!("/attachments/{att}"), None).await;
    expect(r, StatusCode::NOT_FOUND, "itemNotFound", &att).await;

    // A multi-attach volume takes two instances at once.
    api.json(
        Method::POST,
        "/types",
        Some(json!({"volume_type": {"name": "multi", "extra_specs": {"multiattach": "<is> True"}}})),
        StatusCode::OK,
    )
    .await;
    let multi = api.available_volume(json!({"size": 1, "volume_type": "multi"})).await;
    for inst in [INSTANCE, OTHER_INSTANCE] {
        let a = api
            .json(
                Method::POST,
                "/attachments",
                Some(json!({"attachment": {"volume_uuid": multi, "instance_uuid": inst, "connector": connector}})),
                StatusCode::OK,
            )
            .await;
        assert_eq!(a["attachment"]["status"], "attaching", "{a}");
        let aid = a["attachment"]["id"].as_str().expect("id");
        let r = api
            .call(
                Method::POST,
                &format!("/attachments/{aid}/action"),
                Some(json!({"os-complete": null})),
            )
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }
    let v = api.volume(&multi).await;
    assert_eq!(v["status"], "in-use");
    assert_eq!(v["attachments"].as_array().map(Vec::len), Some(2), "{v}");
    let list = api
        .json(
            Method::GET,
            &format!("/attachments?volume_id={multi}"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(list["attachments"].as_array().map(Vec::len), Some(2), "{list}");

    // Before 3.27 the attachments API does not exist.
    let old = Api { version: "3.26", ..api };
    let r = old.call(Method::GET, "/attachments", None).await;
    expect(r, StatusCode::NOT_FOUND, "itemNotFound", "3.27").await;
    // Cascade deletes the volume with its snapshots.
    let r = old
        .call(Method::DELETE, &format!("/volumes/{id}?cascade=True"), None)
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = old.call(Method::GET, &format!("/snapshots/{snap}"), None).await;
    expect(r, StatusCode::NOT_FOUND, "itemNotFound", &snap).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_volume_requests_get_cinder_errors() {
    let server = Server::start(&["--volume-quota-gigabytes", "5"]);
    let api = Api::login(&server, "admin", ADMIN_PASSWORD, "admin").await;
    let id = api.available_volume(json!({"size": 1, "name": "keep"})).await;
    let before = api.count().await;

    let create = |body: Value| api.call(Method::POST, "/volumes", Some(body));
    expect(
        create(json!({"volume": {"size": 0}})).await,
        StatusCode::BAD_REQUEST,
        "badRequest",
        "must be an integer and greater than 0",
    )
    .await;
    expect(
        create(json!({"volume": {"size": "one"}})).await,
        StatusCode::BAD_REQUEST,
        "badRequest",
        "size",
    )
    .await;
    expect(
        create(json!({"volume": {"size": 1.5}})).await,
        StatusCode::BAD_REQUEST,
        "badRequest",
        "size",
    )
    .await;
    expect(
        create(json!({"volume": {"name": "no size"}})).await,
        StatusCode::BAD_REQUEST,
        "badRequest",
        "size is required",
    )
    .await;
    expect(
        create(json!({"volume": {"size": 5}})).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "overLimit",
        "exceeds allowed gigabytes quota",
    )
    .await;
    expect(
        create(json!({"volume": {"size": 1, "imageRef": "8b9c0e52-5d3c-4d0f-9d8e-000000000000"}})).await,
        StatusCode::BAD_REQUEST,
        "badRequest",
        "Invalid image identifier",
    )
    .await;
    expect(
        create(json!({"volume": {"size": 1, "volume_type": "gold"}})).await,
        StatusCode::NOT_FOUND,
        "itemNotFound",
        "Volume type gold could not be found",
    )
    .await;
    expect(
        create(json!({"volume": {"size": 1, "availability_zone": "mars"}})).await,
        StatusCode::BAD_REQUEST,
        "badRequest",
        "Availability zone 'mars' is invalid",
    )
    .await;
    expect(
        create(json!({"volume": {"size": 1, "metadata": {"k": 1}}})).await,
        StatusCode::BAD_REQUEST,
        "badRequest",
        "metadata",
    )
    .await;
    expect(
        create(json!({"volume": {"size": 1, "colour": "blue"}})).await,
        StatusCode::BAD_REQUEST,
        "badRequest",
        "colour",
    )
    .await;
    expect(
        create(json!({"volume": {"size": 1, "multiattach": true}})).await,
        StatusCode::BAD_REQUEST,
        "badRequest",
        "multiattach",
    )
    .await;
    expect(
        create(json!({"volumes": [{"size": 1}]})).await,
        StatusCode::BAD_REQUEST,
        "badRequest",
        "expected {\"volume\"",
    )
    .await;
    let r = api
        .c
        .post(format!("{}/{}/volumes", api.base, api.project))
        .header("x-auth-token", &api.token)
        .header("content-type", "application/json")
        .body("{\"volume\": {\"size\": 1")
        .send()
        .await
        .expect("send");
    expect(r, StatusCode::BAD_REQUEST, "badRequest", "Malformed request body").await;

    // Extend: smaller, same, or beyond the quota.
    let action = format!("/volumes/{id}/action");
    let extend = |n: Value| api.call(Method::POST, &action, Some(json!({"os-extend": {"new_size": n}})));
    expect(
        extend(json!(1)).await,
        StatusCode::BAD_REQUEST,
        "badRequest",
        "must be greater than current size",
    )
    .await;
    expect(
        extend(json!(0)).await,
        StatusCode::BAD_REQUEST,
        "badRequest",
        "new_size",
    )
    .await;
    expect(
        extend(json!(9)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "overLimit",
        "gigabytes quota",
    )
    .await;
    let r = api
        .call(
            Method::POST,
            &format!("/volumes/{id}/action"),
            Some(json!({"os-detonate": {}})),
        )
        .await;
    expect(
        r,
        StatusCode::BAD_REQUEST,
        "badRequest",
        "There is no such action: os-detonate",
    )
    .await;
    let r = api
        .call(
            Method::POST,
            &format!("/volumes/{id}/action"),
            Some(json!({"os-reset_status": {"status": "sideways"}})),
        )
        .await;
    expect(r, StatusCode::BAD_REQUEST, "badRequest", "sideways").await;

    // Unknown things, and versions out of range.
    let r = api
        .call(Method::GET, "/volumes/0b5e6b1e-0000-4000-8000-000000000000", None)
        .await;
    expect(r, StatusCode::NOT_FOUND, "itemNotFound", "could not be found").await;
    let r = api.call(Method::GET, "/volumes?colour=blue", None).await;
    expect(r, StatusCode::BAD_REQUEST, "badRequest", "colour").await;
    let r = api.call(Method::GET, "/volumes?sort=colour:asc", None).await;
    expect(r, StatusCode::BAD_REQUEST, "badRequest", "colour").await;
    let r = api.call(Method::GET, "/volumes?marker=nope", None).await;
    expect(
        r,
        StatusCode::NOT_FOUND,
        "itemNotFound",
        "Marker nope could not be found",
    )
    .await;
    let r = Api {
        version: "3.99",
        ..Api::login(&server, "admin", ADMIN_PASSWORD, "admin").await
    }
    .call(Method::GET, "/volumes", None)
    .await;
    expect(r, StatusCode::NOT_ACCEPTABLE, "computeFault", "maximum is 3.65").await;
    let r = api
        .raw(Method::GET, "/0123456789abcdef0123456789abcdef/volumes", None)
        .await;
    expect(r, StatusCode::BAD_REQUEST, "badRequest", "Malformed request url").await;
    let r = api
        .call(
            Method::PUT,
            &format!("/os-quota-sets/{}", api.project),
            Some(json!({"quota_set": {"volumes": -5}})),
        )
        .await;
    expect(r, StatusCode::BAD_REQUEST, "badRequest", "must be -1 or greater").await;
    let r = api
        .call(
            Method::PUT,
            &format!("/os-quota-sets/{}", api.project),
            Some(json!({"quota_set": {"volumes": 0}})),
        )
        .await;
    expect(
        r,
        StatusCode::BAD_REQUEST,
        "badRequest",
        "must be equal or greater than existing",
    )
    .await;

    // Nothing of the above made or changed a volume.
    assert_eq!(api.count().await, before);
    let v = api.volume(&id).await;
    assert_eq!(
        (v["size"].as_u64(), v["status"].as_str()),
        (Some(1), Some("available")),
        "{v}"
    );

    // Pages: two at a time, following the next link the client would follow.
    for n in 0..2 {
        api.available_volume(json!({"size": 1, "name": format!("page-{n}")}))
            .await;
    }
    let first = api
        .json(Method::GET, "/volumes/detail?limit=2", None, StatusCode::OK)
        .await;
    assert_eq!(first["volumes"].as_array().map(Vec::len), Some(2), "{first}");
    let next = first["volumes_links"][0]["href"]
        .as_str()
        .expect("a next link")
        .to_owned();
    assert!(next.contains("limit=2") && next.contains("marker="), "{next}");
    let rest: Value = api
        .c
        .get(&next)
        .header("x-auth-token", &api.token)
        .send()
        .await
        .expect("next page")
        .json()
        .await
        .expect("json");
    assert_eq!(rest["volumes"].as_array().map(Vec::len), Some(1), "{rest}");
    assert!(
        rest.get("volumes_links").is_none(),
        "the last page has no next link: {rest}"
    );

    // Project isolation: a member of another project neither sees nor touches the volume,
    // and administrators' actions are refused.
    let cli = common::cli::Cli::admin(&server);
    cli.ok(&["project", "create", "other"]);
    cli.ok(&["user", "create", "--password", "pw-of-bob", "bob"]);
    cli.ok(&["role", "add", "--project", "other", "--user", "bob", "member"]);
    let bob = Api::login(&server, "bob", "pw-of-bob", "other").await;
    let r = bob.call(Method::GET, &format!("/volumes/{id}"), None).await;
    expect(r, StatusCode::NOT_FOUND, "itemNotFound", &id).await;
    let r = bob.call(Method::DELETE, &format!("/volumes/{id}"), None).await;
    expect(r, StatusCode::NOT_FOUND, "itemNotFound", &id).await;
    assert_eq!(bob.count().await, 0);
    let r = bob.call(Method::GET, "/volumes?all_tenants=True", None).await;
    expect(r, StatusCode::FORBIDDEN, "forbidden", "").await;
    let mine = bob.available_volume(json!({"size": 1})).await;
    let r = bob
        .call(
            Method::POST,
            &format!("/volumes/{mine}/action"),
            Some(json!({"os-reset_status": {"status": "error"}})),
        )
        .await;
    expect(r, StatusCode::FORBIDDEN, "forbidden", "").await;
    let r = bob
        .call(
            Method::PUT,
            &format!("/os-quota-sets/{}", bob.project),
            Some(json!({"quota_set": {"volumes": 100}})),
        )
        .await;
    expect(r, StatusCode::FORBIDDEN, "forbidden", "").await;
    let r = bob
        .call(Method::POST, "/types", Some(json!({"volume_type": {"name": "mine"}})))
        .await;
    expect(r, StatusCode::FORBIDDEN, "forbidden", "").await;
    assert_eq!(bob.volume(&mine).await["status"], "available");
}
