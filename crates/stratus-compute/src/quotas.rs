//! Nova's quotas: every resource Nova's quota sets carry, their defaults from the `default`
//! quota class (configured values until an administrator changes the class), a project's
//! overrides, and a user's overrides within a project.
//!
//! Instances, cores and RAM are checked against the project's and the user's limits at
//! create, in the insert's transaction (`instances_db::insert_within_quota`); key pairs per
//! user, server groups per project and members per group likewise. The network resources
//! Nova still lists before 2.36 (floating and fixed IPs, security groups and rules) are kept
//! and shown as Nova does, but the Network service enforces its own.

use std::collections::BTreeMap;

use stratus_api::{AuthContext, Target};

use crate::instances_db as idb;
use crate::service::{ComputeError, ComputeService, Result};

/// Every resource a Nova quota set has, with Nova's default.
pub const QUOTA_RESOURCES: [(&str, i64); 14] = [
    ("instances", 10),
    ("cores", 20),
    ("ram", 51200),
    ("metadata_items", 128),
    ("injected_files", 5),
    ("injected_file_content_bytes", 10240),
    ("injected_file_path_bytes", 255),
    ("key_pairs", 100),
    ("server_groups", 10),
    ("server_group_members", 10),
    ("floating_ips", 10),
    ("fixed_ips", -1),
    ("security_groups", 10),
    ("security_group_rules", 20),
];

/// The resources that microversion 2.36 dropped from quota sets (Neutron owns them).
pub const NETWORK_QUOTAS: [&str; 4] = ["floating_ips", "fixed_ips", "security_groups", "security_group_rules"];
/// The resources that 2.57 dropped with file injection.
pub const INJECTION_QUOTAS: [&str; 3] = [
    "injected_files",
    "injected_file_content_bytes",
    "injected_file_path_bytes",
];

/// Limits by resource, every resource of [`QUOTA_RESOURCES`] present; -1 is unlimited.
#[derive(Debug, Clone, PartialEq)]
pub struct ComputeLimits(BTreeMap<String, i64>);

impl ComputeLimits {
    /// The configured defaults (the `default` class before any change).
    pub fn defaults(c: &crate::ComputeConfig) -> Self {
        let mut m: BTreeMap<String, i64> = QUOTA_RESOURCES.iter().map(|(r, d)| (r.to_string(), *d)).collect();
        for (r, v) in [
            ("instances", c.quota_instances),
            ("cores", c.quota_cores),
            ("ram", c.quota_ram),
            ("key_pairs", c.quota_key_pairs),
            ("server_groups", c.quota_server_groups),
            ("server_group_members", c.quota_server_group_members),
        ] {
            m.insert(r.to_owned(), v);
        }
        ComputeLimits(m)
    }

    pub fn get(&self, resource: &str) -> i64 {
        self.0.get(resource).copied().unwrap_or(-1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, i64)> {
        self.0.iter().map(|(k, v)| (k.as_str(), *v))
    }

    fn apply(&mut self, overrides: Vec<(String, i64)>) {
        for (r, v) in overrides {
            if let Some(slot) = self.0.get_mut(&r) {
                *slot = v;
            }
        }
    }
}

fn known(resource: &str) -> bool {
    QUOTA_RESOURCES.iter().any(|(r, _)| *r == resource)
}

fn check_values(changes: &BTreeMap<String, i64>) -> Result<()> {
    for (k, v) in changes {
        if !known(k) {
            return Err(ComputeError::Invalid(format!(
                "Bad key(s) {k} in quota_set; the resources are {}.",
                QUOTA_RESOURCES.iter().map(|(r, _)| *r).collect::<Vec<_>>().join(", ")
            )));
        }
        if *v < -1 || *v > i64::from(i32::MAX) {
            return Err(ComputeError::Invalid(format!(
                "Invalid input for field/attribute {k}. Value: {v}. It must be -1 or greater, and at most 2147483647."
            )));
        }
    }
    Ok(())
}

fn in_use(used: &idb::Usage, resource: &str) -> i64 {
    match resource {
        "instances" => used.instances,
        "cores" => used.cores,
        "ram" => used.ram,
        "server_groups" => used.server_groups,
        _ => 0,
    }
}

impl ComputeService {
    /// The `default` class's limits: the configured defaults with the class's changes.
    pub(crate) async fn class_limits(&self) -> Result<ComputeLimits> {
        let mut l = ComputeLimits::defaults(self.config());
        l.apply(idb::quota_class_overrides(self.db(), "default").await?);
        Ok(l)
    }

    /// A project's limits: the default class's, with the project's overrides.
    pub(crate) async fn compute_limits(&self, project: &str) -> Result<ComputeLimits> {
        let mut l = self.class_limits().await?;
        l.apply(idb::quota_overrides(self.db(), project).await?);
        Ok(l)
    }

    /// A user's limits within a project: the project's, with the user's overrides.
    pub(crate) async fn user_limits(&self, project: &str, user: &str) -> Result<ComputeLimits> {
        let project_limits = self.compute_limits(project).await?;
        self.user_limits_within(&project_limits, project, user).await
    }

    /// A user's limits from the project's, already read.
    pub(crate) async fn user_limits_within(
        &self,
        project_limits: &ComputeLimits,
        project: &str,
        user: &str,
    ) -> Result<ComputeLimits> {
        let mut l = project_limits.clone();
        l.apply(idb::user_quota_overrides(self.db(), project, user).await?);
        Ok(l)
    }

    /// What a project uses and may use, for `/limits`.
    pub async fn compute_usage(&self, caller: &AuthContext) -> Result<(ComputeLimits, idb::Usage)> {
        let project = caller.project_id().unwrap_or("").to_owned();
        let limits = self.compute_limits(&project).await?;
        Ok((limits, idb::usage(self.db(), &project).await?))
    }

    /// A project's limits (or, with `user`, a user's within it) and what it uses.
    pub async fn compute_quota(
        &self,
        caller: &AuthContext,
        project: &str,
        user: Option<&str>,
    ) -> Result<(ComputeLimits, idb::Usage)> {
        self.enforce(
            "os_compute_api:os-quota-sets:show",
            caller,
            &Target::new().with("project_id", project),
        )?;
        match user {
            Some(u) => Ok((
                self.user_limits(project, u).await?,
                idb::user_usage(self.db(), project, u).await?,
            )),
            None => Ok((
                self.compute_limits(project).await?,
                idb::usage(self.db(), project).await?,
            )),
        }
    }

    /// The `default` class's limits (`os-quota-sets/{p}/defaults`, `os-quota-class-sets`).
    pub async fn default_quotas(&self, caller: &AuthContext, project: &str) -> Result<ComputeLimits> {
        self.enforce(
            "os_compute_api:os-quota-sets:defaults",
            caller,
            &Target::new().with("project_id", project),
        )?;
        self.class_limits().await
    }

    /// Sets a project's (or a user's) limits. Below what is used is refused unless `force`,
    /// and a user's limit above the project's likewise, as in Nova.
    pub async fn update_compute_quota(
        &self,
        caller: &AuthContext,
        project: &str,
        user: Option<&str>,
        changes: &BTreeMap<String, i64>,
        force: bool,
    ) -> Result<ComputeLimits> {
        self.enforce(
            "os_compute_api:os-quota-sets:update",
            caller,
            &Target::new().with("project_id", project),
        )?;
        check_values(changes)?;
        let (_, used) = self.compute_quota(caller, project, user).await?;
        let project_limits = self.compute_limits(project).await?;
        for (k, v) in changes {
            let used = in_use(&used, k);
            if !force && *v >= 0 && *v < used {
                return Err(ComputeError::Invalid(format!(
                    "Quota limit {v} for {k} must be greater than or equal to already used and reserved {used}."
                )));
            }
            let ceiling = project_limits.get(k);
            if user.is_some() && !force && ceiling >= 0 && (*v < 0 || *v > ceiling) {
                return Err(ComputeError::Invalid(format!(
                    "Quota limit {v} for {k} must be less than or equal to the project's {ceiling}."
                )));
            }
        }
        match user {
            Some(u) => {
                idb::set_user_quotas(self.db(), project, u, changes).await?;
                self.user_limits(project, u).await
            }
            None => {
                crate::db::set_quotas(self.db(), project, changes).await?;
                self.compute_limits(project).await
            }
        }
    }

    /// Back to the defaults: a project's overrides (with its users'), or one user's.
    pub async fn delete_compute_quota(&self, caller: &AuthContext, project: &str, user: Option<&str>) -> Result<()> {
        self.enforce(
            "os_compute_api:os-quota-sets:delete",
            caller,
            &Target::new().with("project_id", project),
        )?;
        match user {
            Some(u) => Ok(idb::delete_user_quotas(self.db(), project, Some(u)).await?),
            None => {
                idb::delete_user_quotas(self.db(), project, None).await?;
                Ok(crate::db::delete_quotas(self.db(), project).await?)
            }
        }
    }

    /// A quota class's limits (only `default` is used, as in Nova; others read the same).
    pub async fn quota_class(&self, caller: &AuthContext, class: &str) -> Result<ComputeLimits> {
        self.enforce("os_compute_api:os-quota-class-sets:show", caller, &Target::new())?;
        let mut l = ComputeLimits::defaults(self.config());
        l.apply(idb::quota_class_overrides(self.db(), class).await?);
        Ok(l)
    }

    /// Changes a quota class; the `default` class is every project's defaults.
    pub async fn update_quota_class(
        &self,
        caller: &AuthContext,
        class: &str,
        changes: &BTreeMap<String, i64>,
    ) -> Result<ComputeLimits> {
        self.enforce("os_compute_api:os-quota-class-sets:update", caller, &Target::new())?;
        if class.is_empty() || class.chars().count() > 255 {
            return Err(ComputeError::Invalid("Invalid quota class name.".into()));
        }
        check_values(changes)?;
        idb::set_quota_class(self.db(), class, changes).await?;
        self.quota_class(caller, class).await
    }
}
