//! `os-simple-tenant-usage`: what each project's servers used over a period, in Nova's shapes.
//! `start` and `end` are read in the three formats Nova reads (naive UTC times); from 2.40 the
//! servers counted come in pages (`limit`, `marker`) with a `next` link when a page is full.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use chrono::NaiveDateTime;
use serde_json::{json, Value};
use stratus_api::microversion::Microversion;
use stratus_api::time::micros_naive;
use stratus_api::{ApiError, Caller};
use stratus_compute::{ServerUsage, TenantUsage, UsageQuery};

use crate::{fail, reply, ApiState, Out};

/// A time as Nova's `_parse_datetime` reads it: `YYYY-MM-DDTHH:MM:SS`, the same with a
/// fraction, or `YYYY-MM-DD HH:MM:SS.ffffff`; UTC.
fn parse_time(v: &str) -> Option<i64> {
    let ok = |fmt: &str| NaiveDateTime::parse_from_str(v, fmt).ok();
    let t = if v.contains('T') {
        if v.contains('.') {
            ok("%Y-%m-%dT%H:%M:%S%.f")
        } else {
            ok("%Y-%m-%dT%H:%M:%S")
        }
    } else if v.contains('.') {
        ok("%Y-%m-%d %H:%M:%S%.f")
    } else {
        None
    }?;
    Some(t.and_utc().timestamp_micros())
}

/// The query: Nova reads the first value of each name and drops blank ones.
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: Option<&str>) -> Result<Query, ApiError> {
        serde_urlencoded::from_str(raw.unwrap_or(""))
            .map(Query)
            .map_err(|e| ApiError::bad_request(format!("Invalid query string: {e}.")))
    }

    fn first(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(x, v)| x == k && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    fn time(&self, k: &str) -> Result<Option<i64>, ApiError> {
        match self.first(k) {
            None => Ok(None),
            Some(v) => parse_time(v).map(Some).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Invalid datetime string: Datetime is in invalid format: {k}={v:.80} \
                     (use YYYY-MM-DDTHH:MM:SS, optionally with .ffffff)."
                ))
            }),
        }
    }

    /// `limit` from 2.40: a non-negative integer (0: the most Nova gives).
    fn limit(&self) -> Result<Option<u32>, ApiError> {
        match self.0.iter().find(|(x, _)| x == "limit").map(|(_, v)| v.as_str()) {
            None => Ok(None),
            Some(v) => {
                if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ApiError::bad_request(format!(
                        "Invalid input for query parameters limit. Value: {v:.80}. It must be a non-negative integer."
                    )));
                }
                Ok(Some(
                    v.parse::<u64>().map_or(u32::MAX, |n| n.min(u32::MAX as u64) as u32),
                ))
            }
        }
    }
}

fn server_view(u: &ServerUsage) -> Value {
    json!({
        "instance_id": u.instance_id,
        "name": u.name,
        "tenant_id": u.tenant_id,
        "flavor": u.flavor,
        "vcpus": u.vcpus,
        "memory_mb": u.memory_mb,
        "local_gb": u.local_gb,
        "hours": u.hours,
        "started_at": micros_naive(u.started_at),
        "ended_at": u.ended_at.map(micros_naive),
        "state": u.state,
        "uptime": u.uptime,
    })
}

fn tenant_view(t: &TenantUsage, detailed: bool) -> Value {
    let mut o = json!({
        "tenant_id": t.tenant_id,
        "start": micros_naive(t.start),
        "stop": micros_naive(t.stop),
        "total_hours": t.total_hours,
        "total_vcpus_usage": t.total_vcpus_usage,
        "total_memory_mb_usage": t.total_memory_mb_usage,
        "total_local_gb_usage": t.total_local_gb_usage,
    });
    if detailed {
        o["server_usages"] = json!(t.server_usages.iter().map(server_view).collect::<Vec<_>>());
    }
    o
}

/// The usage query of a request; `links` tells whether it pages (2.40).
fn usage_query(q: &Query, tenant: Option<String>, mv: Microversion) -> Result<UsageQuery, ApiError> {
    let paged = mv.at_least(2, 40);
    Ok(UsageQuery {
        start: q.time("start")?,
        end: q.time("end")?,
        tenant_id: tenant,
        limit: if paged { q.limit()? } else { None },
        marker: if paged {
            q.first("marker").map(str::to_owned)
        } else {
            None
        },
    })
}

/// The `next` link: when the caller asked for `limit` servers and got that many.
fn next(s: &ApiState, q: &Query, path: &str, asked: Option<u32>, servers: &[ServerUsage]) -> Option<Value> {
    let last = servers.last()?;
    (asked.is_some_and(|l| l as usize == servers.len()))
        .then(|| stratus_api::pagination::next_link(&format!("{}/{path}", s.base), &q.0, &last.instance_id))
}

/// `GET /os-simple-tenant-usage`: every project's usage (administrators).
pub(crate) async fn list_tenant_usages(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    RawQuery(raw): RawQuery,
) -> Out {
    let q = Query::parse(raw.as_deref())?;
    let uq = usage_query(&q, None, mv)?;
    let detailed = q.first("detailed") == Some("1");
    let r = s.svc.tenant_usage(&c, &uq).await.map_err(fail)?;
    let mut out = json!({
        "tenant_usages": r.tenants.iter().map(|t| tenant_view(t, detailed)).collect::<Vec<_>>()
    });
    if let Some(links) = next(&s, &q, "os-simple-tenant-usage", uq.limit, &r.servers) {
        out["tenant_usages_links"] = links;
    }
    Ok(reply(StatusCode::OK, out))
}

/// `GET /os-simple-tenant-usage/{tenant_id}`: one project's usage, with its servers; `{}`
/// when nothing of it ran in the period.
pub(crate) async fn show_tenant_usage(
    State(s): State<ApiState>,
    c: Caller,
    mv: Microversion,
    Path(tenant): Path<String>,
    RawQuery(raw): RawQuery,
) -> Out {
    let q = Query::parse(raw.as_deref())?;
    let uq = usage_query(&q, Some(tenant.clone()), mv)?;
    let r = s.svc.tenant_usage(&c, &uq).await.map_err(fail)?;
    let usage = r
        .tenants
        .iter()
        .find(|t| t.tenant_id == tenant)
        .map_or_else(|| json!({}), |t| tenant_view(t, true));
    let mut out = json!({ "tenant_usage": usage });
    let path = format!("os-simple-tenant-usage/{tenant}");
    if let Some(links) = next(&s, &q, &path, uq.limit, &r.servers) {
        out["tenant_usage_links"] = links;
    }
    Ok(reply(StatusCode::OK, out))
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn times_in_novas_three_formats() {
        let t = parse_time("2024-01-02T03:04:05").expect("plain");
        assert_eq!(t, 1_704_164_645_000_000);
        assert_eq!(parse_time("2024-01-02T03:04:05.5"), Some(t + 500_000));
        assert_eq!(parse_time("2024-01-02T03:04:05.000001"), Some(t + 1));
        assert_eq!(parse_time("2024-01-02 03:04:05.25"), Some(t + 250_000));
        for bad in [
            "2024-01-02",
            "2024-01-02 03:04:05",
            "yesterday",
            "2024-13-02T03:04:05",
            "2024-01-02T03:04:05Z",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }
}
