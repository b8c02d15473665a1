//! Servers through python-openstackclient on a fresh `stratus up` with three fake compute
//! hosts: the seed's flow from `server create --wait` to ACTIVE with an address from the
//! Network API, every step an event, power actions, the console, a "no valid host" fault
//! that names the filter, failed builds rescheduled and undone, and delete leaving nothing.

mod common;

use common::cli::Cli;
use common::Server;
use serde_json::Value;

fn setup(admin: &Cli, server: &Server) {
    let image = server.dir.path().join("disk.raw");
    std::fs::write(&image, vec![7u8; 1 << 20]).expect("image file");
    admin.ok(&[
        "image",
        "create",
        "--disk-format",
        "raw",
        "--file",
        image.to_str().expect("path"),
        "cirros",
    ]);
    admin.ok(&["network", "create", "private"]);
    admin.ok(&[
        "subnet",
        "create",
        "--network",
        "private",
        "--subnet-range",
        "10.9.0.0/24",
        "private-v4",
    ]);
}

fn ports_of(admin: &Cli, server_id: &str) -> Vec<Value> {
    admin
        .json(&["port", "list", "--device-id", server_id, "--long"])
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn servers_through_the_openstack_client() {
    let server = Server::start(&["--compute-hosts", "host-a,host-b,host-c"]);
    let admin = Cli::admin(&server);
    setup(&admin, &server);
    let key = server.dir.path().join("id.pub");
    std::fs::write(
        &key,
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMkX/D2GUQlJX7OBj+x6rmepYtcmzpQmAKI5RcHHxjKH test@stratus\n",
    )
    .expect("key");
    admin.ok(&["keypair", "create", "--public-key", key.to_str().expect("path"), "k1"]);

    let hosts = admin.json(&["hypervisor", "list"]);
    assert_eq!(hosts.as_array().map(Vec::len), Some(3), "{hosts}");

    // Boot: ACTIVE, with the address the Network service allocated to its port.
    let s = admin.json(&[
        "server",
        "create",
        "--flavor",
        "m1.tiny",
        "--image",
        "cirros",
        "--network",
        "private",
        "--key-name",
        "k1",
        "--property",
        "role=web",
        "--wait",
        "web-1",
    ]);
    assert_eq!(s["status"], "ACTIVE", "{s}");
    let id = s["id"].as_str().expect("id").to_owned();
    let ports = ports_of(&admin, &id);
    assert_eq!(ports.len(), 1, "one port for the server: {ports:?}");
    let port_ip = ports[0]["Fixed IP Addresses"].to_string();
    let shown = admin.json(&["server", "show", &id]);
    let addr = shown["addresses"]["private"][0].as_str().unwrap_or_default().to_owned();
    assert!(
        !addr.is_empty() && port_ip.contains(&addr),
        "server address {addr} is its port's {port_ip}"
    );
    assert_eq!(shown["key_name"], "k1");
    assert_eq!(shown["OS-EXT-STS:vm_state"], "active");
    assert_eq!(shown["OS-EXT-STS:power_state"], 1, "RUNNING: {shown}");
    let list = admin.json(&["server", "list"]);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(
        list[0]["Image"], "cirros",
        "the client finds the image with id=in: {list}"
    );

    // Metadata and names.
    admin.ok(&["server", "set", "--property", "tier=gold", "--name", "web-1", &id]);
    admin.ok(&["server", "unset", "--property", "role", &id]);
    let props = admin.json(&["server", "show", &id])["properties"].clone();
    assert_eq!(props, serde_json::json!({"tier": "gold"}), "{props}");

    // A volume, attached through the Volume API's attachments and seen by the guest's driver.
    let v = admin.json(&["volume", "create", "--size", "1", "data"]);
    let vid = v["id"].as_str().expect("volume id").to_owned();
    admin.wait_status("volume", &vid, "available");
    admin.ok(&["server", "add", "volume", &id, &vid]);
    admin.wait_status("volume", &vid, "in-use");
    let attached = admin.json(&["server", "show", &id])["volumes_attached"].to_string();
    assert!(attached.contains(&vid), "{attached}");
    let vol = admin.json(&["volume", "show", &vid]);
    assert!(vol["attachments"].to_string().contains(&id), "{vol}");
    let console = admin.ok(&["console", "log", "show", &id]);
    assert!(
        console.contains(&format!("volume {vid} attached as /dev/vdb")),
        "{console}"
    );
    admin.ok(&["server", "remove", "volume", &id, &vid]);
    admin.wait_status("volume", &vid, "available");
    assert!(admin
        .ok(&["console", "log", "show", "--lines", "1", &id])
        .contains("detached"));

    // Every step of the seed is an event with its times.
    let actions = admin.json(&["server", "event", "list", &id]);
    let create = actions
        .as_array()
        .expect("actions")
        .iter()
        .find(|a| a["Action"] == "create")
        .expect("a create action")
        .clone();
    let req = create["Request ID"].as_str().expect("request id");
    let ev = admin.json(&["server", "event", "show", &id, req]);
    let events: Vec<String> = ev["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            assert_eq!(e["result"], "Success", "{e}");
            assert!(e["finish_time"].is_string() && e["start_time"].is_string(), "{e}");
            e["event"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(
        events,
        [
            "conductor_schedule_and_build_instances",
            "scheduler_select_destinations",
            "compute_allocate_network",
            "compute_block_device_mapping",
            "compute_spawn"
        ]
    );

    // Power, and the console that records it.
    admin.ok(&["server", "stop", &id]);
    admin.wait_status("server", &id, "SHUTOFF");
    admin.ok(&["server", "start", &id]);
    admin.wait_status("server", &id, "ACTIVE");
    admin.ok(&["server", "reboot", "--hard", &id]);
    admin.wait_status("server", &id, "ACTIVE");
    let console = admin.ok(&["console", "log", "show", "--lines", "2", &id]);
    assert_eq!(console.trim(), "powered on\nhard reboot", "{console}");
    let err = admin.fails(&["server", "start", &id]);
    assert!(err.contains("Cannot 'os-start'"), "{err}");

    // Builds spread over the hosts (spread weighing).
    let mut on = std::collections::BTreeSet::new();
    for n in 2..=3 {
        let s = admin.json(&[
            "server",
            "create",
            "--flavor",
            "m1.tiny",
            "--image",
            "cirros",
            "--nic",
            "none",
            "--wait",
            &format!("web-{n}"),
        ]);
        on.insert(admin.json(&["server", "show", s["id"].as_str().expect("id")])["OS-EXT-SRV-ATTR:host"].to_string());
    }
    on.insert(shown["OS-EXT-SRV-ATTR:host"].to_string());
    assert_eq!(on.len(), 3, "three servers on three hosts: {on:?}");

    // A disabled host takes no builds; the service list says why.
    for h in ["host-a", "host-b"] {
        admin.ok(&[
            "compute",
            "service",
            "set",
            "--disable",
            "--disable-reason",
            "maintenance",
            h,
            "nova-compute",
        ]);
    }
    let svc = admin.ok(&["compute", "service", "list", "--long"]);
    assert_eq!(svc.matches("maintenance").count(), 2, "{svc}");
    let p = admin.json(&[
        "server", "create", "--flavor", "m1.tiny", "--image", "cirros", "--nic", "none", "--wait", "pinned",
    ]);
    let pinned_host = admin.json(&["server", "show", p["id"].as_str().expect("id")])["OS-EXT-SRV-ATTR:host"].clone();
    assert_eq!(pinned_host, "host-c");
    for h in ["host-a", "host-b"] {
        admin.ok(&["compute", "service", "set", "--enable", h, "nova-compute"]);
    }
    admin.ok(&["server", "delete", "--wait", "pinned"]);

    // Anti-affinity: three members of the group land on the three hosts; a fourth has none.
    let g = admin.json(&["server", "group", "create", "--policy", "anti-affinity", "apart"]);
    let gid = g["id"].as_str().expect("group id").to_owned();
    let hint = format!("group={gid}");
    let mut group_hosts = std::collections::BTreeSet::new();
    for n in 1..=3 {
        let name = format!("apart-{n}");
        let s = admin.json(&[
            "server", "create", "--flavor", "m1.tiny", "--image", "cirros", "--nic", "none", "--hint", &hint, "--wait",
            &name,
        ]);
        let host = admin.json(&["server", "show", s["id"].as_str().expect("id")])["OS-EXT-SRV-ATTR:host"].to_string();
        group_hosts.insert(host);
    }
    assert_eq!(group_hosts.len(), 3, "anti-affinity: {group_hosts:?}");
    let out = admin
        .command(&[
            "server", "create", "--flavor", "m1.tiny", "--image", "cirros", "--nic", "none", "--hint", &hint, "--wait",
            "apart-4",
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let fault = admin.json(&["server", "show", "apart-4"])["fault"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        fault.contains("3 already hold a member of the server group (anti-affinity)"),
        "{fault}"
    );
    admin.ok(&["server", "delete", "--wait", "apart-1", "apart-2", "apart-3", "apart-4"]);
    admin.ok(&["server", "group", "delete", "apart"]);

    // No valid host: the fault names the filter and how many hosts it removed. (Each fake
    // host has 32 GiB, 48 GiB with the RAM allocation ratio; the quota allows 50 GiB.)
    admin.ok(&[
        "flavor", "create", "--ram", "49500", "--vcpus", "1", "--disk", "1", "huge",
    ]);
    let out = admin
        .command(&[
            "server", "create", "--flavor", "huge", "--image", "cirros", "--nic", "none", "--wait", "big",
        ])
        .output()
        .expect("run");
    assert!(!out.status.success(), "a server no host can take ends in ERROR");
    let big = admin.json(&["server", "show", "big"]);
    assert_eq!(big["status"], "ERROR", "{big}");
    let fault = big["fault"]["message"].as_str().unwrap_or_default();
    assert_eq!(
        fault, "No valid host was found. 0/3 hosts: 3 lack 49500 MB RAM",
        "{big}"
    );

    // Quotas: the fifth server of a project allowed four is refused (403), and no record is made.
    admin.ok(&["quota", "set", "--instances", "4", "admin"]);
    let q = admin.json(&["quota", "show", "admin"]);
    let instances = q
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["Resource"] == "instances")
        .map(|r| r["Limit"].clone());
    assert_eq!(instances, Some(Value::from(4)), "{q}");
    let err = admin.fails(&[
        "server", "create", "--flavor", "m1.tiny", "--image", "cirros", "--nic", "none", "over",
    ]);
    assert!(
        err.contains("403") && err.contains("Quota exceeded for instances"),
        "{err}"
    );
    assert_eq!(admin.json(&["server", "list"]).as_array().map(Vec::len), Some(4));

    // Delete in every state: the ERROR one, and the active ones with their ports.
    admin.ok(&["server", "delete", "--wait", "big", "web-1", "web-2", "web-3"]);
    assert!(admin.json(&["server", "list"]).as_array().expect("list").is_empty());
    assert!(ports_of(&admin, &id).is_empty(), "the server's port went with it");
    let hv = admin.json(&["hypervisor", "list", "--long"]);
    for h in hv.as_array().expect("hosts") {
        assert_eq!(h["vCPUs Used"], 0, "claims released: {hv}");
    }
}

#[test]
fn failed_builds_are_rescheduled_undone_and_end_in_error() {
    let server = Server::start(&["--compute-hosts", "host-a,host-b,host-c", "--fake-failure-rate", "1"]);
    let admin = Cli::admin(&server);
    setup(&admin, &server);
    let out = admin
        .command(&[
            "server",
            "create",
            "--flavor",
            "m1.tiny",
            "--image",
            "cirros",
            "--network",
            "private",
            "--wait",
            "doomed",
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let s = admin.json(&["server", "show", "doomed"]);
    assert_eq!(s["status"], "ERROR", "{s}");
    let fault = s["fault"]["message"].as_str().unwrap_or_default();
    assert!(fault.contains("Exceeded maximum number of retries"), "{fault}");
    let id = s["id"].as_str().expect("id");
    assert!(ports_of(&admin, id).is_empty(), "every attempt's port was deleted");
    // Three attempts, each a failed spawn on another host, and the reschedules that followed.
    let actions = admin.json(&["server", "event", "list", id]);
    let req = actions[0]["Request ID"].as_str().expect("request id");
    // Events name their host from 2.62.
    let ev = admin.json(&["--os-compute-api-version", "2.62", "server", "event", "show", id, req]);
    let spawns: Vec<&Value> = ev["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["event"] == "compute_spawn")
        .collect();
    assert_eq!(spawns.len(), 3, "{ev}");
    let hosts: std::collections::BTreeSet<String> = spawns
        .iter()
        .map(|e| e["host"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(hosts.len(), 3, "each attempt on another host: {hosts:?}");
    assert!(spawns.iter().all(|e| e["result"] == "Error"));
    let hv = admin.json(&["hypervisor", "list", "--long"]);
    for h in hv.as_array().expect("hosts") {
        assert_eq!(h["vCPUs Used"], 0, "claims released: {hv}");
    }
    admin.ok(&["server", "delete", "--wait", "doomed"]);
}

#[test]
fn a_build_past_its_deadline_goes_to_error_with_the_step() {
    let server = Server::start(&["--fake-spawn-delay", "20", "--compute-build-timeout", "2"]);
    let admin = Cli::admin(&server);
    setup(&admin, &server);
    let s = admin.json(&[
        "server", "create", "--flavor", "m1.tiny", "--image", "cirros", "--nic", "none", "slow",
    ]);
    let id = s["id"].as_str().expect("id").to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let shown = admin.json(&["server", "show", &id]);
        if shown["status"] == "ERROR" {
            let fault = shown["fault"]["message"].as_str().unwrap_or_default();
            assert!(fault.contains("timed out after 2 s in task state spawning"), "{fault}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the build never timed out: {shown}"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let hv = admin.json(&["hypervisor", "list", "--long"]);
    assert_eq!(hv[0]["vCPUs Used"], 0, "the claim went back: {hv}");
    admin.ok(&["server", "delete", "--wait", &id]);
}

#[test]
fn servers_boot_from_volumes() {
    let server = Server::start(&[]);
    let admin = Cli::admin(&server);
    setup(&admin, &server);
    // From a volume the user made from the image.
    let v = admin.json(&["volume", "create", "--image", "cirros", "--size", "1", "bootvol"]);
    let bootvol = v["id"].as_str().expect("volume id").to_owned();
    admin.wait_status("volume", &bootvol, "available");
    let s = admin.json(&[
        "server",
        "create",
        "--volume",
        "bootvol",
        "--flavor",
        "m1.tiny",
        "--network",
        "private",
        "--wait",
        "bfv",
    ]);
    assert_eq!(s["status"], "ACTIVE", "{s}");
    let shown = admin.json(&["server", "show", "bfv"]);
    assert!(
        shown["image"]
            .as_str()
            .unwrap_or_default()
            .contains("booted from volume"),
        "{shown}"
    );
    assert!(shown["volumes_attached"].to_string().contains(&bootvol), "{shown}");
    // The list's detail view carries the same, read for the whole page at once.
    let token = admin.ok(&["token", "issue", "-f", "value", "-c", "id"]);
    let out = std::process::Command::new("curl")
        .args(["-sf", "-H", &format!("X-Auth-Token: {}", token.trim())])
        .arg(format!("{}/compute/v2.1/servers/detail", server.url))
        .output()
        .expect("curl");
    let detail: Value = serde_json::from_slice(&out.stdout).expect("servers/detail JSON");
    assert!(
        detail["servers"][0]["os-extended-volumes:volumes_attached"]
            .to_string()
            .contains(&bootvol),
        "{detail}"
    );
    assert_eq!(admin.json(&["volume", "show", &bootvol])["status"], "in-use");
    let console = admin.ok(&["console", "log", "show", "bfv"]);
    assert!(
        console.contains("1 volume(s)"),
        "the guest started with its root volume: {console}"
    );

    // From the image, made into a volume at build.
    let s = admin.json(&[
        "server",
        "create",
        "--image",
        "cirros",
        "--boot-from-volume",
        "1",
        "--flavor",
        "m1.tiny",
        "--nic",
        "none",
        "--wait",
        "bfv2",
    ]);
    assert_eq!(s["status"], "ACTIVE", "{s}");
    let shown = admin.json(&["server", "show", "bfv2"]);
    let attached = shown["volumes_attached"].to_string();
    let made = admin
        .json(&["volume", "list", "--name", "bfv2-root"])
        .as_array()
        .and_then(|l| l.first().cloned())
        .expect("the volume made for bfv2");
    let made_id = made["ID"].as_str().expect("id").to_owned();
    assert!(attached.contains(&made_id), "{attached}");
    assert_eq!(made["Status"], "in-use");

    admin.ok(&["server", "delete", "--wait", "bfv", "bfv2"]);
    admin.wait_status("volume", &bootvol, "available");
    admin.wait_status("volume", &made_id, "available");
}

/// A member (no admin role) boots on its own network: the port is made with the member's
/// token and bound to the host by the compute services' own user, then marked ACTIVE.
#[test]
fn a_member_boots_on_its_own_network() {
    let server = Server::start(&["--compute-hosts", "host-m"]);
    let admin = Cli::admin(&server);
    admin.ok(&["project", "create", "demo"]);
    admin.ok(&["user", "create", "--password", "pw-of-mia", "mia"]);
    admin.ok(&["role", "add", "--project", "demo", "--user", "mia", "member"]);
    let mia = Cli::user(&server, "mia", "pw-of-mia", "demo");
    setup(&mia, &server);

    let s = mia.json(&[
        "server",
        "create",
        "--flavor",
        "m1.tiny",
        "--image",
        "cirros",
        "--network",
        "private",
        "--description",
        "the member's own",
        "--wait",
        "mine",
    ]);
    assert_eq!(s["status"], "ACTIVE", "{s}");
    assert_eq!(s["description"], "the member's own", "{s}");
    let id = s["id"].as_str().expect("id").to_owned();
    let ports = ports_of(&admin, &id);
    assert_eq!(ports.len(), 1, "{ports:?}");
    let port = admin.json(&["port", "show", ports[0]["ID"].as_str().expect("port id")]);
    assert_eq!(port["binding_host_id"], "host-m", "{port}");
    assert_eq!(port["status"], "ACTIVE", "{port}");
    assert_eq!(port["device_owner"], "compute:nova", "{port}");
    let demo = admin.json(&["project", "show", "demo"]);
    assert_eq!(port["project_id"], demo["id"], "the port is the member's: {port}");
    // The member may not bind ports itself.
    let err = mia.fails(&[
        "port",
        "set",
        "--host",
        "host-x",
        ports[0]["ID"].as_str().expect("port id"),
    ]);
    assert!(err.contains("403") || err.to_lowercase().contains("polic"), "{err}");

    mia.ok(&["server", "set", "--description", "renamed", &id]);
    assert_eq!(mia.json(&["server", "show", &id])["description"], "renamed");
    let long = "x".repeat(300);
    let err = mia.fails(&["server", "set", "--description", &long, &id]);
    assert!(err.contains("description"), "{err}");
    mia.ok(&["server", "delete", "--wait", &id]);
    assert!(ports_of(&admin, &id).is_empty(), "the server's port is gone");

    // Security groups named at create go on the ports made for the server.
    let web = mia.json(&["security", "group", "create", "web"]);
    let s = mia.json(&[
        "server",
        "create",
        "--flavor",
        "m1.tiny",
        "--image",
        "cirros",
        "--network",
        "private",
        "--security-group",
        "web",
        "--tag",
        "tier-web",
        "--tag",
        "blue",
        "--wait",
        "grouped",
    ]);
    let id = s["id"].as_str().expect("id").to_owned();
    let port = &ports_of(&admin, &id)[0];
    let shown = admin.json(&["port", "show", port["ID"].as_str().expect("port id")]);
    assert_eq!(shown["security_group_ids"], serde_json::json!([web["id"]]), "{shown}");
    let server = mia.json(&["server", "show", &id]);
    assert_eq!(
        server["security_groups"],
        serde_json::json!([{"name": "web"}]),
        "{server}"
    );
    let err = mia.fails(&[
        "server",
        "create",
        "--flavor",
        "m1.tiny",
        "--image",
        "cirros",
        "--network",
        "private",
        "--security-group",
        "nope",
        "ungrouped",
    ]);
    assert!(err.contains("nope"), "{err}");

    // Tags: given at create, added, removed, and filtered on.
    let tags = |v: &serde_json::Value| -> Vec<String> {
        let mut t: Vec<String> = serde_json::from_value(v["tags"].clone()).unwrap_or_default();
        t.sort();
        t
    };
    assert_eq!(tags(&server), ["blue", "tier-web"], "{server}");
    mia.ok(&["server", "set", "--tag", "green", &id]);
    mia.ok(&["server", "unset", "--tag", "blue", &id]);
    assert_eq!(tags(&mia.json(&["server", "show", &id])), ["green", "tier-web"]);
    let listed = mia.json(&["server", "list", "--tags", "green,tier-web"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    let listed = mia.json(&["server", "list", "--not-tags", "green"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(0), "{listed}");
    let long_tag = "t".repeat(61);
    let err = mia.fails(&["server", "set", "--tag", &long_tag, &id]);
    assert!(err.contains("tag"), "{err}");
    mia.ok(&["server", "delete", "--wait", &id]);
}
