//! The real python-openstackclient against a fresh `stratus up`: every Image step a user
//! takes, asserting on what the client prints and on the bytes it gets back.

mod common;

use std::path::Path;
use std::process::Command;

use common::cli::Cli;
use common::Server;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|i| i["Name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn sha256(path: &Path) -> String {
    format!("{:x}", Sha256::digest(std::fs::read(path).expect("read")))
}

fn md5(path: &Path) -> String {
    format!("{:x}", md5::Md5::digest(std::fs::read(path).expect("read")))
}

/// A real qcow2 with data in it, made by qemu-img from a raw disk.
fn make_qcow2(dir: &Path) -> std::path::PathBuf {
    let raw = dir.join("disk.raw");
    let mut data = vec![0u8; 3 << 20];
    for (n, b) in data.iter_mut().enumerate() {
        *b = (n * 7 % 251) as u8;
    }
    std::fs::write(&raw, &data).expect("write raw");
    let qcow2 = dir.join("disk.qcow2");
    let out = Command::new("qemu-img")
        .args(["convert", "-f", "raw", "-O", "qcow2"])
        .arg(&raw)
        .arg(&qcow2)
        .output()
        .expect("qemu-img");
    assert!(
        out.status.success(),
        "qemu-img convert: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("qemu-img")
        .args(["resize", "-f", "qcow2"])
        .arg(&qcow2)
        .arg("64M")
        .output()
        .expect("qemu-img");
    assert!(
        out.status.success(),
        "qemu-img resize: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    qcow2
}

fn prop<'a>(image: &'a Value, key: &str) -> &'a Value {
    // The client prints additional properties in a `properties` map.
    &image["properties"][key]
}

#[test]
fn images_through_the_openstack_client() {
    let server = Server::start(&[]);
    let admin = Cli::admin(&server);
    let work = tempfile::tempdir().expect("tempdir");
    let qcow2 = make_qcow2(work.path());
    let raw = work.path().join("disk.raw");

    // create: a private qcow2 with a property and a tag, and a public raw image
    let q = qcow2.to_str().expect("path");
    let img = admin.json(&[
        "image",
        "create",
        "--file",
        q,
        "--disk-format",
        "qcow2",
        "--container-format",
        "bare",
        "--private",
        "--property",
        "os_distro=cirros",
        "--tag",
        "base",
        "cirros",
    ]);
    let id = img["id"].as_str().expect("id").to_owned();
    assert_eq!(img["status"], "active", "{img}");
    assert_eq!(img["visibility"], "private");
    assert_eq!(img["size"], std::fs::metadata(&qcow2).expect("stat").len());
    assert_eq!(img["checksum"], md5(&qcow2));
    assert_eq!(img["virtual_size"], 64 << 20);
    assert_eq!(prop(&img, "os_distro"), "cirros");
    assert_eq!(img["tags"], serde_json::json!(["base"]));
    let public = admin.json(&[
        "image",
        "create",
        "--file",
        raw.to_str().expect("path"),
        "--disk-format",
        "raw",
        "--container-format",
        "bare",
        "--public",
        "raw-public",
    ]);
    assert_eq!(public["visibility"], "public");
    assert_eq!(public["virtual_size"], 3 << 20);
    assert_eq!(prop(&public, "os_hash_algo"), "sha512");

    // list, with filters
    let all = names(&admin.json(&["image", "list"]));
    assert!(
        all.contains(&"cirros".into()) && all.contains(&"raw-public".into()),
        "{all:?}"
    );
    assert_eq!(names(&admin.json(&["image", "list", "--public"])), vec!["raw-public"]);
    assert_eq!(names(&admin.json(&["image", "list", "--private"])), vec!["cirros"]);
    assert_eq!(
        names(&admin.json(&["image", "list", "--name", "cirros"])),
        vec!["cirros"]
    );
    assert_eq!(names(&admin.json(&["image", "list", "--tag", "base"])), vec!["cirros"]);
    assert_eq!(
        names(&admin.json(&["image", "list", "--status", "active", "--sort", "name:asc"])),
        vec!["cirros", "raw-public"]
    );
    assert_eq!(
        names(&admin.json(&["image", "list", "--property", "os_distro=cirros"])),
        vec!["cirros"]
    );
    assert_eq!(
        names(&admin.json(&["image", "list", "--limit", "1", "--sort", "name:desc"])),
        vec!["raw-public"]
    );

    // show and set: properties, tags, protected, min-disk
    let shown = admin.json(&["image", "show", "cirros"]);
    assert_eq!(shown["id"], id.as_str());
    admin.ok(&[
        "image",
        "set",
        "--property",
        "hw_disk_bus=virtio",
        "--tag",
        "extra",
        "--protected",
        "--min-disk",
        "1",
        "cirros",
    ]);
    let shown = admin.json(&["image", "show", "cirros"]);
    assert_eq!(shown["protected"], true, "{shown}");
    assert_eq!(shown["min_disk"], 1);
    assert_eq!(prop(&shown, "hw_disk_bus"), "virtio");
    assert_eq!(shown["tags"], serde_json::json!(["base", "extra"]));
    let err = admin.fails(&["image", "delete", "cirros"]);
    assert!(err.contains("403") || err.contains("protected"), "{err}");

    // save: byte-identical
    let out = work.path().join("saved.qcow2");
    admin.ok(&["image", "save", "--file", out.to_str().expect("path"), "cirros"]);
    assert_eq!(sha256(&out), sha256(&qcow2));

    // sharing with another project, which accepts
    admin.ok(&["project", "create", "other"]);
    admin.ok(&["user", "create", "--project", "other", "--password", "bob-pw", "bob"]);
    admin.ok(&["role", "add", "--project", "other", "--user", "bob", "member"]);
    let other_id = admin.json(&["project", "show", "other"])["id"]
        .as_str()
        .expect("id")
        .to_owned();
    admin.ok(&["image", "set", "--shared", "cirros"]);
    let member = admin.json(&["image", "add", "project", "cirros", "other"]);
    assert_eq!(member["status"], "pending", "{member}");
    let bob = Cli::user(&server, "bob", "bob-pw", "other");
    assert!(
        !names(&bob.json(&["image", "list"])).contains(&"cirros".into()),
        "pending images are not listed"
    );
    assert_eq!(bob.json(&["image", "show", &id])["name"], "cirros");
    bob.ok(&["image", "set", "--accept", &id]);
    assert!(
        names(&bob.json(&["image", "list"])).contains(&"cirros".into()),
        "accepted images are listed"
    );
    let members = admin.json(&["image", "member", "list", "cirros"]);
    assert_eq!(members[0]["Member ID"], other_id.as_str(), "{members}");
    assert_eq!(members[0]["Status"], "accepted");
    let err = bob.fails(&["image", "delete", &id]);
    assert!(err.contains("403"), "a member cannot delete: {err}");
    let saved_by_bob = work.path().join("bob.qcow2");
    bob.ok(&["image", "save", "--file", saved_by_bob.to_str().expect("path"), &id]);
    assert_eq!(sha256(&saved_by_bob), sha256(&qcow2));

    // unset, then delete
    admin.ok(&[
        "image",
        "unset",
        "--property",
        "hw_disk_bus",
        "--tag",
        "extra",
        "cirros",
    ]);
    let shown = admin.json(&["image", "show", "cirros"]);
    assert!(prop(&shown, "hw_disk_bus").is_null(), "{shown}");
    assert_eq!(shown["tags"], serde_json::json!(["base"]));
    admin.ok(&["image", "set", "--unprotected", "cirros"]);
    admin.ok(&["image", "delete", "cirros", "raw-public"]);
    assert!(names(&admin.json(&["image", "list"])).is_empty());
    let store = server.dir.path().join("data/images/store");
    let left: Vec<_> = std::fs::read_dir(&store)
        .expect("store dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name() != ".partial")
        .collect();
    assert!(left.is_empty(), "deleted images leave no data: {left:?}");
}

#[test]
fn glance_direct_import_through_the_openstack_client() {
    let server = Server::start(&[]);
    let admin = Cli::admin(&server);
    let work = tempfile::tempdir().expect("tempdir");
    let qcow2 = make_qcow2(work.path());
    let info = admin.json(&["image", "import", "info"]);
    assert!(info.to_string().contains("glance-direct"), "{info}");
    let stores = admin.json(&["image", "stores", "list"]);
    assert_eq!(stores[0]["ID"], "file", "{stores}");
    let img = admin.json(&[
        "image",
        "create",
        "--import",
        "--file",
        qcow2.to_str().expect("path"),
        "--disk-format",
        "qcow2",
        "--container-format",
        "bare",
        "imported",
    ]);
    let id = img["id"].as_str().expect("id").to_owned();
    let mut status = String::new();
    for _ in 0..100 {
        status = admin.json(&["image", "show", &id])["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if status == "active" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(status, "active", "the import finishes");
    let shown = admin.json(&["image", "show", &id]);
    assert_eq!(shown["checksum"], md5(&qcow2));
    assert_eq!(shown["virtual_size"], 64 << 20);
}
