//! Volumes on both stores with the real file backend: create, clone, extend and delete move
//! through Cinder's statuses; quotas and bad sizes are refused; a create cut short by a crash
//! ends in `error`, with no data left, when the service starts again.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use stratus_api::policy::Policy;
use stratus_api::testing::caller;
use stratus_api::AuthContext;
use stratus_store::testing::TestLocation;
use stratus_store::Backend;
use stratus_volume::model::{NewVolume, Volume};
use stratus_volume::{
    BackendError, FileBackend, Status, VolumeBackend, VolumeConfig, VolumeError, VolumeFormat, VolumeService,
};
use stratus_volume::{Page, QuotaSet, VolumeFilter, VolumeUpdate};

async fn open(loc: &TestLocation, backend: Arc<dyn VolumeBackend>) -> VolumeService {
    let policy = Policy::load(stratus_volume::DEFAULT_POLICY, None).expect("policy");
    let cfg = VolumeConfig {
        quota_gigabytes: 5,
        ..Default::default()
    };
    VolumeService::open(&loc.location, cfg, policy, backend)
        .await
        .expect("open")
}

async fn settle(svc: &VolumeService, who: &AuthContext, id: &str, busy: Status) -> Volume {
    for _ in 0..200 {
        let v = svc.get_volume(who, id).await.expect("get");
        if v.status != busy {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("volume {id} stayed {}", busy.as_str());
}

async fn lifecycle(backend: Backend) {
    let loc = TestLocation::new(backend).await;
    let dir = tempfile::tempdir().expect("tmp");
    let files =
        Arc::new(FileBackend::new(&dir.path().join("v"), VolumeFormat::Qcow2, Path::new("qemu-img")).expect("backend"));
    let svc = open(&loc, files.clone()).await;
    let alice = caller("p-alice", &["member", "reader"]);
    let bob = caller("p-bob", &["member", "reader"]);

    let v = svc
        .create_volume(
            &alice,
            NewVolume {
                size: Some(1),
                name: Some("data".into()),
                ..Default::default()
            },
        )
        .await
        .expect("create");
    assert_eq!(v.status, Status::Creating);
    let v = settle(&svc, &alice, &v.id, Status::Creating).await;
    assert_eq!(v.status, Status::Available);
    assert!(files.volume_path(&v.id).exists());
    assert!(
        matches!(svc.get_volume(&bob, &v.id).await, Err(VolumeError::NotFound(_))),
        "another project's volume is not found"
    );

    // Bad sizes and quotas (5 GiB per project here).
    assert!(matches!(
        svc.create_volume(
            &alice,
            NewVolume {
                size: Some(0),
                ..Default::default()
            }
        )
        .await,
        Err(VolumeError::Invalid(_))
    ));
    assert!(matches!(
        svc.create_volume(
            &alice,
            NewVolume {
                size: Some(5),
                ..Default::default()
            }
        )
        .await,
        Err(VolumeError::OverQuota(_))
    ));

    // A clone, then an extend, then an extend that would shrink.
    let c = svc
        .create_volume(
            &alice,
            NewVolume {
                source_volid: Some(v.id.clone()),
                ..Default::default()
            },
        )
        .await
        .expect("clone");
    let c = settle(&svc, &alice, &c.id, Status::Creating).await;
    assert_eq!((c.status, c.size), (Status::Available, 1));
    svc.extend_volume(&alice, &c.id, 2).await.expect("extend");
    let c = settle(&svc, &alice, &c.id, Status::Extending).await;
    assert_eq!((c.status, c.size), (Status::Available, 2));
    assert!(matches!(
        svc.extend_volume(&alice, &c.id, 1).await,
        Err(VolumeError::Invalid(_))
    ));
    assert!(matches!(
        svc.extend_volume(&alice, &c.id, 9).await,
        Err(VolumeError::OverQuota(_))
    ));

    // Delete: data and record go.
    svc.delete_volume(&alice, &c.id, false).await.expect("delete");
    assert!(!files.volume_path(&c.id).exists());
    assert!(matches!(
        svc.get_volume(&alice, &c.id).await,
        Err(VolumeError::NotFound(_))
    ));
    let mine = VolumeFilter::default();
    let all = VolumeFilter {
        all_projects: true,
        ..Default::default()
    };
    assert_eq!(
        svc.list_volumes(&alice, &mine, &Page::default())
            .await
            .expect("list")
            .len(),
        1
    );
    assert!(
        svc.list_volumes(&alice, &all, &Page::default()).await.is_err(),
        "all_projects is for admins"
    );
    svc.close().await;
    loc.cleanup().await;
}

/// A backend whose creates never finish, standing for a process killed mid-create.
struct Stuck(Arc<FileBackend>);

#[async_trait::async_trait]
impl VolumeBackend for Stuck {
    async fn create(&self, id: &str, size: u64) -> Result<(), BackendError> {
        self.0.create(id, size).await?;
        std::future::pending().await
    }
    async fn create_from_file(&self, id: &str, s: &Path, f: &str, size: u64) -> Result<(), BackendError> {
        self.0.create_from_file(id, s, f, size).await
    }
    async fn clone_volume(&self, id: &str, from: &str, size: u64) -> Result<(), BackendError> {
        self.0.clone_volume(id, from, size).await
    }
    async fn create_from_snapshot(&self, id: &str, snap: &str, size: u64) -> Result<(), BackendError> {
        self.0.create_from_snapshot(id, snap, size).await
    }
    async fn snapshot(&self, snap: &str, vol: &str, in_use: bool) -> Result<(), BackendError> {
        self.0.snapshot(snap, vol, in_use).await
    }
    async fn delete_snapshot(&self, snap: &str) -> Result<(), BackendError> {
        self.0.delete_snapshot(snap).await
    }
    async fn extend(&self, id: &str, size: u64) -> Result<(), BackendError> {
        self.0.extend(id, size).await
    }
    async fn delete(&self, id: &str) -> Result<(), BackendError> {
        self.0.delete(id).await
    }
    fn connection_info(&self, id: &str) -> serde_json::Value {
        self.0.connection_info(id)
    }
    async fn sweep(&self) -> Result<usize, BackendError> {
        self.0.sweep().await
    }
}

async fn crash_mid_create(backend: Backend) {
    let loc = TestLocation::new(backend).await;
    let dir = tempfile::tempdir().expect("tmp");
    let files =
        Arc::new(FileBackend::new(&dir.path().join("v"), VolumeFormat::Qcow2, Path::new("qemu-img")).expect("backend"));
    let alice = caller("p-alice", &["member", "reader"]);
    let stuck = open(&loc, Arc::new(Stuck(files.clone()))).await;
    let v = stuck
        .create_volume(
            &alice,
            NewVolume {
                size: Some(1),
                ..Default::default()
            },
        )
        .await
        .expect("create");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        stuck.get_volume(&alice, &v.id).await.expect("get").status,
        Status::Creating
    );
    stuck.close().await;
    let svc = open(&loc, files.clone()).await;
    let after = svc.get_volume(&alice, &v.id).await.expect("get");
    assert_eq!(after.status, Status::Error, "never creating forever");
    assert!(!files.volume_path(&v.id).exists(), "no orphan file");
    svc.delete_volume(&alice, &v.id, false)
        .await
        .expect("an errored volume can be deleted");
    svc.close().await;
    loc.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volume_lifecycle_on_sqlite() {
    lifecycle(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volume_lifecycle_on_postgres() {
    lifecycle(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_create_ends_in_error_on_sqlite() {
    crash_mid_create(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_create_ends_in_error_on_postgres() {
    crash_mid_create(Backend::Postgres).await;
}

async fn attachments(backend: Backend) {
    let loc = TestLocation::new(backend).await;
    let dir = tempfile::tempdir().expect("tmp");
    let files =
        Arc::new(FileBackend::new(&dir.path().join("v"), VolumeFormat::Qcow2, Path::new("qemu-img")).expect("backend"));
    let svc = open(&loc, files.clone()).await;
    let alice = caller("p-alice", &["member", "reader"]);
    let server = "6f1d6a8e-7c55-4c1e-9d4e-2b2f3c4d5e6f";
    let other = "7f1d6a8e-7c55-4c1e-9d4e-2b2f3c4d5e6f";
    let v = svc
        .create_volume(
            &alice,
            NewVolume {
                size: Some(1),
                ..Default::default()
            },
        )
        .await
        .expect("create");
    settle(&svc, &alice, &v.id, Status::Creating).await;
    let status = |svc: VolumeService, id: String| async move {
        svc.get_volume(&caller("p-alice", &["member", "reader"]), &id)
            .await
            .expect("get")
            .status
    };

    // Nova's flow: reserve, update with the host's connector, complete, delete.
    let a = svc
        .create_attachment(&alice, &v.id, server, None, None)
        .await
        .expect("reserve");
    assert_eq!(
        (a.status.as_str(), status(svc.clone(), v.id.clone()).await),
        ("reserved", Status::Reserved)
    );
    assert!(
        matches!(
            svc.complete_attachment(&alice, &a.id).await,
            Err(VolumeError::Invalid(_))
        ),
        "no connector yet"
    );
    let connector = serde_json::json!({"host": "compute-1", "initiator": "iqn.test", "platform": "x86_64"});
    let a = svc.update_attachment(&alice, &a.id, connector).await.expect("update");
    let ci = a.connection_info.clone().expect("connection_info");
    assert_eq!(ci["driver_volume_type"], "file");
    assert_eq!(
        ci["data"]["device_path"],
        files.volume_path(&v.id).to_string_lossy().as_ref()
    );
    assert_eq!(status(svc.clone(), v.id.clone()).await, Status::Attaching);
    let a = svc.complete_attachment(&alice, &a.id).await.expect("complete");
    assert_eq!(
        (a.status.as_str(), status(svc.clone(), v.id.clone()).await),
        ("attached", Status::InUse)
    );

    // An in-use volume that is not multiattach: no second attachment, no delete, no extend.
    assert!(matches!(
        svc.create_attachment(&alice, &v.id, other, None, None).await,
        Err(VolumeError::Invalid(_))
    ));
    assert!(matches!(
        svc.delete_volume(&alice, &v.id, false).await,
        Err(VolumeError::Invalid(_))
    ));
    assert!(matches!(
        svc.extend_volume(&alice, &v.id, 2).await,
        Err(VolumeError::Invalid(_))
    ));
    assert!(matches!(
        svc.create_attachment(&alice, &v.id, "not-a-uuid", None, None).await,
        Err(VolumeError::Invalid(_))
    ));

    // Detach, then a multiattach volume takes two attachments at once.
    svc.delete_attachment(&alice, &a.id).await.expect("detach");
    assert_eq!(status(svc.clone(), v.id.clone()).await, Status::Available);
    let no_type = NewVolume {
        size: Some(1),
        multiattach: true,
        ..Default::default()
    };
    assert!(
        matches!(svc.create_volume(&alice, no_type).await, Err(VolumeError::Invalid(_))),
        "multiattach needs a type that allows it"
    );
    let admin = caller("p-admin", &["admin", "member", "reader"]);
    assert!(
        svc.create_type(&alice, "shared-disk", None, true, Default::default())
            .await
            .is_err(),
        "types are for admins"
    );
    let specs = [("multiattach".to_string(), "<is> True".to_string())]
        .into_iter()
        .collect();
    svc.create_type(&admin, "shared-disk", Some("multi-attach".into()), true, specs)
        .await
        .expect("type");
    assert!(matches!(
        svc.create_type(&admin, "shared-disk", None, true, Default::default())
            .await,
        Err(VolumeError::Conflict(_))
    ));
    let req = NewVolume {
        size: Some(1),
        volume_type: Some("shared-disk".into()),
        ..Default::default()
    };
    let m = svc.create_volume(&alice, req).await.expect("create");
    assert!(m.multiattach);
    assert!(matches!(
        svc.create_volume(
            &alice,
            NewVolume {
                size: Some(1),
                volume_type: Some("nope".into()),
                ..Default::default()
            }
        )
        .await,
        Err(VolumeError::TypeNotFound(_))
    ));
    assert!(
        matches!(
            svc.delete_type(&admin, "shared-disk").await,
            Err(VolumeError::Invalid(_))
        ),
        "a type in use stays"
    );
    settle(&svc, &alice, &m.id, Status::Creating).await;
    let c = serde_json::json!({"host": "compute-1"});
    let a1 = svc
        .create_attachment(&alice, &m.id, server, Some(c.clone()), Some("rw"))
        .await
        .expect("first");
    svc.complete_attachment(&alice, &a1.id).await.expect("complete");
    let a2 = svc
        .create_attachment(&alice, &m.id, other, Some(c), Some("ro"))
        .await
        .expect("second");
    assert_eq!(a2.connection_info.expect("ci")["data"]["access_mode"], "ro");
    svc.complete_attachment(&alice, &a2.id).await.expect("complete");
    assert_eq!(svc.list_attachments(&alice, &m.id).await.expect("list").len(), 2);
    svc.delete_attachment(&alice, &a1.id).await.expect("detach one");
    assert_eq!(
        status(svc.clone(), m.id.clone()).await,
        Status::InUse,
        "still attached to the other"
    );
    svc.delete_attachment(&alice, &a2.id).await.expect("detach two");
    assert_eq!(status(svc.clone(), m.id.clone()).await, Status::Available);
    svc.close().await;
    loc.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_on_sqlite() {
    attachments(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_on_postgres() {
    attachments(Backend::Postgres).await;
}

async fn snapshots(backend: Backend) {
    let loc = TestLocation::new(backend).await;
    let dir = tempfile::tempdir().expect("tmp");
    let files =
        Arc::new(FileBackend::new(&dir.path().join("v"), VolumeFormat::Qcow2, Path::new("qemu-img")).expect("backend"));
    let svc = open(&loc, files.clone()).await;
    let alice = caller("p-alice", &["member", "reader"]);
    let v = svc
        .create_volume(
            &alice,
            NewVolume {
                size: Some(1),
                ..Default::default()
            },
        )
        .await
        .expect("create");
    settle(&svc, &alice, &v.id, Status::Creating).await;
    let snapshot_settles = |id: String| {
        let svc = svc.clone();
        async move {
            for _ in 0..200 {
                let s = svc
                    .get_snapshot(&caller("p-alice", &["member", "reader"]), &id)
                    .await
                    .expect("get");
                if s.status != "creating" {
                    return s.status;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            "creating".to_owned()
        }
    };

    let s = svc
        .create_snapshot(
            &alice,
            &v.id,
            Some("before".into()),
            None,
            false,
            [("k".to_owned(), "v".to_owned())].into(),
        )
        .await
        .expect("snapshot");
    assert_eq!(snapshot_settles(s.id.clone()).await, "available");
    assert!(
        matches!(
            svc.delete_volume(&alice, &v.id, false).await,
            Err(VolumeError::Invalid(_))
        ),
        "a volume with snapshots stays"
    );

    // A volume from the snapshot, at least as big.
    let too_small = NewVolume {
        snapshot_id: Some(s.id.clone()),
        size: Some(0),
        ..Default::default()
    };
    assert!(matches!(
        svc.create_volume(&alice, too_small).await,
        Err(VolumeError::Invalid(_))
    ));
    let req = NewVolume {
        snapshot_id: Some(s.id.clone()),
        size: Some(2),
        ..Default::default()
    };
    let from = svc.create_volume(&alice, req).await.expect("from snapshot");
    let from = settle(&svc, &alice, &from.id, Status::Creating).await;
    assert_eq!(
        (from.status, from.size, from.snapshot_id.as_deref()),
        (Status::Available, 2, Some(s.id.as_str()))
    );

    // In use: refused without force, taken with it.
    let host = serde_json::json!({"host": "h"});
    let a = svc
        .create_attachment(&alice, &v.id, "6f1d6a8e-7c55-4c1e-9d4e-2b2f3c4d5e6f", Some(host), None)
        .await
        .expect("attach");
    svc.complete_attachment(&alice, &a.id).await.expect("complete");
    assert!(matches!(
        svc.create_snapshot(&alice, &v.id, None, None, false, Default::default())
            .await,
        Err(VolumeError::Invalid(_))
    ));
    let forced = svc
        .create_snapshot(&alice, &v.id, None, None, true, Default::default())
        .await
        .expect("forced");
    assert_eq!(snapshot_settles(forced.id.clone()).await, "available");
    svc.delete_attachment(&alice, &a.id).await.expect("detach");

    for id in [&s.id, &forced.id] {
        svc.delete_snapshot(&alice, id).await.expect("delete snapshot");
    }
    svc.delete_volume(&alice, &v.id, false)
        .await
        .expect("now the volume can go");
    svc.close().await;
    loc.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_on_sqlite() {
    snapshots(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_on_postgres() {
    snapshots(Backend::Postgres).await;
}

/// A file-less backend: quota, listing and update tests need records, not data.
struct Instant;

#[async_trait::async_trait]
impl VolumeBackend for Instant {
    async fn create(&self, _: &str, _: u64) -> Result<(), BackendError> {
        Ok(())
    }
    async fn create_from_file(&self, _: &str, _: &Path, _: &str, _: u64) -> Result<(), BackendError> {
        Ok(())
    }
    async fn clone_volume(&self, _: &str, _: &str, _: u64) -> Result<(), BackendError> {
        Ok(())
    }
    async fn create_from_snapshot(&self, _: &str, _: &str, _: u64) -> Result<(), BackendError> {
        Ok(())
    }
    async fn snapshot(&self, _: &str, _: &str, _: bool) -> Result<(), BackendError> {
        Ok(())
    }
    async fn delete_snapshot(&self, _: &str) -> Result<(), BackendError> {
        Ok(())
    }
    async fn extend(&self, _: &str, _: u64) -> Result<(), BackendError> {
        Ok(())
    }
    async fn delete(&self, _: &str) -> Result<(), BackendError> {
        Ok(())
    }
    fn connection_info(&self, id: &str) -> serde_json::Value {
        serde_json::json!({"driver_volume_type": "file", "data": {"name": id}})
    }
    async fn sweep(&self) -> Result<usize, BackendError> {
        Ok(0)
    }
}

/// Per-project quotas hold under a burst of concurrent creates, and can be neither set below
/// what a project uses nor named wrongly.
async fn quotas_hold_under_concurrency(backend: Backend) {
    let loc = TestLocation::new(backend).await;
    let svc = open(&loc, Arc::new(Instant)).await;
    let admin = caller("p-admin", &["admin", "member", "reader"]);
    let alice = caller("p-alice", &["member", "reader"]);
    assert!(
        svc.update_quota(&alice, "p-alice", &QuotaSet::from([("volumes".into(), 100)]))
            .await
            .is_err(),
        "only admins set quotas"
    );
    svc.update_quota(
        &admin,
        "p-alice",
        &QuotaSet::from([("volumes".into(), 3), ("gigabytes".into(), 100)]),
    )
    .await
    .expect("set quota");
    let mut tasks = Vec::new();
    for i in 0..12 {
        let (svc, alice) = (svc.clone(), alice.clone());
        tasks.push(tokio::spawn(async move {
            svc.create_volume(
                &alice,
                NewVolume {
                    size: Some(1),
                    name: Some(format!("burst-{i}")),
                    ..Default::default()
                },
            )
            .await
        }));
    }
    let mut made = 0;
    for t in tasks {
        match t.await.expect("task") {
            Ok(_) => made += 1,
            Err(VolumeError::OverQuota(m)) => assert!(m.contains("'volumes'"), "{m}"),
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(made, 3, "exactly the quota is created");
    let usage = svc.quota_usage(&alice, "p-alice").await.expect("usage");
    assert_eq!(usage["volumes"].in_use, 3);
    assert_eq!(usage["volumes"].limit, 3);
    assert_eq!(usage["gigabytes"].in_use, 3);
    assert!(matches!(
        svc.update_quota(&admin, "p-alice", &QuotaSet::from([("volumes".into(), 2)])).await,
        Err(VolumeError::Invalid(m)) if m.contains("must be equal or greater")
    ));
    assert!(matches!(
        svc.update_quota(&admin, "p-alice", &QuotaSet::from([("bananas".into(), 2)])).await,
        Err(VolumeError::Invalid(m)) if m.contains("bananas")
    ));
    svc.update_quota(&admin, "p-alice", &QuotaSet::from([("per_volume_gigabytes".into(), 2)]))
        .await
        .expect("per-volume limit");
    assert!(matches!(
        svc.create_volume(
            &alice,
            NewVolume {
                size: Some(3),
                ..Default::default()
            }
        )
        .await,
        Err(VolumeError::OverQuota(m)) if m.contains("maximum allowed limit 2G")
    ));
    svc.delete_quota(&admin, "p-alice").await.expect("back to defaults");
    assert_eq!(svc.get_quota(&alice, "p-alice").await.expect("quota")["volumes"], 10);

    // Extends count against gigabytes while they run: two concurrent extends that together
    // pass the limit cannot both start.
    svc.update_quota(&admin, "p-alice", &QuotaSet::from([("gigabytes".into(), 6)]))
        .await
        .expect("gigabytes");
    let vols = svc
        .list_volumes(&alice, &VolumeFilter::default(), &Page::default())
        .await
        .expect("list");
    let (a, b) = (vols[0].id.clone(), vols[1].id.clone());
    let (r1, r2) = tokio::join!(svc.extend_volume(&alice, &a, 3), svc.extend_volume(&alice, &b, 3));
    assert!(r1.is_ok() != r2.is_ok(), "one extend of two fits: {r1:?} {r2:?}");
    svc.close().await;
    loc.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_hold_under_concurrency_on_sqlite() {
    quotas_hold_under_concurrency(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_hold_under_concurrency_on_postgres() {
    quotas_hold_under_concurrency(Backend::Postgres).await;
}

/// Updates, metadata, filters and paging, and an administrator's status reset.
async fn update_filter_and_reset(backend: Backend) {
    let loc = TestLocation::new(backend).await;
    let svc = open(&loc, Arc::new(Instant)).await;
    let admin = caller("p-admin", &["admin", "member", "reader"]);
    let alice = caller("p-alice", &["member", "reader"]);
    let mut ids = Vec::new();
    for i in 0..5 {
        let v = svc
            .create_volume(
                &alice,
                NewVolume {
                    size: Some(1),
                    name: Some(format!("v{i}")),
                    metadata: [("tier".to_string(), if i % 2 == 0 { "gold" } else { "tin" }.to_string())].into(),
                    ..Default::default()
                },
            )
            .await
            .expect("create");
        settle(&svc, &alice, &v.id, Status::Creating).await;
        ids.push(v.id);
    }
    let u = svc
        .update_volume(
            &alice,
            &ids[0],
            &VolumeUpdate {
                name: Some("renamed".into()),
                bootable: Some(true),
                ..Default::default()
            },
        )
        .await
        .expect("update");
    assert_eq!(
        (u.name.as_str(), u.bootable, u.metadata["tier"].as_str()),
        ("renamed", true, "gold")
    );
    assert!(matches!(
        svc.update_volume(
            &alice,
            &ids[0],
            &VolumeUpdate {
                name: Some("x".repeat(256)),
                ..Default::default()
            }
        )
        .await,
        Err(VolumeError::Invalid(_))
    ));
    let m = svc
        .set_metadata(
            &alice,
            &ids[0],
            [("owner".to_string(), "ops".to_string())].into(),
            false,
        )
        .await
        .expect("metadata");
    assert_eq!(m.len(), 2);
    svc.delete_metadata_key(&alice, &ids[0], "owner")
        .await
        .expect("delete key");
    assert!(matches!(
        svc.delete_metadata_key(&alice, &ids[0], "owner").await,
        Err(VolumeError::MetadataNotFound(..))
    ));

    let gold = VolumeFilter {
        metadata: [("tier".to_string(), "gold".to_string())].into(),
        ..Default::default()
    };
    assert_eq!(
        svc.list_volumes(&alice, &gold, &Page::default())
            .await
            .expect("gold")
            .len(),
        3
    );
    let by_name = VolumeFilter {
        name: Some("renamed".into()),
        ..Default::default()
    };
    assert_eq!(
        svc.list_volumes(&alice, &by_name, &Page::default())
            .await
            .expect("name")[0]
            .id,
        ids[0]
    );
    let bootable = VolumeFilter {
        bootable: Some(true),
        ..Default::default()
    };
    assert_eq!(
        svc.list_volumes(&alice, &bootable, &Page::default())
            .await
            .expect("bootable")
            .len(),
        1
    );
    // Pages of two, newest first, cover all five once.
    let mut seen = Vec::new();
    let mut marker = None;
    loop {
        let page = Page {
            limit: Some(2),
            marker: marker.clone(),
            sort: vec![("created_at", true)],
        };
        let mut got = svc
            .list_volumes(&alice, &VolumeFilter::default(), &page)
            .await
            .expect("page");
        let more = got.len() > 2;
        got.truncate(2);
        marker = got.last().map(|v| v.id.clone());
        seen.extend(got.into_iter().map(|v| v.id));
        if !more {
            break;
        }
    }
    let mut expected = ids.clone();
    expected.reverse();
    assert_eq!(seen, expected);

    assert!(
        svc.reset_status(&alice, &ids[1], Some("error"), None).await.is_err(),
        "admins only"
    );
    assert!(matches!(
        svc.reset_status(&admin, &ids[1], Some("sideways"), None).await,
        Err(VolumeError::Invalid(m)) if m.contains("sideways")
    ));
    let r = svc
        .reset_status(&admin, &ids[1], Some("error"), None)
        .await
        .expect("reset");
    assert_eq!(r.status, Status::Error);
    svc.close().await;
    loc.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_filter_and_reset_on_sqlite() {
    update_filter_and_reset(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_filter_and_reset_on_postgres() {
    update_filter_and_reset(Backend::Postgres).await;
}
