//! Attachments, as Nova drives them (Cinder 3.27+): reserve the volume for an instance,
//! update the attachment with the compute host's connector (which returns the
//! `connection_info` the host attaches), complete it once attached, delete it on detach.
//! Every step moves the volume's status in the same transaction as the attachment.

use serde_json::Value;
use stratus_api::AuthContext;
use stratus_store::now_micros;

use crate::db;
use crate::model::Attachment;
use crate::service::{Result, VolumeError, VolumeService};
use crate::status::{Status, Transition};

fn invalid_status(v: &crate::model::Volume, action: &str) -> VolumeError {
    VolumeError::Invalid(format!(
        "Invalid volume: Volume {} status must be available{} to {action}, but the current status is: {}.",
        v.id,
        if v.multiattach { " or in-use" } else { "" },
        v.status.as_str()
    ))
}

impl VolumeService {
    fn check_connector(connector: &Value) -> Result<()> {
        if !connector.is_object() {
            return Err(VolumeError::Invalid(
                "Invalid input received: connector must be a dictionary.".into(),
            ));
        }
        Ok(())
    }

    pub async fn create_attachment(
        &self,
        caller: &AuthContext,
        volume_id: &str,
        instance_uuid: &str,
        connector: Option<Value>,
        mode: Option<&str>,
    ) -> Result<Attachment> {
        let v = self.get_volume(caller, volume_id).await?;
        self.enforce("volume:attachment_create", caller, &v.project_id)?;
        if uuid::Uuid::try_parse(instance_uuid).is_err() {
            return Err(VolumeError::Invalid(format!(
                "Invalid input received: instance_uuid '{instance_uuid}' is not a UUID."
            )));
        }
        let mode = mode.unwrap_or("rw");
        if mode != "rw" && mode != "ro" {
            return Err(VolumeError::Invalid(format!(
                "Invalid input received: mode '{mode}' must be rw or ro."
            )));
        }
        let reserved = v
            .status
            .can_become(Transition::Reserve, v.multiattach)
            .ok_or_else(|| invalid_status(&v, "reserve"))?;
        let (status, to, connection_info) = match &connector {
            Some(c) => {
                Self::check_connector(c)?;
                let to = reserved
                    .can_become(Transition::AttachStart, v.multiattach)
                    .ok_or_else(|| invalid_status(&v, "attach"))?;
                ("attaching", to, Some(self.connection_info(&v.id, mode)))
            }
            None => ("reserved", reserved, None),
        };
        let now = now_micros();
        let a = Attachment {
            id: uuid::Uuid::new_v4().to_string(),
            volume_id: v.id.clone(),
            project_id: v.project_id.clone(),
            instance_uuid: instance_uuid.to_owned(),
            status: status.into(),
            attach_mode: mode.into(),
            connector,
            connection_info,
            created_at: now,
            updated_at: now,
        };
        if !db::insert_attachment(self.db(), &a, v.status, to).await? {
            return Err(VolumeError::Invalid(format!(
                "Invalid volume: Volume {} changed status; try again.",
                v.id
            )));
        }
        Ok(a)
    }

    fn connection_info(&self, volume_id: &str, mode: &str) -> Value {
        let mut ci = self.backend().connection_info(volume_id);
        ci["data"]["access_mode"] = Value::String(mode.to_owned());
        ci
    }

    async fn visible_attachment(&self, caller: &AuthContext, id: &str) -> Result<(Attachment, crate::model::Volume)> {
        let a = db::get_attachment(self.db(), id)
            .await?
            .ok_or_else(|| VolumeError::AttachmentNotFound(id.to_owned()))?;
        let v = self
            .get_volume(caller, &a.volume_id)
            .await
            .map_err(|_| VolumeError::AttachmentNotFound(id.to_owned()))?;
        Ok((a, v))
    }

    pub async fn get_attachment(&self, caller: &AuthContext, id: &str) -> Result<Attachment> {
        Ok(self.visible_attachment(caller, id).await?.0)
    }

    /// The attachments of the caller's project.
    pub async fn list_project_attachments(&self, caller: &AuthContext) -> Result<Vec<Attachment>> {
        Ok(db::attachments_of_project(self.db(), caller.project_id().unwrap_or("")).await?)
    }

    /// The attachments of volumes the caller already read, by volume id.
    pub async fn attachments_of(
        &self,
        volumes: &[crate::model::Volume],
    ) -> Result<std::collections::HashMap<String, Vec<Attachment>>> {
        let ids: Vec<String> = volumes.iter().map(|v| v.id.clone()).collect();
        let mut out: std::collections::HashMap<String, Vec<Attachment>> = Default::default();
        for a in db::attachments_of_many(self.db(), &ids).await? {
            out.entry(a.volume_id.clone()).or_default().push(a);
        }
        Ok(out)
    }

    pub async fn list_attachments(&self, caller: &AuthContext, volume_id: &str) -> Result<Vec<Attachment>> {
        let v = self.get_volume(caller, volume_id).await?;
        Ok(db::attachments_of(self.db(), &v.id).await?)
    }

    /// The compute host gives its connector; the attachment gets the `connection_info`.
    pub async fn update_attachment(&self, caller: &AuthContext, id: &str, connector: Value) -> Result<Attachment> {
        let (mut a, v) = self.visible_attachment(caller, id).await?;
        self.enforce("volume:attachment_update", caller, &v.project_id)?;
        Self::check_connector(&connector)?;
        let to = v
            .status
            .can_become(Transition::AttachStart, v.multiattach)
            .ok_or_else(|| invalid_status(&v, "attach"))?;
        a.connection_info = Some(self.connection_info(&v.id, &a.attach_mode));
        a.connector = Some(connector);
        a.status = "attaching".into();
        a.updated_at = now_micros();
        if !db::update_attachment(self.db(), &a, &[v.status], to).await? {
            return Err(VolumeError::Invalid(format!(
                "Invalid volume: Volume {} changed status; try again.",
                v.id
            )));
        }
        Ok(a)
    }

    /// `os-complete`: the host has attached the volume.
    pub async fn complete_attachment(&self, caller: &AuthContext, id: &str) -> Result<Attachment> {
        let (mut a, v) = self.visible_attachment(caller, id).await?;
        self.enforce("volume:attachment_complete", caller, &v.project_id)?;
        if a.connector.is_none() {
            return Err(VolumeError::Invalid(format!(
                "Invalid attachment: attachment {id} has no connector yet; update it with the host's connector first."
            )));
        }
        let to = v
            .status
            .can_become(Transition::AttachComplete, v.multiattach)
            .ok_or_else(|| invalid_status(&v, "complete an attachment"))?;
        a.status = "attached".into();
        a.updated_at = now_micros();
        if !db::update_attachment(self.db(), &a, &[v.status], to).await? {
            return Err(VolumeError::Invalid(format!(
                "Invalid volume: Volume {} changed status; try again.",
                v.id
            )));
        }
        Ok(a)
    }

    /// Detach: the volume is available again once its last attachment is gone.
    pub async fn delete_attachment(&self, caller: &AuthContext, id: &str) -> Result<()> {
        let (a, v) = self.visible_attachment(caller, id).await?;
        self.enforce("volume:attachment_delete", caller, &v.project_id)?;
        let others = db::attachments_of(self.db(), &v.id)
            .await?
            .into_iter()
            .filter(|o| o.id != a.id)
            .count();
        let to = if others > 0 { v.status } else { Status::Available };
        db::delete_attachment(self.db(), &a, to).await?;
        Ok(())
    }
}
