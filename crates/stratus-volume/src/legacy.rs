//! The volume actions clients used before the attachments API (Cinder before 3.27, and
//! still served): reserve and unreserve a volume for an attach, record an attach by an
//! instance or a host at a mountpoint, detach, and mark a volume read-only. They move the
//! same statuses and keep the same attachment records as the attachments API, so the two
//! can be mixed on one volume.

use serde_json::json;
use stratus_api::AuthContext;
use stratus_store::now_micros;

use crate::db;
use crate::model::Attachment;
use crate::service::{Result, VolumeError, VolumeService};
use crate::status::Status;

fn wrong_status(id: &str, want: &str, now: Status) -> VolumeError {
    VolumeError::Invalid(format!(
        "Invalid volume: Volume {id} status must be {want}, but the current status is: {}.",
        now.as_str()
    ))
}

fn changed(id: &str) -> VolumeError {
    VolumeError::Invalid(format!("Invalid volume: Volume {id} changed status; try again."))
}

impl VolumeService {
    /// `os-reserve`: the volume is `attaching` until an attach or an unreserve.
    pub async fn legacy_reserve(&self, caller: &AuthContext, id: &str) -> Result<()> {
        let v = self.get_volume(caller, id).await?;
        self.enforce("volume_extension:volume_actions:reserve", caller, &v.project_id)?;
        match v.status {
            Status::Available => {}
            Status::InUse if v.multiattach => return Ok(()),
            other => return Err(wrong_status(id, "available", other)),
        }
        if !db::transition(self.db(), id, v.status, Status::Attaching, None).await? {
            return Err(changed(id));
        }
        Ok(())
    }

    /// `os-unreserve`: back to `available`, or `in-use` when attachments remain.
    pub async fn legacy_unreserve(&self, caller: &AuthContext, id: &str) -> Result<()> {
        let v = self.get_volume(caller, id).await?;
        self.enforce("volume_extension:volume_actions:unreserve", caller, &v.project_id)?;
        if v.status != Status::Attaching {
            return Ok(());
        }
        let attached = db::attachments_of(self.db(), id)
            .await?
            .iter()
            .any(|a| a.status == "attached");
        let to = if attached { Status::InUse } else { Status::Available };
        if !db::transition(self.db(), id, v.status, to, None).await? {
            return Err(changed(id));
        }
        Ok(())
    }

    /// `os-attach`: an instance (or a host) has attached the volume at `mountpoint`.
    pub async fn legacy_attach(
        &self,
        caller: &AuthContext,
        id: &str,
        instance_uuid: Option<&str>,
        host_name: Option<&str>,
        mountpoint: &str,
        mode: Option<&str>,
    ) -> Result<Attachment> {
        let v = self.get_volume(caller, id).await?;
        self.enforce("volume_extension:volume_actions:attach", caller, &v.project_id)?;
        let instance = match (instance_uuid, host_name) {
            (Some(i), None) => {
                if uuid::Uuid::try_parse(i).is_err() {
                    return Err(VolumeError::Invalid(format!(
                        "Invalid input received: instance_uuid '{i}' is not a UUID."
                    )));
                }
                i.to_owned()
            }
            (None, Some(_)) => String::new(),
            _ => {
                return Err(VolumeError::Invalid(
                    "Invalid input received: give either instance_uuid or host_name.".into(),
                ))
            }
        };
        let mode = mode.unwrap_or("rw");
        if mode != "rw" && mode != "ro" {
            return Err(VolumeError::Invalid(format!(
                "Invalid input received: mode '{mode}' must be rw or ro."
            )));
        }
        match v.status {
            Status::Available | Status::Attaching => {}
            Status::InUse if v.multiattach => {}
            other => return Err(wrong_status(id, "available or attaching", other)),
        }
        let now = now_micros();
        let a = Attachment {
            id: uuid::Uuid::new_v4().to_string(),
            volume_id: v.id.clone(),
            project_id: v.project_id.clone(),
            instance_uuid: instance,
            status: "attached".into(),
            attach_mode: mode.into(),
            connector: Some(json!({"mountpoint": mountpoint, "host": host_name})),
            connection_info: None,
            created_at: now,
            updated_at: now,
        };
        if !db::insert_attachment(self.db(), &a, v.status, Status::InUse).await? {
            return Err(changed(id));
        }
        Ok(a)
    }

    /// `os-detach`: removes the attachment named (or every one); `available` when none is left.
    pub async fn legacy_detach(&self, caller: &AuthContext, id: &str, attachment_id: Option<&str>) -> Result<()> {
        let v = self.get_volume(caller, id).await?;
        self.enforce("volume_extension:volume_actions:detach", caller, &v.project_id)?;
        let all = db::attachments_of(self.db(), id).await?;
        let gone: Vec<&Attachment> = all
            .iter()
            .filter(|a| attachment_id.is_none_or(|want| a.id == want))
            .collect();
        if gone.is_empty() {
            return Err(match attachment_id {
                Some(a) => VolumeError::AttachmentNotFound(a.to_owned()),
                None => VolumeError::Invalid(format!("Invalid volume: Volume {id} is not attached.")),
            });
        }
        let left = all.len() - gone.len();
        for (n, a) in gone.iter().enumerate() {
            let last = n + 1 == gone.len();
            let to = if last && left == 0 { Status::Available } else { v.status };
            db::delete_attachment(self.db(), a, to).await?;
        }
        Ok(())
    }

    /// `os-update_readonly_flag`: recorded in the volume's administrative metadata as Cinder
    /// does (`readonly` "True" or "False"), and shown in its metadata.
    pub async fn set_readonly(&self, caller: &AuthContext, id: &str, readonly: bool) -> Result<()> {
        let v = self.get_volume(caller, id).await?;
        self.enforce("volume:update_readonly_flag", caller, &v.project_id)?;
        let mut admin = v.admin_metadata.clone();
        admin.insert("readonly".into(), if readonly { "True" } else { "False" }.into());
        db::set_admin_metadata(self.db(), id, &admin).await?;
        Ok(())
    }
}
