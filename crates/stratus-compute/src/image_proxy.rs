//! The image proxy Nova still serves up to microversion 2.35 (`/images`, `/images/{id}` and
//! their metadata): every call goes to the Image API with the caller's token, read and
//! written the way Nova's Glance client does it (`nova/image/glance.py`).
//!
//! The Image service owns the images and decides who may see, change or delete one; nothing
//! is stored here. What this adds is Nova's: the filters it translates, its `metadata_items`
//! quota on an image's properties, and its faults for the Image API's refusals.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use stratus_api::AuthContext;
use stratus_compute_agent::clients::{ClientError, Rest};

use crate::service::{ComputeError, ComputeService, Result};

/// Nova's largest page (`[api] max_limit`), and the Image API's.
pub const MAX_LIMIT: u32 = 1000;

/// The Image API's own attributes (its schema's base properties): every other member of an
/// image is a custom property, which Nova shows as the image's metadata.
const BASE_ATTRIBUTES: &[&str] = &[
    "id",
    "name",
    "status",
    "visibility",
    "protected",
    "os_hidden",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "owner",
    "size",
    "virtual_size",
    "container_format",
    "disk_format",
    "created_at",
    "updated_at",
    "tags",
    "direct_url",
    "min_ram",
    "min_disk",
    "self",
    "file",
    "stores",
    "schema",
    "locations",
];

/// Query keys of the Image API's list that are not filters: a `property-<key>` filter never
/// reaches them.
const PAGING_KEYS: &[&str] = &["limit", "marker", "sort", "sort_key", "sort_dir", "page_size"];

/// An image as the Image API describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxiedImage {
    pub id: String,
    pub name: Option<String>,
    /// The Image API's status (`active`, `queued`, ...).
    pub status: String,
    pub min_ram: i64,
    pub min_disk: i64,
    /// Bytes of data; 0 before there is any.
    pub size: i64,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    /// The custom properties, as the Image API holds them.
    pub properties: BTreeMap<String, Value>,
}

impl ProxiedImage {
    pub fn from_glance(v: &Value) -> ProxiedImage {
        let text = |k: &str| v[k].as_str().map(str::to_owned);
        let properties = v
            .as_object()
            .map(|o| {
                o.iter()
                    .filter(|(k, _)| !BASE_ATTRIBUTES.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        ProxiedImage {
            id: text("id").unwrap_or_default(),
            name: text("name"),
            status: text("status").unwrap_or_default(),
            min_ram: v["min_ram"].as_i64().unwrap_or(0),
            min_disk: v["min_disk"].as_i64().unwrap_or(0),
            size: v["size"].as_i64().unwrap_or(0),
            created_at: text("created_at"),
            updated_at: text("updated_at"),
            properties,
        }
    }

    /// The metadata Nova shows: the custom properties, with the two Nova stores as JSON
    /// (`block_device_mapping`, `mappings`) read back.
    pub fn metadata(&self) -> BTreeMap<String, Value> {
        self.properties
            .iter()
            .map(|(k, v)| {
                let v = match (k.as_str(), v) {
                    ("block_device_mapping" | "mappings", Value::String(s)) => {
                        serde_json::from_str(s).unwrap_or_else(|_| v.clone())
                    }
                    _ => v.clone(),
                };
                (k.clone(), v)
            })
            .collect()
    }

    /// The custom properties as the strings the Image API stores.
    fn raw_properties(&self) -> BTreeMap<String, String> {
        self.properties
            .iter()
            .map(|(k, v)| {
                let s = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), s)
            })
            .collect()
    }
}

/// Nova's image list filters, as the API read them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageListQuery {
    pub name: Option<String>,
    pub status: Option<String>,
    /// `changes-since`, Unix microseconds.
    pub changes_since: Option<i64>,
    /// `server`: a server's id or a link to it.
    pub server: Option<String>,
    /// `type`: the `image_type` property (`snapshot`, `backup`).
    pub image_type: Option<String>,
    pub min_ram: Option<String>,
    pub min_disk: Option<String>,
    /// `property-<key>=<value>`, the prefix taken off.
    pub properties: Vec<(String, String)>,
    /// At most this many images (at most [`MAX_LIMIT`]).
    pub limit: Option<u32>,
    /// Images per request to the Image API.
    pub page_size: Option<u32>,
    pub marker: Option<String>,
}

impl ImageListQuery {
    /// The Image API's filters for Nova's, as Nova's Glance client translates them.
    pub fn glance_filters(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut put = |k: &str, v: String| out.push((k.to_owned(), v));
        if let Some(n) = &self.name {
            put("name", n.clone());
        }
        if let Some(s) = &self.status {
            // The Image API's statuses are lower case.
            put("status", s.to_lowercase());
        }
        if let Some(t) = self.changes_since {
            put("updated_at", format!("gte:{}", stratus_api::time::micros_z(t)));
        }
        if let Some(s) = &self.server {
            let id = s.rsplit('/').next().unwrap_or(s);
            put("instance_uuid", id.to_owned());
        }
        if let Some(t) = &self.image_type {
            put("image_type", t.clone());
        }
        if let Some(r) = &self.min_ram {
            put("min_ram", r.clone());
        }
        if let Some(d) = &self.min_disk {
            put("min_disk", d.clone());
        }
        for (k, v) in &self.properties {
            if !PAGING_KEYS.contains(&k.as_str()) {
                put(k, v.clone());
            }
        }
        out
    }
}

/// A change to an image's metadata.
#[derive(Debug, Clone, PartialEq)]
pub enum MetadataChange {
    /// `POST .../metadata`: these items set, the others kept.
    Merge(BTreeMap<String, String>),
    /// `PUT .../metadata`: the metadata becomes exactly these items.
    Replace(BTreeMap<String, String>),
    /// `PUT .../metadata/{key}`: one item set.
    Set(String, String),
    /// `DELETE .../metadata/{key}`: one item removed.
    Remove(String),
}

/// Nova's metadata schema: keys of 1 to 255 letters, digits, spaces and `-_:.`, values of at
/// most 255 characters.
fn check_item(key: &str, value: &str) -> Result<()> {
    let key_ok = !key.is_empty()
        && key.chars().count() <= 255
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.' | ' '));
    if !key_ok {
        return Err(ComputeError::Invalid(format!(
            "Invalid input for field/attribute metadata: '{key:.60}' is not a metadata key (1 to 255 letters, digits, spaces or '-_:.')."
        )));
    }
    if value.chars().count() > 255 {
        return Err(ComputeError::Invalid(format!(
            "Invalid input for field/attribute metadata: the value of '{key}' is longer than 255 characters."
        )));
    }
    Ok(())
}

/// A key as one JSON pointer segment (RFC 6901).
fn pointer(key: &str) -> String {
    format!("/{}", key.replace('~', "~0").replace('/', "~1"))
}

/// The JSON patch that turns the properties `from` into `to`.
fn patch(from: &BTreeMap<String, String>, to: &BTreeMap<String, String>) -> Vec<Value> {
    let mut ops = Vec::new();
    for k in from.keys().filter(|k| !to.contains_key(*k)) {
        ops.push(json!({"op": "remove", "path": pointer(k)}));
    }
    for (k, v) in to {
        match from.get(k) {
            None => ops.push(json!({"op": "add", "path": pointer(k), "value": v})),
            Some(old) if old != v => ops.push(json!({"op": "replace", "path": pointer(k), "value": v})),
            Some(_) => {}
        }
    }
    ops
}

/// What Nova calls an operation on an image, for its faults.
#[derive(Debug, Clone, Copy)]
enum Op {
    Show,
    List,
    Delete,
    Update,
}

/// The Image API's refusal as Nova reports it for `op` on image `id`.
fn image_error(e: ClientError, op: Op, id: &str) -> ComputeError {
    match (e.status(), op) {
        (Some(404), Op::List) | (Some(400), Op::List) => ComputeError::Invalid(e.to_string()),
        (Some(404), _) | (Some(400), Op::Show) => ComputeError::NotFound("Image not found.".into()),
        (Some(401 | 403), Op::Delete) => ComputeError::Denied("You are not allowed to delete the image.".into()),
        (Some(401 | 403), Op::List) => ComputeError::Denied(e.to_string()),
        (Some(401 | 403), Op::Show | Op::Update) => ComputeError::Denied(format!("Not authorized for image {id}.")),
        (Some(400), _) => ComputeError::Invalid(e.to_string()),
        (Some(409), _) => ComputeError::Conflict(e.to_string()),
        (Some(413), _) => ComputeError::OverQuota(e.to_string()),
        _ => ComputeError::Unavailable(e.to_string()),
    }
}

impl ComputeService {
    fn image_api(&self) -> Result<&Rest> {
        self.pipeline().get().map(|(_, r)| r).ok_or_else(|| {
            ComputeError::Unavailable("This cloud runs no compute pipeline: the Image API is not connected.".into())
        })
    }

    /// The images the caller sees, Nova's filters applied, up to `limit` (the Image API's
    /// pages followed as Nova's Glance client follows them).
    pub async fn proxy_list_images(&self, caller: &AuthContext, q: &ImageListQuery) -> Result<Vec<ProxiedImage>> {
        let rest = self.image_api()?;
        let want = q.limit.unwrap_or(MAX_LIMIT).clamp(1, MAX_LIMIT) as usize;
        let page = q.page_size.unwrap_or(MAX_LIMIT).clamp(1, MAX_LIMIT) as usize;
        let filters = q.glance_filters();
        let mut marker = q.marker.clone();
        let mut out: Vec<ProxiedImage> = Vec::new();
        loop {
            let mut query = filters.clone();
            query.push(("limit".into(), page.min(want - out.len()).to_string()));
            if let Some(m) = &marker {
                query.push(("marker".into(), m.clone()));
            }
            let v = rest
                .list_images(&caller.token, &query)
                .await
                .map_err(|e| image_error(e, Op::List, ""))?;
            let images = v["images"].as_array().cloned().unwrap_or_default();
            out.extend(images.iter().map(ProxiedImage::from_glance));
            if images.is_empty() || out.len() >= want || v["next"].is_null() {
                break;
            }
            marker = out.last().map(|i| i.id.clone());
        }
        out.truncate(want);
        Ok(out)
    }

    pub async fn proxy_get_image(&self, caller: &AuthContext, id: &str) -> Result<ProxiedImage> {
        let v = self
            .image_api()?
            .image(&caller.token, id)
            .await
            .map_err(|e| image_error(e, Op::Show, id))?;
        Ok(ProxiedImage::from_glance(&v))
    }

    /// Deletes an image, if the Image API lets the caller.
    pub async fn proxy_delete_image(&self, caller: &AuthContext, id: &str) -> Result<()> {
        self.image_api()?
            .delete_image(&caller.token, id)
            .await
            .map_err(|e| image_error(e, Op::Delete, id))
    }

    /// Changes an image's metadata through the Image API, within the caller's project's
    /// `metadata_items` quota; returns the metadata the image has afterwards.
    pub async fn change_image_metadata(
        &self,
        caller: &AuthContext,
        id: &str,
        change: MetadataChange,
    ) -> Result<BTreeMap<String, Value>> {
        match &change {
            MetadataChange::Merge(items) | MetadataChange::Replace(items) => {
                for (k, v) in items {
                    check_item(k, v)?;
                }
            }
            MetadataChange::Set(k, v) => check_item(k, v)?,
            MetadataChange::Remove(_) => {}
        }
        let removing = matches!(change, MetadataChange::Remove(_));
        let image = self.proxy_get_image(caller, id).await?;
        let current = image.raw_properties();
        let mut wanted = current.clone();
        match change {
            MetadataChange::Merge(items) => wanted.extend(items),
            MetadataChange::Replace(items) => wanted = items,
            MetadataChange::Set(k, v) => {
                wanted.insert(k, v);
            }
            MetadataChange::Remove(k) => {
                if wanted.remove(&k).is_none() {
                    return Err(ComputeError::NotFound("Invalid metadata key".into()));
                }
            }
        }
        // Nova counts every property the image would have against the quota, not only the
        // new ones; a removal is never refused.
        if !removing {
            let limit = self
                .compute_limits(caller.project_id().unwrap_or_default())
                .await?
                .get("metadata_items");
            if limit >= 0 && wanted.len() as i64 > limit {
                return Err(ComputeError::OverQuota("Image metadata limit exceeded".into()));
            }
        }
        let ops = patch(&current, &wanted);
        if ops.is_empty() {
            return Ok(image.metadata());
        }
        let v = self
            .image_api()?
            .patch_image(&caller.token, id, Value::Array(ops))
            .await
            .map_err(|e| image_error(e, Op::Update, id))?;
        Ok(ProxiedImage::from_glance(&v).metadata())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(items: &[(&str, &str)]) -> BTreeMap<String, String> {
        items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn glance_images_read_as_nova_reads_them() {
        let v = json!({
            "id": "i1", "name": "cirros", "status": "active", "visibility": "public",
            "min_ram": 64, "min_disk": 1, "size": null, "tags": ["a"], "self": "/v2/images/i1",
            "created_at": "2026-01-02T03:04:05Z", "updated_at": "2026-01-02T03:04:06Z",
            "os_hidden": false, "owner": "p", "kernel_id": "k1", "instance_uuid": "s1",
            "block_device_mapping": "[{\"boot_index\": 0}]", "mappings": "not json",
        });
        let i = ProxiedImage::from_glance(&v);
        assert_eq!((i.min_ram, i.min_disk, i.size), (64, 1, 0));
        let m = i.metadata();
        let keys: Vec<&str> = m.keys().map(String::as_str).collect();
        assert_eq!(keys, ["block_device_mapping", "instance_uuid", "kernel_id", "mappings"]);
        assert_eq!(m["block_device_mapping"], json!([{"boot_index": 0}]));
        assert_eq!(m["mappings"], "not json");
    }

    #[test]
    fn nova_filters_become_the_image_apis() {
        let q = ImageListQuery {
            name: Some("cirros".into()),
            status: Some("ACTIVE".into()),
            changes_since: Some(86_400_000_000),
            server: Some("http://h/compute/v2.1/servers/s1".into()),
            image_type: Some("snapshot".into()),
            min_ram: Some("512".into()),
            min_disk: Some("1".into()),
            properties: vec![("os_type".into(), "linux".into()), ("limit".into(), "1".into())],
            ..Default::default()
        };
        let f = q.glance_filters();
        let get = |k: &str| f.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str());
        assert_eq!(get("name"), Some("cirros"));
        assert_eq!(get("status"), Some("active"));
        assert_eq!(get("updated_at"), Some("gte:1970-01-02T00:00:00.000000Z"));
        assert_eq!(get("instance_uuid"), Some("s1"));
        assert_eq!(get("image_type"), Some("snapshot"));
        assert_eq!(get("min_ram"), Some("512"));
        assert_eq!(get("min_disk"), Some("1"));
        // Nova strips `property-` as a prefix (its own lstrip would make this `s_type`).
        assert_eq!(get("os_type"), Some("linux"));
        assert_eq!(get("limit"), None, "a property filter cannot page");
    }

    #[test]
    fn metadata_changes_are_json_patches() {
        let from = map(&[("a", "1"), ("b", "2"), ("c/d", "3")]);
        let to = map(&[("a", "1"), ("b", "20"), ("e", "5")]);
        let ops = patch(&from, &to);
        assert_eq!(
            ops,
            vec![
                json!({"op": "remove", "path": "/c~1d"}),
                json!({"op": "replace", "path": "/b", "value": "20"}),
                json!({"op": "add", "path": "/e", "value": "5"}),
            ]
        );
        assert!(patch(&from, &from).is_empty());
    }

    #[test]
    fn metadata_items_follow_novas_schema() {
        assert!(check_item("os_distro", "debian").is_ok());
        assert!(check_item("a b:c.d-e_f", "").is_ok());
        for bad in ["", "a/b", "ключ", "a\u{0}b"] {
            assert!(check_item(bad, "v").is_err(), "{bad:?}");
        }
        assert!(check_item(&"k".repeat(256), "v").is_err());
        assert!(check_item("k", &"v".repeat(256)).is_err());
    }

    #[test]
    fn image_api_refusals_become_novas_faults() {
        let refused = |status| ClientError::Refused {
            service: "Image",
            status,
            message: "no".into(),
            over_quota: status == 413,
        };
        assert!(
            matches!(image_error(refused(404), Op::Show, "i"), ComputeError::NotFound(m) if m == "Image not found.")
        );
        assert!(
            matches!(image_error(refused(403), Op::Delete, "i"), ComputeError::Denied(m) if m == "You are not allowed to delete the image.")
        );
        assert!(
            matches!(image_error(refused(403), Op::Update, "i"), ComputeError::Denied(m) if m == "Not authorized for image i.")
        );
        assert!(matches!(
            image_error(refused(400), Op::List, ""),
            ComputeError::Invalid(_)
        ));
        assert!(matches!(
            image_error(refused(400), Op::Update, "i"),
            ComputeError::Invalid(_)
        ));
        assert!(matches!(
            image_error(refused(409), Op::Delete, "i"),
            ComputeError::Conflict(_)
        ));
        assert!(matches!(
            image_error(refused(413), Op::Update, "i"),
            ComputeError::OverQuota(_)
        ));
        assert!(matches!(
            image_error(refused(502), Op::Show, "i"),
            ComputeError::Unavailable(_)
        ));
        let down = ClientError::Transport {
            service: "Image",
            message: "refused".into(),
        };
        assert!(matches!(image_error(down, Op::List, ""), ComputeError::Unavailable(_)));
    }
}
