//! Quotas per project: volumes, snapshots, gigabytes (volumes and snapshots together) and the
//! largest single volume. Defaults come from configuration; administrators override them per
//! project. Every check runs in the same transaction as the write it guards, under a lock
//! on the project, so a burst of concurrent requests can never exceed a limit.

use std::collections::BTreeMap;

use stratus_api::AuthContext;

use crate::db::{self, Ask, Usage};
use crate::service::{Result, VolumeError, VolumeService};

/// The resources a quota limits, in the order Cinder lists them.
pub const RESOURCES: [&str; 4] = ["gigabytes", "per_volume_gigabytes", "snapshots", "volumes"];

/// Limits by resource; -1 is unlimited.
pub type QuotaSet = BTreeMap<String, i64>;

/// A limit with what the project uses of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuotaUsage {
    pub limit: i64,
    pub in_use: i64,
}

impl VolumeService {
    pub fn default_quotas(&self) -> QuotaSet {
        let c = self.config();
        QuotaSet::from([
            ("gigabytes".into(), c.quota_gigabytes),
            ("per_volume_gigabytes".into(), c.quota_per_volume_gigabytes),
            ("snapshots".into(), c.quota_snapshots),
            ("volumes".into(), c.quota_volumes),
        ])
    }

    pub(crate) async fn limits(&self, project: &str) -> Result<QuotaSet> {
        let mut q = self.default_quotas();
        for (resource, limit) in db::quota_overrides(self.db(), project).await? {
            if q.contains_key(&resource) {
                q.insert(resource, limit);
            }
        }
        Ok(q)
    }

    pub async fn get_quota(&self, caller: &AuthContext, project: &str) -> Result<QuotaSet> {
        self.enforce("volume_extension:quotas:show", caller, project)?;
        self.limits(project).await
    }

    /// Limits with what the project uses, for `?usage=True`.
    pub async fn quota_usage(&self, caller: &AuthContext, project: &str) -> Result<BTreeMap<String, QuotaUsage>> {
        let limits = self.get_quota(caller, project).await?;
        let used = self.usage(project).await?;
        Ok(limits
            .into_iter()
            .map(|(r, limit)| {
                let in_use = match r.as_str() {
                    "volumes" => used.volumes,
                    "snapshots" => used.snapshots,
                    "gigabytes" => used.gigabytes,
                    _ => 0,
                };
                (r, QuotaUsage { limit, in_use })
            })
            .collect())
    }

    pub(crate) async fn usage(&self, project: &str) -> Result<Usage> {
        let (volumes, vol_gb) = db::usage(self.db(), project).await?;
        let (snapshots, snap_gb) = db::snapshot_usage(self.db(), project).await?;
        Ok(Usage {
            volumes,
            snapshots,
            gigabytes: vol_gb + snap_gb,
        })
    }

    /// Sets limits. As in Cinder, a limit below what the project already uses is refused, and
    /// so is an unknown resource or a limit below -1.
    pub async fn update_quota(&self, caller: &AuthContext, project: &str, changes: &QuotaSet) -> Result<QuotaSet> {
        self.enforce("volume_extension:quotas:update", caller, project)?;
        if project.trim().is_empty() {
            return Err(VolumeError::Invalid(
                "Invalid input received: a project id is required.".into(),
            ));
        }
        let used = self.usage(project).await?;
        for (resource, &limit) in changes {
            if !RESOURCES.contains(&resource.as_str()) {
                return Err(VolumeError::Invalid(format!(
                    "Bad key(s) in quota set: {resource}. Known: {}.",
                    RESOURCES.join(", ")
                )));
            }
            if limit < -1 {
                return Err(VolumeError::Invalid(format!(
                    "Invalid input received: quota value for key '{resource}' must be -1 or greater, got {limit}."
                )));
            }
            let in_use = match resource.as_str() {
                "volumes" => used.volumes,
                "snapshots" => used.snapshots,
                "gigabytes" => used.gigabytes,
                _ => 0,
            };
            if limit >= 0 && limit < in_use {
                return Err(VolumeError::Invalid(format!(
                    "Invalid input received: Quota limit {limit} for {resource} must be equal or greater than existing resources ({in_use})."
                )));
            }
        }
        db::set_quotas(self.db(), project, changes).await?;
        self.limits(project).await
    }

    /// Reverts a project to the default limits.
    pub async fn delete_quota(&self, caller: &AuthContext, project: &str) -> Result<()> {
        self.enforce("volume_extension:quotas:delete", caller, project)?;
        Ok(db::delete_quotas(self.db(), project).await?)
    }

    /// The check a write runs, inside its transaction, against the project's limits.
    pub(crate) fn quota_check(limits: &QuotaSet, ask: Ask) -> impl FnOnce(Usage) -> Result<()> + '_ {
        move |used| {
            let limit = |r: &str| limits.get(r).copied().unwrap_or(-1);
            let over = |r: &str, used: i64, ask: i64| ask > 0 && limit(r) >= 0 && used.saturating_add(ask) > limit(r);
            if over("volumes", used.volumes, ask.volumes) {
                return Err(VolumeError::OverQuota(format!(
                    "Maximum number of volumes allowed ({}) exceeded for quota 'volumes'.",
                    limit("volumes")
                )));
            }
            if over("snapshots", used.snapshots, ask.snapshots) {
                return Err(VolumeError::OverQuota(format!(
                    "Maximum number of snapshots allowed ({}) exceeded for quota 'snapshots'.",
                    limit("snapshots")
                )));
            }
            if over("gigabytes", used.gigabytes, ask.gigabytes) {
                return Err(VolumeError::OverQuota(format!(
                    "Requested volume or snapshot exceeds allowed gigabytes quota. \
                     Requested {}G, quota is {}G and {}G has been consumed.",
                    ask.gigabytes,
                    limit("gigabytes"),
                    used.gigabytes
                )));
            }
            Ok(())
        }
    }

    /// `per_volume_gigabytes`: no single volume may be larger.
    pub(crate) fn check_volume_size(limits: &QuotaSet, size: u64) -> Result<()> {
        let max = limits.get("per_volume_gigabytes").copied().unwrap_or(-1);
        if max >= 0 && i64::try_from(size).map_or(true, |s| s > max) {
            return Err(VolumeError::OverQuota(format!(
                "Requested volume size {size}G is larger than maximum allowed limit {max}G."
            )));
        }
        Ok(())
    }
}
