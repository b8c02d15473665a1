//! Images and members as Glance renders them, and the JSON schemas clients read.

use serde_json::{json, Map, Value};
use stratus_image::format_time;
use stratus_image::model::{Image, Member, CONTAINER_FORMATS, DISK_FORMATS};

pub(crate) fn image(i: &Image) -> Value {
    let mut m = Map::new();
    // Additional properties first, so that no property can shadow a core attribute.
    for (k, v) in &i.properties {
        m.insert(k.clone(), Value::String(v.clone()));
    }
    let core = json!({
        "id": i.id,
        "name": i.name,
        "status": i.status.as_str(),
        "visibility": i.visibility.as_str(),
        "protected": i.protected,
        "os_hidden": i.os_hidden,
        "owner": i.owner,
        "checksum": i.checksum,
        "os_hash_algo": i.os_hash_algo,
        "os_hash_value": i.os_hash_value,
        "size": i.size,
        "virtual_size": i.virtual_size,
        "min_disk": i.min_disk,
        "min_ram": i.min_ram,
        "disk_format": i.disk_format,
        "container_format": i.container_format,
        "created_at": format_time(i.created_at),
        "updated_at": format_time(i.updated_at),
        "tags": i.tags,
        "self": format!("/v2/images/{}", i.id),
        "file": format!("/v2/images/{}/file", i.id),
        "schema": "/v2/schemas/image",
    });
    if let Value::Object(core) = core {
        m.extend(core);
    }
    if let Some(store) = &i.store {
        m.insert("stores".into(), Value::String(store.clone()));
    }
    Value::Object(m)
}

pub(crate) fn member(m: &Member) -> Value {
    json!({
        "image_id": m.image_id,
        "member_id": m.member_id,
        "status": m.status.as_str(),
        "created_at": format_time(m.created_at),
        "updated_at": format_time(m.updated_at),
        "schema": "/v2/schemas/member",
    })
}

fn nullable(t: &str) -> Value {
    json!([t, "null"])
}

/// The schema of one image, as `GET /v2/schemas/image` serves it.
pub(crate) fn image_schema() -> Value {
    let ro = |t: Value, d: &str| json!({"type": t, "readOnly": true, "description": d});
    json!({
        "name": "image",
        "properties": {
            "id": {"type": "string", "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$", "description": "The image's id, a UUID."},
            "name": {"type": nullable("string"), "maxLength": 255, "description": "A name for people; not unique."},
            "status": {"type": "string", "readOnly": true, "enum": ["queued", "saving", "active", "killed", "deleted", "uploading", "importing", "pending_delete", "deactivated"], "description": "Where the image is in its life."},
            "visibility": {"type": "string", "enum": ["community", "public", "private", "shared"], "description": "Who can see the image."},
            "protected": {"type": "boolean", "description": "A protected image cannot be deleted."},
            "os_hidden": {"type": "boolean", "description": "Hidden images are left out of default lists."},
            "checksum": ro(nullable("string"), "MD5 of the data."),
            "os_hash_algo": ro(nullable("string"), "The algorithm of os_hash_value."),
            "os_hash_value": ro(nullable("string"), "The secure hash of the data."),
            "owner": {"type": nullable("string"), "maxLength": 255, "description": "The project that owns the image."},
            "size": ro(nullable("integer"), "Bytes of data."),
            "virtual_size": ro(nullable("integer"), "Bytes of the virtual disk the data holds."),
            "min_ram": {"type": "integer", "minimum": 0, "description": "MiB of RAM a server booted from it needs."},
            "min_disk": {"type": "integer", "minimum": 0, "description": "GiB of disk a server booted from it needs."},
            "container_format": {"type": nullable("string"), "enum": CONTAINER_FORMATS.iter().map(|f| json!(f)).chain([Value::Null]).collect::<Vec<_>>(), "description": "How the data is packaged."},
            "disk_format": {"type": nullable("string"), "enum": DISK_FORMATS.iter().map(|f| json!(f)).chain([Value::Null]).collect::<Vec<_>>(), "description": "The format of the disk in the data."},
            "created_at": ro(json!("string"), "When the image was created."),
            "updated_at": ro(json!("string"), "When the image last changed."),
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 255}, "description": "Labels."},
            "self": ro(json!("string"), "This image's path."),
            "file": ro(json!("string"), "The path of the image's data."),
            "schema": ro(json!("string"), "The path of this schema."),
            "stores": ro(json!("string"), "The stores holding the data."),
            "kernel_id": {"type": nullable("string"), "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$", "description": "The aki image a server booted from this image runs as its kernel."},
            "ramdisk_id": {"type": nullable("string"), "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$", "description": "The ari image a server booted from this image uses as its ramdisk."},
        },
        "additionalProperties": {"type": "string"},
        "links": [
            {"rel": "self", "href": "{self}"},
            {"rel": "enclosure", "href": "{file}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    })
}

pub(crate) fn images_schema() -> Value {
    json!({
        "name": "images",
        "properties": {
            "images": {"type": "array", "items": image_schema()},
            "schema": {"type": "string"},
            "first": {"type": "string"},
            "next": {"type": "string"},
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    })
}

pub(crate) fn member_schema() -> Value {
    json!({
        "name": "member",
        "properties": {
            "image_id": {"type": "string", "description": "The shared image."},
            "member_id": {"type": "string", "description": "The project the image is shared with."},
            "status": {"type": "string", "enum": ["pending", "accepted", "rejected"], "description": "The member's answer."},
            "created_at": {"type": "string"},
            "updated_at": {"type": "string"},
            "schema": {"type": "string", "readOnly": true},
        },
    })
}

pub(crate) fn members_schema() -> Value {
    json!({
        "name": "members",
        "properties": {
            "members": {"type": "array", "items": member_schema()},
            "schema": {"type": "string"},
        },
        "links": [{"rel": "describedby", "href": "{schema}"}],
    })
}
