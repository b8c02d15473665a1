//! Listing servers on both stores: image, flavor and name filters over real records, and
//! `changes-since`, which lists deleted servers too (as Nova does) while a plain list does not.

use stratus_api::policy::Policy;
use stratus_api::testing::caller;
use stratus_store::testing::TestLocation;
use stratus_store::Backend;

use crate::instances_db as idb;
use crate::server_filter::tests::server;
use crate::{ComputeConfig, ComputeService, ServerFilter};

async fn listing(backend: Backend) {
    let loc = TestLocation::new(backend).await;
    let policy = Policy::load(crate::DEFAULT_POLICY, None).expect("policy");
    let svc = ComputeService::open(&loc.location, ComputeConfig::default(), policy)
        .await
        .expect("open");
    let member = caller("p", &["member", "reader"]);
    // Flavors 1 and 2 are among the default flavors.
    let records = [
        server("s1", Some("img-a"), "1", 1_000),
        server("s2", Some("img-b"), "1", 2_000),
        server("s3", Some("img-a"), "2", 3_000),
    ];
    for i in &records {
        idb::insert_within_quota(svc.db(), i, "req-test", None, |_, _, _| Ok::<(), ()>(()))
            .await
            .expect("insert")
            .expect("within quota");
    }
    let mut other = server("elsewhere", Some("img-a"), "1", 1_000);
    other.id = "id-elsewhere".into();
    other.project_id = "q".into();
    idb::insert_within_quota(svc.db(), &other, "req-test", None, |_, _, _| Ok::<(), ()>(()))
        .await
        .expect("insert")
        .expect("within quota");
    idb::mark_deleted(svc.db(), &records[1]).await.expect("delete s2");

    let names = |f: ServerFilter| {
        let svc = svc.clone();
        let member = member.clone();
        async move {
            let mut n: Vec<String> = svc
                .list_servers(&member, &f)
                .await
                .expect("list")
                .into_iter()
                .map(|i| i.name)
                .collect();
            n.sort();
            n
        }
    };
    assert_eq!(names(ServerFilter::default()).await, ["s1", "s3"]);
    let by_image = ServerFilter {
        image: Some("img-a".into()),
        ..Default::default()
    };
    assert_eq!(names(by_image).await, ["s1", "s3"]);
    let by_flavor = ServerFilter {
        flavor: Some("2".into()),
        ..Default::default()
    };
    assert_eq!(names(by_flavor).await, ["s3"]);
    let no_such_flavor = ServerFilter {
        flavor: Some("non_existing_flavor".into()),
        ..Default::default()
    };
    assert!(names(no_such_flavor).await.is_empty());
    let by_name = ServerFilter {
        name: Some("^s[13]$".into()),
        ..Default::default()
    };
    assert_eq!(names(by_name).await, ["s1", "s3"]);
    // changes-since: what changed since, deleted s2 (changed when deleted) included.
    let since = ServerFilter {
        changes_since: Some(1_500),
        ..Default::default()
    };
    assert_eq!(names(since).await, ["s2", "s3"]);
    let future = ServerFilter {
        changes_since: Some(i64::MAX),
        ..Default::default()
    };
    assert!(names(future).await.is_empty());
    let deleted_only = ServerFilter {
        changes_since: Some(0),
        status: Some("DELETED".into()),
        ..Default::default()
    };
    assert_eq!(names(deleted_only).await, ["s2"]);

    svc.close().await;
    loc.cleanup().await;
}

#[tokio::test]
async fn listing_on_sqlite() {
    listing(Backend::Sqlite).await;
}

#[tokio::test]
async fn listing_on_postgres() {
    listing(Backend::Postgres).await;
}
