//! The real python-openstackclient against a fresh `stratus up`: the Network steps a user
//! takes, asserting on what the client prints.

mod common;

use common::cli::Cli;
use common::Server;
use serde_json::Value;

fn col(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|i| i[key].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn networks_through_the_openstack_client() {
    let server = Server::start(&[]);
    let admin = Cli::admin(&server);

    // network and subnet
    let net = admin.json(&["network", "create", "--description", "for guests", "private"]);
    assert_eq!(net["name"], "private", "{net}");
    assert_eq!(net["status"], "ACTIVE");
    assert_eq!(net["mtu"], 1500);
    let subnet = admin.json(&[
        "subnet",
        "create",
        "--network",
        "private",
        "--subnet-range",
        "10.0.0.0/24",
        "--allocation-pool",
        "start=10.0.0.10,end=10.0.0.100",
        "--dns-nameserver",
        "192.0.2.53",
        "private-v4",
    ]);
    assert_eq!(subnet["cidr"], "10.0.0.0/24", "{subnet}");
    assert_eq!(subnet["gateway_ip"], "10.0.0.1");
    assert_eq!(subnet["enable_dhcp"], true);
    let pools = subnet["allocation_pools"].to_string();
    assert!(pools.contains("10.0.0.10") && pools.contains("10.0.0.100"), "{pools}");
    assert!(subnet["dns_nameservers"].to_string().contains("192.0.2.53"));
    let v6 = admin.json(&[
        "subnet",
        "create",
        "--network",
        "private",
        "--ip-version",
        "6",
        "--subnet-range",
        "fd00:10::/64",
        "--ipv6-ra-mode",
        "slaac",
        "--ipv6-address-mode",
        "slaac",
        "private-v6",
    ]);
    assert_eq!(v6["ip_version"], 6, "{v6}");
    assert_eq!(
        col(&admin.json(&["subnet", "list", "--network", "private"]), "Name").len(),
        2
    );

    // ports: automatic and fixed addresses
    let port = admin.json(&["port", "create", "--network", "private", "web"]);
    let ips = port["fixed_ips"].to_string();
    assert!(
        ips.contains("10.0.0.") && ips.contains("fd00:10::"),
        "an IPv4 and a SLAAC IPv6 address: {ips}"
    );
    assert!(
        port["mac_address"].as_str().is_some_and(|m| m.starts_with("fa:16:3e:")),
        "{port}"
    );
    assert_eq!(port["status"], "DOWN");
    // An address no port holds yet (the automatic ones are picked at random).
    let taken = admin
        .json(&["port", "list", "--network", "private", "--long"])
        .to_string();
    let free = (50..250)
        .map(|n| format!("10.0.0.{n}"))
        .find(|a| !taken.contains(&format!("'{a}'")) && !taken.contains(&format!("\"{a}\"")))
        .expect("a free address");
    let wanted = format!("subnet=private-v4,ip-address={free}");
    let fixed = admin.json(&["port", "create", "--network", "private", "--fixed-ip", &wanted, "db"]);
    assert!(fixed["fixed_ips"].to_string().contains(&free), "{fixed}");
    let err = admin.fails(&["port", "create", "--network", "private", "--fixed-ip", &wanted, "dup"]);
    assert!(err.contains(&free) && err.contains("409"), "{err}");
    let ports = admin.json(&["port", "list", "--network", "private"]);
    let names = col(&ports, "Name");
    assert!(names.contains(&"web".into()) && names.contains(&"db".into()), "{ports}");
    admin.ok(&["port", "set", "--name", "web-1", "--description", "front end", "web"]);
    let shown = admin.json(&["port", "show", "web-1"]);
    assert_eq!(shown["description"], "front end");
    assert_eq!(shown["id"], port["id"]);

    // security groups
    let sg = admin.json(&["security", "group", "create", "--description", "ssh in", "ssh"]);
    assert_eq!(sg["name"], "ssh", "{sg}");
    let rule = admin.json(&[
        "security",
        "group",
        "rule",
        "create",
        "--protocol",
        "tcp",
        "--dst-port",
        "22",
        "ssh",
    ]);
    assert_eq!(rule["port_range_min"], 22, "{rule}");
    assert_eq!(rule["port_range_max"], 22);
    assert_eq!(rule["direction"], "ingress");
    let groups = col(&admin.json(&["security", "group", "list"]), "Name");
    assert!(
        groups.contains(&"default".into()) && groups.contains(&"ssh".into()),
        "{groups:?}"
    );
    let rules = admin.json(&["security", "group", "rule", "list", "ssh"]);
    assert_eq!(
        rules.as_array().map(Vec::len),
        Some(3),
        "two egress rules and the ssh rule: {rules}"
    );
    admin.ok(&["port", "set", "--security-group", "ssh", "web-1"]);
    assert!(admin.json(&["port", "show", "web-1"])["security_group_ids"]
        .to_string()
        .contains(sg["id"].as_str().expect("id")));
    let err = admin.fails(&["security", "group", "delete", "ssh"]);
    assert!(err.contains("in use") || err.contains("409"), "{err}");

    // sharing and another project's view
    admin.ok(&["project", "create", "other"]);
    admin.ok(&["user", "create", "--project", "other", "--password", "bob-pw", "bob"]);
    admin.ok(&["role", "add", "--project", "other", "--user", "bob", "member"]);
    let bob = Cli::user(&server, "bob", "bob-pw", "other");
    assert!(
        !col(&bob.json(&["network", "list"]), "Name").contains(&"private".into()),
        "bob cannot see private"
    );
    let err = bob.fails(&[
        "port",
        "create",
        "--network",
        net["id"].as_str().expect("id"),
        "intruder",
    ]);
    assert!(
        err.contains("404") || err.contains("not found") || err.contains("No Network found"),
        "{err}"
    );
    let err = bob.fails(&["network", "create", "--share", "bobnet"]);
    assert!(err.contains("403"), "only admins share: {err}");
    admin.json(&["network", "create", "--share", "public-lan"]);
    assert_eq!(
        col(&bob.json(&["network", "list", "--share"]), "Name"),
        vec!["public-lan"]
    );
    let err = bob.fails(&["network", "delete", "public-lan"]);
    assert!(err.contains("403") || err.contains("authorized"), "{err}");

    // quotas
    let other_id = admin.json(&["project", "show", "other"])["id"]
        .as_str()
        .expect("id")
        .to_owned();
    admin.ok(&["quota", "set", "--networks", "1", "--ports", "7", &other_id]);
    let q = admin.json(&["quota", "show", &other_id]);
    let limit = |r: &str| {
        q.as_array()
            .and_then(|l| l.iter().find(|i| i["Resource"] == r))
            .map(|i| i["Limit"].clone())
    };
    assert_eq!(limit("networks"), Some(serde_json::json!(1)), "{q}");
    assert_eq!(limit("ports"), Some(serde_json::json!(7)));
    bob.json(&["network", "create", "first"]);
    let err = bob.fails(&["network", "create", "second"]);
    assert!(err.contains("Quota exceeded") || err.contains("409"), "{err}");
    let err = bob.fails(&["quota", "set", "--networks", "50", &other_id]);
    assert!(err.contains("403"), "{err}");

    // deletes: a network with ports is in use until they go
    let err = admin.fails(&["network", "delete", "private"]);
    assert!(err.contains("409") || err.contains("in use"), "{err}");
    admin.ok(&["port", "delete", "web-1", "db"]);
    admin.ok(&["subnet", "delete", "private-v6"]);
    admin.ok(&["network", "delete", "private"]);
    assert!(!col(&admin.json(&["network", "list"]), "Name").contains(&"private".into()));
    admin.ok(&["security", "group", "delete", "ssh"]);
}
