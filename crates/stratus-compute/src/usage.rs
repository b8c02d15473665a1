//! Usage per project over a period (Nova's os-simple-tenant-usage): for each server that ran
//! in the period, the hours it ran in it (from its launch to its termination, clipped to the
//! period) times its flavor's vCPUs, memory and disk as they were at boot.
//!
//! It reads the instance records as they are; it keeps no usage records of its own, so what it
//! reports is what the instances' `launched_at` and `terminated_at` say.

use stratus_api::{AuthContext, Target};
use stratus_store::now_micros;

use crate::instances_db as idb;
use crate::model::Instance;
use crate::service::{ComputeError, ComputeService, Result};

/// Nova's `[api] max_limit`: the most servers one answer counts.
pub const MAX_LIMIT: u32 = 1000;

const MICROS_PER_HOUR: f64 = 3_600_000_000.0;

/// One server's part of a project's usage.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerUsage {
    pub instance_id: String,
    pub name: String,
    pub tenant_id: String,
    pub flavor: String,
    pub vcpus: i64,
    pub memory_mb: i64,
    /// Root and ephemeral disk, GiB.
    pub local_gb: i64,
    /// Hours it ran in the period.
    pub hours: f64,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    /// `terminated` once it ended, else its vm_state.
    pub state: String,
    /// Seconds from launch to termination, or to now.
    pub uptime: i64,
}

/// A project's usage over the period.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantUsage {
    pub tenant_id: String,
    pub start: i64,
    pub stop: i64,
    pub total_hours: f64,
    pub total_vcpus_usage: f64,
    pub total_memory_mb_usage: f64,
    pub total_local_gb_usage: f64,
    pub server_usages: Vec<ServerUsage>,
}

/// What a usage query asks: a period (either end missing means now), a project (None: every
/// project) and a page of servers.
#[derive(Debug, Clone, Default)]
pub struct UsageQuery {
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub tenant_id: Option<String>,
    /// At most this many servers (0 or more than [`MAX_LIMIT`]: [`MAX_LIMIT`]).
    pub limit: Option<u32>,
    /// The id of the last server of the previous page.
    pub marker: Option<String>,
}

/// The projects' usages, and every server counted, in the order counted (the last is the
/// marker of the next page).
#[derive(Debug, Clone, PartialEq)]
pub struct UsageReport {
    pub tenants: Vec<TenantUsage>,
    pub servers: Vec<ServerUsage>,
}

/// Hours `i` ran within `[start, stop]`, as Nova counts them: nothing before its launch or
/// after its termination, nothing for a server never launched.
pub fn hours_in(launched_at: Option<i64>, terminated_at: Option<i64>, start: i64, stop: i64) -> f64 {
    let Some(launched) = launched_at else {
        return 0.0;
    };
    if terminated_at.is_some_and(|t| t < start) || launched > stop {
        return 0.0;
    }
    let from = launched.max(start);
    let to = terminated_at.map_or(stop, |t| t.min(stop));
    // Nova would report a negative span for a period that starts after now (its end is
    // clipped to now first); no server runs backwards.
    (to - from).max(0) as f64 / MICROS_PER_HOUR
}

fn server_usage(i: &Instance, start: i64, stop: i64, now: i64) -> Option<ServerUsage> {
    let started = i.launched_at?;
    let ended = i.terminated_at;
    Some(ServerUsage {
        instance_id: i.id.clone(),
        name: i.name.clone(),
        tenant_id: i.project_id.clone(),
        flavor: i.flavor.name.clone(),
        vcpus: i.flavor.vcpus,
        memory_mb: i.flavor.memory_mb,
        local_gb: i.flavor.root_gb + i.flavor.ephemeral_gb,
        hours: hours_in(Some(started), ended, start, stop),
        started_at: started,
        ended_at: ended,
        state: if ended.is_some() {
            "terminated".into()
        } else {
            i.vm_state.clone()
        },
        uptime: (ended.unwrap_or(now) - started).max(0) / 1_000_000,
    })
}

impl ComputeService {
    /// Usage of one project (`q.tenant_id`, for its readers and administrators) or of every
    /// project (administrators).
    pub async fn tenant_usage(&self, caller: &AuthContext, q: &UsageQuery) -> Result<UsageReport> {
        match &q.tenant_id {
            Some(t) => self.enforce(
                "os_compute_api:os-simple-tenant-usage:show",
                caller,
                &Target::new().with("project_id", t),
            )?,
            None => self.enforce("os_compute_api:os-simple-tenant-usage:list", caller, &Target::new())?,
        }
        let now = now_micros();
        let start = q.start.unwrap_or(now);
        let mut stop = q.end.unwrap_or(now);
        // Two "now"s Nova reads one after the other are never equal; given times must order.
        if start > stop || (start == stop && q.start.is_some() && q.end.is_some()) {
            return Err(ComputeError::Invalid(
                "Invalid start time. The start time cannot occur after the end time.".into(),
            ));
        }
        stop = stop.min(now);
        let limit = match q.limit {
            Some(l) if l > 0 && l <= MAX_LIMIT => l,
            _ => MAX_LIMIT,
        };
        let after = match &q.marker {
            None => None,
            Some(m) => {
                let i = idb::get_even_deleted(self.db(), m)
                    .await?
                    .ok_or_else(|| ComputeError::Invalid(format!("Marker {m} could not be found.")))?;
                Some((i.created_at, i.id))
            }
        };
        let instances = idb::active_in_window(
            self.db(),
            start,
            stop,
            q.tenant_id.as_deref(),
            after.as_ref().map(|(c, id)| (*c, id.as_str())),
            limit,
        )
        .await?;
        let mut tenants: Vec<TenantUsage> = Vec::new();
        let mut servers = Vec::new();
        for u in instances.iter().filter_map(|i| server_usage(i, start, stop, now)) {
            let t = match tenants.iter().position(|t| t.tenant_id == u.tenant_id) {
                Some(k) => &mut tenants[k],
                None => {
                    tenants.push(TenantUsage {
                        tenant_id: u.tenant_id.clone(),
                        start,
                        stop,
                        total_hours: 0.0,
                        total_vcpus_usage: 0.0,
                        total_memory_mb_usage: 0.0,
                        total_local_gb_usage: 0.0,
                        server_usages: vec![],
                    });
                    let last = tenants.len() - 1;
                    &mut tenants[last]
                }
            };
            t.total_hours += u.hours;
            t.total_vcpus_usage += u.vcpus as f64 * u.hours;
            t.total_memory_mb_usage += u.memory_mb as f64 * u.hours;
            t.total_local_gb_usage += u.local_gb as f64 * u.hours;
            t.server_usages.push(u.clone());
            servers.push(u);
        }
        Ok(UsageReport { tenants, servers })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000_000;

    #[test]
    fn hours_are_clipped_to_the_period_and_the_life_of_the_server() {
        // Ran the whole period.
        assert_eq!(hours_in(Some(0), None, 10 * H, 20 * H), 10.0);
        // Launched inside it, still running.
        assert_eq!(hours_in(Some(15 * H), None, 10 * H, 20 * H), 5.0);
        // Terminated inside it.
        assert_eq!(hours_in(Some(0), Some(12 * H), 10 * H, 20 * H), 2.0);
        // Launched and terminated inside it.
        assert_eq!(hours_in(Some(11 * H), Some(11 * H + H / 2), 10 * H, 20 * H), 0.5);
        // Ended before, launched after, never launched.
        assert_eq!(hours_in(Some(0), Some(5 * H), 10 * H, 20 * H), 0.0);
        assert_eq!(hours_in(Some(25 * H), None, 10 * H, 20 * H), 0.0);
        assert_eq!(hours_in(None, None, 10 * H, 20 * H), 0.0);
    }
}
