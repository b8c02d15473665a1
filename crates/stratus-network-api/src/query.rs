//! Neutron list queries: `fields`, `limit`/`marker`, `sort_key`/`sort_dir`, and every other
//! key as a filter the service validates.

use stratus_api::ApiError;
use stratus_network::Page;

pub(crate) const MAX_LIMIT: u32 = 1000;

pub(crate) struct ListQuery {
    pub fields: Vec<String>,
    pub filter: Vec<(String, String)>,
    pub page: Page,
    /// The query less the marker, for the next link.
    pub params: Vec<(String, String)>,
}

/// Parses `raw`; `sortable` maps attribute names to their columns.
pub(crate) fn parse(raw: Option<&str>, sortable: &[(&str, &'static str)]) -> Result<ListQuery, ApiError> {
    let pairs: Vec<(String, String)> = match raw {
        Some(q) => {
            serde_urlencoded::from_str(q).map_err(|e| ApiError::bad_request(format!("Malformed query string: {e}.")))?
        }
        None => Vec::new(),
    };
    let mut q = ListQuery {
        fields: Vec::new(),
        filter: Vec::new(),
        page: Page::default(),
        params: Vec::new(),
    };
    let (mut keys, mut dirs) = (Vec::new(), Vec::new());
    for (k, v) in &pairs {
        match k.as_str() {
            "fields" => q.fields.extend(v.split(',').map(str::to_owned)),
            "limit" => {
                q.page.limit = match v.parse::<i64>() {
                    Ok(n) if n > 0 => Some(n.min(MAX_LIMIT as i64) as u32),
                    Ok(0) => None,
                    _ => {
                        return Err(ApiError::bad_request(format!(
                            "Bad limit request: Limit must be an integer 0 or greater and not '{v}'."
                        )))
                    }
                }
            }
            "marker" => q.page.marker = Some(v.clone()),
            "sort_key" => keys.push(v.clone()),
            "sort_dir" => dirs.push(v.clone()),
            "page_reverse" => {
                if v.eq_ignore_ascii_case("true") {
                    return Err(ApiError::bad_request("page_reverse is not supported here."));
                }
            }
            // Neutron joins repeated tag filters (`tags=a&tags=b` is `tags=a,b`).
            "tags" | "tags-any" | "not-tags" | "not-tags-any" => match q.filter.iter_mut().find(|(f, _)| f == k) {
                Some((_, have)) => {
                    have.push(',');
                    have.push_str(v);
                }
                None => q.filter.push((k.clone(), v.clone())),
            },
            _ => {
                if q.filter.iter().any(|(f, _)| f == k) {
                    return Err(ApiError::bad_request(format!(
                        "Filter '{k}' is given more than once; give one value."
                    )));
                }
                q.filter.push((k.clone(), v.clone()));
            }
        }
    }
    if !dirs.is_empty() && dirs.len() != keys.len() {
        return Err(ApiError::bad_request(
            "The number of sort_keys and sort_dirs must be the same.",
        ));
    }
    for (n, k) in keys.iter().enumerate() {
        let col = sortable
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, c)| *c)
            .ok_or_else(|| ApiError::bad_request(format!("'{k}' is an invalid attribute for sort_key.")))?;
        let desc = match dirs.get(n).map(String::as_str) {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(d) => {
                return Err(ApiError::bad_request(format!(
                    "'{d}' is an invalid value for sort_dir, valid values are 'asc' and 'desc'."
                )))
            }
        };
        q.page.sort.push((col, desc));
    }
    q.params = pairs.into_iter().filter(|(k, _)| k != "marker").collect();
    Ok(q)
}

/// The `<collection>_links` of a page: a next link when the page is full.
pub(crate) fn links(
    base: &str,
    collection: &str,
    params: &[(String, String)],
    next_marker: Option<&str>,
) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    if let Some(m) = next_marker {
        let mut p: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        p.push(("marker", m));
        out.push(serde_json::json!({"rel": "next", "href": format!("{base}/{collection}?{}", serde_urlencoded::to_string(&p).unwrap_or_default())}));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_tag_filters_join_and_other_filters_repeat_not() {
        let q = parse(Some("tags=a&name=n&tags=b,c&not-tags-any=x"), &[]).expect("parse");
        assert_eq!(
            q.filter,
            vec![
                ("tags".to_owned(), "a,b,c".to_owned()),
                ("name".to_owned(), "n".to_owned()),
                ("not-tags-any".to_owned(), "x".to_owned()),
            ]
        );
        assert!(parse(Some("name=a&name=b"), &[]).is_err());
    }
}
