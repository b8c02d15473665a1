//! Unified limits (`/v3/registered_limits`, `/v3/limits`): the default limit of each resource
//! a service counts, and the limits projects and domains are given instead, in Keystone's
//! flat model (no checks along the project tree). Identity keeps them; services read them.

use serde::Deserialize;
use stratus_api::{AuthContext, Scope, Target};

use crate::error::{on_conflict, IdentityError, Result};
use crate::model::{Limit, RegisteredLimit};
use crate::store;
use crate::{new_id, IdentityService};

const MAX_LIMIT: i64 = 2_147_483_647;

/// A field that may be absent, null or a value (`Some(None)` is an explicit null).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> std::result::Result<Option<Option<T>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisteredLimitInput {
    pub service_id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub region_id: Option<Option<String>>,
    pub resource_name: Option<String>,
    pub default_limit: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    pub description: Option<Option<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitInput {
    pub service_id: Option<String>,
    pub region_id: Option<String>,
    pub resource_name: Option<String>,
    pub resource_limit: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    pub description: Option<Option<String>>,
    pub project_id: Option<String>,
    pub domain_id: Option<String>,
}

fn required<T>(v: Option<T>, what: &str, field: &str) -> Result<T> {
    v.ok_or_else(|| IdentityError::Validation(format!("Invalid input for field '{what}.{field}': the field is required.")))
}

fn check_amount(what: &str, field: &str, n: i64) -> Result<()> {
    if !(-1..=MAX_LIMIT).contains(&n) {
        return Err(IdentityError::Validation(format!(
            "Invalid input for field '{what}.{field}': {n} is not between -1 and {MAX_LIMIT}."
        )));
    }
    Ok(())
}

fn check_resource_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty() || name.chars().count() > 255 {
        return Err(IdentityError::Validation(format!(
            "Invalid input for field '{what}.resource_name': 1 to 255 characters."
        )));
    }
    Ok(())
}

impl IdentityService {
    async fn check_service_and_region(&self, what: &str, service_id: &str, region_id: Option<&str>) -> Result<()> {
        if store::get_service(self.db(), service_id).await?.is_none() {
            return Err(IdentityError::Validation(format!(
                "Invalid input for field '{what}.service_id': service {service_id} does not exist."
            )));
        }
        if let Some(r) = region_id {
            if store::get_region(self.db(), r).await?.is_none() {
                return Err(IdentityError::Validation(format!(
                    "Invalid input for field '{what}.region_id': region {r} does not exist."
                )));
            }
        }
        Ok(())
    }

    pub async fn create_registered_limits(&self, caller: &AuthContext, inputs: Vec<RegisteredLimitInput>) -> Result<Vec<RegisteredLimit>> {
        self.enforce("identity:create_registered_limits", caller, &Target::new())?;
        if inputs.is_empty() {
            return Err(IdentityError::Validation("Invalid input for field 'registered_limits': at least one is required.".into()));
        }
        let mut out = Vec::new();
        for i in inputs {
            let service_id = required(i.service_id, "registered_limit", "service_id")?;
            let resource_name = required(i.resource_name, "registered_limit", "resource_name")?;
            let default_limit = required(i.default_limit, "registered_limit", "default_limit")?;
            check_resource_name("registered_limit", &resource_name)?;
            check_amount("registered_limit", "default_limit", default_limit)?;
            let region_id = i.region_id.flatten();
            self.check_service_and_region("registered_limit", &service_id, region_id.as_deref()).await?;
            out.push(RegisteredLimit {
                id: new_id(),
                service_id,
                region_id,
                resource_name,
                default_limit,
                description: i.description.flatten(),
            });
        }
        store::insert_registered_limits(self.db(), &out)
            .await
            .map_err(on_conflict(|| "Duplicate entry: a registered limit of that service, region and resource exists.".into()))?;
        Ok(out)
    }

    pub async fn list_registered_limits(
        &self,
        caller: &AuthContext,
        service_id: Option<&str>,
        region_id: Option<&str>,
        resource_name: Option<&str>,
    ) -> Result<Vec<RegisteredLimit>> {
        self.enforce("identity:list_registered_limits", caller, &Target::new())?;
        Ok(store::list_registered_limits(self.db(), service_id, region_id, resource_name).await?)
    }

    async fn registered_row(&self, id: &str) -> Result<RegisteredLimit> {
        store::get_registered_limit(self.db(), id)
            .await?
            .ok_or_else(|| IdentityError::not_found("registered limit", id))
    }

    pub async fn get_registered_limit(&self, caller: &AuthContext, id: &str) -> Result<RegisteredLimit> {
        self.enforce("identity:get_registered_limit", caller, &Target::new())?;
        self.registered_row(id).await
    }

    /// Changes a registered limit; what limits are counted against (service, region,
    /// resource) cannot change while limits refer to it.
    pub async fn update_registered_limit(&self, caller: &AuthContext, id: &str, i: RegisteredLimitInput) -> Result<RegisteredLimit> {
        self.enforce("identity:update_registered_limit", caller, &Target::new())?;
        let mut r = self.registered_row(id).await?;
        let before = r.clone();
        if let Some(s) = i.service_id {
            r.service_id = s;
        }
        if let Some(reg) = i.region_id {
            r.region_id = reg;
        }
        if let Some(n) = i.resource_name {
            check_resource_name("registered_limit", &n)?;
            r.resource_name = n;
        }
        if let Some(d) = i.default_limit {
            check_amount("registered_limit", "default_limit", d)?;
            r.default_limit = d;
        }
        if let Some(d) = i.description {
            r.description = d;
        }
        self.check_service_and_region("registered_limit", &r.service_id, r.region_id.as_deref()).await?;
        let rekeyed = r.service_id != before.service_id || r.region_id != before.region_id || r.resource_name != before.resource_name;
        if rekeyed && store::registered_limit_in_use(self.db(), id).await? {
            return Err(IdentityError::Denied(format!(
                "Unable to update registered limit {id}: project or domain limits refer to it."
            )));
        }
        store::update_registered_limit(self.db(), &r)
            .await
            .map_err(on_conflict(|| "Duplicate entry: a registered limit of that service, region and resource exists.".into()))?;
        Ok(r)
    }

    pub async fn delete_registered_limit(&self, caller: &AuthContext, id: &str) -> Result<()> {
        self.enforce("identity:delete_registered_limit", caller, &Target::new())?;
        self.registered_row(id).await?;
        if store::registered_limit_in_use(self.db(), id).await? {
            return Err(IdentityError::Denied(format!(
                "Unable to delete registered limit {id}: project or domain limits refer to it."
            )));
        }
        store::delete_registered_limit(self.db(), id).await?;
        Ok(())
    }

    pub async fn create_limits(&self, caller: &AuthContext, inputs: Vec<LimitInput>) -> Result<Vec<Limit>> {
        self.enforce("identity:create_limits", caller, &Target::new())?;
        if inputs.is_empty() {
            return Err(IdentityError::Validation("Invalid input for field 'limits': at least one is required.".into()));
        }
        let mut out = Vec::new();
        for i in inputs {
            let service_id = required(i.service_id, "limit", "service_id")?;
            let resource_name = required(i.resource_name, "limit", "resource_name")?;
            let resource_limit = required(i.resource_limit, "limit", "resource_limit")?;
            check_resource_name("limit", &resource_name)?;
            check_amount("limit", "resource_limit", resource_limit)?;
            self.check_service_and_region("limit", &service_id, i.region_id.as_deref()).await?;
            // A project acting as a domain is the domain.
            let (project_id, domain_id) = match (i.project_id, i.domain_id) {
                (Some(p), None) => {
                    if store::get_project(self.db(), &p).await?.is_some() {
                        (Some(p), None)
                    } else if store::get_domain(self.db(), &p).await?.is_some() {
                        (None, Some(p))
                    } else {
                        return Err(IdentityError::Validation(format!(
                            "Invalid input for field 'limit.project_id': project {p} does not exist."
                        )));
                    }
                }
                (None, Some(d)) => {
                    if store::get_domain(self.db(), &d).await?.is_none() {
                        return Err(IdentityError::Validation(format!(
                            "Invalid input for field 'limit.domain_id': domain {d} does not exist."
                        )));
                    }
                    (None, Some(d))
                }
                _ => {
                    return Err(IdentityError::Validation(
                        "Invalid input for field 'limit': give exactly one of project_id and domain_id.".into(),
                    ))
                }
            };
            let reg = store::find_registered_limit(self.db(), &service_id, i.region_id.as_deref(), &resource_name)
                .await?
                .ok_or_else(|| {
                    IdentityError::Denied(format!(
                        "No registered limit of resource {resource_name} of service {service_id} in that region: register one first."
                    ))
                })?;
            out.push(Limit {
                id: new_id(),
                registered_limit_id: reg.id,
                service_id,
                region_id: i.region_id,
                resource_name,
                project_id,
                domain_id,
                resource_limit,
                description: i.description.flatten(),
            });
        }
        store::insert_limits(self.db(), &out)
            .await
            .map_err(on_conflict(|| "Duplicate entry: that project or domain already has a limit of that resource.".into()))?;
        Ok(out)
    }

    /// The limits the caller may see: all for administrators, a domain's and its projects'
    /// for a domain-scoped token, the project's own for a project-scoped one.
    pub async fn list_limits(&self, caller: &AuthContext, f: &LimitFilter) -> Result<Vec<Limit>> {
        self.enforce("identity:list_limits", caller, &Target::new())?;
        // Those who may change any limit see them all.
        let admin = self.enforce("identity:update_limit", caller, &Target::new()).is_ok();
        let mut out = Vec::new();
        for l in store::list_limits(self.db()).await? {
            let visible = admin
                || match &caller.scope {
                    Scope::Project { id, .. } => l.project_id.as_deref() == Some(id),
                    Scope::Domain { id, .. } => {
                        l.domain_id.as_deref() == Some(id)
                            || match &l.project_id {
                                Some(p) => store::get_project(self.db(), p).await?.is_some_and(|p| &p.domain_id == id),
                                None => false,
                            }
                    }
                    _ => false,
                };
            let wanted = f.service_id.as_deref().is_none_or(|s| s == l.service_id)
                && f.region_id.as_deref().is_none_or(|r| Some(r) == l.region_id.as_deref())
                && f.resource_name.as_deref().is_none_or(|r| r == l.resource_name)
                && f.project_id.as_deref().is_none_or(|p| Some(p) == l.project_id.as_deref())
                && f.domain_id.as_deref().is_none_or(|d| Some(d) == l.domain_id.as_deref());
            if visible && wanted {
                out.push(l);
            }
        }
        Ok(out)
    }

    async fn limit_row(&self, id: &str) -> Result<Limit> {
        store::get_limit(self.db(), id).await?.ok_or_else(|| IdentityError::not_found("limit", id))
    }

    pub async fn get_limit(&self, caller: &AuthContext, id: &str) -> Result<Limit> {
        let l = self.limit_row(id).await?;
        // A project's limit is also its domain's to read, with a token scoped to the domain
        // (a project-scoped token names its project's domain too, and must not count).
        let project_domain = match (&l.project_id, &caller.scope) {
            (Some(p), Scope::Domain { .. }) => store::get_project(self.db(), p).await?.map(|p| p.domain_id),
            _ => None,
        };
        let own_domain = l.domain_id.as_deref().filter(|_| matches!(caller.scope, Scope::Domain { .. }));
        self.enforce(
            "identity:get_limit",
            caller,
            &Target::new()
                .opt("target.limit.project_id", l.project_id.as_deref())
                .opt("target.limit.domain_id", own_domain.or(project_domain.as_deref())),
        )?;
        Ok(l)
    }

    pub async fn update_limit(
        &self,
        caller: &AuthContext,
        id: &str,
        resource_limit: Option<i64>,
        description: Option<Option<String>>,
    ) -> Result<Limit> {
        self.enforce("identity:update_limit", caller, &Target::new())?;
        let mut l = self.limit_row(id).await?;
        if let Some(n) = resource_limit {
            check_amount("limit", "resource_limit", n)?;
            l.resource_limit = n;
        }
        if let Some(d) = description {
            l.description = d;
        }
        store::update_limit(self.db(), id, l.resource_limit, l.description.clone()).await?;
        Ok(l)
    }

    pub async fn delete_limit(&self, caller: &AuthContext, id: &str) -> Result<()> {
        self.enforce("identity:delete_limit", caller, &Target::new())?;
        if !store::delete_limit(self.db(), id).await? {
            return Err(IdentityError::not_found("limit", id));
        }
        Ok(())
    }

    pub async fn limit_model(&self, caller: &AuthContext) -> Result<()> {
        self.enforce("identity:get_limit_model", caller, &Target::new())
    }
}

/// The filters of `GET /limits`.
#[derive(Debug, Clone, Default)]
pub struct LimitFilter {
    pub service_id: Option<String>,
    pub region_id: Option<String>,
    pub resource_name: Option<String>,
    pub project_id: Option<String>,
    pub domain_id: Option<String>,
}
