//! The real python-openstackclient against a fresh `stratus up`: the Block Storage steps a
//! user takes, asserting on what the client prints and on the data the backend holds.

mod common;

use std::time::{Duration, Instant};

use common::cli::Cli;
use common::Server;
use serde_json::Value;

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|i| i["Name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Polls `show` until the status is no longer `busy`; returns what it showed last.
fn settle(cli: &Cli, kind: &[&str], id: &str, busy: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut args = kind.to_vec();
        args.extend(["show", id]);
        let v = cli.json(&args);
        if v["status"] != busy || Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The bytes a volume file holds, as a raw disk, whatever its format.
fn volume_bytes(server: &Server, id: &str) -> Vec<u8> {
    let file = server.dir.path().join(format!("data/volumes/files/volume-{id}"));
    let out = server.dir.path().join(format!("{id}.raw"));
    let st = std::process::Command::new("qemu-img")
        .args(["convert", "-O", "raw"])
        .arg(&file)
        .arg(&out)
        .status()
        .expect("qemu-img");
    assert!(st.success(), "qemu-img convert {}", file.display());
    std::fs::read(out).expect("read converted volume")
}

#[test]
fn volumes_through_the_openstack_client() {
    let server = Server::start(&[]);
    let admin = Cli::admin(&server);

    // An empty volume.
    let v = admin.json(&["volume", "create", "--size", "1", "--description", "scratch", "data"]);
    assert_eq!(v["size"], 1, "{v}");
    assert_eq!(v["status"], "creating");
    let data_id = v["id"].as_str().expect("id").to_owned();
    let v = settle(&admin, &["volume"], &data_id, "creating");
    assert_eq!(v["status"], "available", "{v}");
    assert_eq!(v["type"], "__DEFAULT__");
    assert_eq!(v["bootable"], false);
    assert_eq!(volume_bytes(&server, &data_id).len(), 1 << 30);

    // A volume from an image holds the image's bytes.
    let image_file = server.dir.path().join("disk.raw");
    let pattern: Vec<u8> = (0..3 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&image_file, &pattern).expect("image file");
    let img = admin.json(&[
        "image",
        "create",
        "--disk-format",
        "raw",
        "--file",
        image_file.to_str().expect("path"),
        "--property",
        "os_distro=busybox",
        "disk",
    ]);
    assert_eq!(img["status"], "active", "{img}");
    let v = admin.json(&["volume", "create", "--image", "disk", "--size", "1", "from-image"]);
    let from_image = v["id"].as_str().expect("id").to_owned();
    let v = settle(&admin, &["volume"], &from_image, "creating");
    assert_eq!(v["status"], "available", "{v}\n{}", server.log());
    assert_eq!(v["bootable"], true);
    let meta = &v["volume_image_metadata"];
    assert_eq!(meta["image_name"], "disk", "{v}");
    assert_eq!(meta["os_distro"], "busybox");
    let bytes = volume_bytes(&server, &from_image);
    assert_eq!(bytes.len(), 1 << 30, "the volume has the size asked for");
    assert!(
        bytes[..pattern.len()] == pattern[..],
        "the volume starts with the image's bytes"
    );
    assert!(bytes[pattern.len()..].iter().all(|b| *b == 0));

    // list, show, set
    let all = admin.json(&["volume", "list"]);
    assert_eq!(names(&all).len(), 2, "{all}");
    admin.ok(&[
        "volume",
        "set",
        "--name",
        "data2",
        "--description",
        "renamed",
        "--property",
        "tier=gold",
        &data_id,
    ]);
    let v = admin.json(&["volume", "show", "data2"]);
    assert_eq!(v["description"], "renamed", "{v}");
    assert_eq!(v["properties"]["tier"], "gold", "{v}");
    let long = admin.json(&["volume", "list", "--long", "--property", "tier=gold"]);
    assert_eq!(names(&long), ["data2"], "{long}");

    // Snapshots, and a volume from one.
    let s = admin.json(&["volume", "snapshot", "create", "--volume", "from-image", "snap"]);
    let snap_id = s["id"].as_str().expect("id").to_owned();
    let s = settle(&admin, &["volume", "snapshot"], &snap_id, "creating");
    assert_eq!(s["status"], "available", "{s}");
    assert_eq!(s["size"], 1);
    assert_eq!(names(&admin.json(&["volume", "snapshot", "list"])), ["snap"]);
    let v = admin.json(&["volume", "create", "--snapshot", "snap", "from-snap"]);
    let from_snap = v["id"].as_str().expect("id").to_owned();
    let v = settle(&admin, &["volume"], &from_snap, "creating");
    assert_eq!(v["status"], "available", "{v}");
    assert_eq!(v["snapshot_id"], snap_id.as_str());
    assert_eq!(v["size"], 1);
    assert!(volume_bytes(&server, &from_snap)[..pattern.len()] == pattern[..]);

    // Extend.
    admin.ok(&["volume", "set", "--size", "2", "data2"]);
    let v = settle(&admin, &["volume"], &data_id, "extending");
    assert_eq!(
        (v["status"].as_str(), v["size"].as_u64()),
        (Some("available"), Some(2)),
        "{v}"
    );
    assert_eq!(volume_bytes(&server, &data_id).len(), 2 << 30);

    // Types.
    let t = admin.json(&[
        "volume",
        "type",
        "create",
        "--description",
        "attach to many",
        "--property",
        "multiattach=<is> True",
        "shared",
    ]);
    assert_eq!(t["name"], "shared", "{t}");
    let t = admin.json(&["volume", "type", "show", "shared"]);
    assert_eq!(t["properties"]["multiattach"], "<is> True", "{t}");
    assert_eq!(t["is_public"], true);
    assert_eq!(
        names(&admin.json(&["volume", "type", "list"])),
        ["__DEFAULT__", "shared"]
    );
    let v = admin.json(&["volume", "create", "--size", "1", "--type", "shared", "many"]);
    assert_eq!(v["multiattach"], true, "{v}");
    assert_eq!(v["type"], "shared");
    let many = v["id"].as_str().expect("id").to_owned();
    settle(&admin, &["volume"], &many, "creating");

    // Quotas: the fifth volume is the last the project may have.
    admin.ok(&["quota", "set", "--volumes", "5", "admin"]);
    let q = admin.json(&["quota", "show", "admin"]);
    let volumes = q
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["Resource"] == "volumes")
        .map(|r| r["Limit"].clone());
    assert_eq!(volumes, Some(Value::from(5)), "{q}");
    admin.ok(&["volume", "create", "--size", "1", "fifth"]);
    let err = admin.fails(&["volume", "create", "--size", "1", "sixth"]);
    assert!(err.contains("exceeded for quota 'volumes'"), "{err}");
    let limits = admin.json(&["limits", "show", "--absolute"]);
    let row = |name: &str| {
        limits
            .as_array()
            .expect("rows")
            .iter()
            .find(|r| r["Name"] == name)
            .map(|r| r["Value"].clone())
    };
    assert_eq!(row("max_total_volumes"), Some(Value::from(5)), "{limits}");
    assert_eq!(row("total_volumes_used"), Some(Value::from(5)), "{limits}");
    let zones = admin.ok(&["availability", "zone", "list", "--volume"]);
    assert!(zones.contains("nova") && zones.contains("available"), "{zones}");
    let services = admin.ok(&["volume", "service", "list"]);
    assert!(
        services.contains("cinder-volume") && services.contains("up"),
        "{services}"
    );

    // Delete: a volume with a snapshot is refused until the snapshot goes.
    let err = admin.fails(&["volume", "delete", "from-image"]);
    assert!(err.contains("1 of 1 volumes failed to delete"), "{err}");
    admin.ok(&["volume", "snapshot", "delete", "snap"]);
    for v in ["data2", "from-image", "from-snap", "many", "fifth"] {
        admin.ok(&["volume", "delete", v]);
    }
    assert!(admin.json(&["volume", "list"]).as_array().expect("list").is_empty());
    admin.ok(&["volume", "type", "delete", "shared"]);
    let files: Vec<_> = std::fs::read_dir(server.dir.path().join("data/volumes/files"))
        .expect("volume dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(files.is_empty(), "no volume or snapshot file is left: {files:?}");
}
