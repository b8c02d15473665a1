//! Query strings of lists: filters, `limit`/`marker`, and Cinder's two ways to sort
//! (`sort=k1:dir,k2` and `sort_key`/`sort_dir`).

use std::collections::BTreeMap;

use stratus_api::ApiError;
use stratus_volume::Page;

/// The pairs of a query string, refused when a key is not one the list knows.
pub(crate) struct Query {
    pub pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: Option<&str>, known: &[&str]) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
            .map_err(|e| ApiError::bad_request(format!("Invalid query string: {e}.")))?;
        const COMMON: &[&str] = &[
            "limit",
            "marker",
            "offset",
            "sort",
            "sort_key",
            "sort_dir",
            "with_count",
        ];
        let bad: Vec<&str> = pairs
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !known.contains(k) && !COMMON.contains(k))
            .collect();
        if !bad.is_empty() {
            return Err(ApiError::bad_request(format!(
                "Invalid filters {} are found in query options.",
                bad.join(",")
            )));
        }
        Ok(Query { pairs })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn string(&self, key: &str) -> Option<String> {
        self.get(key).map(str::to_owned)
    }

    pub fn flag(&self, key: &str) -> Result<Option<bool>, ApiError> {
        self.get(key).map(|v| parse_bool(key, v)).transpose()
    }

    /// `metadata={'k': 'v'}`, as clients write a Python dict, or JSON.
    pub fn dict(&self, key: &str) -> Result<BTreeMap<String, String>, ApiError> {
        let Some(raw) = self.get(key) else {
            return Ok(BTreeMap::new());
        };
        serde_json::from_str(raw)
            .or_else(|_| serde_json::from_str(&raw.replace('\'', "\"")))
            .map_err(|_| {
                ApiError::bad_request(format!(
                    "Invalid input received: {key} must be a dictionary of strings, got '{raw}'."
                ))
            })
    }

    /// The page asked for, with `sort` keys limited to `sortable` and `default` when none.
    pub fn page(&self, sortable: &[&'static str], default: (&'static str, bool)) -> Result<Page, ApiError> {
        let limit = match self.get("limit") {
            Some(l) => Some(l.parse::<u32>().map_err(|_| {
                ApiError::bad_request(format!(
                    "Invalid input received: limit '{l}' must be a non-negative integer."
                ))
            })?),
            None => None,
        };
        let mut sort: Vec<(String, Option<String>)> = Vec::new();
        if let Some(s) = self.get("sort") {
            if self.get("sort_key").is_some() || self.get("sort_dir").is_some() {
                return Err(ApiError::bad_request(
                    "The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be used with the 'sort' parameter.",
                ));
            }
            for item in s.split(',').filter(|i| !i.trim().is_empty()) {
                let (k, d) = item.split_once(':').map_or((item, None), |(k, d)| (k, Some(d)));
                sort.push((k.trim().to_owned(), d.map(|d| d.trim().to_owned())));
            }
        } else if let Some(k) = self.get("sort_key") {
            sort.push((k.to_owned(), self.string("sort_dir")));
        }
        let mut out = Vec::new();
        for (k, d) in sort {
            // Cinder's old name for the name.
            let k = if k == "display_name" { "name".to_owned() } else { k };
            let Some(col) = sortable.iter().find(|c| **c == k) else {
                return Err(ApiError::bad_request(format!(
                    "Invalid input received: sort key '{k}' is not one of {}.",
                    sortable.join(", ")
                )));
            };
            let desc = match d.as_deref().map(str::to_ascii_lowercase).as_deref() {
                None | Some("desc") => true,
                Some("asc") => false,
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid input received: sort direction '{other}' must be asc or desc."
                    )))
                }
            };
            out.push((*col, desc));
        }
        if out.is_empty() {
            out.push(default);
        }
        // The id is the last key whatever is asked (it makes the order total); asked for
        // last, its direction is kept.
        let last_id = out.last().filter(|(c, _)| *c == "id").copied();
        out.retain(|(c, _)| *c != "id");
        out.extend(last_id);
        Ok(Page {
            limit,
            marker: self.string("marker"),
            sort: out,
        })
    }
}

impl Query {
    /// `offset`: rows skipped after sorting and filtering, before the limit.
    pub fn offset(&self) -> Result<usize, ApiError> {
        match self.get("offset") {
            None => Ok(0),
            Some(o) => o.parse::<usize>().map_err(|_| {
                ApiError::bad_request(format!(
                    "Invalid input received: offset '{o}' must be a non-negative integer."
                ))
            }),
        }
    }

    /// Widens `page` so that `offset` rows can be skipped from its result.
    pub fn widen(&self, page: &mut Page) -> Result<usize, ApiError> {
        let offset = self.offset()?;
        if let Some(l) = page.limit.as_mut() {
            *l = l.saturating_add(u32::try_from(offset).unwrap_or(u32::MAX));
        }
        Ok(offset)
    }

    /// Cinder's `*_links`: a `next` link whenever a limited page came back full (Cinder gives
    /// one even when nothing follows; the next page is then empty), under the caller's project
    /// as the catalog's URL has it.
    pub fn next_links(
        &self,
        base: &str,
        project: &str,
        path: &str,
        shown: usize,
        last: Option<&str>,
    ) -> Option<serde_json::Value> {
        let limit = self.get("limit").and_then(|l| l.parse::<usize>().ok())?;
        match last {
            Some(last) if limit > 0 && shown >= limit => Some(stratus_api::pagination::next_link(
                &format!("{base}/v3/{project}/{path}"),
                &self.pairs,
                last,
            )),
            _ => None,
        }
    }
}

pub(crate) fn parse_bool(key: &str, v: &str) -> Result<bool, ApiError> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "t" | "y" => Ok(true),
        "false" | "0" | "no" | "off" | "f" | "n" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "Invalid input received: {key} '{v}' is not a boolean."
        ))),
    }
}
