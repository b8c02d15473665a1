//! Identity's service on both stores: bootstrap, authenticate, validate, revoke, and the effect
//! of assignments through groups and implied roles. Each test has its own database.

use std::time::Duration;

use stratus_api::policy::Policy;
use stratus_identity::model::{GroupInput, ProjectInput, UserInput};
use stratus_identity::{AuthRequest, Bootstrap, CatalogService, IdentityConfig, IdentityService, ServiceUser};
use stratus_store::testing::TestLocation;
use stratus_store::Backend;

async fn service(loc: &TestLocation, keys: &std::path::Path) -> IdentityService {
    let mut cfg = IdentityConfig::new(keys.to_owned(), "http://127.0.0.1:1".into());
    cfg.password_hash_rounds = 4;
    cfg.cache_ttl = Duration::from_millis(0);
    let policy = Policy::load(stratus_identity::DEFAULT_POLICY, None).expect("policy");
    IdentityService::open(&loc.location, cfg, policy)
        .await
        .expect("open identity")
}

fn password(user: &str, pw: &str, project: Option<&str>) -> AuthRequest {
    let mut v = serde_json::json!({"auth": {"identity": {"methods": ["password"],
        "password": {"user": {"name": user, "domain": {"id": "default"}, "password": pw}}}}});
    if let Some(p) = project {
        v["auth"]["scope"] = serde_json::json!({"project": {"name": p, "domain": {"id": "default"}}});
    }
    serde_json::from_value(v).expect("auth request")
}

async fn lifecycle(backend: Backend) {
    let loc = TestLocation::new(backend).await;
    let keys = tempfile::tempdir().expect("tmp");
    let svc = service(&loc, keys.path()).await;
    let boot = Bootstrap {
        admin_password: "s3cret".into(),
        region: "RegionOne".into(),
        services: vec![CatalogService {
            service_type: "identity".into(),
            name: "keystone".into(),
            url: "http://h/identity".into(),
        }],
        service_user: Some(ServiceUser {
            name: "compute".into(),
            password: "svc-pw".into(),
        }),
    };
    assert!(svc.bootstrap(&boot).await.expect("bootstrap").created_admin);
    assert!(
        !svc.bootstrap(&boot).await.expect("again").created_admin,
        "bootstrap twice creates nothing"
    );

    let admin = svc
        .authenticate(password("admin", "s3cret", Some("admin")))
        .await
        .expect("admin token");
    let names: Vec<_> = admin.data.ctx.roles.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        ["admin", "member", "reader"],
        "admin implies member implies reader"
    );
    // The compute services' user acts as admin and service on the service project.
    let su = svc
        .authenticate(password("compute", "svc-pw", Some("service")))
        .await
        .expect("service user token");
    let mut names: Vec<_> = su.data.ctx.roles.iter().map(|r| r.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["admin", "member", "reader", "service"]);
    let ctx = svc.validate(&admin.token).await.expect("valid").ctx;
    assert_eq!(ctx.user_name, "admin");
    assert_eq!(svc.catalog(None).await.expect("catalog")[0].endpoints.len(), 3);

    // A role through a group, and its implied roles.
    let p = svc
        .create_project(
            &ctx,
            ProjectInput {
                name: Some("web".into()),
                ..Default::default()
            },
        )
        .await
        .expect("project");
    let u = svc
        .create_user(
            &ctx,
            UserInput {
                name: Some("dana".into()),
                password: Some("pw".into()),
                ..Default::default()
            },
        )
        .await
        .expect("user");
    let g = svc
        .create_group(
            &ctx,
            GroupInput {
                name: Some("devs".into()),
                ..Default::default()
            },
        )
        .await
        .expect("group");
    svc.add_user_to_group(&ctx, &g.id, &u.id).await.expect("member");
    assert!(
        svc.authenticate(password("dana", "pw", Some("web"))).await.is_err(),
        "no role yet"
    );
    let member = svc
        .list_roles(
            &ctx,
            stratus_identity::ListFilter {
                name: Some("member".into()),
                ..Default::default()
            },
            &Default::default(),
        )
        .await
        .expect("roles")
        .remove(0);
    let grant = stratus_identity::model::Assignment::new(
        stratus_identity::model::ActorKind::Group,
        g.id.clone(),
        stratus_identity::model::TargetKind::Project,
        p.id.clone(),
        member.id.clone(),
    );
    svc.create_grant(&ctx, grant.clone()).await.expect("grant");
    let dana = svc
        .authenticate(password("dana", "pw", Some("web")))
        .await
        .expect("dana token");
    let names: Vec<_> = dana.data.ctx.roles.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["member", "reader"]);

    // Removing the group's role revokes dana's token; revoking a token refuses it.
    svc.revoke_grant(&ctx, grant).await.expect("revoke grant");
    assert!(svc.validate(&dana.token).await.is_err());
    let again = svc
        .authenticate(password("admin", "s3cret", Some("admin")))
        .await
        .expect("admin");
    svc.revoke_token(&ctx, &again.token).await.expect("revoke");
    assert!(svc.validate(&again.token).await.is_err());
    assert!(svc.validate(&admin.token).await.is_ok(), "other tokens stand");

    // A token made by one node validates on another sharing the keys and the store.
    let other = service(&loc, keys.path()).await;
    assert_eq!(
        other.validate(&admin.token).await.expect("other node").ctx.user_id,
        ctx.user_id
    );
    assert!(
        other.validate(&again.token).await.is_err(),
        "revocations are seen by every node"
    );

    svc.close().await;
    other.close().await;
    loc.cleanup().await;
}

#[tokio::test]
async fn identity_lifecycle_on_sqlite() {
    lifecycle(Backend::Sqlite).await;
}

#[tokio::test]
async fn identity_lifecycle_on_postgres() {
    lifecycle(Backend::Postgres).await;
}
