//! Snapshots: point-in-time copies of a volume, taken from an available volume or, with
//! `force`, from one in use (crash-consistent), and new volumes made from them.

use stratus_api::AuthContext;
use stratus_store::now_micros;

use crate::db;
use stratus_store::sql::Page;

use crate::model::{Snapshot, SnapshotFilter};
use crate::service::{Result, VolumeError, VolumeService};
use crate::status::Status;

impl VolumeService {
    pub async fn create_snapshot(
        &self,
        caller: &AuthContext,
        volume_id: &str,
        name: Option<String>,
        description: Option<String>,
        force: bool,
        metadata: std::collections::BTreeMap<String, String>,
    ) -> Result<Snapshot> {
        crate::service::check_metadata(&metadata)?;
        let v = self.get_volume(caller, volume_id).await?;
        self.enforce("volume:create_snapshot", caller, &v.project_id)?;
        let in_use = match v.status {
            Status::Available => false,
            Status::InUse if force => true,
            other => {
                return Err(VolumeError::Invalid(format!(
                    "Invalid volume: Volume {} status must be available, but current status is: {}.{}",
                    v.id,
                    other.as_str(),
                    if other == Status::InUse {
                        " Use force to snapshot an attached volume."
                    } else {
                        ""
                    }
                )))
            }
        };
        let limits = self.limits(&v.project_id).await?;
        let now = now_micros();
        let s = Snapshot {
            id: uuid::Uuid::new_v4().to_string(),
            volume_id: v.id.clone(),
            project_id: v.project_id.clone(),
            name: name.unwrap_or_default(),
            description: description.unwrap_or_default(),
            size: v.size,
            status: "creating".into(),
            created_at: now,
            updated_at: now,
            user_id: caller.user_id.clone(),
            metadata,
        };
        let ask = db::Ask {
            snapshots: 1,
            gigabytes: v.size as i64,
            ..Default::default()
        };
        db::insert_snapshot_within_quota(self.db(), &s, Self::quota_check(&limits, ask)).await??;
        let svc = self.clone();
        let (sid, vid) = (s.id.clone(), v.id.clone());
        tokio::spawn(async move {
            let to = match svc.backend().snapshot(&sid, &vid, in_use).await {
                Ok(()) => "available",
                Err(e) => {
                    tracing::error!(snapshot = %sid, error = %e, "taking the snapshot failed");
                    "error"
                }
            };
            if let Err(e) = db::snapshot_transition(svc.db(), &sid, "creating", to).await {
                tracing::error!(snapshot = %sid, error = %e, "recording the snapshot's status failed");
            }
        });
        Ok(s)
    }

    pub async fn get_snapshot(&self, caller: &AuthContext, id: &str) -> Result<Snapshot> {
        match db::get_snapshot(self.db(), id).await? {
            Some(s) if caller.has_role("admin") || caller.project_id() == Some(s.project_id.as_str()) => Ok(s),
            _ => Err(VolumeError::SnapshotNotFound(id.to_owned())),
        }
    }

    /// Snapshots the caller may see that match `filter`, one more than the page's limit.
    pub async fn list_snapshots(
        &self,
        caller: &AuthContext,
        filter: &SnapshotFilter,
        page: &Page,
    ) -> Result<Vec<Snapshot>> {
        let mut q = filter.clone();
        if filter.all_projects {
            self.enforce("volume:get_all_projects", caller, "")?;
        } else {
            q.project_id = Some(caller.project_id().unwrap_or("").to_owned());
        }
        Ok(db::list_snapshots(self.db(), &q, page).await?)
    }

    pub async fn update_snapshot(
        &self,
        caller: &AuthContext,
        id: &str,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Result<Snapshot> {
        let s = self.get_snapshot(caller, id).await?;
        self.enforce("volume:update_snapshot", caller, &s.project_id)?;
        for (what, v) in [("name", name), ("description", description)] {
            if v.is_some_and(|v| v.chars().count() > 255) {
                return Err(VolumeError::Invalid(format!(
                    "Invalid input received: {what} has more than 255 characters."
                )));
            }
        }
        db::update_snapshot(self.db(), id, name, description).await?;
        self.get_snapshot(caller, id).await
    }

    /// Adds to (or, with `replace`, replaces) a snapshot's metadata; returns all of it.
    pub async fn set_snapshot_metadata(
        &self,
        caller: &AuthContext,
        id: &str,
        items: std::collections::BTreeMap<String, String>,
        replace: bool,
    ) -> Result<std::collections::BTreeMap<String, String>> {
        let s = self.get_snapshot(caller, id).await?;
        self.enforce("volume:update_snapshot_metadata", caller, &s.project_id)?;
        let metadata = if replace {
            items
        } else {
            let mut m = s.metadata.clone();
            m.extend(items);
            m
        };
        crate::service::check_metadata(&metadata)?;
        db::set_snapshot_metadata(self.db(), id, &metadata).await?;
        Ok(metadata)
    }

    pub async fn delete_snapshot_metadata_key(&self, caller: &AuthContext, id: &str, key: &str) -> Result<()> {
        let s = self.get_snapshot(caller, id).await?;
        self.enforce("volume:delete_snapshot_metadata", caller, &s.project_id)?;
        let mut m = s.metadata.clone();
        if m.remove(key).is_none() {
            return Err(VolumeError::MetadataNotFound(id.to_owned(), key.to_owned()));
        }
        db::set_snapshot_metadata(self.db(), id, &m).await?;
        Ok(())
    }

    pub async fn delete_snapshot(&self, caller: &AuthContext, id: &str) -> Result<()> {
        let s = self.get_snapshot(caller, id).await?;
        self.enforce("volume:delete_snapshot", caller, &s.project_id)?;
        let moved = match s.status.as_str() {
            "available" | "error" | "error_deleting" => db::snapshot_transition(self.db(), id, &s.status, "deleting").await?,
            other => {
                return Err(VolumeError::Invalid(format!(
                    "Invalid snapshot: Snapshot {id} status must be available or error, but the current status is: {other}."
                )))
            }
        };
        if !moved {
            return Err(VolumeError::Invalid(format!(
                "Invalid snapshot: Snapshot {id} changed status; try again."
            )));
        }
        match self.backend().delete_snapshot(id).await {
            Ok(()) => Ok(db::mark_snapshot_deleted(self.db(), id).await?),
            Err(e) => {
                db::snapshot_transition(self.db(), id, "deleting", "error_deleting").await?;
                Err(e.into())
            }
        }
    }
}
