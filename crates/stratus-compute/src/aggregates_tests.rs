//! Aggregates, zones and hypervisors on both stores: Nova's rules for aggregates (one zone per
//! host, no rename of a zone under servers, no delete with hosts, a zone never emptied) with
//! refused changes leaving nothing behind; the zones the aggregates give hosts as every reader
//! sees them; hypervisors by id, uuid, page and name; integer ids never given twice.

use std::collections::BTreeMap;

use stratus_api::policy::Policy;
use stratus_api::testing::caller;
use stratus_store::testing::TestLocation;
use stratus_store::{now_micros, Backend};

use crate::instances_db as idb;
use crate::model::ComputeNode;
use crate::server_filter::tests::server;
use crate::{AggregateUpdate, ComputeConfig, ComputeError, ComputeService, HypervisorQuery, HypervisorRef};

pub(crate) async fn open(loc: &TestLocation) -> ComputeService {
    let policy = Policy::load(crate::DEFAULT_POLICY, None).expect("policy");
    ComputeService::open(&loc.location, ComputeConfig::default(), policy)
        .await
        .expect("open")
}

/// Registers `host` as its agent would.
pub(crate) async fn report(svc: &ComputeService, host: &str) {
    let n = ComputeNode {
        id: 0,
        host: host.into(),
        service_id: uuid::Uuid::new_v4().to_string(),
        availability_zone: "nova".into(),
        hypervisor_type: "fake".into(),
        hypervisor_version: 1,
        host_ip: Some("192.0.2.7".into()),
        vcpus: 4,
        memory_mb: 8192,
        disk_gb: 100,
        vcpus_used: 0,
        memory_mb_used: 0,
        disk_gb_used: 0,
        enabled: true,
        disabled_reason: None,
        heartbeat_at: now_micros(),
        running_vms: 0,
        current_workload: 0,
    };
    idb::report_node(svc.db(), &n).await.expect("report");
}

fn meta(pairs: &[(&str, Option<&str>)]) -> BTreeMap<String, Option<String>> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
        .collect()
}

async fn zone_of(svc: &ComputeService, host: &str) -> String {
    idb::nodes(svc.db())
        .await
        .expect("nodes")
        .into_iter()
        .find(|n| n.host == host)
        .map(|n| n.availability_zone)
        .expect("host")
}

async fn aggregates(backend: Backend) {
    let loc = TestLocation::new(backend).await;
    let svc = open(&loc).await;
    for h in ["h1", "h2"] {
        report(&svc, h).await;
    }
    // A second report refreshes the host and keeps its id.
    report(&svc, "h1").await;
    let admin = caller("admin", &["admin", "member", "reader"]);
    let member = caller("p", &["member", "reader"]);

    // Administrators only; the policy is checked before the id is read.
    assert!(matches!(
        svc.list_aggregates(&member).await,
        Err(ComputeError::Denied(_))
    ));
    assert!(matches!(
        svc.get_aggregate(&member, "abc").await,
        Err(ComputeError::Denied(_))
    ));
    assert!(matches!(
        svc.get_aggregate(&admin, "abc").await,
        Err(ComputeError::Invalid(_))
    ));
    assert!(matches!(
        svc.get_aggregate(&admin, "-1").await,
        Err(ComputeError::NotFound(_))
    ));

    let a1 = svc.create_aggregate(&admin, "agg1", None).await.expect("agg1");
    let a2 = svc.create_aggregate(&admin, "agg2", Some("east")).await.expect("agg2");
    assert_eq!((a1.id, a2.id), (1, 2));
    assert_eq!(a1.availability_zone(), None);
    assert_eq!(a2.availability_zone(), Some("east"));
    assert!(matches!(
        svc.create_aggregate(&admin, "agg1", None).await,
        Err(ComputeError::Conflict(m)) if m == "Aggregate agg1 already exists."
    ));
    assert!(matches!(
        svc.create_aggregate(&admin, " x", None).await,
        Err(ComputeError::Invalid(_))
    ));
    assert!(matches!(
        svc.create_aggregate(&admin, "x", Some("")).await,
        Err(ComputeError::Invalid(_))
    ));

    // Hosts: known ones, once each, in one zone.
    let a2 = svc.add_aggregate_host(&admin, "2", "h1").await.expect("add h1");
    assert_eq!(a2.hosts, ["h1"]);
    assert_eq!(zone_of(&svc, "h1").await, "east");
    assert_eq!(zone_of(&svc, "h2").await, "nova");
    assert!(matches!(
        svc.add_aggregate_host(&admin, "2", "h1").await,
        Err(ComputeError::Conflict(_))
    ));
    assert!(matches!(
        svc.add_aggregate_host(&admin, "2", "nowhere").await,
        Err(ComputeError::NotFound(m)) if m == "Compute host nowhere could not be found."
    ));
    assert!(matches!(
        svc.add_aggregate_host(&admin, "99", "h2").await,
        Err(ComputeError::NotFound(_))
    ));
    let a3 = svc.create_aggregate(&admin, "agg3", Some("west")).await.expect("agg3");
    match svc.add_aggregate_host(&admin, &a3.id.to_string(), "h1").await {
        Err(ComputeError::Conflict(m)) => assert!(m.contains("['east']"), "{m}"),
        other => panic!("a second zone for h1: {other:?}"),
    }
    svc.add_aggregate_host(&admin, "3", "h2").await.expect("h2 west");
    // A host may be in any number of aggregates without a zone.
    svc.add_aggregate_host(&admin, "1", "h1").await.expect("h1 in agg1");

    // The zones as users and administrators see them.
    let zones = svc.availability_zones(&member, false).await.expect("zones");
    let names: Vec<&str> = zones.iter().map(|z| z.name.as_str()).collect();
    assert_eq!(names, ["east", "west"]);
    let mut bootable = svc.bootable_zones().await.expect("bootable");
    bootable.sort();
    assert_eq!(
        bootable,
        ["east", "west"],
        "no enabled host is left in the default zone"
    );
    assert!(matches!(
        svc.availability_zones(&member, true).await,
        Err(ComputeError::Denied(_))
    ));

    // Metadata: added and removed together, the zone kept; a zone cannot be emptied, and a
    // refused change changes nothing.
    let a2 = svc
        .set_aggregate_metadata(&admin, "2", meta(&[("ssd", Some("true")), ("rack", Some("r1"))]))
        .await
        .expect("metadata");
    assert_eq!(a2.metadata.get("ssd").map(String::as_str), Some("true"));
    assert_eq!(a2.availability_zone(), Some("east"));
    assert!(a2.updated_at.is_some());
    let refused = svc
        .set_aggregate_metadata(&admin, "2", meta(&[("gpu", Some("yes")), ("availability_zone", None)]))
        .await;
    assert!(matches!(refused, Err(ComputeError::Invalid(m)) if m.contains("empty named availability zone")));
    let a2 = svc
        .set_aggregate_metadata(&admin, "2", meta(&[("rack", None), ("absent", None)]))
        .await
        .expect("remove");
    assert_eq!(a2.metadata.keys().collect::<Vec<_>>(), ["availability_zone", "ssd"]);
    assert!(matches!(
        svc.set_aggregate_metadata(&admin, "2", meta(&[("bad/key", Some("x"))]))
            .await,
        Err(ComputeError::Invalid(_))
    ));

    // A zone for agg1 (which holds h1, in east) would give h1 a second zone.
    let u = |name: Option<&str>, zone: Option<Option<&str>>| AggregateUpdate {
        name: name.map(str::to_owned),
        availability_zone: zone.map(|z| z.map(str::to_owned)),
    };
    match svc
        .update_aggregate(&admin, "1", u(Some("agg1-new"), Some(Some("south"))))
        .await
    {
        Err(ComputeError::Invalid(m)) => assert!(m.contains("already in availability zone(s) ['east']"), "{m}"),
        other => panic!("second zone: {other:?}"),
    }
    assert_eq!(
        svc.get_aggregate(&admin, "1").await.expect("agg1").name,
        "agg1",
        "nothing changed"
    );
    assert!(matches!(
        svc.update_aggregate(&admin, "1", u(Some("agg2"), None)).await,
        Err(ComputeError::Conflict(_))
    ));
    let renamed = svc
        .update_aggregate(&admin, "1", u(Some("agg1-new"), None))
        .await
        .expect("rename");
    assert_eq!(renamed.name, "agg1-new");
    assert!(renamed.updated_at.is_some());

    // A zone is not renamed under servers; its own name again is no rename.
    let mut s = server("on-h2", None, "1", 1);
    s.host = Some("h2".into());
    idb::insert_within_quota(svc.db(), &s, "req-1", None, |_, _, _| Ok::<(), ()>(()))
        .await
        .expect("insert")
        .expect("quota");
    match svc.update_aggregate(&admin, "3", u(None, Some(Some("north")))).await {
        Err(ComputeError::Invalid(m)) => assert!(m.contains("contain instances"), "{m}"),
        other => panic!("rename under a server: {other:?}"),
    }
    assert!(matches!(
        svc.set_aggregate_metadata(&admin, "3", meta(&[("availability_zone", Some("north"))]))
            .await,
        Err(ComputeError::Invalid(_))
    ));
    svc.update_aggregate(&admin, "3", u(None, Some(Some("west"))))
        .await
        .expect("same zone");
    assert!(matches!(
        svc.update_aggregate(&admin, "3", u(None, Some(None))).await,
        Err(ComputeError::Invalid(_))
    ));
    idb::mark_deleted(svc.db(), &s).await.expect("delete the server");
    let moved = svc
        .update_aggregate(&admin, "3", u(None, Some(Some("north"))))
        .await
        .expect("rename");
    assert_eq!(moved.availability_zone(), Some("north"));
    assert_eq!(zone_of(&svc, "h2").await, "north");

    // The scheduler sees every key of every aggregate of a host.
    let by_host = crate::aggregates::metadata_by_host(svc.db()).await.expect("metadata");
    let h1 = &by_host["h1"];
    assert!(
        h1["availability_zone"].contains("east") && h1["ssd"].contains("true"),
        "{h1:?}"
    );

    // Delete: not with hosts; removed hosts are gone; ids are never given twice.
    assert!(matches!(
        svc.delete_aggregate(&admin, "2").await,
        Err(ComputeError::Invalid(_))
    ));
    svc.remove_aggregate_host(&admin, "2", "h1").await.expect("remove h1");
    assert!(matches!(
        svc.remove_aggregate_host(&admin, "2", "h1").await,
        Err(ComputeError::NotFound(m)) if m == "Cannot remove host h1 in aggregate 2."
    ));
    assert!(matches!(
        svc.remove_aggregate_host(&admin, "2", "nowhere").await,
        Err(ComputeError::NotFound(_))
    ));
    assert_eq!(zone_of(&svc, "h1").await, "nova");
    svc.delete_aggregate(&admin, "2").await.expect("delete");
    assert!(matches!(
        svc.get_aggregate(&admin, "2").await,
        Err(ComputeError::NotFound(_))
    ));
    assert!(matches!(
        svc.delete_aggregate(&admin, "2").await,
        Err(ComputeError::NotFound(_))
    ));
    let a4 = svc.create_aggregate(&admin, "agg4", None).await.expect("agg4");
    assert_eq!(a4.id, 4);
    let all = svc.list_aggregates(&admin).await.expect("list");
    assert_eq!(all.iter().map(|a| a.id).collect::<Vec<_>>(), [1, 3, 4]);

    svc.close().await;
    loc.cleanup().await;
}

async fn hypervisors(backend: Backend) {
    let loc = TestLocation::new(backend).await;
    let svc = open(&loc).await;
    for h in ["compute-a", "compute-b", "other"] {
        report(&svc, h).await;
    }
    let admin = caller("admin", &["admin", "member", "reader"]);
    let member = caller("p", &["member", "reader"]);
    let q = |policy| HypervisorQuery {
        policy,
        ..Default::default()
    };
    let list = svc
        .list_hypervisors(&admin, &q("os_compute_api:os-hypervisors:list"))
        .await
        .expect("list");
    let ids: Vec<i64> = list.iter().map(|h| h.node.id).collect();
    assert_eq!(ids, [1, 2, 3], "integer ids in the order hosts registered");
    assert_eq!(list[0].node.host_ip.as_deref(), Some("192.0.2.7"));
    assert!(matches!(
        svc.list_hypervisors(&member, &q("os_compute_api:os-hypervisors:list"))
            .await,
        Err(ComputeError::Denied(_))
    ));

    // One by id, by uuid; what names none, after the policy.
    let show = "os_compute_api:os-hypervisors:show";
    let b = svc
        .get_hypervisor(&admin, show, HypervisorRef::Id(2), false)
        .await
        .expect("by id");
    assert_eq!(b.node.host, "compute-b");
    let uuid = b.node.service_id.clone();
    let again = svc
        .get_hypervisor(&admin, show, HypervisorRef::parse(&uuid, true), false)
        .await
        .expect("by uuid");
    assert_eq!(again.node.host, "compute-b");
    assert!(matches!(
        svc.get_hypervisor(&admin, show, HypervisorRef::parse("abc", false), false).await,
        Err(ComputeError::NotFound(m)) if m == "Hypervisor with ID 'abc' could not be found."
    ));
    assert!(matches!(
        svc.get_hypervisor(&admin, show, HypervisorRef::parse("abc", true), false).await,
        Err(ComputeError::Invalid(m)) if m == "Invalid uuid abc"
    ));
    assert!(matches!(
        svc.get_hypervisor(&member, show, HypervisorRef::parse("abc", true), false)
            .await,
        Err(ComputeError::Denied(_))
    ));

    // Pages after a marker; names by pattern, with their servers.
    let page = svc
        .list_hypervisors(
            &admin,
            &HypervisorQuery {
                policy: "os_compute_api:os-hypervisors:list",
                limit: Some(1),
                marker: Some(HypervisorRef::Id(1)),
                ..Default::default()
            },
        )
        .await
        .expect("page");
    assert_eq!(page.iter().map(|h| h.node.id).collect::<Vec<_>>(), [2]);
    assert!(matches!(
        svc.list_hypervisors(
            &admin,
            &HypervisorQuery {
                policy: "os_compute_api:os-hypervisors:list",
                marker: Some(HypervisorRef::Id(42)),
                ..Default::default()
            },
        )
        .await,
        Err(ComputeError::Invalid(m)) if m == "marker [42] not found"
    ));
    let mut s = server("web", None, "1", 1);
    s.host = Some("compute-a".into());
    idb::insert_within_quota(svc.db(), &s, "req-1", None, |_, _, _| Ok::<(), ()>(()))
        .await
        .expect("insert")
        .expect("quota");
    let found = svc
        .list_hypervisors(
            &admin,
            &HypervisorQuery {
                policy: "os_compute_api:os-hypervisors:servers",
                pattern: Some("COMPUTE"),
                with_servers: true,
                ..Default::default()
            },
        )
        .await
        .expect("search");
    assert_eq!(found.len(), 2);
    assert_eq!(
        found[0].servers.as_deref(),
        Some(&[("id-web".to_owned(), "instance-id-web".to_owned())][..])
    );
    assert_eq!(found[1].servers.as_deref(), Some(&[][..]));
    assert!(matches!(
        svc.list_hypervisors(
            &admin,
            &HypervisorQuery {
                policy: "os_compute_api:os-hypervisors:search",
                pattern: Some("nothing"),
                ..Default::default()
            },
        )
        .await,
        Err(ComputeError::NotFound(m)) if m == "No hypervisor matching 'nothing' could be found."
    ));

    // Statistics count enabled hosts only.
    let stats = svc.hypervisor_statistics(&admin).await.expect("stats");
    assert_eq!((stats.count, stats.vcpus, stats.running_vms), (3, 12, 1));
    idb::set_node_enabled(svc.db(), "other", false, Some("maintenance"))
        .await
        .expect("disable");
    let stats = svc.hypervisor_statistics(&admin).await.expect("stats");
    assert_eq!((stats.count, stats.memory_mb), (2, 16384));
    assert!(matches!(
        svc.hypervisor_statistics(&member).await,
        Err(ComputeError::Denied(_))
    ));

    // A host registered after the others takes the next id.
    report(&svc, "late").await;
    let late = svc
        .list_hypervisors(&admin, &q("os_compute_api:os-hypervisors:list"))
        .await
        .expect("list");
    assert_eq!(
        late.last().map(|h| (h.node.id, h.node.host.as_str())),
        Some((4, "late"))
    );

    svc.close().await;
    loc.cleanup().await;
}

#[tokio::test]
async fn aggregates_on_sqlite() {
    aggregates(Backend::Sqlite).await;
}

#[tokio::test]
async fn aggregates_on_postgres() {
    aggregates(Backend::Postgres).await;
}

#[tokio::test]
async fn hypervisors_on_sqlite() {
    hypervisors(Backend::Sqlite).await;
}

#[tokio::test]
async fn hypervisors_on_postgres() {
    hypervisors(Backend::Postgres).await;
}
