//! Every kind of bad input to the Image service gets the 4xx Glance gives, with a message,
//! and leaves nothing behind: no data in the store, no image stuck mid-upload.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{password_auth, Server, ADMIN_PASSWORD};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

struct Api {
    c: Client,
    base: String,
    token: String,
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
        assert_eq!(r.status(), StatusCode::CREATED);
        let token = r.headers()["x-subject-token"].to_str().expect("token").to_owned();
        Api {
            c,
            base: s.image(),
            token,
        }
    }
    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.c
            .request(method, format!("{}{path}", self.base))
            .header("x-auth-token", &self.token)
    }
    async fn create(&self, body: Value) -> reqwest::Response {
        self.req(reqwest::Method::POST, "/images")
            .json(&body)
            .send()
            .await
            .expect("create")
    }
    async fn new_image(&self, disk_format: &str) -> String {
        let r = self
            .create(json!({"name": "t", "disk_format": disk_format, "container_format": "bare"}))
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json::<Value>().await.expect("json")["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }
    async fn upload(&self, id: &str, data: Vec<u8>, extra: &[(&str, &str)]) -> reqwest::Response {
        let mut r = self
            .req(reqwest::Method::PUT, &format!("/images/{id}/file"))
            .header("content-type", "application/octet-stream");
        for (k, v) in extra {
            r = r.header(*k, *v);
        }
        r.body(data).send().await.expect("upload")
    }
    async fn show(&self, id: &str) -> Value {
        self.req(reqwest::Method::GET, &format!("/images/{id}"))
            .send()
            .await
            .expect("show")
            .json()
            .await
            .expect("json")
    }
    async fn patch(&self, id: &str, ops: Value) -> reqwest::Response {
        self.req(reqwest::Method::PATCH, &format!("/images/{id}"))
            .header("content-type", "application/openstack-images-v2.1-json-patch")
            .body(ops.to_string())
            .send()
            .await
            .expect("patch")
    }
}

/// Asserts the status and Glance's fault shape with a message containing `needle`.
async fn expect_error(r: reqwest::Response, status: StatusCode, needle: &str) {
    assert_eq!(r.status(), status, "expected {status} for {needle:?}");
    assert!(r.headers().contains_key("x-openstack-request-id"));
    let body: Value = r.json().await.expect("json error body");
    let msg = body["message"].as_str().unwrap_or_default();
    assert!(
        body["code"]
            .as_str()
            .is_some_and(|c| c.starts_with(&status.as_u16().to_string())),
        "{body}"
    );
    assert!(msg.contains(needle), "message {msg:?} should contain {needle:?}");
}

/// Files in the store and in its partial-write area.
fn store_files(s: &Server) -> Vec<String> {
    let mut out = Vec::new();
    for dir in [
        "data/images/store",
        "data/images/store/.partial",
        "data/images/staging/.partial",
    ] {
        if let Ok(rd) = std::fs::read_dir(s.dir.path().join(dir)) {
            out.extend(
                rd.filter_map(Result::ok)
                    .filter(|e| e.file_name() != ".partial")
                    .map(|e| e.file_name().to_string_lossy().into_owned()),
            );
        }
    }
    out
}

fn qemu_img(args: &[&str]) {
    let out = Command::new("qemu-img").args(args).output().expect("qemu-img");
    assert!(
        out.status.success(),
        "qemu-img {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn bad_image_requests_get_clear_4xx_and_leave_nothing() {
    let s = Server::start(&["--image-quota-bytes", "8388608"]);
    let api = Api::login(&s, "admin", ADMIN_PASSWORD, "admin").await;

    // requests without a token, unknown images, bad bodies
    let r = api.c.get(format!("{}/images", s.image())).send().await.expect("req");
    expect_error(r, StatusCode::UNAUTHORIZED, "requires authentication").await;
    let r = api
        .req(reqwest::Method::GET, "/images/0b7c1c8e-5d0a-4c8e-9a4e-2f1d3c4b5a69")
        .send()
        .await
        .expect("req");
    expect_error(r, StatusCode::NOT_FOUND, "No image found").await;
    let r = api
        .req(reqwest::Method::POST, "/images")
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .expect("req");
    expect_error(r, StatusCode::BAD_REQUEST, "Malformed").await;
    expect_error(
        api.create(json!({"visibility": "secret"})).await,
        StatusCode::BAD_REQUEST,
        "visibility",
    )
    .await;
    expect_error(
        api.create(json!({"disk_format": "exe"})).await,
        StatusCode::BAD_REQUEST,
        "disk_format",
    )
    .await;
    expect_error(
        api.create(json!({"hw_disk_bus": 3})).await,
        StatusCode::BAD_REQUEST,
        "hw_disk_bus",
    )
    .await;
    expect_error(api.create(json!({"size": 5})).await, StatusCode::FORBIDDEN, "read-only").await;
    expect_error(
        api.create(json!({"os_glance_import_task": "x"})).await,
        StatusCode::FORBIDDEN,
        "reserved",
    )
    .await;
    expect_error(
        api.create(json!({"kernel_id": "vmlinuz"})).await,
        StatusCode::BAD_REQUEST,
        "kernel_id",
    )
    .await;
    expect_error(
        api.create(json!({"disk_format": "aki", "container_format": "bare"}))
            .await,
        StatusCode::BAD_REQUEST,
        "aki",
    )
    .await;
    let r = api
        .req(reqwest::Method::GET, "/images?sort_key=colour")
        .send()
        .await
        .expect("req");
    expect_error(r, StatusCode::BAD_REQUEST, "sort key").await;
    let r = api
        .req(reqwest::Method::GET, "/images?marker=nope")
        .send()
        .await
        .expect("req");
    expect_error(r, StatusCode::BAD_REQUEST, "marker").await;

    // upload before the formats are set
    let r = api.create(json!({"name": "no formats"})).await;
    let bare = r.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    expect_error(
        api.upload(&bare, vec![1; 10], &[]).await,
        StatusCode::BAD_REQUEST,
        "disk_format",
    )
    .await;

    // wrong checksum: refused, the image stays queued and can take the right data
    let id = api.new_image("raw").await;
    let r = api
        .upload(
            &id,
            vec![7; 4096],
            &[("content-md5", "00000000000000000000000000000000")],
        )
        .await;
    expect_error(r, StatusCode::BAD_REQUEST, "Checksum verification failed").await;
    assert_eq!(api.show(&id).await["status"], "queued");
    assert!(store_files(&s).is_empty(), "{:?}", store_files(&s));
    let r = api.create(json!({"name": "sha", "disk_format": "raw", "container_format": "bare", "owner_specified.openstack.sha256": "ab"})).await;
    let sha_id = r.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    expect_error(
        api.upload(&sha_id, vec![7; 4096], &[]).await,
        StatusCode::BAD_REQUEST,
        "SHA-256",
    )
    .await;

    // the right data, then a second upload to the active image
    assert_eq!(
        api.upload(&id, vec![7; 4096], &[]).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(api.show(&id).await["status"], "active");
    expect_error(
        api.upload(&id, vec![7; 4096], &[]).await,
        StatusCode::CONFLICT,
        "queued image",
    )
    .await;

    // ranges
    let r = api
        .req(reqwest::Method::GET, &format!("/images/{id}/file"))
        .header("range", "bytes=10-19")
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.headers()["content-range"], "bytes 10-19/4096");
    assert_eq!(r.bytes().await.expect("body").len(), 10);
    let r = api
        .req(reqwest::Method::GET, &format!("/images/{id}/file"))
        .header("range", "bytes=5000-")
        .send()
        .await
        .expect("req");
    expect_error(r, StatusCode::RANGE_NOT_SATISFIABLE, "4096 bytes").await;
    let r = api
        .req(reqwest::Method::GET, &format!("/images/{id}/file"))
        .send()
        .await
        .expect("req");
    assert_eq!(
        r.headers()["content-md5"],
        api.show(&id).await["checksum"].as_str().expect("checksum")
    );

    // over the byte quota: refused as soon as the size is announced, and mid-stream when not
    let big = api.new_image("raw").await;
    expect_error(
        api.upload(&big, vec![1; 9 << 20], &[]).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "Quota exceeded",
    )
    .await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..9).map(|_| Ok(vec![1u8; 1 << 20])).collect();
    let r = api
        .req(reqwest::Method::PUT, &format!("/images/{big}/file"))
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .expect("upload");
    expect_error(r, StatusCode::PAYLOAD_TOO_LARGE, "Quota exceeded").await;
    assert_eq!(api.show(&big).await["status"], "queued");

    // disguised formats and the backing-file and data-file attacks
    let work = tempfile::tempdir().expect("tempdir");
    let w = |n: &str| work.path().join(n).to_string_lossy().into_owned();
    qemu_img(&["create", "-f", "qcow2", &w("plain.qcow2"), "16M"]);
    qemu_img(&[
        "create",
        "-f",
        "qcow2",
        "-b",
        "/etc/hostname",
        "-F",
        "raw",
        &w("backed.qcow2"),
        "16M",
    ]);
    qemu_img(&[
        "create",
        "-f",
        "qcow2",
        "-o",
        &format!("data_file={}", w("external.raw")),
        &w("datafile.qcow2"),
        "16M",
    ]);
    let read = |n: &str| std::fs::read(work.path().join(n)).expect("read");
    let as_raw = api.new_image("raw").await;
    expect_error(
        api.upload(&as_raw, read("plain.qcow2"), &[]).await,
        StatusCode::BAD_REQUEST,
        "in qcow2 format, not the raw",
    )
    .await;
    let as_qcow2 = api.new_image("qcow2").await;
    expect_error(
        api.upload(&as_qcow2, vec![0; 1 << 16], &[]).await,
        StatusCode::BAD_REQUEST,
        "in raw format, not the qcow2",
    )
    .await;
    expect_error(
        api.upload(&as_qcow2, read("backed.qcow2"), &[]).await,
        StatusCode::BAD_REQUEST,
        "backing file",
    )
    .await;
    expect_error(
        api.upload(&as_qcow2, read("datafile.qcow2"), &[]).await,
        StatusCode::BAD_REQUEST,
        "data file",
    )
    .await;
    assert_eq!(api.show(&as_qcow2).await["status"], "queued");
    assert_eq!(
        api.upload(&as_qcow2, read("plain.qcow2"), &[]).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(api.show(&as_qcow2).await["virtual_size"], 16 << 20);

    // JSON patch: read-only attributes, core removals, unknown operations, the media type
    expect_error(
        api.patch(&id, json!([{"op": "replace", "path": "/checksum", "value": "x"}]))
            .await,
        StatusCode::FORBIDDEN,
        "read-only",
    )
    .await;
    expect_error(
        api.patch(&id, json!([{"op": "remove", "path": "/name"}])).await,
        StatusCode::FORBIDDEN,
        "may not be removed",
    )
    .await;
    expect_error(
        api.patch(&id, json!([{"op": "remove", "path": "/nothing"}])).await,
        StatusCode::CONFLICT,
        "does not exist",
    )
    .await;
    expect_error(
        api.patch(&id, json!([{"op": "move", "path": "/name", "from": "/x"}]))
            .await,
        StatusCode::BAD_REQUEST,
        "unknown field",
    )
    .await;
    expect_error(
        api.patch(&id, json!([{"op": "copy", "path": "/name"}])).await,
        StatusCode::BAD_REQUEST,
        "not supported",
    )
    .await;
    expect_error(
        api.patch(&id, json!([{"op": "add", "path": "/locations/0", "value": {}}]))
            .await,
        StatusCode::FORBIDDEN,
        "read-only",
    )
    .await;
    expect_error(
        api.patch(&id, json!([{"op": "add", "path": "/disk_format", "value": "qcow2"}]))
            .await,
        StatusCode::FORBIDDEN,
        "queued",
    )
    .await;
    let r = api
        .req(reqwest::Method::PATCH, &format!("/images/{id}"))
        .json(&json!([]))
        .send()
        .await
        .expect("req");
    assert_eq!(
        r.headers()["accept-patch"],
        "application/openstack-images-v2.0-json-patch, application/openstack-images-v2.1-json-patch"
    );
    expect_error(r, StatusCode::UNSUPPORTED_MEDIA_TYPE, "not supported").await;
    let r = api.patch(&id, json!([{"op": "add", "path": "/name", "value": "renamed"}, {"op": "add", "path": "/checksum", "value": "x"}])).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(api.show(&id).await["name"], "t", "a refused patch changes nothing");

    // protected images cannot be deleted; visibility public is for admins (tested below)
    assert_eq!(
        api.patch(&id, json!([{"op": "replace", "path": "/protected", "value": true}]))
            .await
            .status(),
        StatusCode::OK
    );
    let r = api
        .req(reqwest::Method::DELETE, &format!("/images/{id}"))
        .send()
        .await
        .expect("req");
    expect_error(r, StatusCode::FORBIDDEN, "protected").await;

    // members: only the owner adds, only the member answers
    let admin_cli = |args: &[&str]| {
        let out = common::cli::Cli::admin(&s).ok(args);
        out
    };
    admin_cli(&["project", "create", "other"]);
    admin_cli(&["user", "create", "--project", "other", "--password", "bob-pw", "bob"]);
    admin_cli(&["role", "add", "--project", "other", "--user", "bob", "member"]);
    let other = common::cli::Cli::admin(&s).json(&["project", "show", "other"])["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let bob = Api::login(&s, "bob", "bob-pw", "other").await;
    let bobs = bob.new_image("raw").await;
    let r = bob
        .patch(
            &bobs,
            json!([{"op": "replace", "path": "/visibility", "value": "public"}]),
        )
        .await;
    expect_error(r, StatusCode::FORBIDDEN, "publicize_image").await;
    let r = bob
        .req(reqwest::Method::POST, &format!("/images/{id}/members"))
        .json(&json!({"member": other}))
        .send()
        .await
        .expect("req");
    expect_error(r, StatusCode::NOT_FOUND, "No image found").await;
    let r = api
        .req(reqwest::Method::POST, &format!("/images/{id}/members"))
        .json(&json!({"member": other}))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), StatusCode::OK);
    let r = api
        .req(reqwest::Method::POST, &format!("/images/{id}/members"))
        .json(&json!({"member": other}))
        .send()
        .await
        .expect("req");
    expect_error(r, StatusCode::CONFLICT, "already a member").await;
    let r = bob
        .req(reqwest::Method::POST, &format!("/images/{id}/members"))
        .json(&json!({"member": "someone"}))
        .send()
        .await
        .expect("req");
    expect_error(r, StatusCode::FORBIDDEN, "add_member").await;
    let r = bob
        .req(reqwest::Method::POST, &format!("/images/{bobs}/members"))
        .json(&json!({"member": "p-carol"}))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), StatusCode::OK, "an owner shares its own image");
    let r = bob
        .req(reqwest::Method::PUT, &format!("/images/{bobs}/members/p-carol"))
        .json(&json!({"status": "accepted"}))
        .send()
        .await
        .expect("req");
    expect_error(r, StatusCode::FORBIDDEN, "modify_member").await;
    let r = bob
        .req(reqwest::Method::PUT, &format!("/images/{id}/members/{other}"))
        .json(&json!({"status": "maybe"}))
        .send()
        .await
        .expect("req");
    expect_error(r, StatusCode::BAD_REQUEST, "member status").await;
    let r = bob
        .patch(&id, json!([{"op": "replace", "path": "/name", "value": "mine"}]))
        .await;
    expect_error(r, StatusCode::FORBIDDEN, "modify_image").await;
    let private = api.new_image("raw").await;
    assert_eq!(
        api.patch(
            &private,
            json!([{"op": "replace", "path": "/visibility", "value": "private"}])
        )
        .await
        .status(),
        StatusCode::OK
    );
    let r = api
        .req(reqwest::Method::POST, &format!("/images/{private}/members"))
        .json(&json!({"member": other}))
        .send()
        .await
        .expect("req");
    expect_error(r, StatusCode::FORBIDDEN, "only shared images have members").await;

    // deactivation: admins and the owner's members only; others cannot download a deactivated
    // image, admins can
    let shared_id = api.new_image("raw").await;
    assert_eq!(
        api.upload(&shared_id, vec![3; 1024], &[]).await.status(),
        StatusCode::NO_CONTENT
    );
    let r = api
        .req(reqwest::Method::POST, &format!("/images/{shared_id}/members"))
        .json(&json!({"member": other}))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), StatusCode::OK);
    let r = bob
        .req(
            reqwest::Method::POST,
            &format!("/images/{shared_id}/actions/deactivate"),
        )
        .send()
        .await
        .expect("req");
    expect_error(r, StatusCode::FORBIDDEN, "deactivate").await;
    let r = api
        .req(
            reqwest::Method::POST,
            &format!("/images/{shared_id}/actions/deactivate"),
        )
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(api.show(&shared_id).await["status"], "deactivated");
    let r = bob
        .req(reqwest::Method::GET, &format!("/images/{shared_id}/file"))
        .send()
        .await
        .expect("req");
    expect_error(r, StatusCode::FORBIDDEN, "deactivated").await;
    let r = api
        .req(reqwest::Method::GET, &format!("/images/{shared_id}/file"))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), StatusCode::OK);
    let r = api
        .req(reqwest::Method::POST, &format!("/images/{bare}/actions/reactivate"))
        .send()
        .await
        .expect("req");
    expect_error(r, StatusCode::CONFLICT, "only deactivated images").await;
    let r = api
        .req(
            reqwest::Method::POST,
            &format!("/images/{shared_id}/actions/reactivate"),
        )
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        bob.req(reqwest::Method::GET, &format!("/images/{shared_id}/file"))
            .send()
            .await
            .expect("req")
            .status(),
        StatusCode::OK
    );

    // tags by path, and the limits of a tag
    let r = api
        .req(reqwest::Method::PUT, &format!("/images/{shared_id}/tags/web%20server"))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(api.show(&shared_id).await["tags"], json!(["web server"]));
    let r = api
        .req(reqwest::Method::DELETE, &format!("/images/{shared_id}/tags/absent"))
        .send()
        .await
        .expect("req");
    expect_error(r, StatusCode::NOT_FOUND, "Tag absent").await;

    // a kernel and a ramdisk, and a machine image that names them
    let kernel = api
        .create(json!({"name": "vmlinuz", "disk_format": "aki", "container_format": "aki"}))
        .await;
    let kernel = kernel.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(
        api.upload(&kernel, b"MZ\x90bzImage-ish kernel bytes".to_vec(), &[])
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let ramdisk = api
        .create(json!({"name": "initrd", "disk_format": "ari", "container_format": "ari"}))
        .await;
    let ramdisk = ramdisk.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let r = api.create(json!({"name": "machine", "disk_format": "ami", "container_format": "ami", "kernel_id": kernel, "ramdisk_id": ramdisk, "os_command_line": "console=ttyS0"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let machine: Value = r.json().await.expect("json");
    assert_eq!(machine["kernel_id"], kernel.as_str());
    assert_eq!(machine["ramdisk_id"], ramdisk.as_str());
    assert_eq!(api.show(&kernel).await["status"], "active");

    // the schemas clients read
    let schema: Value = api
        .req(reqwest::Method::GET, "/schemas/image")
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    assert_eq!(schema["name"], "image");
    assert_eq!(schema["properties"]["status"]["readOnly"], true);
    assert_eq!(schema["additionalProperties"]["type"], "string");
    let schema: Value = api
        .req(reqwest::Method::GET, "/schemas/members")
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    assert_eq!(schema["name"], "members");

    // a client that goes away mid-upload: the image is killed and no data is left
    let gone = api.new_image("raw").await;
    let addr = s.url.trim_start_matches("http://").to_owned();
    let mut sock = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let head = format!(
        "PUT /image/v2/images/{gone}/file HTTP/1.1\r\nHost: {addr}\r\nX-Auth-Token: {}\r\nContent-Type: application/octet-stream\r\nContent-Length: 4194304\r\n\r\n",
        api.token
    );
    sock.write_all(head.as_bytes()).await.expect("write");
    sock.write_all(&vec![5u8; 1 << 20]).await.expect("write");
    sock.flush().await.expect("flush");
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(sock);
    let mut status = Value::Null;
    for _ in 0..50 {
        status = api.show(&gone).await["status"].clone();
        if status == "killed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "killed");
    let r = api
        .req(reqwest::Method::GET, &format!("/images/{gone}/file"))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "a killed image has no data");
    let files = store_files(&s);
    assert_eq!(files.len(), 4, "only the four images with data have files: {files:?}");
    assert!(!files.iter().any(|f| f.contains(&gone)));
    assert!(!s.log().contains("panicked"), "{}", s.log());
}

#[tokio::test]
async fn image_count_quota_is_413() {
    let s = Server::start(&["--image-quota-images", "2"]);
    let api = Api::login(&s, "admin", ADMIN_PASSWORD, "admin").await;
    api.new_image("raw").await;
    api.new_image("raw").await;
    expect_error(
        api.create(json!({"name": "third"})).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "may hold 2 images",
    )
    .await;
}

/// A 1 GiB image goes up and comes back byte-identical while the server's peak memory stays
/// far below the image's size: data is streamed, never held.
#[tokio::test]
async fn one_gib_upload_and_download_stream_with_flat_memory() {
    use futures::StreamExt;
    use sha2::{Digest, Sha256};
    const MIB: usize = 1 << 20;
    const SIZE: usize = 1024 * MIB;
    let s = Server::start(&[]);
    let api = Api::login(&s, "admin", ADMIN_PASSWORD, "admin").await;
    let id = api.new_image("raw").await;
    let before = s.peak_rss_kib();

    let chunk = |n: usize| -> Vec<u8> { (0..MIB).map(|i| ((i + n * 31) % 253) as u8).collect() };
    let mut sent = Sha256::new();
    for n in 0..SIZE / MIB {
        sent.update(chunk(n));
    }
    let sent = format!("{:x}", sent.finalize());
    let body = futures::stream::iter((0..SIZE / MIB).map(move |n| Ok::<_, std::io::Error>(chunk(n))));
    let r = api
        .req(reqwest::Method::PUT, &format!("/images/{id}/file"))
        .header("content-type", "application/octet-stream")
        .header("content-length", SIZE.to_string())
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(api.show(&id).await["size"], SIZE as u64);

    let r = api
        .req(reqwest::Method::GET, &format!("/images/{id}/file"))
        .send()
        .await
        .expect("download");
    assert_eq!(r.status(), StatusCode::OK);
    let mut got = Sha256::new();
    let mut n = 0usize;
    let mut stream = r.bytes_stream();
    while let Some(b) = stream.next().await {
        let b = b.expect("chunk");
        n += b.len();
        got.update(&b);
    }
    assert_eq!(n, SIZE);
    assert_eq!(format!("{:x}", got.finalize()), sent);
    let after = s.peak_rss_kib();
    assert!(before > 0 && after > 0, "VmHWM readable");
    // A server that buffered the image would peak above 1 GiB; streaming keeps it to buffers.
    assert!(
        after < 160 * 1024,
        "peak RSS {after} KiB (was {before} KiB before the transfer)"
    );
}
