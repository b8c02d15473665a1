//! Tags, rule templates, port security inherited from networks, the quota list and Neutron's
//! forms of CIDRs, through the service on both stores.

use std::collections::BTreeSet;
use std::sync::Arc;

use stratus_api::policy::Policy;
use stratus_api::testing::caller;
use stratus_api::AuthContext;
use stratus_network::inputs::{DefaultRuleInput, NetworkInput, PortInput, RuleInput, SecurityGroupInput, SubnetInput};
use stratus_network::model::SecurityGroup;
use stratus_network::{FakeDataplane, NetworkConfig, NetworkError, NetworkService, Page, TagKind};
use stratus_store::testing::TestLocation;
use stratus_store::Backend;

async fn open(loc: &TestLocation) -> NetworkService {
    let policy = Policy::load(stratus_network::DEFAULT_POLICY, None).expect("policy");
    let mut cfg = NetworkConfig::default();
    cfg.default_quotas = cfg.default_quotas.into_iter().map(|(r, _)| (r, -1)).collect();
    NetworkService::open(&loc.location, cfg, policy, Arc::new(FakeDataplane::new()))
        .await
        .expect("open network service")
}

fn kind<T: std::fmt::Debug>(r: Result<T, NetworkError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(NetworkError::Conflict { kind, .. })
        | Err(NetworkError::Invalid { kind, .. })
        | Err(NetworkError::NotFound { kind, .. }) => kind,
        Err(NetworkError::Denied(_)) => "Denied",
        Err(e) => panic!("unexpected {e:?}"),
    }
}

fn tags(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn filter(k: &str, v: &str) -> Vec<(String, String)> {
    vec![(k.to_owned(), v.to_owned())]
}

fn named(c: &str) -> NetworkInput {
    NetworkInput {
        name: Some(c.into()),
        ..Default::default()
    }
}

async fn tags_on_every_taggable_resource(backend: Backend) {
    let loc = TestLocation::new(backend).await;
    let svc = open(&loc).await;
    let alice = caller("p-alice", &["member", "reader"]);
    let bob = caller("p-bob", &["member", "reader"]);
    let admin = caller("p-admin", &["admin", "member", "reader"]);

    let net = svc.create_network(&alice, named("n")).await.expect("network");
    let subnet = svc
        .create_subnet(
            &alice,
            SubnetInput {
                network_id: Some(net.id.clone()),
                cidr: Some("10.20.0.0/24".into()),
                ..Default::default()
            },
        )
        .await
        .expect("subnet");
    let port = svc
        .create_port(
            &alice,
            PortInput {
                network_id: Some(net.id.clone()),
                ..Default::default()
            },
        )
        .await
        .expect("port");
    let sg = svc
        .create_security_group(
            &alice,
            SecurityGroupInput {
                name: Some("web".into()),
                ..Default::default()
            },
        )
        .await
        .expect("group");

    for (k, id) in [
        (TagKind::Networks, &net.id),
        (TagKind::Subnets, &subnet.id),
        (TagKind::Ports, &port.id),
        (TagKind::SecurityGroups, &sg.id),
    ] {
        let what = k.collection();
        let revision = |svc: NetworkService, id: String| {
            let alice = alice.clone();
            async move {
                match k {
                    TagKind::Networks => svc.get_network(&alice, &id).await.map(|n| n.revision_number),
                    TagKind::Subnets => svc.get_subnet(&alice, &id).await.map(|n| n.revision_number),
                    TagKind::Ports => svc.get_port(&alice, &id).await.map(|n| n.revision_number),
                    TagKind::SecurityGroups => svc.get_security_group(&alice, &id).await.map(|n| n.revision_number),
                }
                .expect("revision")
            }
        };
        let before = revision(svc.clone(), id.clone()).await;
        assert_eq!(
            svc.replace_tags(&alice, k, id, tags(&["b", "a"]))
                .await
                .expect("replace"),
            tags(&["b", "a"]),
            "{what}: the tags given are answered"
        );
        assert_eq!(svc.list_tags(&alice, k, id).await.expect("list"), tags(&["a", "b"]));
        assert_eq!(
            revision(svc.clone(), id.clone()).await,
            before + 1,
            "{what}: a change is a revision"
        );
        svc.add_tag(&alice, k, id, "c").await.expect("add");
        svc.add_tag(&alice, k, id, "c").await.expect("add again is no change");
        assert_eq!(
            revision(svc.clone(), id.clone()).await,
            before + 2,
            "{what}: no change, no revision"
        );
        svc.check_tag(&alice, k, id, "c").await.expect("has c");
        assert_eq!(kind(svc.check_tag(&alice, k, id, "zzz").await), "TagNotFound");
        svc.remove_tag(&alice, k, id, "a").await.expect("remove");
        assert_eq!(kind(svc.remove_tag(&alice, k, id, "a").await), "TagNotFound");
        svc.add_tags(&alice, k, id, tags(&["c", "d"]))
            .await
            .expect("add several");
        assert_eq!(
            svc.list_tags(&alice, k, id).await.expect("list"),
            tags(&["b", "c", "d"])
        );
        assert_eq!(
            kind(svc.add_tag(&alice, k, id, &"x".repeat(256)).await),
            "InvalidInput",
            "{what}: 255 characters at most"
        );
        assert_eq!(
            kind(svc.replace_tags(&alice, k, id, tags(&["e", "e"])).await),
            "InvalidInput",
            "{what}: each tag once"
        );
        assert_eq!(
            kind(svc.list_tags(&bob, k, id).await),
            "TagResourceNotFound",
            "{what}: another project's resource is not found"
        );
        assert_eq!(kind(svc.add_tag(&bob, k, id, "mine").await), "TagResourceNotFound");
        assert_eq!(
            kind(svc.list_tags(&alice, k, "00000000-0000-0000-0000-000000000000").await),
            "TagResourceNotFound"
        );
    }
    // Resources show their tags.
    assert_eq!(
        svc.get_network(&alice, &net.id).await.expect("net").tags,
        tags(&["b", "c", "d"])
    );
    assert_eq!(
        svc.get_port(&alice, &port.id).await.expect("port").tags,
        tags(&["b", "c", "d"])
    );
    svc.remove_all_tags(&alice, TagKind::Ports, &port.id)
        .await
        .expect("clear");
    assert!(svc.get_port(&alice, &port.id).await.expect("port").tags.is_empty());

    // A shared network's tags: others read them, only its project changes them.
    let shared = svc
        .create_network(
            &admin,
            NetworkInput {
                shared: Some(true),
                ..named("shared")
            },
        )
        .await
        .expect("shared");
    svc.add_tag(&admin, TagKind::Networks, &shared.id, "public")
        .await
        .expect("tag");
    assert_eq!(
        svc.list_tags(&bob, TagKind::Networks, &shared.id).await.expect("read"),
        tags(&["public"])
    );
    assert_eq!(
        kind(svc.add_tag(&bob, TagKind::Networks, &shared.id, "mine").await),
        "Denied"
    );
    let reader = caller("p-alice", &["reader"]);
    assert_eq!(
        kind(svc.add_tag(&reader, TagKind::Networks, &net.id, "r").await),
        "Denied"
    );

    // Filters: all of, any of, and their negations; repeated names are one.
    for (name, t) in [
        ("red-blue", vec!["red", "blue"]),
        ("red", vec!["red"]),
        ("none", vec![]),
    ] {
        let n = svc.create_network(&alice, named(name)).await.expect("network");
        svc.replace_tags(&alice, TagKind::Networks, &n.id, tags(&t))
            .await
            .expect("tags");
    }
    let names = |f: Vec<(String, String)>| {
        let svc = svc.clone();
        let alice = alice.clone();
        async move {
            svc.list_networks(&alice, &f, &Page::default())
                .await
                .expect("list")
                .into_iter()
                .map(|n| n.name)
                .filter(|n| ["red-blue", "red", "none"].contains(&n.as_str()))
                .collect::<BTreeSet<_>>()
        }
    };
    let set = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(names(filter("tags", "red,blue")).await, set(&["red-blue"]));
    assert_eq!(names(filter("tags", "red,red")).await, set(&["red-blue", "red"]));
    assert_eq!(names(filter("tags-any", "blue,red")).await, set(&["red-blue", "red"]));
    assert_eq!(names(filter("not-tags", "red,blue")).await, set(&["red", "none"]));
    assert_eq!(names(filter("not-tags-any", "red")).await, set(&["none"]));
    let mut both = filter("tags", "red");
    both.push(("not-tags".into(), "blue".into()));
    assert_eq!(names(both).await, set(&["red"]));
    let ports = svc
        .list_ports(&alice, &filter("tags-any", "nothing"), &Page::default())
        .await
        .expect("ports");
    assert!(ports.is_empty());
    let groups = svc
        .list_security_groups(&alice, &filter("tags", "b,c,d"), &Page::default())
        .await
        .expect("groups");
    assert_eq!(
        groups.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(),
        vec![sg.id.as_str()]
    );
    let subnets = svc
        .list_subnets(&alice, &filter("not-tags-any", "b"), &Page::default())
        .await
        .expect("subnets");
    assert!(subnets.is_empty());

    // Ports take tags on create (not on update), checked like the others.
    let tagged = svc
        .create_port(
            &alice,
            PortInput {
                network_id: Some(net.id.clone()),
                tags: Some(tags(&["y", "x"])),
                ..Default::default()
            },
        )
        .await
        .expect("tagged port");
    assert_eq!(tagged.tags, tags(&["x", "y"]));
    assert_eq!(
        svc.get_port(&alice, &tagged.id).await.expect("port").tags,
        tags(&["x", "y"])
    );
    let dup = PortInput {
        network_id: Some(net.id.clone()),
        tags: Some(tags(&["x", "x"])),
        ..Default::default()
    };
    assert_eq!(kind(svc.create_port(&alice, dup).await), "InvalidInput");
    let retag = PortInput {
        tags: Some(tags(&["z"])),
        ..Default::default()
    };
    assert_eq!(kind(svc.update_port(&alice, &tagged.id, retag).await), "HTTPBadRequest");

    // Deletes take the tags with them.
    svc.delete_port(&alice, &tagged.id).await.expect("delete port");
    svc.delete_port(&alice, &port.id).await.expect("delete port");
    svc.delete_security_group(&alice, &sg.id).await.expect("delete group");
    svc.delete_network(&alice, &net.id).await.expect("delete network");
    assert_eq!(
        kind(svc.list_tags(&alice, TagKind::Networks, &net.id).await),
        "TagResourceNotFound"
    );
    svc.close().await;
    loc.cleanup().await;
}

#[tokio::test]
async fn tags_on_every_taggable_resource_on_sqlite() {
    tags_on_every_taggable_resource(Backend::Sqlite).await;
}

#[tokio::test]
async fn tags_on_every_taggable_resource_on_postgres() {
    tags_on_every_taggable_resource(Backend::Postgres).await;
}

fn template(direction: &str, used_default: bool, used_other: bool) -> DefaultRuleInput {
    DefaultRuleInput {
        direction: Some(direction.into()),
        used_in_default_sg: Some(used_default),
        used_in_non_default_sg: Some(used_other),
        ..Default::default()
    }
}

fn tcp(port: i64, used_default: bool, used_other: bool) -> DefaultRuleInput {
    DefaultRuleInput {
        protocol: Some("tcp".into()),
        port_range_min: Some(port),
        port_range_max: Some(port),
        ..template("ingress", used_default, used_other)
    }
}

/// A rule as (direction, ethertype, protocol, port, remote group).
type Shape = (String, String, Option<String>, Option<i64>, Option<String>);

/// The rules of a group.
fn shape(g: &SecurityGroup) -> BTreeSet<Shape> {
    g.rules
        .iter()
        .map(|r| {
            (
                r.direction.clone(),
                r.ethertype.clone(),
                r.protocol.clone(),
                r.port_range_min,
                r.remote_group_id.clone(),
            )
        })
        .collect()
}

async fn default_group_of(svc: &NetworkService, who: &AuthContext) -> SecurityGroup {
    svc.list_security_groups(who, &filter("name", "default"), &Page::default())
        .await
        .expect("groups")
        .pop()
        .expect("a default group")
}

async fn rule_templates_shape_new_groups(backend: Backend) {
    let loc = TestLocation::new(backend).await;
    let svc = open(&loc).await;
    let admin = caller("p-admin", &["admin", "member", "reader"]);
    let alice = caller("p-alice", &["member", "reader"]);

    // Neutron's four legacy templates are there from the start.
    let legacy = svc
        .list_default_security_group_rules(&alice, &vec![], &Page::default())
        .await
        .expect("readers list them");
    assert_eq!(legacy.len(), 4, "{legacy:?}");
    let ingress: Vec<_> = legacy.iter().filter(|r| r.direction == "ingress").collect();
    assert!(ingress
        .iter()
        .all(|r| r.remote_group_id.as_deref() == Some("PARENT") && r.used_in_default_sg && !r.used_in_non_default_sg));
    assert!(legacy
        .iter()
        .filter(|r| r.direction == "egress")
        .all(|r| r.used_in_default_sg && r.used_in_non_default_sg && r.remote_group_id.is_none()));
    let for_default = svc
        .list_default_security_group_rules(&alice, &filter("used_in_default_sg", "true"), &Page::default())
        .await
        .expect("filter");
    assert_eq!(for_default.len(), 4);
    let for_custom = svc
        .list_default_security_group_rules(&alice, &filter("used_in_non_default_sg", "true"), &Page::default())
        .await
        .expect("filter");
    assert_eq!(for_custom.len(), 2);
    let v6 = svc
        .list_default_security_group_rules(&alice, &filter("ethertype", "ipv6"), &Page::default())
        .await
        .expect("filter");
    assert_eq!(v6.len(), 2, "ethertype filters ignore case");

    // Only administrators change them.
    assert_eq!(
        kind(
            svc.create_default_security_group_rule(&alice, tcp(22, true, true))
                .await
        ),
        "Denied"
    );
    let ssh = svc
        .create_default_security_group_rule(&admin, tcp(22, false, true))
        .await
        .expect("template");
    assert_eq!(
        svc.get_default_security_group_rule(&alice, &ssh.id)
            .await
            .expect("shown"),
        ssh
    );
    let icmp = DefaultRuleInput {
        protocol: Some("icmp".into()),
        remote_group_id: Some("PARENT".into()),
        ..template("ingress", true, false)
    };
    svc.create_default_security_group_rule(&admin, icmp)
        .await
        .expect("template");

    // A project's default group and its other groups get the templates meant for them.
    let dflt = default_group_of(&svc, &alice).await;
    let s = shape(&dflt);
    assert_eq!(s.len(), 5, "{s:?}");
    assert!(s.contains(&(
        "ingress".into(),
        "IPv4".into(),
        Some("icmp".into()),
        None,
        Some(dflt.id.clone())
    )));
    assert!(!s.iter().any(|r| r.3 == Some(22)), "ssh is for other groups only");
    let web = svc
        .create_security_group(
            &alice,
            SecurityGroupInput {
                name: Some("web".into()),
                ..Default::default()
            },
        )
        .await
        .expect("group");
    let s = shape(&web);
    assert_eq!(s.len(), 3, "two egress rules and ssh: {s:?}");
    assert!(s.contains(&("ingress".into(), "IPv4".into(), Some("tcp".into()), Some(22), None)));
    assert_eq!(
        svc.get_security_group(&alice, &web.id).await.expect("group").rules,
        web.rules,
        "create and show agree"
    );

    // An administrator's filter on a new project makes that project's default group.
    let groups = svc
        .list_security_groups(&admin, &filter("tenant_id", "p-new"), &Page::default())
        .await
        .expect("groups");
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].name, "default");

    // Duplicates: the same rule for a kind of group that already has it.
    svc.create_default_security_group_rule(&admin, tcp(80, true, true))
        .await
        .expect("http");
    assert_eq!(
        kind(
            svc.create_default_security_group_rule(&admin, tcp(80, true, false))
                .await
        ),
        "DefaultSecurityGroupRuleExists"
    );
    assert_eq!(
        kind(
            svc.create_default_security_group_rule(&admin, tcp(80, false, true))
                .await
        ),
        "DefaultSecurityGroupRuleExists"
    );
    svc.create_default_security_group_rule(&admin, tcp(81, true, false))
        .await
        .expect("for default groups");
    svc.create_default_security_group_rule(&admin, tcp(81, false, true))
        .await
        .expect("the same rule for other groups");
    let all_v4 = DefaultRuleInput {
        remote_ip_prefix: Some("0.0.0.0/0".into()),
        ..template("egress", true, false)
    };
    assert_eq!(
        kind(svc.create_default_security_group_rule(&admin, all_v4).await),
        "DefaultSecurityGroupRuleExists",
        "0.0.0.0/0 is every address, as no prefix is"
    );
    let as_number = DefaultRuleInput {
        protocol: Some("6".into()),
        ..tcp(80, true, false)
    };
    assert_eq!(
        kind(svc.create_default_security_group_rule(&admin, as_number).await),
        "DefaultSecurityGroupRuleExists"
    );

    // Bad templates.
    let missing = DefaultRuleInput {
        used_in_default_sg: None,
        ..tcp(90, true, true)
    };
    assert_eq!(
        kind(svc.create_default_security_group_rule(&admin, missing).await),
        "HTTPBadRequest"
    );
    let nowhere = DefaultRuleInput {
        remote_group_id: Some("00000000-0000-0000-0000-000000000000".into()),
        ..template("ingress", true, true)
    };
    assert_eq!(
        kind(svc.create_default_security_group_rule(&admin, nowhere).await),
        "SecurityGroupNotFound"
    );
    let bad_range = DefaultRuleInput {
        port_range_min: Some(90),
        port_range_max: Some(80),
        ..tcp(90, true, true)
    };
    assert_eq!(
        kind(svc.create_default_security_group_rule(&admin, bad_range).await),
        "SecurityGroupInvalidPortRange"
    );
    let named_group = DefaultRuleInput {
        remote_group_id: Some(web.id.clone()),
        ..template("ingress", false, true)
    };
    let from_web = svc
        .create_default_security_group_rule(&admin, named_group)
        .await
        .expect("an existing group may be named");
    assert_eq!(from_web.remote_group_id.as_deref(), Some(web.id.as_str()));

    // Removing a template changes new groups only.
    svc.delete_default_security_group_rule(&admin, &ssh.id)
        .await
        .expect("delete");
    assert_eq!(
        kind(svc.get_default_security_group_rule(&alice, &ssh.id).await),
        "DefaultSecurityGroupRuleNotFound"
    );
    assert_eq!(
        kind(svc.delete_default_security_group_rule(&admin, &ssh.id).await),
        "DefaultSecurityGroupRuleNotFound"
    );
    assert_eq!(
        kind(svc.delete_default_security_group_rule(&alice, &from_web.id).await),
        "Denied"
    );
    assert_eq!(
        svc.get_security_group(&alice, &web.id)
            .await
            .expect("group")
            .rules
            .len(),
        3
    );
    let db = svc
        .create_security_group(
            &alice,
            SecurityGroupInput {
                name: Some("db".into()),
                ..Default::default()
            },
        )
        .await
        .expect("group");
    let s = shape(&db);
    assert!(!s.iter().any(|r| r.3 == Some(22)), "{s:?}");
    assert!(s.contains(&("ingress".into(), "IPv4".into(), None, None, Some(web.id.clone()))));
    // A group named by a template goes; its rule is no longer made.
    svc.delete_security_group(&alice, &db.id).await.expect("delete db");
    svc.delete_security_group(&alice, &web.id).await.expect("delete web");
    let later = svc
        .create_security_group(
            &alice,
            SecurityGroupInput {
                name: Some("later".into()),
                ..Default::default()
            },
        )
        .await
        .expect("group");
    assert!(
        later.rules.iter().all(|r| r.remote_group_id.is_none()),
        "{:?}",
        later.rules
    );
    svc.close().await;
    loc.cleanup().await;
}

#[tokio::test]
async fn rule_templates_shape_new_groups_on_sqlite() {
    rule_templates_shape_new_groups(Backend::Sqlite).await;
}

#[tokio::test]
async fn rule_templates_shape_new_groups_on_postgres() {
    rule_templates_shape_new_groups(Backend::Postgres).await;
}

async fn ports_inherit_their_networks_port_security(backend: Backend) {
    let loc = TestLocation::new(backend).await;
    let svc = open(&loc).await;
    let alice = caller("p-alice", &["member", "reader"]);
    let open_net = svc
        .create_network(
            &alice,
            NetworkInput {
                port_security_enabled: Some(false),
                ..named("open")
            },
        )
        .await
        .expect("network");
    assert!(!open_net.port_security_enabled);
    assert!(
        svc.create_network(&alice, named("closed"))
            .await
            .expect("net")
            .port_security_enabled
    );
    let port = |network: &str, ps: Option<bool>| PortInput {
        network_id: Some(network.to_owned()),
        port_security_enabled: ps,
        ..Default::default()
    };
    let p = svc.create_port(&alice, port(&open_net.id, None)).await.expect("port");
    assert!(!p.port_security_enabled, "inherited");
    assert!(p.security_groups.is_empty(), "no port security, no groups");
    let p = svc
        .create_port(&alice, port(&open_net.id, Some(true)))
        .await
        .expect("port");
    assert!(p.port_security_enabled, "the port's own choice wins");
    assert_eq!(p.security_groups.len(), 1, "and it gets the default group");
    let with_group = PortInput {
        security_groups: Some(vec![p.security_groups[0].clone()]),
        ..port(&open_net.id, None)
    };
    assert_eq!(
        kind(svc.create_port(&alice, with_group).await),
        "PortSecurityAndIPRequiredForSecurityGroups"
    );
    // Turning a port's security off keeps its groups unless the request drops them too.
    let off = PortInput {
        port_security_enabled: Some(false),
        ..Default::default()
    };
    assert_eq!(
        kind(svc.update_port(&alice, &p.id, off).await),
        "PortSecurityPortHasSecurityGroup"
    );
    let off = PortInput {
        port_security_enabled: Some(false),
        security_groups: Some(vec![]),
        ..Default::default()
    };
    let p = svc.update_port(&alice, &p.id, off).await.expect("off, without groups");
    assert!(!p.port_security_enabled && p.security_groups.is_empty());
    let name_only = PortInput {
        name: Some("renamed".into()),
        ..Default::default()
    };
    let p = svc.update_port(&alice, &p.id, name_only).await.expect("rename");
    assert!(p.security_groups.is_empty(), "an update does not add the default group");
    let listed = svc
        .list_networks(&alice, &filter("port_security_enabled", "false"), &Page::default())
        .await
        .expect("list");
    assert_eq!(listed.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(), vec!["open"]);
    let changed = svc
        .update_network(
            &alice,
            &open_net.id,
            NetworkInput {
                port_security_enabled: Some(true),
                ..Default::default()
            },
        )
        .await
        .expect("update");
    assert!(changed.port_security_enabled);
    assert_eq!(changed.revision_number, open_net.revision_number + 1);
    assert!(
        svc.create_port(&alice, port(&open_net.id, None))
            .await
            .expect("port")
            .port_security_enabled
    );
    svc.close().await;
    loc.cleanup().await;
}

#[tokio::test]
async fn ports_inherit_their_networks_port_security_on_sqlite() {
    ports_inherit_their_networks_port_security(Backend::Sqlite).await;
}

#[tokio::test]
async fn ports_inherit_their_networks_port_security_on_postgres() {
    ports_inherit_their_networks_port_security(Backend::Postgres).await;
}

async fn cidrs_as_neutron_takes_them(backend: Backend) {
    let loc = TestLocation::new(backend).await;
    let svc = open(&loc).await;
    let alice = caller("p-alice", &["member", "reader"]);
    let net = svc.create_network(&alice, named("n")).await.expect("network");
    let subnet = |cidr: &str| SubnetInput {
        network_id: Some(net.id.clone()),
        cidr: Some(cidr.into()),
        ..Default::default()
    };
    let s = svc
        .create_subnet(&alice, subnet("10.30.0.77/24"))
        .await
        .expect("host bits");
    assert_eq!(s.cidr.to_string(), "10.30.0.0/24");
    assert_eq!(s.gateway_ip.map(|g| g.to_string()).as_deref(), Some("10.30.0.1"));
    assert_eq!(
        kind(svc.create_subnet(&alice, subnet("10.31.0.0")).await),
        "InvalidInput"
    );
    assert_eq!(
        kind(svc.create_subnet(&alice, subnet("10.30.0.0/24")).await),
        "InvalidInput",
        "overlap"
    );

    let sg = svc
        .create_security_group(
            &alice,
            SecurityGroupInput {
                name: Some("g".into()),
                ..Default::default()
            },
        )
        .await
        .expect("group");
    let rule = |prefix: &str, protocol: Option<&str>| RuleInput {
        security_group_id: Some(sg.id.clone()),
        direction: Some("ingress".into()),
        remote_ip_prefix: Some(prefix.into()),
        protocol: protocol.map(str::to_owned),
        ..Default::default()
    };
    let r = svc
        .create_security_group_rule(&alice, rule("10.0.0.5/24", None))
        .await
        .expect("host bits");
    assert_eq!(r.remote_ip_prefix.as_deref(), Some("10.0.0.5/24"), "kept as given");
    assert_eq!(r.normalized_cidr.as_deref(), Some("10.0.0.0/24"));
    assert_eq!(
        kind(svc.create_security_group_rule(&alice, rule("10.0.0.0/24", None)).await),
        "SecurityGroupRuleExists",
        "the same network"
    );
    let host = svc
        .create_security_group_rule(&alice, rule("192.0.2.9", Some("tcp")))
        .await
        .expect("an address");
    assert_eq!(host.remote_ip_prefix.as_deref(), Some("192.0.2.9/32"));
    assert_eq!(
        kind(
            svc.create_security_group_rule(&alice, rule("192.0.2.9/32", Some("6")))
                .await
        ),
        "SecurityGroupRuleExists",
        "tcp is 6"
    );
    assert_eq!(
        kind(svc.create_security_group_rule(&alice, rule("10.0.0.0/33", None)).await),
        "InvalidCIDR"
    );
    let every = RuleInput {
        direction: Some("egress".into()),
        ..rule("0.0.0.0/0", None)
    };
    assert_eq!(
        kind(svc.create_security_group_rule(&alice, every).await),
        "SecurityGroupRuleExists",
        "the egress rule every group starts with"
    );
    let by_network = svc
        .list_security_group_rules(&alice, &filter("normalized_cidr", "10.0.0.0/24"), &Page::default())
        .await
        .expect("filter");
    assert_eq!(
        by_network.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        vec![r.id.as_str()]
    );
    svc.close().await;
    loc.cleanup().await;
}

#[tokio::test]
async fn cidrs_as_neutron_takes_them_on_sqlite() {
    cidrs_as_neutron_takes_them(Backend::Sqlite).await;
}

#[tokio::test]
async fn cidrs_as_neutron_takes_them_on_postgres() {
    cidrs_as_neutron_takes_them(Backend::Postgres).await;
}

async fn the_quota_list_shows_the_projects_set(backend: Backend) {
    let loc = TestLocation::new(backend).await;
    let svc = open(&loc).await;
    let admin = caller("p-admin", &["admin", "member", "reader"]);
    let alice = caller("p-alice", &["member", "reader"]);
    assert!(
        svc.list_quotas(&admin).await.expect("list").is_empty(),
        "nobody's were set"
    );
    let changes = [("network".to_owned(), 3), ("port".to_owned(), 9)]
        .into_iter()
        .collect();
    svc.update_quota(&admin, "p-alice", &changes, false).await.expect("set");
    let listed = svc.list_quotas(&admin).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].0, "p-alice");
    assert_eq!(listed[0].1.get("network"), Some(&3));
    assert_eq!(listed[0].1.get("port"), Some(&9));
    assert_eq!(listed[0].1.get("subnet"), Some(&-1), "the others at their defaults");
    assert_eq!(kind(svc.list_quotas(&alice).await), "Denied");
    // One bad limit and nothing of the request is written.
    let mixed = [("network".to_owned(), 5), ("widgets".to_owned(), 1)]
        .into_iter()
        .collect();
    assert_eq!(
        kind(svc.update_quota(&admin, "p-alice", &mixed, false).await),
        "InvalidInput"
    );
    assert_eq!(
        svc.get_quota(&admin, "p-alice").await.expect("get").get("network"),
        Some(&3)
    );
    svc.reset_quota(&admin, "p-alice").await.expect("reset");
    assert!(svc.list_quotas(&admin).await.expect("list").is_empty());
    svc.close().await;
    loc.cleanup().await;
}

#[tokio::test]
async fn the_quota_list_shows_the_projects_set_on_sqlite() {
    the_quota_list_shows_the_projects_set(Backend::Sqlite).await;
}

#[tokio::test]
async fn the_quota_list_shows_the_projects_set_on_postgres() {
    the_quota_list_shows_the_projects_set(Backend::Postgres).await;
}
