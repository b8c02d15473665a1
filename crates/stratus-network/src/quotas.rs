//! Quotas per project: defaults from the configuration, overrides set by an admin, checked
//! before a resource is created (409 OverQuota, as Neutron answers).

use std::collections::BTreeMap;

use stratus_api::AuthContext;

use crate::db;
use crate::error::{NetworkError, Result};
use crate::model::QUOTA_RESOURCES;
use crate::networks::target;
use crate::NetworkService;

/// Limits by resource name; -1 means unlimited.
pub type QuotaSet = BTreeMap<String, i64>;

impl NetworkService {
    async fn limits(&self, project_id: &str) -> Result<QuotaSet> {
        let overrides = db::quotas(self.db(), project_id).await?;
        Ok(self
            .config()
            .default_quotas
            .iter()
            .map(|(r, d)| (r.to_string(), overrides.get(*r).copied().unwrap_or(*d)))
            .collect())
    }

    /// The quota a create of `resource` must stay within, for the insert to check in its own
    /// transaction (see `db::gate`); None when the project has no limit on it.
    pub(crate) async fn quota_for(&self, project_id: &str, resource: &'static str) -> Result<Option<db::Within>> {
        let limit = self.limits(project_id).await?.get(resource).copied().unwrap_or(-1);
        Ok((limit >= 0).then(|| db::Within {
            resource,
            table: table_of(resource),
            limit,
        }))
    }

    pub async fn get_quota(&self, caller: &AuthContext, project_id: &str) -> Result<QuotaSet> {
        self.enforce("get_quota", caller, &target(project_id))?;
        self.limits(project_id).await
    }

    /// Limits with what the project uses, for `/quotas/{id}/details`.
    pub async fn quota_details(&self, caller: &AuthContext, project_id: &str) -> Result<BTreeMap<String, (i64, i64)>> {
        let limits = self.get_quota(caller, project_id).await?;
        let mut out = BTreeMap::new();
        for (resource, limit) in limits {
            let table = table_of(&resource);
            out.insert(resource, (limit, db::count(self.db(), table, project_id).await?));
        }
        Ok(out)
    }

    /// Sets limits; with `check_limit`, a limit below what the project already uses is refused.
    pub async fn update_quota(
        &self,
        caller: &AuthContext,
        project_id: &str,
        changes: &QuotaSet,
        check_limit: bool,
    ) -> Result<QuotaSet> {
        self.enforce("update_quota", caller, &target(project_id))?;
        for (resource, limit) in changes {
            if !QUOTA_RESOURCES.contains(&resource.as_str()) {
                return Err(NetworkError::invalid(format!(
                    "Unrecognized quota resource '{resource}'; known: {}",
                    QUOTA_RESOURCES.join(", ")
                )));
            }
            if *limit < -1 {
                return Err(NetworkError::invalid(format!(
                    "'{limit}' is not a valid quota: -1 or more"
                )));
            }
            if check_limit && *limit >= 0 {
                let used = db::count(self.db(), table_of(resource), project_id).await?;
                if used > *limit {
                    return Err(NetworkError::invalid_as(
                        "InvalidQuotaValue",
                        format!("Change would make usage less than 0 for the following resources: ['{resource}'] (used {used}, limit {limit})."),
                    ));
                }
            }
        }
        let all: Vec<(&str, i64)> = changes.iter().map(|(r, l)| (r.as_str(), *l)).collect();
        db::set_quotas(self.db(), project_id, &all).await?;
        self.limits(project_id).await
    }

    /// The projects whose limits were set, each with all its limits (Neutron's `GET /quotas`:
    /// administrators only, whatever the policy file says, as in Neutron).
    pub async fn list_quotas(&self, caller: &AuthContext) -> Result<Vec<(String, QuotaSet)>> {
        if !crate::is_admin(caller) {
            return Err(NetworkError::Denied("Only admin can view or configure quota".into()));
        }
        let mut out = Vec::new();
        for project in db::quota_projects(self.db()).await? {
            let limits = self.limits(&project).await?;
            out.push((project, limits));
        }
        Ok(out)
    }

    pub async fn reset_quota(&self, caller: &AuthContext, project_id: &str) -> Result<()> {
        self.enforce("delete_quota", caller, &target(project_id))?;
        db::delete_quotas(self.db(), project_id).await?;
        Ok(())
    }
}

/// Neutron's answer to a create over quota (409 OverQuota).
pub(crate) fn over_quota(resource: &str) -> NetworkError {
    NetworkError::conflict("OverQuota", format!("Quota exceeded for resources: ['{resource}']."))
}

impl From<db::OverQuota> for NetworkError {
    fn from(o: db::OverQuota) -> Self {
        over_quota(o.0)
    }
}

fn table_of(resource: &str) -> &'static str {
    match resource {
        "network" => "networks",
        "subnet" => "subnets",
        "port" => "ports",
        "security_group" => "security_groups",
        _ => "security_group_rules",
    }
}
