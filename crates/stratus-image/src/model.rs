//! What an image is, as the service and its callers see it.

use std::collections::BTreeMap;

/// The life of an image (Glance's statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// A record with no data yet.
    Queued,
    /// Data is being uploaded straight into the store.
    Saving,
    /// Data has been staged for an import.
    Uploading,
    /// A staged import is being moved into the store.
    Importing,
    Active,
    /// An upload failed in transit; the data is gone and the record can only be deleted.
    Killed,
    Deactivated,
    /// Deleted; its data is being removed.
    PendingDelete,
    Deleted,
}

impl Status {
    pub const ALL: [Status; 9] = [
        Status::Queued,
        Status::Saving,
        Status::Uploading,
        Status::Importing,
        Status::Active,
        Status::Killed,
        Status::Deactivated,
        Status::PendingDelete,
        Status::Deleted,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Saving => "saving",
            Status::Uploading => "uploading",
            Status::Importing => "importing",
            Status::Active => "active",
            Status::Killed => "killed",
            Status::Deactivated => "deactivated",
            Status::PendingDelete => "pending_delete",
            Status::Deleted => "deleted",
        }
    }
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    Public,
    Private,
    Shared,
    Community,
}

impl Visibility {
    pub const ALL: [Visibility; 4] = [
        Visibility::Public,
        Visibility::Private,
        Visibility::Shared,
        Visibility::Community,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
            Visibility::Shared => "shared",
            Visibility::Community => "community",
        }
    }
    pub fn parse(s: &str) -> Option<Visibility> {
        Visibility::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Disk formats Glance accepts by default.
pub const DISK_FORMATS: &[&str] = &[
    "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop",
];
/// Container formats Glance accepts by default.
pub const CONTAINER_FORMATS: &[&str] = &["ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"];

/// An image record.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub id: String,
    pub name: Option<String>,
    pub status: Status,
    pub visibility: Visibility,
    pub owner: Option<String>,
    pub protected: bool,
    pub os_hidden: bool,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    pub min_disk: i64,
    pub min_ram: i64,
    pub size: Option<i64>,
    pub virtual_size: Option<i64>,
    pub checksum: Option<String>,
    pub os_hash_algo: Option<String>,
    pub os_hash_value: Option<String>,
    /// The id of the store holding the data, once there is data.
    pub store: Option<String>,
    pub(crate) location: Option<String>,
    /// Unix microseconds.
    pub created_at: i64,
    pub updated_at: i64,
    /// Additional properties (Glance's "extra properties"), always strings.
    pub properties: BTreeMap<String, String>,
    pub tags: Vec<String>,
}

impl Image {
    /// A new record with no data: Glance's defaults, visibility `shared` (since Ocata, so that
    /// members can be added without a change of visibility).
    pub fn queued(id: String, owner: Option<String>, now: i64) -> Image {
        Image {
            id,
            name: None,
            status: Status::Queued,
            visibility: Visibility::Shared,
            owner,
            protected: false,
            os_hidden: false,
            disk_format: None,
            container_format: None,
            min_disk: 0,
            min_ram: 0,
            size: None,
            virtual_size: None,
            checksum: None,
            os_hash_algo: None,
            os_hash_value: None,
            store: None,
            location: None,
            created_at: now,
            updated_at: now,
            properties: BTreeMap::new(),
            tags: Vec::new(),
        }
    }
}

/// Whether a member has taken up an image shared with its project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberStatus {
    Pending,
    Accepted,
    Rejected,
}

impl MemberStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Pending => "pending",
            MemberStatus::Accepted => "accepted",
            MemberStatus::Rejected => "rejected",
        }
    }
    pub fn parse(s: &str) -> Option<MemberStatus> {
        [MemberStatus::Pending, MemberStatus::Accepted, MemberStatus::Rejected]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub image_id: String,
    /// A project id.
    pub member_id: String,
    pub status: MemberStatus,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Usage of one project against its quotas.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    pub image_count: i64,
    pub image_count_limit: Option<u64>,
    pub image_size_total: i64,
    pub image_size_limit: Option<u64>,
    pub image_stage_total: i64,
    pub image_count_uploading: i64,
}
