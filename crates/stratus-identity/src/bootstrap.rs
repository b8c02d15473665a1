//! First-start bootstrap, as `keystone-manage bootstrap` does it: the Default domain, the admin
//! project and user, the admin / member / reader roles with their implications, a region and
//! the catalog. Every step checks before it creates, so running it again creates nothing twice;
//! catalog URLs follow the current configuration.

use stratus_api::pagination::PageRequest;

use crate::error::Result;
use crate::model::{ActorKind, Assignment, Domain, Endpoint, Project, Region, Role, Service, TargetKind, User};
use crate::store::{self, Filters, Val};
use crate::{new_id, IdentityService};

pub const DEFAULT_DOMAIN_ID: &str = "default";

/// A service to list in the catalog.
#[derive(Debug, Clone)]
pub struct CatalogService {
    pub service_type: String,
    pub name: String,
    pub url: String,
}

#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub admin_password: String,
    pub region: String,
    pub services: Vec<CatalogService>,
    /// The user the compute services act as where the caller's token does not reach (binding
    /// a port to a host, marking it active), as Nova's `[neutron]` credentials: it holds the
    /// admin and service roles on the `service` project.
    pub service_user: Option<ServiceUser>,
}

#[derive(Debug, Clone)]
pub struct ServiceUser {
    pub name: String,
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapReport {
    /// Whether the admin user was created now (a first start).
    pub created_admin: bool,
}

impl IdentityService {
    pub async fn bootstrap(&self, b: &Bootstrap) -> Result<BootstrapReport> {
        let db = self.db();
        if store::get_domain(db, DEFAULT_DOMAIN_ID).await?.is_none() {
            store::insert_domain(
                db,
                &Domain {
                    id: DEFAULT_DOMAIN_ID.into(),
                    name: "Default".into(),
                    description: "The default domain".into(),
                    enabled: true,
                    extra: Default::default(),
                },
            )
            .await?;
        }
        let project = match store::get_project_by_name(db, DEFAULT_DOMAIN_ID, "admin").await? {
            Some(p) => p,
            None => {
                let p = Project {
                    is_domain: false,
                    id: new_id(),
                    name: "admin".into(),
                    domain_id: DEFAULT_DOMAIN_ID.into(),
                    parent_id: None,
                    description: "Bootstrap project for initializing the cloud.".into(),
                    enabled: true,
                    tags: vec![],
                    extra: Default::default(),
                };
                store::insert_project(db, &p).await?;
                p
            }
        };
        let mut created_admin = false;
        let user = match store::get_user_by_name(db, DEFAULT_DOMAIN_ID, "admin").await? {
            Some(u) => u,
            None => {
                let u = User {
                    password_expires_at: None,
                    options: Default::default(),
                    id: new_id(),
                    name: "admin".into(),
                    domain_id: DEFAULT_DOMAIN_ID.into(),
                    enabled: true,
                    default_project_id: Some(project.id.clone()),
                    description: None,
                    email: None,
                    extra: Default::default(),
                };
                let hash = self.hash_secret(&b.admin_password).await?;
                store::insert_user(db, &u, Some(hash)).await?;
                created_admin = true;
                u
            }
        };
        let mut role_ids = vec![];
        for name in ["admin", "member", "reader", "service"] {
            let r = match store::get_role_by_name(db, name).await? {
                Some(r) => r,
                None => {
                    let r = Role {
                        id: new_id(),
                        name: name.into(),
                        description: String::new(),
                        domain_id: None,
                        extra: Default::default(),
                    };
                    store::insert_role(db, &r).await?;
                    r
                }
            };
            role_ids.push(r.id);
        }
        // admin implies member implies reader.
        store::add_implied_role(db, &role_ids[0], &role_ids[1]).await?;
        store::add_implied_role(db, &role_ids[1], &role_ids[2]).await?;
        for (kind, target) in [
            (TargetKind::Project, project.id.as_str()),
            (TargetKind::System, crate::model::SYSTEM_ALL),
        ] {
            store::grant(
                db,
                &Assignment {
                    actor_kind: ActorKind::User,
                    actor_id: user.id.clone(),
                    target_kind: kind,
                    target_id: target.to_owned(),
                    role_id: role_ids[0].clone(),
                    via_group: None,
                    inherited: false,
                    inherited_from: None,
                },
            )
            .await?;
        }
        if let Some(su) = &b.service_user {
            self.ensure_service_user(su, &role_ids).await?;
        }
        if store::get_region(db, &b.region).await?.is_none() {
            store::insert_region(
                db,
                &Region {
                    id: b.region.clone(),
                    description: String::new(),
                    parent_region_id: None,
                    extra: Default::default(),
                },
            )
            .await?;
        }
        for s in &b.services {
            self.ensure_catalog_entry(s, &b.region).await?;
        }
        self.changed();
        Ok(BootstrapReport { created_admin })
    }

    /// `role_ids` are those of admin, member, reader and service, in that order. A user that
    /// exists keeps its password: the operator may have changed it.
    async fn ensure_service_user(&self, su: &ServiceUser, role_ids: &[String]) -> Result<()> {
        let db = self.db();
        let project = match store::get_project_by_name(db, DEFAULT_DOMAIN_ID, "service").await? {
            Some(p) => p,
            None => {
                let p = Project {
                    is_domain: false,
                    id: new_id(),
                    name: "service".into(),
                    domain_id: DEFAULT_DOMAIN_ID.into(),
                    parent_id: None,
                    description: "The project of the cloud's own service users.".into(),
                    enabled: true,
                    tags: vec![],
                    extra: Default::default(),
                };
                store::insert_project(db, &p).await?;
                p
            }
        };
        let user = match store::get_user_by_name(db, DEFAULT_DOMAIN_ID, &su.name).await? {
            Some(u) => u,
            None => {
                let u = User {
                    password_expires_at: None,
                    options: Default::default(),
                    id: new_id(),
                    name: su.name.clone(),
                    domain_id: DEFAULT_DOMAIN_ID.into(),
                    enabled: true,
                    default_project_id: Some(project.id.clone()),
                    description: Some("The compute services' own user".into()),
                    email: None,
                    extra: Default::default(),
                };
                let hash = self.hash_secret(&su.password).await?;
                store::insert_user(db, &u, Some(hash)).await?;
                u
            }
        };
        for role_id in [&role_ids[0], &role_ids[3]] {
            store::grant(
                db,
                &Assignment {
                    actor_kind: ActorKind::User,
                    actor_id: user.id.clone(),
                    target_kind: TargetKind::Project,
                    target_id: project.id.clone(),
                    role_id: role_id.clone(),
                    via_group: None,
                    inherited: false,
                    inherited_from: None,
                },
            )
            .await?;
        }
        Ok(())
    }

    async fn ensure_catalog_entry(&self, s: &CatalogService, region: &str) -> Result<()> {
        let db = self.db();
        let all = PageRequest::default();
        let mut f = Filters::new();
        f.eq("type", Some(&s.service_type));
        let service = match store::list_services(db, f, &all).await?.into_iter().next() {
            Some(svc) => svc,
            None => {
                let svc = Service {
                    id: new_id(),
                    service_type: s.service_type.clone(),
                    name: s.name.clone(),
                    description: String::new(),
                    enabled: true,
                    extra: Default::default(),
                };
                store::insert_service(db, &svc).await?;
                svc
            }
        };
        for interface in ["public", "internal", "admin"] {
            let mut f = Filters::new();
            f.eq("service_id", Some(&service.id)).eq("interface", Some(interface));
            match store::list_endpoints(db, f, &all).await?.into_iter().next() {
                Some(e) if e.url == s.url => {}
                Some(e) => {
                    store::update(db, "endpoints", &e.id, vec![("url", Val::S(s.url.clone()))]).await?;
                }
                None => {
                    store::insert_endpoint(
                        db,
                        &Endpoint {
                            id: new_id(),
                            service_id: service.id.clone(),
                            interface: interface.into(),
                            region_id: Some(region.to_owned()),
                            url: s.url.clone(),
                            enabled: true,
                            extra: Default::default(),
                        },
                    )
                    .await?;
                }
            }
        }
        Ok(())
    }

    /// Whether bootstrap has run on this store.
    pub async fn is_bootstrapped(&self) -> Result<bool> {
        Ok(store::count(self.db(), "users").await? > 0)
    }
}
