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

#[test]
fn tags_rule_templates_and_port_security_through_the_openstack_client() {
    let server = Server::start(&[]);
    let admin = Cli::admin(&server);
    let names = |list: Value| {
        let mut n = col(&list, "Name");
        n.sort();
        n
    };

    // tags: set on create (the client adds them after), added, removed, and filtered by
    let net = admin.json(&["network", "create", "--tag", "red", "--tag", "blue", "tagged"]);
    let mut tags: Vec<String> = serde_json::from_value(net["tags"].clone()).expect("tags");
    tags.sort();
    assert_eq!(tags, vec!["blue", "red"], "{net}");
    admin.json(&["network", "create", "--tag", "red", "red-only"]);
    admin.json(&["network", "create", "plain"]);
    admin.ok(&["network", "set", "--tag", "green", "tagged"]);
    assert_eq!(
        names(admin.json(&["network", "list", "--tags", "red,green"])),
        vec!["tagged"]
    );
    assert_eq!(
        names(admin.json(&["network", "list", "--any-tags", "green,red"])),
        vec!["red-only", "tagged"]
    );
    assert_eq!(
        names(admin.json(&["network", "list", "--not-any-tags", "red"])),
        vec!["plain"]
    );
    assert_eq!(
        names(admin.json(&["network", "list", "--not-tags", "red,blue"])),
        vec!["plain", "red-only"]
    );
    admin.ok(&["network", "unset", "--tag", "red", "tagged"]);
    let shown = admin.json(&["network", "show", "tagged"]);
    let mut tags: Vec<String> = serde_json::from_value(shown["tags"].clone()).expect("tags");
    tags.sort();
    assert_eq!(tags, vec!["blue", "green"], "{shown}");
    admin.ok(&["network", "set", "--no-tag", "red-only"]);
    assert!(names(admin.json(&["network", "list", "--tags", "red"])).is_empty());
    admin.json(&[
        "subnet",
        "create",
        "--network",
        "tagged",
        "--subnet-range",
        "10.8.0.0/24",
        "--tag",
        "v4",
        "tagged-v4",
    ]);
    assert_eq!(
        names(admin.json(&["subnet", "list", "--tags", "v4"])),
        vec!["tagged-v4"]
    );
    let port = admin.json(&["port", "create", "--network", "tagged", "--tag", "web", "tagged-port"]);
    assert!(port["tags"].to_string().contains("web"), "{port}");
    assert_eq!(
        names(admin.json(&["port", "list", "--tags", "web"])),
        vec!["tagged-port"]
    );
    admin.json(&["security", "group", "create", "--tag", "edge", "edge"]);
    assert_eq!(
        admin.json(&["security", "group", "show", "edge"])["tags"],
        serde_json::json!(["edge"])
    );

    // rule templates: the legacy four, one more for custom groups, and what new groups get
    let templates = admin.json(&["default", "security", "group", "rule", "list"]);
    assert_eq!(templates.as_array().map(Vec::len), Some(4), "{templates}");
    let ssh = admin.json(&[
        "default",
        "security",
        "group",
        "rule",
        "create",
        "--protocol",
        "tcp",
        "--dst-port",
        "22",
        "--for-custom-sg",
    ]);
    assert_eq!(ssh["used_in_non_default_sg"], true, "{ssh}");
    assert_eq!(ssh["used_in_default_sg"], false);
    let ssh_id = ssh["id"].as_str().expect("id").to_owned();
    let again = admin.json(&["default", "security", "group", "rule", "show", &ssh_id]);
    assert_eq!(again["port_range_min"], 22, "{again}");
    let err = admin.fails(&[
        "default",
        "security",
        "group",
        "rule",
        "create",
        "--protocol",
        "tcp",
        "--dst-port",
        "22",
        "--for-custom-sg",
        "--for-default-sg",
    ]);
    assert!(err.contains("409") || err.contains("already exists"), "{err}");
    let rules = admin.json(&["security", "group", "rule", "list", "edge"]);
    assert_eq!(
        rules.as_array().map(Vec::len),
        Some(2),
        "made before the template: {rules}"
    );
    admin.json(&["security", "group", "create", "web"]);
    let rules = admin.json(&["security", "group", "rule", "list", "web"]);
    assert_eq!(
        rules.as_array().map(Vec::len),
        Some(3),
        "two egress rules and ssh: {rules}"
    );
    assert!(rules.to_string().contains("22:22"), "{rules}");
    admin.ok(&["project", "create", "other"]);
    admin.ok(&["user", "create", "--project", "other", "--password", "bob-pw", "bob"]);
    admin.ok(&["role", "add", "--project", "other", "--user", "bob", "member"]);
    let bob = Cli::user(&server, "bob", "bob-pw", "other");
    let err = bob.fails(&[
        "default",
        "security",
        "group",
        "rule",
        "create",
        "--protocol",
        "udp",
        "--dst-port",
        "53",
        "--for-default-sg",
    ]);
    assert!(err.contains("403"), "administrators only: {err}");
    assert_eq!(
        bob.json(&["default", "security", "group", "rule", "list"])
            .as_array()
            .map(Vec::len),
        Some(5),
        "readers see them"
    );
    admin.ok(&["default", "security", "group", "rule", "delete", &ssh_id]);
    admin.fails(&["default", "security", "group", "rule", "show", &ssh_id]);
    admin.json(&["security", "group", "create", "db"]);
    assert_eq!(
        admin
            .json(&["security", "group", "rule", "list", "db"])
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    // port security: a network's setting is what its ports get unless they say
    let open = admin.json(&["network", "create", "--disable-port-security", "open"]);
    assert_eq!(open["port_security_enabled"], false, "{open}");
    admin.json(&[
        "subnet",
        "create",
        "--network",
        "open",
        "--subnet-range",
        "10.9.0.0/24",
        "open-v4",
    ]);
    let p = admin.json(&["port", "create", "--network", "open", "inherits"]);
    assert_eq!(p["port_security_enabled"], false, "{p}");
    assert_eq!(p["security_group_ids"].as_array().map(Vec::len), Some(0), "{p}");
    let p = admin.json(&[
        "port",
        "create",
        "--network",
        "open",
        "--enable-port-security",
        "chooses",
    ]);
    assert_eq!(p["port_security_enabled"], true, "{p}");

    // no advanced services, so no providers
    assert_eq!(
        admin
            .json(&["network", "service", "provider", "list"])
            .as_array()
            .map(Vec::len),
        Some(0)
    );
}
