//! Keypairs on both stores: imported keys are kept exactly as given (trailing newline
//! included), generated ones come with their private key once, a name is a user's once, and
//! administrators act for other users while users cannot.

use stratus_api::policy::Policy;
use stratus_api::testing::caller;
use stratus_compute::{ComputeConfig, ComputeError, ComputeService, KeyType, NewKeypair};
use stratus_store::testing::TestLocation;
use stratus_store::Backend;

/// `ssh-keygen -t ecdsa -b 384`: the kind of key tempest sends.
const P384: &str = "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBKu1FLz4ex+NZR98nMUqjgNkLRzu/J0z9dHSWTNAQ/Wwms1crDauSCAR4IHk6zWMT1MSdzmgziLJQi12ZEQEbYWvfx6cDIh3fdxtUau3DWQCrEiUO10mvzui5NCSfb44yA== p384@stratus";

async fn open(loc: &TestLocation) -> ComputeService {
    open_with(loc, ComputeConfig::default()).await
}

async fn open_with(loc: &TestLocation, cfg: ComputeConfig) -> ComputeService {
    let policy = Policy::load(stratus_compute::DEFAULT_POLICY, None).expect("policy");
    ComputeService::open(&loc.location, cfg, policy).await.expect("open")
}

fn new<'a>(name: &'a str, key_type: KeyType, public_key: Option<&'a str>) -> NewKeypair<'a> {
    NewKeypair {
        name,
        key_type,
        public_key,
        user_id: None,
    }
}

async fn keypairs(backend: Backend) {
    let loc = TestLocation::new(backend).await;
    let svc = open(&loc).await;
    let dora = caller("p-dora", &["member", "reader"]);
    let admin = caller("p-admin", &["admin", "member", "reader"]);

    // Imported: stored and shown exactly as given.
    let given = format!("{P384}\n");
    let k = svc
        .create_keypair(&dora, new("laptop", KeyType::Ssh, Some(&given)))
        .await
        .expect("import");
    assert_eq!(k.keypair.public_key, given);
    assert_eq!(k.keypair.fingerprint, "db:e3:b9:57:c7:64:8f:23:e5:c5:0f:02:24:52:e0:2d");
    assert_eq!(k.keypair.key_type, "ssh");
    assert!(k.private_key.is_none());
    let shown = svc.get_keypair(&dora, "laptop", None).await.expect("show");
    assert_eq!(shown, k.keypair);
    let listed = svc.list_keypairs(&dora, None, None, None).await.expect("list");
    assert_eq!(listed, [k.keypair.clone()]);

    // A name is the user's once, imported or generated.
    for pk in [Some(given.as_str()), None] {
        match svc.create_keypair(&dora, new("laptop", KeyType::Ssh, pk)).await {
            Err(ComputeError::Conflict(m)) => assert_eq!(m, "Key pair 'laptop' already exists."),
            other => panic!("duplicate {pk:?}: {other:?}"),
        }
    }

    // Generated: an RSA key, its private half returned and not kept.
    let g = svc
        .create_keypair(&dora, new("made", KeyType::Ssh, None))
        .await
        .expect("generate");
    let private_key = g.private_key.expect("private key");
    assert!(
        private_key.starts_with("-----BEGIN RSA PRIVATE KEY-----"),
        "{private_key}"
    );
    assert!(g.keypair.public_key.ends_with(" Generated-by-Nova"));
    let shown = svc.get_keypair(&dora, "made", None).await.expect("show made");
    assert_eq!(shown.public_key, g.keypair.public_key);
    assert_eq!(shown.fingerprint, g.keypair.fingerprint);

    // x509: generated for the owner, and importable as a certificate (not as an SSH key).
    let x = svc
        .create_keypair(&dora, new("cert", KeyType::X509, None))
        .await
        .expect("generate x509");
    assert_eq!(x.keypair.key_type, "x509");
    assert!(x.keypair.public_key.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(x.private_key.is_some_and(|p| !p.is_empty()));
    let again = svc
        .create_keypair(&dora, new("cert-again", KeyType::X509, Some(&x.keypair.public_key)))
        .await
        .expect("import x509");
    assert_eq!(again.keypair.fingerprint, x.keypair.fingerprint);
    assert_eq!(again.keypair.fingerprint.len(), 59, "SHA-1, colon-separated");
    for (kind, pk) in [(KeyType::Ssh, x.keypair.public_key.as_str()), (KeyType::X509, P384)] {
        match svc.create_keypair(&dora, new("wrong-kind", kind, Some(pk))).await {
            Err(ComputeError::Invalid(m)) => assert!(m.starts_with("Keypair data is invalid: "), "{m}"),
            other => panic!("{kind:?}: {other:?}"),
        }
    }

    // Names: Nova's characters, 1 to 255 of them.
    for bad in ["", "a/b", "k\u{0}", " lead", &"x".repeat(256)] {
        match svc.create_keypair(&dora, new(bad, KeyType::Ssh, Some(P384))).await {
            Err(ComputeError::Invalid(m)) => assert!(m.starts_with("Keypair data is invalid: Keypair name"), "{m}"),
            other => panic!("{bad:?}: {other:?}"),
        }
    }

    // Administrators act for another user (2.10); users only for themselves.
    let for_dora = NewKeypair {
        user_id: Some(&dora.user_id),
        ..new("from-admin", KeyType::Ssh, Some(P384))
    };
    let k = svc.create_keypair(&admin, for_dora).await.expect("admin for dora");
    assert_eq!(k.keypair.user_id, dora.user_id);
    assert!(svc.get_keypair(&dora, "from-admin", None).await.is_ok());
    assert!(
        svc.get_keypair(&admin, "from-admin", None).await.is_err(),
        "not the admin's own"
    );
    let names: Vec<String> = svc
        .list_keypairs(&admin, Some(&dora.user_id), None, None)
        .await
        .expect("admin lists dora's")
        .into_iter()
        .map(|k| k.name)
        .collect();
    assert_eq!(names, ["cert", "cert-again", "from-admin", "laptop", "made"]);
    let for_admin = NewKeypair {
        user_id: Some(&admin.user_id),
        ..new("sneaky", KeyType::Ssh, Some(P384))
    };
    assert!(matches!(
        svc.create_keypair(&dora, for_admin).await,
        Err(ComputeError::Denied(_))
    ));

    svc.close().await;
    loc.cleanup().await;
}

/// The `key_pairs` quota holds for generated keys as for imported ones.
async fn quota(backend: Backend) {
    let loc = TestLocation::new(backend).await;
    let svc = open_with(
        &loc,
        ComputeConfig {
            quota_key_pairs: 1,
            ..Default::default()
        },
    )
    .await;
    let dora = caller("p-dora", &["member", "reader"]);
    svc.create_keypair(&dora, new("one", KeyType::Ssh, Some(P384)))
        .await
        .expect("the one allowed");
    for pk in [Some(P384), None] {
        match svc.create_keypair(&dora, new("two", KeyType::Ssh, pk)).await {
            Err(ComputeError::OverQuota(m)) => assert!(m.starts_with("Quota exceeded, too many key pairs"), "{m}"),
            other => panic!("{pk:?}: {other:?}"),
        }
    }
    svc.close().await;
    loc.cleanup().await;
}

#[tokio::test]
async fn quota_on_sqlite() {
    quota(Backend::Sqlite).await;
}

#[tokio::test]
async fn quota_on_postgres() {
    quota(Backend::Postgres).await;
}

#[tokio::test]
async fn keypairs_on_sqlite() {
    keypairs(Backend::Sqlite).await;
}

#[tokio::test]
async fn keypairs_on_postgres() {
    keypairs(Backend::Postgres).await;
}
