//! Snapshots: point-in-time copies of a volume, taken from an available volume or, with
//! `force`, from one in use (crash-consistent), and new volumes made from them.

use stratus_api::AuthContext;
use stratus_store::now_micros;

use crate::db;
use crate::model::Snapshot;
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
    ) -> Result<Snapshot> {
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
        let (count, gigabytes) = db::snapshot_usage(self.db(), &v.project_id).await?;
        let (_, volume_gb) = db::usage(self.db(), &v.project_id).await?;
        let cfg = self.config();
        if cfg.quota_snapshots >= 0 && count >= cfg.quota_snapshots {
            return Err(VolumeError::OverQuota(format!(
                "Maximum number of snapshots allowed ({}) exceeded for quota 'snapshots'.",
                cfg.quota_snapshots
            )));
        }
        if cfg.quota_gigabytes >= 0 && volume_gb + gigabytes + v.size as i64 > cfg.quota_gigabytes {
            return Err(VolumeError::OverQuota(format!(
                "Requested volume or snapshot exceeds allowed gigabytes quota. Requested {}G, quota is {}G and {}G has been consumed.",
                v.size,
                cfg.quota_gigabytes,
                volume_gb + gigabytes
            )));
        }
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
        };
        db::insert_snapshot(self.db(), &s).await?;
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

    pub async fn list_snapshots(&self, caller: &AuthContext) -> Result<Vec<Snapshot>> {
        Ok(db::snapshots_of_project(self.db(), caller.project_id().unwrap_or("")).await?)
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
