//! Usage per project on both stores, from real instance records: hours clipped to the period
//! and to each server's life, the flavor at boot, deleted servers counted up to their
//! termination, servers never launched or gone before the period left out, pages of servers,
//! and who may ask.

use stratus_api::testing::caller;
use stratus_store::testing::TestLocation;
use stratus_store::{now_micros, Backend};

use crate::aggregates_tests::open;
use crate::instances_db as idb;
use crate::model::Instance;
use crate::server_filter::tests::server;
use crate::{ComputeError, UsageQuery};

const H: i64 = 3_600_000_000;

fn ran(name: &str, project: &str, created: i64, launched: Option<i64>) -> Instance {
    let mut i = server(name, None, "1", created);
    i.project_id = project.into();
    i.created_at = created;
    i.launched_at = launched;
    i.flavor.vcpus = 2;
    i.flavor.memory_mb = 512;
    i.flavor.root_gb = 10;
    i.flavor.ephemeral_gb = 5;
    i
}

async fn usage(backend: Backend) {
    let loc = TestLocation::new(backend).await;
    let svc = open(&loc).await;
    let now = now_micros();
    let start = now - 10 * H;
    let insert = |i: Instance| {
        let svc = svc.clone();
        async move {
            idb::insert_within_quota(svc.db(), &i, "req", None, |_, _, _| Ok::<(), ()>(()))
                .await
                .expect("insert")
                .expect("quota");
            i
        }
    };
    // p: one running since before the period, one launched 4 hours ago and deleted now.
    let old = insert(ran("old", "p", now - 20 * H, Some(now - 20 * H))).await;
    let gone = insert(ran("gone", "p", now - 5 * H, Some(now - 4 * H))).await;
    idb::mark_deleted(svc.db(), &gone).await.expect("delete");
    // q: one running for the last 2 hours; one never launched (a failed build).
    let _q1 = insert(ran("q1", "q", now - 3 * H, Some(now - 2 * H))).await;
    let _never = insert(ran("never", "q", now - H, None)).await;
    // r: terminated before the period; not counted at all.
    let mut early = ran("early", "r", now - 30 * H, Some(now - 30 * H));
    early.terminated_at = Some(now - 25 * H);
    insert(early).await;

    let terminated = idb::get_even_deleted(svc.db(), &gone.id)
        .await
        .expect("read")
        .and_then(|i| i.terminated_at)
        .expect("a deleted server has its termination time");
    assert!(terminated >= now, "terminated when deleted");

    let admin = caller("admin", &["admin", "member", "reader"]);
    let all = UsageQuery {
        start: Some(start),
        end: Some(now + 24 * H),
        ..Default::default()
    };
    let r = svc.tenant_usage(&admin, &all).await.expect("usage");
    let tenants: Vec<&str> = r.tenants.iter().map(|t| t.tenant_id.as_str()).collect();
    assert_eq!(tenants, ["p", "q"], "in the order their first server was made");
    let p = &r.tenants[0];
    assert!(p.stop <= now_micros(), "the period ends now at the latest");
    let near = |a: f64, b: f64| (a - b).abs() < 0.01;
    // old: the whole 10 hours; gone: the 4 hours until its deletion.
    assert!(near(p.total_hours, 14.0), "{}", p.total_hours);
    assert!(near(p.total_vcpus_usage, 28.0), "{}", p.total_vcpus_usage);
    assert!(near(p.total_memory_mb_usage, 14.0 * 512.0));
    assert!(near(p.total_local_gb_usage, 14.0 * 15.0));
    let g = p.server_usages.iter().find(|u| u.name == "gone").expect("gone counted");
    assert_eq!(g.state, "terminated");
    assert_eq!(g.ended_at, Some(terminated));
    assert_eq!(
        (g.vcpus, g.memory_mb, g.local_gb, g.flavor.as_str()),
        (2, 512, 15, "f-1")
    );
    let o = p.server_usages.iter().find(|u| u.name == "old").expect("old counted");
    assert_eq!((o.state.as_str(), o.ended_at), ("active", None));
    assert!(o.uptime >= 20 * 3600, "{}", o.uptime);
    let q = &r.tenants[1];
    assert_eq!(q.server_usages.len(), 1, "a server never launched is not counted");
    assert!(near(q.total_hours, 2.0));
    assert_eq!(r.servers.len(), 3);
    assert_eq!(r.servers[0].instance_id, old.id);

    // Pages of servers, in creation order.
    let first = svc
        .tenant_usage(
            &admin,
            &UsageQuery {
                limit: Some(2),
                ..all.clone()
            },
        )
        .await
        .expect("page 1");
    assert_eq!(first.servers.len(), 2);
    let marker = first.servers[1].instance_id.clone();
    let second = svc
        .tenant_usage(
            &admin,
            &UsageQuery {
                limit: Some(2),
                marker: Some(marker),
                ..all.clone()
            },
        )
        .await
        .expect("page 2");
    assert_eq!(
        second.servers.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["q1"]
    );
    assert!(matches!(
        svc.tenant_usage(&admin, &UsageQuery { marker: Some("nope".into()), ..all.clone() }).await,
        Err(ComputeError::Invalid(m)) if m == "Marker nope could not be found."
    ));

    // One project, for its readers; a period before any server ran is empty.
    let reader_p = caller("p", &["reader"]);
    let mine = svc
        .tenant_usage(
            &reader_p,
            &UsageQuery {
                tenant_id: Some("p".into()),
                ..all.clone()
            },
        )
        .await
        .expect("own usage");
    assert_eq!(mine.tenants.len(), 1);
    assert!(matches!(
        svc.tenant_usage(
            &reader_p,
            &UsageQuery {
                tenant_id: Some("q".into()),
                ..all.clone()
            }
        )
        .await,
        Err(ComputeError::Denied(_))
    ));
    assert!(matches!(
        svc.tenant_usage(&reader_p, &all).await,
        Err(ComputeError::Denied(_))
    ));
    let before = UsageQuery {
        start: Some(now - 100 * H),
        end: Some(now - 50 * H),
        ..Default::default()
    };
    assert!(svc
        .tenant_usage(&admin, &before)
        .await
        .expect("empty")
        .tenants
        .is_empty());

    // The period must run forwards.
    let backwards = UsageQuery {
        start: Some(now),
        end: Some(now - H),
        ..Default::default()
    };
    assert!(matches!(
        svc.tenant_usage(&admin, &backwards).await,
        Err(ComputeError::Invalid(m)) if m.starts_with("Invalid start time.")
    ));
    // No times at all: from now to now, nothing.
    assert!(svc.tenant_usage(&admin, &UsageQuery::default()).await.is_ok());

    svc.close().await;
    loc.cleanup().await;
}

#[tokio::test]
async fn usage_on_sqlite() {
    usage(Backend::Sqlite).await;
}

#[tokio::test]
async fn usage_on_postgres() {
    usage(Backend::Postgres).await;
}
