//! `GET /v2/images` query strings, as Glance reads them: known filters, sorting in both of its
//! syntaxes, and every other key as a filter on an additional property.

use stratus_api::ApiError;
use stratus_image::model::{MemberStatus, Status, Visibility};
use stratus_image::{Cmp, ImageQuery, SortKey, TimeFilter, VisibilityFilter};

/// Glance's default and largest page sizes.
pub(crate) const DEFAULT_LIMIT: u32 = 25;
pub(crate) const MAX_LIMIT: u32 = 1000;

pub(crate) struct ListRequest {
    pub query: ImageQuery,
    pub marker: Option<String>,
    /// The parameters as given, less the marker, for the next link.
    pub params: Vec<(String, String)>,
}

fn bad(m: String) -> ApiError {
    ApiError::bad_request(m)
}

fn boolean(key: &str, v: &str) -> Result<bool, ApiError> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(bad(format!("Invalid value '{v}' for '{key}': expected true or false."))),
    }
}

fn size(key: &str, v: &str) -> Result<i64, ApiError> {
    v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
        bad(format!(
            "Invalid value '{v}' for '{key}': expected an integer of 0 or more."
        ))
    })
}

fn sort_key(k: &str) -> Result<SortKey, ApiError> {
    SortKey::parse(k).ok_or_else(|| bad(format!("Invalid sort key '{k}'.")))
}

fn sort_dir(d: &str) -> Result<bool, ApiError> {
    match d {
        "asc" => Ok(false),
        "desc" => Ok(true),
        _ => Err(bad(format!("Invalid sort direction '{d}': expected asc or desc."))),
    }
}

/// ISO 8601 times as clients write them, with or without zone and fraction.
fn parse_time(s: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S"].iter().find_map(|f| {
        chrono::NaiveDateTime::parse_from_str(s.trim_end_matches('Z'), f)
            .ok()
            .map(|t| t.and_utc().timestamp_micros())
    })
}

pub(crate) fn parse(raw: Option<&str>) -> Result<ListRequest, ApiError> {
    let pairs: Vec<(String, String)> = match raw {
        Some(q) => serde_urlencoded::from_str(q).map_err(|e| bad(format!("Malformed query string: {e}.")))?,
        None => Vec::new(),
    };
    let mut q = ImageQuery {
        limit: DEFAULT_LIMIT,
        member_status: Some(MemberStatus::Accepted),
        ..Default::default()
    };
    let mut marker = None;
    let (mut sort_keys, mut sort_dirs, mut sort) = (Vec::new(), Vec::new(), None::<String>);
    for (k, v) in &pairs {
        match k.as_str() {
            "limit" => {
                q.limit = match v.parse::<i64>() {
                    Ok(n) if n >= 0 => (n as u64).min(MAX_LIMIT as u64) as u32,
                    _ => return Err(bad(format!("Invalid limit '{v}': expected an integer of 0 or more."))),
                }
            }
            "marker" => marker = Some(v.clone()),
            "sort_key" => sort_keys.extend(v.split(',').map(str::to_owned)),
            "sort_dir" => sort_dirs.extend(v.split(',').map(str::to_owned)),
            "sort" => sort = Some(v.clone()),
            "visibility" => {
                q.visibility = match v.as_str() {
                    "all" => VisibilityFilter::All,
                    other => VisibilityFilter::Only(Visibility::parse(other).ok_or_else(|| {
                        bad(format!(
                            "Invalid visibility '{other}': expected public, private, shared, community or all."
                        ))
                    })?),
                }
            }
            "member_status" => {
                q.member_status = match v.to_ascii_lowercase().as_str() {
                    "all" => None,
                    other => Some(MemberStatus::parse(other).ok_or_else(|| {
                        bad(format!(
                            "Invalid member_status '{other}': expected pending, accepted, rejected or all."
                        ))
                    })?),
                }
            }
            "status" => q.status = Some(Status::parse(v).ok_or_else(|| bad(format!("Invalid status '{v}'.")))?),
            "name" => q.name = Some(v.clone()),
            // Glance's `in:` operator, which clients use to fetch several images at once.
            "id" => {
                let ids: Vec<String> = match v.strip_prefix("in:") {
                    Some(list) => list
                        .split(',')
                        .map(|s| s.trim().trim_matches('"').to_owned())
                        .filter(|s| !s.is_empty())
                        .collect(),
                    None => vec![v.clone()],
                };
                q.ids = Some(ids);
            }
            "owner" => q.owner = Some(v.clone()),
            "disk_format" => q.disk_format = Some(v.clone()),
            "container_format" => q.container_format = Some(v.clone()),
            "size_min" => q.size_min = Some(size(k, v)?),
            "size_max" => q.size_max = Some(size(k, v)?),
            // Core attributes, so equality filters rather than properties (as Glance).
            "min_ram" => q.min_ram = Some(size(k, v)?),
            "min_disk" => q.min_disk = Some(size(k, v)?),
            "protected" => q.protected = Some(boolean(k, v)?),
            "os_hidden" => q.os_hidden = boolean(k, v)?,
            "tag" => q.tags.push(v.clone()),
            "created_at" | "updated_at" => {
                let (op, at) = v.split_once(':').ok_or_else(|| {
                    bad(format!(
                        "Invalid filter '{k}={v}': expected OPERATOR:TIME, such as gt:2026-01-01T00:00:00Z."
                    ))
                })?;
                let op = Cmp::parse(op).ok_or_else(|| {
                    bad(format!(
                        "Invalid operator '{op}' in '{k}': expected eq, neq, gt, gte, lt or lte."
                    ))
                })?;
                let at = parse_time(at).ok_or_else(|| bad(format!("Invalid time '{at}' in '{k}'.")))?;
                q.times.push(TimeFilter {
                    updated: k == "updated_at",
                    op,
                    at,
                });
            }
            _ => q.properties.push((k.clone(), v.clone())),
        }
    }
    if let Some(s) = sort {
        if !sort_keys.is_empty() || !sort_dirs.is_empty() {
            return Err(bad(
                "The 'sort' parameter cannot be combined with 'sort_key' or 'sort_dir'.".into(),
            ));
        }
        for item in s.split(',').filter(|i| !i.is_empty()) {
            let (k, d) = item.split_once(':').unwrap_or((item, "desc"));
            q.sort.push((sort_key(k.trim())?, sort_dir(d.trim())?));
        }
    } else {
        if sort_dirs.len() > 1 && sort_dirs.len() != sort_keys.len() {
            return Err(bad(
                "Give one sort_dir for every sort_key, or a single one for all.".into()
            ));
        }
        for (n, k) in sort_keys.iter().enumerate() {
            let d = sort_dirs
                .get(n)
                .or(sort_dirs.first())
                .map(String::as_str)
                .unwrap_or("desc");
            q.sort.push((sort_key(k)?, sort_dir(d)?));
        }
        if sort_keys.is_empty() {
            let desc = sort_dir(sort_dirs.first().map(String::as_str).unwrap_or("desc"))?;
            q.sort.push((SortKey::CreatedAt, desc));
        }
    }
    let params = pairs.into_iter().filter(|(k, _)| k != "marker").collect();
    Ok(ListRequest {
        query: q,
        marker,
        params,
    })
}

/// The `next` link: the same query, after `last`.
pub(crate) fn next_link(params: &[(String, String)], last: &str) -> String {
    let mut p: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    p.push(("marker", last));
    format!("/v2/images?{}", serde_urlencoded::to_string(&p).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_sorting_and_properties() {
        let r = parse(Some(
            "name=cirros&tag=a&tag=b&os_hidden=True&sort=name:asc,size&hw_disk_bus=virtio&marker=m&limit=5000",
        ))
        .unwrap();
        assert_eq!(r.query.name.as_deref(), Some("cirros"));
        assert_eq!(r.query.tags, vec!["a", "b"]);
        assert!(r.query.os_hidden);
        assert_eq!(r.query.sort, vec![(SortKey::Name, false), (SortKey::Size, true)]);
        assert_eq!(
            r.query.properties,
            vec![("hw_disk_bus".to_string(), "virtio".to_string())]
        );
        assert_eq!(r.query.limit, MAX_LIMIT);
        assert_eq!(r.marker.as_deref(), Some("m"));
        assert!(!r.params.iter().any(|(k, _)| k == "marker"));
        assert!(next_link(&r.params, "x").ends_with("&marker=x"));
        // min_ram and min_disk are attributes, compared for equality, not properties.
        let r = parse(Some("min_ram=512&min_disk=1")).expect("min_ram and min_disk");
        assert_eq!((r.query.min_ram, r.query.min_disk), (Some(512), Some(1)));
        assert!(r.query.properties.is_empty());
    }

    #[test]
    fn bad_values_name_the_parameter() {
        for q in [
            "limit=-1",
            "visibility=secret",
            "status=sleeping",
            "sort_key=nope",
            "sort_dir=up",
            "size_min=x",
            "min_ram=lots",
            "min_disk=-1",
            "created_at=gt:yesterday",
            "sort=name&sort_key=size",
        ] {
            assert!(parse(Some(q)).is_err(), "{q}");
        }
    }

    #[test]
    fn times_parse() {
        assert_eq!(parse_time("1970-01-02T00:00:00Z"), Some(86_400_000_000));
        assert_eq!(parse_time("1970-01-01T00:00:01.5"), Some(1_500_000));
        assert!(parse_time("2026-13-01T00:00:00Z").is_none());
    }
}
