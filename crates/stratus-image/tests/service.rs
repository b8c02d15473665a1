//! The Image service on both stores: visibility and membership in lists, keyset pagination
//! under every sort, uploads racing on one image, and the repair of a crash at restart.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::json;
use stratus_api::policy::Policy;
use stratus_api::testing::caller;
use stratus_api::AuthContext;
use stratus_image::model::Status;
use stratus_image::{ImageConfig, ImageQuery, ImageService, SortKey, Upload, VisibilityFilter};
use stratus_store::testing::TestLocation;
use stratus_store::Backend;

async fn open(loc: &TestLocation, dir: &std::path::Path) -> ImageService {
    let policy = Policy::load(stratus_image::DEFAULT_POLICY, None).expect("policy");
    ImageService::open(&loc.location, ImageConfig::new(dir.to_owned()), policy)
        .await
        .expect("open image service")
}

fn body(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().expect("object").clone()
}

fn upload(data: &'static [u8]) -> Upload {
    Upload {
        body: Box::pin(futures::stream::iter(vec![Ok(Bytes::from_static(data))])),
        declared_size: Some(data.len() as u64),
        content_md5: None,
    }
}

fn query() -> ImageQuery {
    // As the API reads an empty query: shared images only once accepted.
    ImageQuery {
        limit: 1000,
        sort: vec![(SortKey::CreatedAt, true)],
        member_status: Some(stratus_image::model::MemberStatus::Accepted),
        ..Default::default()
    }
}

async fn names(svc: &ImageService, who: &AuthContext, q: &ImageQuery) -> Vec<String> {
    let mut v: Vec<String> = svc
        .list_images(who, q, None)
        .await
        .expect("list")
        .into_iter()
        .filter_map(|i| i.name)
        .collect();
    v.sort();
    v
}

async fn visibility_members_and_paging(backend: Backend) {
    let loc = TestLocation::new(backend).await;
    let dir = tempfile::tempdir().expect("tmp");
    let svc = open(&loc, dir.path()).await;
    let admin = caller("p-admin", &["admin", "member", "reader"]);
    let alice = caller("p-alice", &["member", "reader"]);
    let bob = caller("p-bob", &["member", "reader"]);
    let reader = caller("p-alice", &["reader"]);

    let public = svc
        .create_image(&admin, body(json!({"name": "public", "visibility": "public"})))
        .await
        .expect("public");
    svc.create_image(&alice, body(json!({"name": "alice-private", "visibility": "private"})))
        .await
        .expect("private");
    let shared = svc
        .create_image(&alice, body(json!({"name": "alice-shared"})))
        .await
        .expect("shared");
    svc.create_image(
        &alice,
        body(json!({"name": "alice-community", "visibility": "community"})),
    )
    .await
    .expect("community");
    assert!(
        svc.create_image(&reader, body(json!({"name": "no"}))).await.is_err(),
        "readers cannot create"
    );
    assert!(
        svc.create_image(&alice, body(json!({"name": "x", "visibility": "public"})))
            .await
            .is_err(),
        "members cannot publicize"
    );

    assert_eq!(names(&svc, &bob, &query()).await, vec!["public"]);
    svc.add_member(&alice, &shared.id, "p-bob").await.expect("add member");
    assert_eq!(
        names(&svc, &bob, &query()).await,
        vec!["public"],
        "pending is not listed by default"
    );
    let pending = ImageQuery {
        member_status: Some(stratus_image::model::MemberStatus::Pending),
        ..query()
    };
    assert_eq!(names(&svc, &bob, &pending).await, vec!["alice-shared", "public"]);
    assert!(
        svc.set_member_status(&alice, &shared.id, "p-bob", "accepted")
            .await
            .is_err(),
        "the owner cannot accept for bob"
    );
    svc.set_member_status(&bob, &shared.id, "p-bob", "accepted")
        .await
        .expect("accept");
    assert_eq!(names(&svc, &bob, &query()).await, vec!["alice-shared", "public"]);
    let community = ImageQuery {
        visibility: VisibilityFilter::Only(stratus_image::model::Visibility::Community),
        ..query()
    };
    assert_eq!(names(&svc, &bob, &community).await, vec!["alice-community"]);
    assert_eq!(
        names(&svc, &alice, &query()).await,
        vec!["alice-community", "alice-private", "alice-shared", "public"]
    );
    assert_eq!(names(&svc, &admin, &query()).await.len(), 4);
    assert!(svc.get_image(&bob, &public.id).await.is_ok());
    let private_id = svc
        .list_images(&alice, &query(), None)
        .await
        .expect("list")
        .into_iter()
        .find(|i| i.name.as_deref() == Some("alice-private"))
        .expect("private")
        .id;
    assert!(
        svc.get_image(&bob, &private_id).await.is_err(),
        "another project's private image is not found"
    );
    assert!(
        svc.delete_image(&bob, &shared.id).await.is_err(),
        "a member cannot delete"
    );

    // Keyset pagination: every sort walks every image exactly once.
    for i in 0..23 {
        let name = if i % 3 == 0 {
            json!(null)
        } else {
            json!(format!("n{}", i % 5))
        };
        svc.create_image(&alice, body(json!({"name": name, "min_disk": i % 4})))
            .await
            .expect("create");
    }
    let total = svc.list_images(&alice, &query(), None).await.expect("all").len();
    for sort in [
        vec![(SortKey::Name, false)],
        vec![(SortKey::MinDisk, true), (SortKey::Name, false)],
        vec![(SortKey::CreatedAt, true)],
    ] {
        let q = ImageQuery {
            limit: 4,
            sort: sort.clone(),
            ..query()
        };
        let (mut seen, mut marker) = (Vec::new(), None::<String>);
        loop {
            let mut page = svc.list_images(&alice, &q, marker.as_deref()).await.expect("page");
            let more = page.len() > 4;
            page.truncate(4);
            marker = page.last().map(|i| i.id.clone());
            seen.extend(page.into_iter().map(|i| i.id));
            if !more {
                break;
            }
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!((seen.len(), unique.len()), (total, total), "sort {sort:?}");
    }
    svc.close().await;
    loc.cleanup().await;
}

async fn uploads_race_and_restarts_repair(backend: Backend) {
    let loc = TestLocation::new(backend).await;
    let dir = tempfile::tempdir().expect("tmp");
    let svc = open(&loc, dir.path()).await;
    let alice = Arc::new(caller("p-alice", &["member", "reader"]));
    let img = svc
        .create_image(
            &alice,
            body(json!({"name": "r", "disk_format": "raw", "container_format": "bare"})),
        )
        .await
        .expect("create");

    // Eight uploads at once: exactly one wins, the others are told the image is busy or active.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (svc, alice, id) = (svc.clone(), alice.clone(), img.id.clone());
        tasks.push(tokio::spawn(async move {
            svc.upload(&alice, &id, upload(b"the one image")).await
        }));
    }
    let mut won = 0;
    for t in tasks {
        if t.await.expect("join").is_ok() {
            won += 1;
        }
    }
    assert_eq!(won, 1);
    let active = svc.get_image(&alice, &img.id).await.expect("get");
    assert_eq!(active.status, Status::Active);
    assert_eq!(active.checksum.as_deref(), Some("afaeea7612ae99e829cb4cc4831b15c2"));

    // A crash mid-upload leaves the image saving and a partial file; a restart repairs both.
    let stuck = svc
        .create_image(
            &alice,
            body(json!({"name": "s", "disk_format": "raw", "container_format": "bare"})),
        )
        .await
        .expect("create");
    let slow = futures::stream::iter(vec![Ok(Bytes::from_static(b"part"))]).chain(futures::stream::pending());
    let up = Upload {
        body: Box::pin(slow),
        declared_size: None,
        content_md5: None,
    };
    let (svc2, alice2, sid) = (svc.clone(), alice.clone(), stuck.id.clone());
    let task = tokio::spawn(async move { svc2.upload(&alice2, &sid, up).await });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        svc.get_image(&alice, &stuck.id).await.expect("get").status,
        Status::Saving
    );
    task.abort();
    svc.close().await;
    let svc = open(&loc, dir.path()).await;
    assert_eq!(
        svc.get_image(&alice, &stuck.id).await.expect("get").status,
        Status::Killed
    );
    let partial = std::fs::read_dir(dir.path().join("store/.partial"))
        .expect("partial dir")
        .count();
    assert_eq!(partial, 0, "partial data swept at start");
    svc.delete_image(&alice, &stuck.id).await.expect("delete killed");
    svc.delete_image(&alice, &img.id).await.expect("delete active");
    assert!(svc.get_image(&alice, &img.id).await.is_err());
    assert!(
        !dir.path().join("store").join(&img.id).exists(),
        "data removed with the image"
    );
    svc.close().await;
    loc.cleanup().await;
}

use futures::StreamExt;

#[tokio::test]
async fn visibility_members_and_paging_on_sqlite() {
    visibility_members_and_paging(Backend::Sqlite).await;
}

#[tokio::test]
async fn visibility_members_and_paging_on_postgres() {
    visibility_members_and_paging(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_race_and_restarts_repair_on_sqlite() {
    uploads_race_and_restarts_repair(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_race_and_restarts_repair_on_postgres() {
    uploads_race_and_restarts_repair(Backend::Postgres).await;
}
