//! A volume as the service and its callers see it.

use std::collections::BTreeMap;

use crate::status::Status;

#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    pub id: String,
    pub name: String,
    pub description: String,
    pub project_id: String,
    /// GiB.
    pub size: u64,
    pub status: Status,
    pub volume_type: Option<String>,
    pub availability_zone: String,
    pub bootable: bool,
    pub multiattach: bool,
    pub source_volid: Option<String>,
    pub snapshot_id: Option<String>,
    pub image_id: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// `volume_image_metadata`: the image's properties, for a volume made from an image.
    pub image_metadata: BTreeMap<String, String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The user who created it.
    pub user_id: String,
    /// Cinder's administrative metadata (`readonly`), shown merged into the metadata.
    pub admin_metadata: BTreeMap<String, String>,
}

/// A request to create a volume, validated by the service.
#[derive(Debug, Clone, Default)]
pub struct NewVolume {
    pub size: Option<u64>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub volume_type: Option<String>,
    pub availability_zone: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub source_volid: Option<String>,
    pub snapshot_id: Option<String>,
    /// An image id (Cinder's `imageRef`).
    pub image_ref: Option<String>,
    pub multiattach: bool,
}

/// What a user may change of a volume; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct VolumeUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    /// Replaces all of the volume's metadata.
    pub metadata: Option<BTreeMap<String, String>>,
    pub bootable: Option<bool>,
}

/// Which volumes a list returns.
#[derive(Debug, Clone, Default)]
pub struct VolumeFilter {
    /// Every project's volumes (administrators only).
    pub all_projects: bool,
    /// With `all_projects`, one project's.
    pub project_id: Option<String>,
    pub name: Option<String>,
    pub status: Option<String>,
    pub availability_zone: Option<String>,
    pub bootable: Option<bool>,
    pub user_id: Option<String>,
    /// Volumes carrying all of these metadata items.
    pub metadata: BTreeMap<String, String>,
}

/// Which snapshots a list returns.
#[derive(Debug, Clone, Default)]
pub struct SnapshotFilter {
    pub all_projects: bool,
    pub project_id: Option<String>,
    pub volume_id: Option<String>,
    pub name: Option<String>,
    pub status: Option<String>,
}

/// A volume attachment (Cinder's attachments API, microversion 3.27 and later).
#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    pub id: String,
    pub volume_id: String,
    pub project_id: String,
    pub instance_uuid: String,
    /// `reserved`, `attaching` or `attached`.
    pub status: String,
    pub attach_mode: String,
    /// The compute host's connector, once given.
    pub connector: Option<serde_json::Value>,
    /// What the host attaches, once it gave its connector.
    pub connection_info: Option<serde_json::Value>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A point-in-time copy of a volume.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub id: String,
    pub volume_id: String,
    pub project_id: String,
    pub name: String,
    pub description: String,
    /// GiB, the volume's size when taken.
    pub size: u64,
    /// `creating`, `available`, `deleting`, `error` or `error_deleting`.
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub user_id: String,
    pub metadata: std::collections::BTreeMap<String, String>,
}

/// A volume type: a name users pick, with extra specs that decide what volumes of it can do
/// (`multiattach: "<is> True"` allows multi-attach, as in Cinder).
#[derive(Debug, Clone, PartialEq)]
pub struct VolumeType {
    pub id: String,
    pub name: String,
    pub description: String,
    pub is_public: bool,
    pub extra_specs: BTreeMap<String, String>,
}

impl VolumeType {
    pub fn multiattach(&self) -> bool {
        self.extra_specs
            .get("multiattach")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("<is> true"))
    }
}
