//! Cinder's JSON shapes. Fields appear from the microversion that introduced them, and the
//! administrator-only ones only for administrators.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use stratus_api::microversion::Microversion;
use stratus_api::time::micros_naive as time;
use stratus_api::AuthContext;
use stratus_volume::model::{Attachment, Snapshot, Volume, VolumeType};

use crate::ApiState;

fn links(s: &ApiState, collection: &str, id: &str, project: &str) -> Value {
    json!([
        {"rel": "self", "href": format!("{}/v3/{project}/{collection}/{id}", s.base)},
        {"rel": "bookmark", "href": format!("{}/{project}/{collection}/{id}", s.base)},
    ])
}

pub(crate) fn volume_summary(s: &ApiState, v: &Volume) -> Value {
    json!({"id": v.id, "name": v.name, "links": links(s, "volumes", &v.id, &v.project_id)})
}

/// Which response a volume is rendered for. Cinder's create and update answer its plain
/// view; its show and detail list add the extension attributes (tenant, host, migration,
/// image metadata), which clients' strict schemas refuse elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VolumeView {
    Write,
    Read,
}

/// A volume's attachments as its `attachments` list shows them: the attached ones. The host
/// is shown only to administrators and services, as Cinder does.
fn volume_attachments(v: &Volume, atts: &[Attachment], show_host: bool) -> Value {
    Value::Array(
        atts.iter()
            .filter(|a| a.status == "attached")
            .map(|a| {
                let conn = a.connector.as_ref();
                let s = |k: &str| conn.and_then(|c| c.get(k)).cloned().unwrap_or(Value::Null);
                json!({
                    "id": v.id,
                    "attachment_id": a.id,
                    "volume_id": v.id,
                    "server_id": a.instance_uuid,
                    "host_name": if show_host { s("host") } else { Value::Null },
                    "device": s("mountpoint"),
                    "attached_at": time(a.updated_at),
                })
            })
            .collect(),
    )
}

pub(crate) fn volume(
    s: &ApiState,
    v: &Volume,
    atts: &[Attachment],
    caller: &AuthContext,
    mv: Microversion,
    type_id: Option<&str>,
    view: VolumeView,
) -> Value {
    let admin = caller.has_role("admin");
    let read = view == VolumeView::Read;
    let mut o = json!({
        "id": v.id,
        "name": v.name,
        "description": v.description,
        "status": v.status.as_str(),
        "size": v.size,
        "availability_zone": v.availability_zone,
        "created_at": time(v.created_at),
        "updated_at": time(v.updated_at),
        "attachments": volume_attachments(v, atts, admin || caller.has_role("service")),
        "bootable": if v.bootable { "true" } else { "false" },
        "encrypted": false,
        "multiattach": v.multiattach,
        "metadata": v.metadata,
        "volume_type": v.volume_type,
        "snapshot_id": v.snapshot_id,
        "source_volid": v.source_volid,
        "user_id": v.user_id,
        "replication_status": null,
        "consistencygroup_id": null,
        "links": links(s, "volumes", &v.id, &v.project_id),
    });
    let m = o.as_object_mut().expect("object literal");
    if read && !v.admin_metadata.is_empty() {
        // Cinder shows the administrative keys (readonly) among the metadata of a read.
        let mut all = v.metadata.clone();
        all.extend(v.admin_metadata.clone());
        m.insert("metadata".into(), json!(all));
    }
    if read {
        // Cinder's volume_tenant_attribute: project readers and administrators, who are the
        // only callers that see the volume at all.
        m.insert("os-vol-tenant-attr:tenant_id".into(), json!(v.project_id));
    }
    if read && (!v.image_metadata.is_empty() || v.image_id.is_some()) {
        let mut im: BTreeMap<String, String> = v.image_metadata.clone();
        if let Some(id) = &v.image_id {
            im.entry("image_id".into()).or_insert_with(|| id.clone());
        }
        m.insert("volume_image_metadata".into(), json!(im));
    }
    if admin && read {
        m.insert("os-vol-host-attr:host".into(), json!(format!("{}@file#file", s.host)));
        m.insert("os-vol-mig-status-attr:migstat".into(), Value::Null);
        m.insert("os-vol-mig-status-attr:name_id".into(), Value::Null);
    }
    if admin {
        m.insert("migration_status".into(), Value::Null);
    }
    if mv.at_least(3, 13) {
        m.insert("group_id".into(), Value::Null);
    }
    if mv.at_least(3, 21) && admin {
        m.insert("provider_id".into(), Value::Null);
    }
    if mv.at_least(3, 48) {
        m.insert("shared_targets".into(), json!(false));
        m.insert("service_uuid".into(), Value::Null);
    }
    if mv.at_least(3, 61) && admin {
        m.insert("cluster_name".into(), Value::Null);
    }
    if mv.at_least(3, 63) {
        m.insert("volume_type_id".into(), json!(type_id));
    }
    if mv.at_least(3, 65) {
        m.insert("consumes_quota".into(), json!(true));
    }
    o
}

/// Which response a snapshot is rendered for: Cinder's plain view (create, update, the
/// short list) or its detail view (show, the detail list), which adds the extended attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SnapshotView {
    Plain,
    Detail,
}

pub(crate) fn snapshot(sn: &Snapshot, mv: Microversion, view: SnapshotView) -> Value {
    let mut o = json!({
        "id": sn.id,
        "name": sn.name,
        "description": sn.description,
        "volume_id": sn.volume_id,
        "status": sn.status,
        "size": sn.size,
        "created_at": time(sn.created_at),
        "updated_at": time(sn.updated_at),
        "metadata": sn.metadata,
    });
    let m = o.as_object_mut().expect("object literal");
    if view == SnapshotView::Detail {
        m.insert(
            "os-extended-snapshot-attributes:project_id".into(),
            json!(sn.project_id),
        );
        m.insert(
            "os-extended-snapshot-attributes:progress".into(),
            json!(if sn.status == "available" { "100%" } else { "0%" }),
        );
    }
    if mv.at_least(3, 14) {
        m.insert("group_snapshot_id".into(), Value::Null);
    }
    if mv.at_least(3, 41) {
        m.insert("user_id".into(), json!(sn.user_id));
    }
    if mv.at_least(3, 65) {
        m.insert("consumes_quota".into(), json!(true));
    }
    o
}

pub(crate) fn attachment(a: &Attachment) -> Value {
    json!({
        "id": a.id,
        "status": a.status,
        "instance": a.instance_uuid,
        "volume_id": a.volume_id,
        "attached_at": if a.status == "attached" { json!(time(a.updated_at)) } else { Value::Null },
        "detached_at": null,
        "attach_mode": a.attach_mode,
        "connection_info": a.connection_info,
    })
}

pub(crate) fn attachment_summary(a: &Attachment) -> Value {
    json!({"id": a.id, "status": a.status, "instance": a.instance_uuid, "volume_id": a.volume_id})
}

pub(crate) fn volume_type(t: &VolumeType) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "description": t.description,
        "is_public": t.is_public,
        "os-volume-type-access:is_public": t.is_public,
        "extra_specs": t.extra_specs,
        "qos_specs_id": null,
    })
}
