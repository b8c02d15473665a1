//! The attributes of an image a user may write, on create and through a JSON patch, and the
//! ones they may not: read-only (computed by the service) and reserved (Glance's internals).

use serde_json::Value;

use crate::error::{ImageError, Result};
use crate::model::{Image, Status, Visibility, CONTAINER_FORMATS, DISK_FORMATS};
use crate::ImageConfig;

/// One change of a PATCH: set (JSON patch `add` or `replace`) or remove an attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Set(String, Value),
    Remove(String),
}

const READ_ONLY: &[&str] = &[
    "status",
    "checksum",
    "size",
    "virtual_size",
    "created_at",
    "updated_at",
    "os_hash_algo",
    "os_hash_value",
    "self",
    "file",
    "schema",
    "direct_url",
    "locations",
    "stores",
];
const RESERVED: &[&str] = &["location", "deleted", "deleted_at"];
/// Attributes with a typed column; they can be set but never removed.
const CORE: &[&str] = &[
    "id",
    "name",
    "visibility",
    "protected",
    "os_hidden",
    "disk_format",
    "container_format",
    "min_disk",
    "min_ram",
    "tags",
    "owner",
];

/// Refuses attributes no user may write.
pub fn check_writable(key: &str) -> Result<()> {
    if READ_ONLY.contains(&key) {
        return Err(ImageError::Denied(format!("Attribute '{key}' is read-only.")));
    }
    if RESERVED.contains(&key) || key.starts_with("os_glance") {
        return Err(ImageError::Denied(format!("Attribute '{key}' is reserved.")));
    }
    Ok(())
}

fn invalid(key: &str, what: &str) -> ImageError {
    ImageError::Validation(format!("Invalid value for attribute '{key}': {what}."))
}

fn string_or_null(key: &str, v: &Value, max: usize) -> Result<Option<String>> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.chars().count() <= max => Ok(Some(s.clone())),
        Value::String(_) => Err(invalid(key, &format!("longer than {max} characters"))),
        _ => Err(invalid(key, "expected a string")),
    }
}

fn boolean(key: &str, v: &Value) -> Result<bool> {
    v.as_bool().ok_or_else(|| invalid(key, "expected true or false"))
}

fn non_negative(key: &str, v: &Value) -> Result<i64> {
    match v.as_i64() {
        Some(n) if n >= 0 => Ok(n),
        _ => Err(invalid(key, "expected an integer of 0 or more")),
    }
}

/// Glance's UUID shape, for ids and the kernel/ramdisk references.
pub(crate) fn is_uuid(s: &str) -> bool {
    uuid::Uuid::try_parse(s).is_ok()
}

fn format(key: &str, v: &Value, allowed: &[&str]) -> Result<Option<String>> {
    match string_or_null(key, v, 255)? {
        Some(f) if !allowed.contains(&f.as_str()) => {
            Err(invalid(key, &format!("must be one of {}", allowed.join(", "))))
        }
        f => Ok(f),
    }
}

/// Sets one attribute of `image` from a request. Permission checks that depend on the value
/// (publicizing, changing the owner) are the caller's.
pub(crate) fn set(image: &mut Image, key: &str, v: &Value, cfg: &ImageConfig) -> Result<()> {
    check_writable(key)?;
    match key {
        "id" => return Err(ImageError::Denied("Attribute 'id' is read-only.".into())),
        "name" => image.name = string_or_null(key, v, 255)?,
        "visibility" => {
            let s = v.as_str().unwrap_or_default();
            image.visibility = Visibility::parse(s)
                .ok_or_else(|| invalid(key, "must be one of public, private, shared, community"))?;
        }
        "protected" => image.protected = boolean(key, v)?,
        "os_hidden" => image.os_hidden = boolean(key, v)?,
        "disk_format" | "container_format" => {
            // Glance fixes the formats once data has been accepted for them.
            if image.status != Status::Queued {
                return Err(ImageError::Denied(format!(
                    "Attribute '{key}' can be only replaced for a queued image."
                )));
            }
            if key == "disk_format" {
                image.disk_format = format(key, v, DISK_FORMATS)?;
            } else {
                image.container_format = format(key, v, CONTAINER_FORMATS)?;
            }
        }
        "min_disk" => image.min_disk = non_negative(key, v)?,
        "min_ram" => image.min_ram = non_negative(key, v)?,
        "tags" => {
            let Value::Array(items) = v else {
                return Err(invalid(key, "expected a list of strings"));
            };
            let mut tags: Vec<String> = Vec::new();
            for t in items {
                let t = string_or_null(key, t, 255)?.ok_or_else(|| invalid(key, "tags are strings"))?;
                if t.is_empty() {
                    return Err(invalid(key, "a tag must not be empty"));
                }
                if !tags.contains(&t) {
                    tags.push(t);
                }
            }
            if tags.len() > cfg.max_tags {
                return Err(ImageError::OverLimit(format!(
                    "An image may have at most {} tags.",
                    cfg.max_tags
                )));
            }
            tags.sort();
            image.tags = tags;
        }
        "owner" => image.owner = string_or_null(key, v, 255)?,
        "kernel_id" | "ramdisk_id" => match v {
            Value::Null => {
                image.properties.remove(key);
            }
            Value::String(s) if is_uuid(s) => {
                image.properties.insert(key.to_owned(), s.clone());
            }
            _ => return Err(invalid(key, "expected the id (a UUID) of a kernel or ramdisk image")),
        },
        _ => {
            if key.is_empty() || key.chars().count() > 255 {
                return Err(ImageError::Validation(format!(
                    "Invalid property name '{key}': names are 1 to 255 characters."
                )));
            }
            let Value::String(s) = v else {
                return Err(invalid(key, "additional properties are strings"));
            };
            if s.len() > 65535 {
                return Err(invalid(key, "longer than 65535 bytes"));
            }
            image.properties.insert(key.to_owned(), s.clone());
            if image.properties.len() > cfg.max_properties {
                return Err(ImageError::OverLimit(format!(
                    "An image may have at most {} additional properties.",
                    cfg.max_properties
                )));
            }
        }
    }
    Ok(())
}

/// Removes one attribute; core attributes cannot be removed, and removing a property the
/// image does not have is a conflict, as in Glance.
pub(crate) fn remove(image: &mut Image, key: &str) -> Result<()> {
    check_writable(key)?;
    if CORE.contains(&key) {
        return Err(ImageError::Denied(format!("Property {key} may not be removed.")));
    }
    if image.properties.remove(key).is_none() {
        return Err(ImageError::Conflict(format!("Property {key} does not exist.")));
    }
    Ok(())
}

/// Cross-attribute rules of Glance: the Amazon formats go together.
pub(crate) fn check_formats(image: &Image) -> Result<()> {
    let amazon = |f: &Option<String>| matches!(f.as_deref(), Some("aki" | "ari" | "ami"));
    if (amazon(&image.disk_format) || amazon(&image.container_format))
        && image.disk_format.is_some()
        && image.container_format.is_some()
        && image.disk_format != image.container_format
    {
        return Err(ImageError::Validation(
            "Invalid mix of disk and container formats: when one is aki, ari or ami, the other must be the same."
                .into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn image() -> Image {
        Image::queued("i".into(), Some("p".into()), 0)
    }

    #[test]
    fn read_only_and_reserved_attributes_are_refused() {
        let cfg = ImageConfig::new("/tmp".into());
        let mut i = image();
        for k in ["checksum", "size", "status", "os_hash_value", "self"] {
            let e = set(&mut i, k, &json!("x"), &cfg).unwrap_err();
            assert!(
                matches!(e, ImageError::Denied(ref m) if m.contains("read-only")),
                "{k}: {e}"
            );
        }
        for k in ["location", "os_glance_import_task", "deleted"] {
            assert!(
                matches!(set(&mut i, k, &json!("x"), &cfg).unwrap_err(), ImageError::Denied(ref m) if m.contains("reserved"))
            );
        }
    }

    #[test]
    fn values_are_typed() {
        let cfg = ImageConfig::new("/tmp".into());
        let mut i = image();
        assert!(set(&mut i, "min_disk", &json!(-1), &cfg).is_err());
        assert!(set(&mut i, "protected", &json!("yes"), &cfg).is_err());
        assert!(set(&mut i, "disk_format", &json!("exe"), &cfg).is_err());
        assert!(set(&mut i, "hw_disk_bus", &json!(3), &cfg).is_err());
        assert!(set(&mut i, "kernel_id", &json!("not-a-uuid"), &cfg).is_err());
        set(&mut i, "tags", &json!(["b", "a", "b"]), &cfg).unwrap();
        assert_eq!(i.tags, vec!["a", "b"]);
        set(&mut i, "hw_disk_bus", &json!("virtio"), &cfg).unwrap();
        remove(&mut i, "hw_disk_bus").unwrap();
        assert!(matches!(
            remove(&mut i, "hw_disk_bus").unwrap_err(),
            ImageError::Conflict(_)
        ));
        assert!(matches!(remove(&mut i, "name").unwrap_err(), ImageError::Denied(_)));
        i.status = Status::Active;
        assert!(matches!(
            set(&mut i, "disk_format", &json!("raw"), &cfg).unwrap_err(),
            ImageError::Denied(_)
        ));
    }
}
