//! Through python-openstackclient on a fresh `stratus up`: the network a server gets when the
//! request names none, in each of Nova's microversion cases; the admin password a create
//! answers with and `changePassword`; and a quota class changed and seen by a project made
//! afterwards.

mod common;

use common::cli::Cli;
use common::Server;
use serde_json::Value;

fn ports_of(admin: &Cli, server_id: &str) -> Vec<Value> {
    admin
        .json(&["port", "list", "--device-id", server_id])
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn networks_chosen_per_microversion_admin_passwords_and_quota_classes() {
    let server = Server::start(&[]);
    let admin = Cli::admin(&server);
    let image = server.dir.path().join("disk.raw");
    std::fs::write(&image, vec![7u8; 1 << 20]).expect("image file");
    admin.ok(&["image", "create", "--disk-format", "raw", "--public", "--file", image.to_str().unwrap(), "img"]);
    admin.ok(&["project", "create", "netless"]);
    admin.ok(&["user", "create", "--password", "nel-pw", "nel"]);
    admin.ok(&["role", "add", "--project", "netless", "--user", "nel", "member"]);
    let nel = Cli::user(&server, "nel", "nel-pw", "netless");
    let create = |cli: &Cli, version: &str, nic: &[&str], name: &str| -> Value {
        let mut args = vec!["--os-compute-api-version", version, "server", "create", "--flavor", "m1.tiny", "--image", "img"];
        args.extend_from_slice(nic);
        args.extend(["--wait", name]);
        cli.json(&args)
    };
    let fails = |cli: &Cli, version: &str, nic: &[&str], name: &str| -> String {
        let mut args = vec!["--os-compute-api-version", version, "server", "create", "--flavor", "m1.tiny", "--image", "img"];
        args.extend_from_slice(nic);
        args.push(name);
        cli.fails(&args)
    };

    // Before 2.37, no networks asked: no usable network means no port at all.
    let s = create(&nel, "2.1", &[], "bare");
    assert_eq!(s["status"], "ACTIVE", "{s}");
    assert!(ports_of(&admin, s["id"].as_str().unwrap()).is_empty());
    // The admin password: made by the API when not given, the given one otherwise.
    let made = s["adminPass"].as_str().expect("a generated admin password");
    assert_eq!(made.len(), 12, "{s}");
    let s = create(&nel, "2.1", &["--password", "Chosen-Pass-1"], "given-pass");
    assert_eq!(s["adminPass"], "Chosen-Pass-1", "{s}");
    // changePassword sets it in the running guest (the fake hypervisor logs it); a stopped
    // server's cannot be changed.
    let id = s["id"].as_str().unwrap().to_owned();
    nel.ok(&["server", "set", "--password", "Changed-Pass-2", &id]);
    let console = nel.ok(&["console", "log", "show", &id]);
    assert!(console.contains("password of root set"), "{console}");
    nel.ok(&["server", "stop", &id]);
    nel.wait_status("server", &id, "SHUTOFF");
    let err = nel.fails(&["server", "set", "--password", "Changed-Pass-3", &id]);
    assert!(err.contains("409") || err.contains("vm_state"), "{err}");

    // From 2.37 `none` is no port; `auto` with nothing to use and no auto-allocated
    // topology is Nova's 400.
    let s = create(&nel, "2.37", &["--nic", "none"], "none");
    assert!(ports_of(&admin, s["id"].as_str().unwrap()).is_empty());
    let err = fails(&nel, "2.37", &["--nic", "auto"], "auto-nothing");
    assert!(err.contains("400") || err.to_lowercase().contains("network"), "{err}");

    // The project's only network: used before 2.37 without asking, and by `auto`.
    nel.ok(&["network", "create", "own"]);
    nel.ok(&["subnet", "create", "--network", "own", "--subnet-range", "10.40.0.0/24", "own-v4"]);
    let s = create(&nel, "2.1", &[], "picked");
    let ports = ports_of(&admin, s["id"].as_str().unwrap());
    assert_eq!(ports.len(), 1, "{ports:?}");
    let own = nel.json(&["network", "show", "own"]);
    assert_eq!(ports[0]["Fixed IP Addresses"].to_string().contains("10.40.0."), true, "{ports:?}");
    let s = create(&nel, "2.37", &["--nic", "auto"], "auto-own");
    let ports = ports_of(&admin, s["id"].as_str().unwrap());
    assert_eq!(ports.len(), 1, "{ports:?}");
    let port = admin.json(&["port", "show", ports[0]["ID"].as_str().unwrap()]);
    assert_eq!(port["network_id"], own["id"], "{port}");

    // A shared network makes two usable ones: which one is then the user's to say (409).
    admin.ok(&["network", "create", "--share", "shared"]);
    admin.ok(&["subnet", "create", "--network", "shared", "--subnet-range", "10.41.0.0/24", "shared-v4"]);
    let err = fails(&nel, "2.1", &[], "ambiguous");
    assert!(err.contains("409") || err.contains("Multiple possible networks"), "{err}");
    let s = create(&nel, "2.1", &["--network", "shared"], "chosen");
    assert_eq!(ports_of(&admin, s["id"].as_str().unwrap()).len(), 1);

    // A quota class: the default class changed, a project made afterwards has it.
    admin.ok(&["quota", "set", "--class", "--instances", "3", "--cores", "7", "default"]);
    let row = |table: &Value, name: &str| -> Value {
        match table {
            Value::Array(rows) => rows
                .iter()
                .find(|r| r["Resource"] == name)
                .map(|r| r["Limit"].clone())
                .unwrap_or(Value::Null),
            obj => obj[name].clone(),
        }
    };
    let defaults = admin.json(&["quota", "show", "--default", "--compute"]);
    assert_eq!(row(&defaults, "instances"), 3, "the defaults are the default class: {defaults}");
    admin.ok(&["project", "create", "later"]);
    let later = admin.json(&["quota", "show", "--compute", "later"]);
    assert_eq!(row(&later, "instances"), 3, "{later}");
    assert_eq!(row(&later, "cores"), 7, "{later}");
}
