//! Volumes: create (empty or from another volume), show, list, extend and delete, each long
//! operation run in the background behind a status that says what is happening, and repaired
//! at start if a crash interrupted it.

use std::sync::Arc;

use stratus_api::policy::Policy;
use stratus_api::{AuthContext, Target};
use stratus_store::{now_micros, Db, Location};

use crate::backend::VolumeBackend;
use crate::db;
use std::collections::BTreeMap;

use stratus_store::sql::Page;

use crate::model::{NewVolume, Volume, VolumeFilter, VolumeUpdate};
use crate::status::{Status, Transition};

/// The service's errors, carrying Cinder's meaning.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("Volume {0} could not be found.")]
    NotFound(String),
    #[error("Volume attachment {0} could not be found.")]
    AttachmentNotFound(String),
    #[error("Volume {0} has no metadata with key {1}.")]
    MetadataNotFound(String, String),
    #[error("Volume Type {0} has no extra specs with key {1}.")]
    ExtraSpecNotFound(String, String),
    #[error("Snapshot {0} could not be found.")]
    SnapshotNotFound(String),
    #[error("Volume type {0} could not be found.")]
    TypeNotFound(String),
    /// A name already taken: Cinder answers 409.
    #[error("{0}")]
    Conflict(String),
    /// A 400 with Cinder's `badRequest`: invalid input or a status that forbids the action.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Denied(String),
    /// Over a quota: Cinder answers 413.
    #[error("{0}")]
    OverQuota(String),
    #[error("volume records")]
    Store(#[from] stratus_store::StoreError),
    #[error("{0}")]
    Backend(#[from] crate::backend::BackendError),
}

impl From<stratus_api::ApiError> for VolumeError {
    fn from(e: stratus_api::ApiError) -> Self {
        VolumeError::Denied(e.message)
    }
}

pub type Result<T, E = VolumeError> = std::result::Result<T, E>;

/// Cinder's default quotas, per project.
#[derive(Debug, Clone)]
pub struct VolumeConfig {
    pub quota_volumes: i64,
    pub quota_snapshots: i64,
    pub quota_gigabytes: i64,
    /// The largest single volume, GiB (-1: no limit).
    pub quota_per_volume_gigabytes: i64,
    pub availability_zone: String,
    /// Where images are downloaded before they are converted into volumes.
    pub scratch_dir: std::path::PathBuf,
}

impl Default for VolumeConfig {
    fn default() -> Self {
        VolumeConfig {
            quota_volumes: 10,
            quota_snapshots: 10,
            quota_gigabytes: 1000,
            quota_per_volume_gigabytes: -1,
            availability_zone: "nova".into(),
            scratch_dir: std::env::temp_dir(),
        }
    }
}

/// The default policy rules of the Block Storage service.
pub const DEFAULT_POLICY: &str = include_str!("policy.yaml");

#[derive(Clone)]
pub struct VolumeService {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    cfg: VolumeConfig,
    policy: Policy,
    backend: Arc<dyn VolumeBackend>,
    images: std::sync::OnceLock<Arc<dyn crate::images::ImageSource>>,
}

fn target(project: &str) -> Target {
    Target::new().with("project_id", project)
}

impl VolumeService {
    pub async fn open(
        location: &Location,
        cfg: VolumeConfig,
        policy: Policy,
        backend: Arc<dyn VolumeBackend>,
    ) -> Result<Self> {
        let db = Db::open(location, "volume", &db::MIGRATOR).await?;
        let svc = VolumeService {
            inner: Arc::new(Inner {
                db,
                cfg,
                policy,
                backend,
                images: Default::default(),
            }),
        };
        svc.recover().await?;
        svc.ensure_default_type().await?;
        Ok(svc)
    }

    pub async fn close(&self) {
        self.inner.db.close().await;
    }

    pub(crate) fn db(&self) -> &Db {
        &self.inner.db
    }

    /// Where volumes made from images get their images; without one, `imageRef` is refused.
    pub fn set_image_source(&self, source: Arc<dyn crate::images::ImageSource>) {
        let _ = self.inner.images.set(source);
    }

    pub fn config(&self) -> &VolumeConfig {
        &self.inner.cfg
    }

    pub(crate) fn backend(&self) -> &dyn VolumeBackend {
        self.inner.backend.as_ref()
    }

    pub(crate) fn enforce(&self, action: &str, caller: &AuthContext, project: &str) -> Result<()> {
        Ok(self.inner.policy.enforce(action, caller, &target(project))?)
    }

    /// Work a crash interrupted ends in an error status, never in `creating` forever; the
    /// data of a volume whose creation was cut short is removed.
    async fn recover(&self) -> Result<()> {
        let mut swept = self.inner.backend.sweep().await?;
        if let Ok(mut rd) = tokio::fs::read_dir(&self.inner.cfg.scratch_dir).await {
            while let Ok(Some(e)) = rd.next_entry().await {
                if e.file_name().to_string_lossy().starts_with("stratus-image-download-") {
                    let _ = tokio::fs::remove_file(e.path()).await;
                    swept += 1;
                }
            }
        }
        if swept > 0 {
            tracing::warn!(
                files = swept,
                "removed partial volume files left by an interrupted operation"
            );
        }
        for from in [Status::Creating, Status::Extending, Status::Deleting] {
            let to = from.after_crash().unwrap_or(Status::Error);
            for id in db::in_status(self.db(), from).await? {
                tracing::warn!(volume = %id, from = from.as_str(), to = to.as_str(), "operation interrupted by a restart");
                if from == Status::Creating {
                    self.inner.backend.delete(&id).await?;
                }
                db::transition(self.db(), &id, from, to, None).await?;
            }
        }
        for (from, to) in [("creating", "error"), ("deleting", "error_deleting")] {
            for id in db::snapshots_in_status(self.db(), from).await? {
                tracing::warn!(snapshot = %id, from, to, "snapshot operation interrupted by a restart");
                db::snapshot_transition(self.db(), &id, from, to).await?;
            }
        }
        Ok(())
    }

    async fn visible(&self, caller: &AuthContext, id: &str) -> Result<Volume> {
        match db::get(self.db(), id).await? {
            Some(v) if caller.has_role("admin") || caller.project_id() == Some(v.project_id.as_str()) => Ok(v),
            _ => Err(VolumeError::NotFound(id.to_owned())),
        }
    }

    pub async fn create_volume(&self, caller: &AuthContext, req: NewVolume) -> Result<Volume> {
        let project = caller
            .project_id()
            .ok_or_else(|| VolumeError::Invalid("A project-scoped token is required.".into()))?
            .to_owned();
        self.inner.policy.enforce("volume:create", caller, &target(&project))?;
        check_len("name", req.name.as_deref().unwrap_or(""), 255)?;
        check_len("description", req.description.as_deref().unwrap_or(""), 255)?;
        check_metadata(&req.metadata)?;
        if req.source_volid.is_some() && req.snapshot_id.is_some() {
            return Err(VolumeError::Invalid(
                "Invalid input received: give a source volume or a snapshot, not both.".into(),
            ));
        }
        let source = match &req.source_volid {
            Some(src) => Some(self.visible(caller, src).await?),
            None => None,
        };
        let snapshot = match &req.snapshot_id {
            Some(id) => {
                let s = self.get_snapshot(caller, id).await?;
                if s.status != "available" {
                    return Err(VolumeError::Invalid(format!(
                        "Invalid snapshot: Snapshot {id} status must be available, but the current status is: {}.",
                        s.status
                    )));
                }
                Some(s)
            }
            None => None,
        };
        if req.image_ref.is_some() && (source.is_some() || snapshot.is_some()) {
            return Err(VolumeError::Invalid(
                "Invalid input received: give one source: an image, a volume or a snapshot.".into(),
            ));
        }
        // A volume made from a snapshot inherits its volume's bootable flag and image metadata.
        let snapshot_volume = match &snapshot {
            Some(s) => crate::db::get(self.db(), &s.volume_id).await?,
            None => None,
        };
        let image = match &req.image_ref {
            Some(id) => {
                let images = self.inner.images.get().ok_or_else(|| {
                    VolumeError::Invalid(
                        "Invalid input received: this cloud has no Image API to make volumes from.".into(),
                    )
                })?;
                Some(images.describe(&caller.token, id).await.map_err(|e| {
                    VolumeError::Invalid(format!(
                        "Invalid image identifier or unable to access requested image: {e}"
                    ))
                })?)
            }
            None => None,
        };
        let image_gib = image
            .as_ref()
            .map(|i| i.virtual_size.unwrap_or(i.size).max(i.size).div_ceil(1 << 30).max(1));
        if let (Some(i), Some(need), Some(asked)) = (&image, image_gib, req.size) {
            if asked < need {
                return Err(VolumeError::Invalid(format!(
                    "Invalid input received: Image {} is {need} GiB and does not fit in a volume of {asked} GiB.",
                    i.id
                )));
            }
        }
        let size = match (req.size.or(image_gib), &source, &snapshot) {
            (Some(s), _, _) => s,
            (None, Some(src), _) => src.size,
            (None, None, Some(snap)) => snap.size,
            (None, None, None) => return Err(VolumeError::Invalid("Invalid input received: size is required.".into())),
        };
        // The image's own minimum, as Cinder checks it.
        if let Some(min) = image
            .as_ref()
            .and_then(|i| i.metadata.get("min_disk"))
            .and_then(|m| m.parse::<u64>().ok())
        {
            if size < min {
                return Err(VolumeError::Invalid(format!(
                    "Invalid input received: Volume size {size}GB cannot be smaller than the image minDisk size {min}GB."
                )));
            }
        }
        if let Some(snap) = &snapshot {
            if size < snap.size {
                return Err(VolumeError::Invalid(format!(
                    "Invalid input received: volume size {size} GiB cannot be smaller than the snapshot's {} GiB.",
                    snap.size
                )));
            }
        }
        if size == 0 {
            return Err(VolumeError::Invalid(format!(
                "Invalid input received: volume size '{size}' must be an integer and greater than 0."
            )));
        }
        self.check_backend_size(size)?;
        if let Some(src) = &source {
            if size < src.size {
                return Err(VolumeError::Invalid(format!(
                    "Invalid input received: volume size {size} GiB cannot be smaller than the source volume's {} GiB.",
                    src.size
                )));
            }
            if src.status != Status::Available && src.status != Status::InUse {
                return Err(VolumeError::Invalid(format!(
                    "Invalid volume: source volume {} is {}.",
                    src.id,
                    src.status.as_str()
                )));
            }
        }
        let vtype = self.type_for(req.volume_type.as_deref()).await?;
        // As in Cinder, a multi-attach volume needs a type that allows it.
        let multiattach = req.multiattach || vtype.multiattach();
        if req.multiattach && !vtype.multiattach() {
            return Err(VolumeError::Invalid(format!(
                "Invalid input received: multiattach volumes need a volume type with multiattach=\"<is> True\"; {} has none.",
                vtype.name
            )));
        }
        let limits = self.limits(&project).await?;
        Self::check_volume_size(&limits, size)?;
        let availability_zone = match req.availability_zone {
            Some(az) if az != self.inner.cfg.availability_zone => {
                return Err(VolumeError::Invalid(format!(
                    "Invalid input received: Availability zone '{az}' is invalid."
                )))
            }
            _ => self.inner.cfg.availability_zone.clone(),
        };
        let now = now_micros();
        let v = Volume {
            id: uuid::Uuid::new_v4().to_string(),
            name: req.name.unwrap_or_default(),
            description: req.description.unwrap_or_default(),
            project_id: project,
            size,
            status: Status::Creating,
            volume_type: Some(vtype.name.clone()),
            availability_zone,
            bootable: image.is_some() || source.as_ref().or(snapshot_volume.as_ref()).is_some_and(|s| s.bootable),
            multiattach,
            source_volid: source.as_ref().map(|s| s.id.clone()),
            snapshot_id: snapshot.as_ref().map(|s| s.id.clone()),
            image_id: image.as_ref().map(|i| i.id.clone()),
            metadata: req.metadata,
            image_metadata: match (&image, &source) {
                (Some(i), _) => i.metadata.clone(),
                (None, Some(s)) => s.image_metadata.clone(),
                (None, None) => snapshot_volume
                    .as_ref()
                    .map(|s| s.image_metadata.clone())
                    .unwrap_or_default(),
            },
            created_at: now,
            updated_at: now,
            user_id: caller.user_id.clone(),
            admin_metadata: Default::default(),
        };
        let ask = db::Ask {
            volumes: 1,
            gigabytes: size as i64,
            ..Default::default()
        };
        db::insert_within_quota(self.db(), &v, Self::quota_check(&limits, ask)).await??;
        let svc = self.clone();
        let (id, from, snap) = (v.id.clone(), v.source_volid.clone(), v.snapshot_id.clone());
        let token = caller.token.clone();
        tokio::spawn(async move {
            let made = match (&from, &snap, &image) {
                (Some(src), _, _) => svc
                    .inner
                    .backend
                    .clone_volume(&id, src, size)
                    .await
                    .map_err(|e| e.to_string()),
                (None, Some(s), _) => svc
                    .inner
                    .backend
                    .create_from_snapshot(&id, s, size)
                    .await
                    .map_err(|e| e.to_string()),
                (None, None, Some(i)) => svc.fill_from_image(&id, i, &token, size).await,
                (None, None, None) => svc.inner.backend.create(&id, size).await.map_err(|e| e.to_string()),
            };
            let t = match &made {
                Ok(()) => Transition::Created,
                Err(e) => {
                    tracing::error!(volume = %id, error = %e, "creating the volume failed");
                    Transition::CreateFailed
                }
            };
            let to = Status::Creating.can_become(t, false).unwrap_or(Status::Error);
            if let Err(e) = db::transition(svc.db(), &id, Status::Creating, to, None).await {
                tracing::error!(volume = %id, error = %e, "recording the volume's status failed");
            }
        });
        Ok(v)
    }

    /// A size the backend cannot hold is the caller's mistake (400), found before any quota
    /// sum or file sees it.
    fn check_backend_size(&self, size: u64) -> Result<()> {
        let max = self.inner.backend.max_size_gib();
        if size > max {
            return Err(VolumeError::Invalid(format!(
                "Invalid input received: volume size {size} GiB is larger than this backend can hold; the largest volume is {max} GiB."
            )));
        }
        Ok(())
    }

    /// Downloads the image to the scratch directory and has the backend convert it.
    async fn fill_from_image(
        &self,
        id: &str,
        image: &crate::images::ImageInfo,
        token: &str,
        size: u64,
    ) -> std::result::Result<(), String> {
        let images = self.inner.images.get().ok_or("no image source")?;
        let tmp = self
            .inner
            .cfg
            .scratch_dir
            .join(format!("stratus-image-download-{}", uuid::Uuid::new_v4().simple()));
        let result = async {
            images.download(token, image, &tmp).await.map_err(|e| e.to_string())?;
            self.inner
                .backend
                .create_from_file(id, &tmp, &image.disk_format, size)
                .await
                .map_err(|e| e.to_string())
        }
        .await;
        let _ = tokio::fs::remove_file(&tmp).await;
        result
    }

    pub async fn get_volume(&self, caller: &AuthContext, id: &str) -> Result<Volume> {
        let v = self.visible(caller, id).await?;
        self.inner
            .policy
            .enforce("volume:get", caller, &target(&v.project_id))?;
        Ok(v)
    }

    /// Volumes the caller may see that match `filter`, a page at a time (one more than the
    /// page's limit, so the caller knows whether there is a next page).
    pub async fn list_volumes(&self, caller: &AuthContext, filter: &VolumeFilter, page: &Page) -> Result<Vec<Volume>> {
        self.inner.policy.enforce(
            "volume:get_all",
            caller,
            &Target::new().opt("project_id", caller.project_id()),
        )?;
        let mut q = filter.clone();
        if filter.all_projects {
            self.inner
                .policy
                .enforce("volume:get_all_projects", caller, &Target::new())?;
        } else {
            q.project_id = Some(caller.project_id().unwrap_or("").to_owned());
        }
        Ok(db::list(self.db(), &q, page).await?)
    }

    /// Checks that the caller may list the service's processes (`os-services`).
    pub fn list_services(&self, caller: &AuthContext) -> Result<()> {
        Ok(self
            .inner
            .policy
            .enforce("volume_extension:services:index", caller, &Target::new())?)
    }

    /// Name, description, metadata (all of it) and the bootable flag.
    pub async fn update_volume(&self, caller: &AuthContext, id: &str, u: &VolumeUpdate) -> Result<Volume> {
        let v = self.visible(caller, id).await?;
        self.inner
            .policy
            .enforce("volume:update", caller, &target(&v.project_id))?;
        if let Some(name) = &u.name {
            check_len("name", name, 255)?;
        }
        if let Some(d) = &u.description {
            check_len("description", d, 255)?;
        }
        if let Some(m) = &u.metadata {
            check_metadata(m)?;
        }
        if !db::update(self.db(), id, u).await? {
            return Err(VolumeError::NotFound(id.to_owned()));
        }
        self.visible(caller, id).await
    }

    /// Adds to (or, with `replace`, replaces) a volume's metadata; returns all of it.
    pub async fn set_metadata(
        &self,
        caller: &AuthContext,
        id: &str,
        items: BTreeMap<String, String>,
        replace: bool,
    ) -> Result<BTreeMap<String, String>> {
        let v = self.visible(caller, id).await?;
        self.inner
            .policy
            .enforce("volume:update_volume_metadata", caller, &target(&v.project_id))?;
        let metadata = if replace {
            items
        } else {
            let mut m = v.metadata.clone();
            m.extend(items);
            m
        };
        check_metadata(&metadata)?;
        let u = VolumeUpdate {
            metadata: Some(metadata),
            ..Default::default()
        };
        Ok(self.update_volume(caller, id, &u).await?.metadata)
    }

    pub async fn delete_metadata_key(&self, caller: &AuthContext, id: &str, key: &str) -> Result<()> {
        let v = self.visible(caller, id).await?;
        self.inner
            .policy
            .enforce("volume:delete_volume_metadata", caller, &target(&v.project_id))?;
        let mut m = v.metadata.clone();
        if m.remove(key).is_none() {
            return Err(VolumeError::MetadataNotFound(id.to_owned(), key.to_owned()));
        }
        let u = VolumeUpdate {
            metadata: Some(m),
            ..Default::default()
        };
        db::update(self.db(), id, &u).await?;
        Ok(())
    }

    /// `os-reset_status`, for administrators repairing what an error left behind. With
    /// `attach_status: detached`, the volume's attachments are removed as well.
    pub async fn reset_status(
        &self,
        caller: &AuthContext,
        id: &str,
        status: Option<&str>,
        attach_status: Option<&str>,
    ) -> Result<Volume> {
        let v = self.visible(caller, id).await?;
        self.inner.policy.enforce(
            "volume_extension:volume_admin_actions:reset_status",
            caller,
            &target(&v.project_id),
        )?;
        let detach = match attach_status {
            None => false,
            Some("detached") => true,
            Some("attached") => false,
            Some(other) => {
                return Err(VolumeError::Invalid(format!(
                    "Invalid input received: attach_status '{other}' must be attached or detached."
                )))
            }
        };
        let to =
            match status {
                Some(s) => Status::parse(s).ok_or_else(|| {
                    VolumeError::Invalid(format!(
                        "Invalid input received: '{s}' is not a volume status ({}).",
                        Status::ALL.map(|s| s.as_str()).join(", ")
                    ))
                })?,
                None if detach => Status::Available,
                None => return Err(VolumeError::Invalid(
                    "Invalid input received: Must specify 'status', 'attach_status' or 'migration_status' for update."
                        .into(),
                )),
            };
        let to = v.status.can_become(Transition::Reset(to), v.multiattach).unwrap_or(to);
        db::reset_status(self.db(), id, to, detach).await?;
        tracing::warn!(volume = %id, from = v.status.as_str(), to = to.as_str(), "status reset by an administrator");
        self.visible(caller, id).await
    }

    /// `os-extend`: grows an available volume in the background.
    pub async fn extend_volume(&self, caller: &AuthContext, id: &str, new_size: u64) -> Result<()> {
        let v = self.visible(caller, id).await?;
        self.inner
            .policy
            .enforce("volume:extend", caller, &target(&v.project_id))?;
        if new_size <= v.size {
            return Err(VolumeError::Invalid(format!(
                "Invalid input received: New size for extend must be greater than current size. (current: {}, extended: {new_size}).",
                v.size
            )));
        }
        let to = v
            .status
            .can_become(Transition::ExtendStart, v.multiattach)
            .ok_or_else(|| {
                VolumeError::Invalid(format!(
                    "Invalid volume: Volume {id} status must be available to extend, but current status is: {}.",
                    v.status.as_str()
                ))
            })?;
        self.check_backend_size(new_size)?;
        let limits = self.limits(&v.project_id).await?;
        Self::check_volume_size(&limits, new_size)?;
        let ask = db::Ask {
            gigabytes: (new_size - v.size) as i64,
            ..Default::default()
        };
        let check = Self::quota_check(&limits, ask);
        if to != Status::Extending || !db::start_extend_within_quota(self.db(), &v, v.status, new_size, check).await?? {
            return Err(VolumeError::Invalid(format!(
                "Invalid volume: Volume {id} changed status; try again."
            )));
        }
        let svc = self.clone();
        let id = id.to_owned();
        tokio::spawn(async move {
            let (to, size) = match svc.inner.backend.extend(&id, new_size).await {
                Ok(()) => (Status::Available, Some(new_size)),
                Err(e) => {
                    tracing::error!(volume = %id, error = %e, "extending the volume failed");
                    (Status::ErrorExtending, None)
                }
            };
            if let Err(e) = db::transition(svc.db(), &id, Status::Extending, to, size).await {
                tracing::error!(volume = %id, error = %e, "recording the volume's status failed");
            }
        });
        Ok(())
    }

    /// Deletes a volume that is not attached: its data, then its record.
    /// With `cascade`, its snapshots go first (as Cinder's `cascade=True`).
    pub async fn delete_volume(&self, caller: &AuthContext, id: &str, cascade: bool) -> Result<()> {
        let v = self.visible(caller, id).await?;
        self.inner
            .policy
            .enforce("volume:delete", caller, &target(&v.project_id))?;
        if cascade {
            if v.status.can_become(Transition::DeleteStart, v.multiattach).is_none() {
                return Err(VolumeError::Invalid(format!(
                    "Invalid volume: Volume {id} status must be available or error to delete, but the current status is: {}.",
                    v.status.as_str()
                )));
            }
            let f = crate::model::SnapshotFilter {
                all_projects: true,
                volume_id: Some(id.to_owned()),
                ..Default::default()
            };
            for s in db::list_snapshots(self.db(), &f, &Page::default()).await? {
                self.delete_snapshot(caller, &s.id).await?;
            }
        }
        if db::snapshot_count(self.db(), id).await? > 0 {
            return Err(VolumeError::Invalid(format!(
                "Invalid volume: Volume {id} still has dependent snapshots."
            )));
        }
        let to = v.status.can_become(Transition::DeleteStart, v.multiattach).ok_or_else(|| {
            VolumeError::Invalid(format!(
                "Invalid volume: Volume status must be available or error or error_restoring or error_extending or error_managing and must not be migrating, attached, belong to a group, have snapshots, awaiting a transfer, or be disassociated from snapshots after volume transfer. (current status: {})",
                v.status.as_str()
            ))
        })?;
        if !db::transition(self.db(), id, v.status, to, None).await? {
            return Err(VolumeError::Invalid(format!(
                "Invalid volume: Volume {id} changed status; try again."
            )));
        }
        match self.inner.backend.delete(id).await {
            Ok(()) => Ok(db::mark_deleted(self.db(), id).await?),
            Err(e) => {
                db::transition(self.db(), id, Status::Deleting, Status::ErrorDeleting, None).await?;
                Err(e.into())
            }
        }
    }
}

fn check_len(what: &str, value: &str, max: usize) -> Result<()> {
    if value.chars().count() > max {
        return Err(VolumeError::Invalid(format!(
            "Invalid input received: {what} has more than {max} characters."
        )));
    }
    Ok(())
}

/// Cinder's limits on metadata: keys of 1 to 255 characters, values of at most 255.
pub(crate) fn check_metadata(m: &BTreeMap<String, String>) -> Result<()> {
    for (k, v) in m {
        if k.is_empty() {
            return Err(VolumeError::Invalid(
                "Invalid input received: Metadata property key blank.".into(),
            ));
        }
        if k.chars().count() > 255 {
            return Err(VolumeError::Invalid(format!(
                "Invalid input received: Metadata property key {k:.20}... is greater than 255 characters."
            )));
        }
        if v.chars().count() > 255 {
            return Err(VolumeError::Invalid(format!(
                "Invalid input received: Metadata property value for key {k} is greater than 255 characters."
            )));
        }
    }
    Ok(())
}
