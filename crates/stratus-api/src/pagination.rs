//! `limit` / `marker` pagination with a `links` object, as OpenStack list calls do.
//!
//! The store fetches `limit + 1` rows after the marker in id order; one extra row means there is
//! a next page, whose marker is the last id shown.

use serde::Serialize;

use crate::error::ApiError;

/// A validated page request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: Option<u32>,
    pub marker: Option<String>,
}

impl PageRequest {
    /// Validates raw query values; `max_limit` caps what a caller may ask for.
    pub fn parse(limit: Option<&str>, marker: Option<&str>, max_limit: u32) -> Result<Self, ApiError> {
        let limit = match limit {
            None => None,
            Some(raw) => match raw.parse::<i64>() {
                Ok(n) if n > 0 => Some(n.min(max_limit as i64) as u32),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid limit '{raw}': limit must be a positive integer."
                    )))
                }
            },
        };
        let marker = match marker {
            Some("") => return Err(ApiError::bad_request("Invalid marker: the marker is empty.")),
            m => m.map(str::to_owned),
        };
        Ok(PageRequest { limit, marker })
    }

    /// Rows to fetch: one more than shown, to learn whether a next page exists.
    pub fn fetch(&self) -> Option<i64> {
        self.limit.map(|l| l as i64 + 1)
    }
}

/// The `links` object of a list response.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Links {
    #[serde(rename = "self")]
    pub self_: String,
    pub next: Option<String>,
    pub previous: Option<String>,
}

/// Trims `items` to the page and builds its links. `self_url` is the URL as requested;
/// `id` gives each item's marker.
pub fn page<T>(mut items: Vec<T>, req: &PageRequest, self_url: &str, id: impl Fn(&T) -> String) -> (Vec<T>, Links) {
    let mut next = None;
    if let Some(limit) = req.limit {
        if items.len() > limit as usize {
            items.truncate(limit as usize);
            if let Some(last) = items.last() {
                next = Some(with_query(
                    self_url,
                    &[("limit", &limit.to_string()), ("marker", &id(last))],
                ));
            }
        }
    }
    (
        items,
        Links {
            self_: self_url.to_owned(),
            next,
            previous: None,
        },
    )
}

/// `url` with `params` set, replacing any existing values of the same names.
fn with_query(url: &str, params: &[(&str, &str)]) -> String {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let mut parts: Vec<String> = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .filter(|kv| {
            let k = kv.split_once('=').map_or(*kv, |(k, _)| k);
            !params.iter().any(|(p, _)| *p == k)
        })
        .map(str::to_owned)
        .collect();
    for (k, v) in params {
        parts.push(format!("{k}={}", encode(v)));
    }
    format!("{path}?{}", parts.join("&"))
}

fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_limits_are_refused() {
        assert!(PageRequest::parse(Some("0"), None, 100).is_err());
        assert!(PageRequest::parse(Some("-3"), None, 100).is_err());
        assert!(PageRequest::parse(Some("ten"), None, 100).is_err());
        assert!(PageRequest::parse(None, Some(""), 100).is_err());
        assert_eq!(PageRequest::parse(Some("500"), None, 100).unwrap().limit, Some(100));
    }

    #[test]
    fn next_link_carries_last_id() {
        let req = PageRequest::parse(Some("2"), None, 100).unwrap();
        let (items, links) = page(vec!["a", "b", "c"], &req, "http://h/v3/projects?name=x&limit=2", |s| {
            s.to_string()
        });
        assert_eq!(items, vec!["a", "b"]);
        assert_eq!(
            links.next.as_deref(),
            Some("http://h/v3/projects?name=x&limit=2&marker=b")
        );
        let (items, links) = page(vec!["a"], &req, "http://h/v3/projects", |s| s.to_string());
        assert_eq!(items.len(), 1);
        assert!(links.next.is_none());
    }
}

/// The `next` link of a list page (`<resource>_links` in Nova and Cinder): the same query with
/// `marker` set to the last item shown.
pub fn next_link(url: &str, query: &[(String, String)], marker: &str) -> serde_json::Value {
    let mut pairs: Vec<(String, String)> = query.iter().filter(|(k, _)| k != "marker").cloned().collect();
    pairs.push(("marker".into(), marker.to_owned()));
    let qs = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    serde_json::json!([{"rel": "next", "href": format!("{url}?{qs}")}])
}
