//! Flavors and keypairs as the service and its callers see them.

use std::collections::BTreeMap;

/// A size of guest: memory, vCPUs and disks.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Flavor {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub memory_mb: i64,
    pub vcpus: i64,
    pub root_gb: i64,
    pub ephemeral_gb: i64,
    /// MiB.
    pub swap: i64,
    pub rxtx_factor: f64,
    pub is_public: bool,
    pub disabled: bool,
    pub extra_specs: BTreeMap<String, String>,
}

/// A request to create a flavor; `id` is made when not given (or `auto`).
#[derive(Debug, Clone, Default)]
pub struct NewFlavor {
    pub id: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub memory_mb: i64,
    pub vcpus: i64,
    pub root_gb: i64,
    pub ephemeral_gb: i64,
    pub swap: i64,
    pub rxtx_factor: f64,
    pub is_public: bool,
}

/// A user's public key, which guests get in their metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Keypair {
    pub id: i64,
    pub user_id: String,
    pub name: String,
    /// `ssh` or `x509` (see [`crate::KeyType`]).
    pub key_type: String,
    /// Exactly as the user gave it (an OpenSSH public key, or a PEM certificate for `x509`).
    pub public_key: String,
    /// As Nova shows it, colon-separated hex: the MD5 of an SSH key's blob, the SHA-1 of a
    /// certificate's DER.
    pub fingerprint: String,
    pub created_at: i64,
}

/// The networks a server asked for.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestedNetworks {
    /// No network at all.
    None,
    /// The project's network, when it has exactly one usable network.
    Auto,
    List(Vec<NetworkRequest>),
}

#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct NetworkRequest {
    pub network_id: Option<String>,
    pub port_id: Option<String>,
    pub fixed_ip: Option<String>,
    /// Security groups of the port made for this request (none given: the project's
    /// `default`); ports the user made keep their own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<SecurityGroupRef>,
}

#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct SecurityGroupRef {
    pub id: String,
    pub name: String,
}

/// A volume a server boots from or starts with.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BlockDevice {
    /// An existing volume, or (with `size_gb`) an image to make a volume from at build.
    pub volume_id: Option<String>,
    pub image_id: Option<String>,
    pub size_gb: Option<u64>,
    /// The root disk (boot_index 0).
    pub boot: bool,
    pub delete_on_termination: bool,
    /// The volume type (name or id) of a volume made at build (2.67).
    #[serde(default)]
    pub volume_type: Option<String>,
}

/// One address of a server, from its port.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Address {
    pub addr: String,
    pub version: u8,
    pub mac: String,
    pub port_id: String,
}

/// Why a server is in error, as Nova shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Fault {
    pub code: u16,
    pub message: String,
    pub details: String,
    pub created: i64,
}

/// A server: the record the API writes and the pipeline moves through its states.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Instance {
    pub id: String,
    pub name: String,
    pub project_id: String,
    pub user_id: String,
    pub flavor: Flavor,
    pub image_id: Option<String>,
    pub host: Option<String>,
    /// building, active, stopped, paused, error, deleted
    pub vm_state: String,
    /// scheduling, networking, block_device_mapping, spawning, powering-off, ...
    pub task_state: Option<String>,
    /// Nova's power state numbers (0 NOSTATE, 1 RUNNING, 3 PAUSED, 4 SHUTDOWN).
    pub power_state: i64,
    pub availability_zone: Option<String>,
    /// The zone was not asked for but taken from the host the server was scheduled to: a
    /// reschedule may go to any zone (and takes its new host's).
    #[serde(default)]
    pub zone_from_host: bool,
    pub key_name: Option<String>,
    pub key_data: Option<String>,
    pub user_data: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub config_drive: bool,
    pub requested_networks: RequestedNetworks,
    /// Volumes to map at build (boot from volume, and data volumes given at create).
    pub block_devices: Vec<BlockDevice>,
    /// A free-form description (2.19).
    pub description: Option<String>,
    /// Tags (2.26), in the order they were added.
    pub tags: Vec<String>,
    /// Network name to its addresses.
    pub addresses: BTreeMap<String, Vec<Address>>,
    /// Ports the pipeline made for this server (and deletes with it).
    pub ports: Vec<String>,
    pub fault: Option<Fault>,
    pub locked: bool,
    pub attempts: Vec<String>,
    pub alternates: Vec<String>,
    pub claimed: bool,
    pub task_deadline: Option<i64>,
    pub launched_at: Option<i64>,
    /// When it stopped counting (deleted): os-simple-tenant-usage bills up to here.
    #[serde(default)]
    pub terminated_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub attrs: ServerAttrs,
}

/// What a user sets on a server that has no column of its own: what Nova keeps and shows,
/// and the destination an administrator asked for.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ServerAttrs {
    /// `accessIPv4` / `accessIPv6`: addresses the user says reach the server (IPv6 in its
    /// canonical text, as Nova stores it).
    #[serde(default)]
    pub access_ip_v4: Option<String>,
    #[serde(default)]
    pub access_ip_v6: Option<String>,
    /// `OS-DCF:diskConfig` AUTO (true) or MANUAL.
    #[serde(default)]
    pub auto_disk_config: bool,
    /// The reservation of the create request that made it (`r-` and 8 characters), shared by
    /// the servers of one multiple create, and the server's index in it.
    #[serde(default)]
    pub reservation_id: String,
    #[serde(default)]
    pub launch_index: u32,
    /// Why the server is locked (2.73); cleared by unlock.
    #[serde(default)]
    pub locked_reason: Option<String>,
    /// `trusted_image_certificates` (2.63): certificate ids the image's signature is to be
    /// checked against. Kept and shown as Nova does with `verify_glance_signatures` off (its
    /// default); Stratus does not verify image signatures.
    #[serde(default)]
    pub trusted_image_certificates: Option<Vec<String>>,
    /// The host an administrator asked the server to be built on (2.74's `host` or
    /// `hypervisor_hostname`; they are the same name here): the scheduler's only candidate,
    /// still filtered, for the first build and every reschedule.
    #[serde(default)]
    pub requested_host: Option<String>,
}

/// A step of what was done to a server (`os-instance-actions`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InstanceAction {
    pub instance_id: String,
    pub request_id: String,
    pub action: String,
    pub project_id: String,
    pub user_id: String,
    pub start_time: i64,
    pub finish_time: Option<i64>,
    pub message: Option<String>,
    pub events: Vec<ActionEvent>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ActionEvent {
    pub event: String,
    pub start_time: i64,
    pub finish_time: Option<i64>,
    /// Success or Error, once finished.
    pub result: Option<String>,
    pub host: Option<String>,
    pub details: Option<String>,
}

/// A compute host as the scheduler and the admin APIs see it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ComputeNode {
    /// Nova's integer id of the hypervisor and of its service (before microversion 2.53).
    #[serde(default)]
    pub id: i64,
    pub host: String,
    /// The uuid of the hypervisor and of its service (from microversion 2.53).
    pub service_id: String,
    /// The zone of the host: that of the aggregates it is in (their `availability_zone`
    /// metadata), else the one its agent reports (the default zone).
    pub availability_zone: String,
    pub hypervisor_type: String,
    pub hypervisor_version: i64,
    /// The address the host's agent reaches the control plane from (Nova's `host_ip`).
    #[serde(default)]
    pub host_ip: Option<String>,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub disk_gb: i64,
    pub vcpus_used: i64,
    pub memory_mb_used: i64,
    pub disk_gb_used: i64,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub heartbeat_at: i64,
    /// Live servers placed on the host (Nova's `running_vms`), counted when the node is read.
    pub running_vms: i64,
    /// Servers on the host in a task that loads it (Nova's `current_workload`: builds).
    #[serde(default)]
    pub current_workload: i64,
}
