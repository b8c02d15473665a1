//! The Image service (Glance v2): image records, their data in a store, who may see them.
//!
//! In the seed's flow the compute agent fetches the image a server boots from by id; this
//! service keeps those images: records with Glance's statuses, visibility and members, data
//! streamed into a store with its MD5 and SHA-512 computed on the way, and every upload
//! inspected so that a disguised or booby-trapped disk image never becomes `active`.
//!
//! This crate holds the service logic, its records and its stores; it must not know HTTP
//! paths or JSON envelopes (that is `stratus-image-api`), and it never trusts a header of
//! uploaded data enough to let a tool follow the files it names.

mod attrs;
mod data;
mod db;
mod error;
mod images;
mod ingest;
pub mod inspect;
mod members;
pub mod model;
pub mod stores;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use stratus_api::policy::Policy;
use stratus_api::{AuthContext, Target};
use stratus_store::{Db, Location};

pub use attrs::{check_writable, Change};
pub use data::{ByteRange, ByteStream, Download, DownloadData, Upload};
pub use db::{Cmp, ImageQuery, SortKey, TimeFilter, VisibilityFilter};
pub use error::{ImageError, Result};
pub use stores::{FilesystemStore, ImageStore};

/// The default policy rules of the Image service.
pub const DEFAULT_POLICY: &str = include_str!("policy.yaml");

/// How the service runs.
#[derive(Debug, Clone)]
pub struct ImageConfig {
    /// Where the filesystem store keeps image data, and the staging area of imports.
    pub data_dir: PathBuf,
    /// Images a project may hold; None for no limit.
    pub quota_images: Option<u64>,
    /// Bytes of image data a project may hold; None for no limit.
    pub quota_bytes: Option<u64>,
    /// The largest image accepted (Glance's image_size_cap, 1 TiB by default).
    pub max_image_size: u64,
    pub qemu_img: PathBuf,
    pub inspect_timeout: Duration,
    /// Additional properties, tags and members an image may have.
    pub max_properties: usize,
    pub max_tags: usize,
    pub max_members: usize,
}

impl ImageConfig {
    pub fn new(data_dir: PathBuf) -> Self {
        ImageConfig {
            data_dir,
            quota_images: None,
            quota_bytes: None,
            max_image_size: 1 << 40,
            qemu_img: PathBuf::from("qemu-img"),
            inspect_timeout: Duration::from_secs(60),
            max_properties: 128,
            max_tags: 128,
            max_members: 128,
        }
    }
}

/// The Image service. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct ImageService {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    cfg: ImageConfig,
    policy: Policy,
    store: Arc<dyn ImageStore>,
    /// Imports are staged here before they go into the store.
    staging: FilesystemStore,
    inspector: inspect::Inspector,
}

impl ImageService {
    /// Opens the records (migrating them) and the filesystem store under `cfg.data_dir`, and
    /// repairs what a crash left half-done.
    pub async fn open(location: &Location, cfg: ImageConfig, policy: Policy) -> Result<Self> {
        let store = FilesystemStore::open(&cfg.data_dir.join("store"))
            .map_err(|e| ImageError::internal(format!("opening the image store in {}", cfg.data_dir.display()), e))?;
        Self::open_with_store(location, cfg, policy, Arc::new(store)).await
    }

    pub async fn open_with_store(
        location: &Location,
        cfg: ImageConfig,
        policy: Policy,
        store: Arc<dyn ImageStore>,
    ) -> Result<Self> {
        let db = Db::open(location, "image", &db::MIGRATOR).await?;
        let staging = FilesystemStore::open(&cfg.data_dir.join("staging"))
            .map_err(|e| ImageError::internal("opening the image staging area", e))?;
        let inspector = inspect::Inspector {
            qemu_img: cfg.qemu_img.clone(),
            timeout: cfg.inspect_timeout,
        };
        let svc = ImageService {
            inner: Arc::new(Inner {
                db,
                cfg,
                policy,
                store,
                staging,
                inspector,
            }),
        };
        svc.recover().await?;
        Ok(svc)
    }

    pub fn config(&self) -> &ImageConfig {
        &self.inner.cfg
    }

    /// The stores images are kept in, as `(id, description, default)`.
    pub fn stores(&self) -> Vec<(String, String, bool)> {
        vec![(
            self.inner.store.id().to_owned(),
            self.inner.store.description().to_owned(),
            true,
        )]
    }

    /// The import methods this service runs.
    pub fn import_methods(&self) -> &'static [&'static str] {
        &["glance-direct"]
    }

    pub async fn close(&self) {
        self.inner.db.close().await;
    }

    fn db(&self) -> &Db {
        &self.inner.db
    }

    fn enforce(&self, action: &str, caller: &AuthContext, target: &Target) -> Result<()> {
        Ok(self.inner.policy.enforce(action, caller, target)?)
    }
}

/// The policy target of an image: its owner, as Glance's `project_id:%(owner)s` rules use it.
fn target(image: &model::Image) -> Target {
    Target::new().opt("owner", image.owner.as_deref())
}

/// Whether `caller` acts as an administrator of images.
fn is_admin(caller: &AuthContext) -> bool {
    caller.has_role("admin")
}

/// Unix microseconds as Glance prints times: `2026-11-25T15:09:56Z`.
pub fn format_time(micros: i64) -> String {
    stratus_api::time::seconds_z(micros)
}
