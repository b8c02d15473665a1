//! The messages between the compute API, the conductor, the scheduler and the agents: topics,
//! versions and argument types. Both ends compile against these, so a change here is a change
//! of the wire: bump the version.

use serde::{Deserialize, Serialize};

pub const CONDUCTOR: &str = "conductor";
pub const SCHEDULER: &str = "scheduler";
/// Every message of these topics is at this version.
pub const VERSION: &str = "1.0";

/// The topic of one host's agent.
pub fn compute_topic(host: &str) -> String {
    format!("compute.{host}")
}

/// The instance a message is about, and the API request that started the work.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct InstanceRef {
    pub instance_id: String,
    pub request_id: String,
    /// The password a build gives the guest (through its config drive): it rides the build's
    /// messages and is never stored, as Nova's `admin_password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_pass: Option<String>,
}

/// A change of an instance's state the agent asks the conductor to record.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct InstanceUpdate {
    pub instance_id: String,
    pub vm_state: Option<String>,
    /// The new task state; with `clear_task_state`, none.
    pub task_state: Option<String>,
    pub clear_task_state: bool,
    pub power_state: Option<i64>,
    /// Network name to addresses, as JSON in the shape of the model.
    pub addresses: Option<serde_json::Value>,
    pub ports: Option<Vec<String>>,
    pub launched: bool,
    /// With `check_task_state`: only if the task state is still this (None: no task).
    pub expected_task_state: Option<String>,
    pub check_task_state: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventStart {
    pub instance_id: String,
    pub request_id: String,
    pub event: String,
    pub host: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventFinish {
    pub instance_id: String,
    pub request_id: String,
    pub event: String,
    pub ok: bool,
    pub details: Option<String>,
}

/// A build failed on `host`: the conductor releases the claim and tries another host, or,
/// with `abort`, ends the build in ERROR at once (no host can do better: a quota of the
/// user's is used up).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reschedule {
    pub instance_id: String,
    pub request_id: String,
    pub host: String,
    pub reason: String,
    #[serde(default)]
    pub abort: bool,
    /// The build's admin password, for the next host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_pass: Option<String>,
}

/// What an agent reports of its host, on start and then periodically (its heartbeat).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeReport {
    pub host: String,
    pub availability_zone: String,
    pub hypervisor_type: String,
    pub hypervisor_version: i64,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub disk_gb: i64,
    /// The address the host reaches the control plane from (Nova's `my_ip`), when known.
    #[serde(default)]
    pub host_ip: Option<String>,
}

/// The guest-facing view of an instance the agent builds from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuildInfo {
    pub instance_id: String,
    pub name: String,
    pub project_id: String,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub root_gb: i64,
    pub image_id: Option<String>,
    pub availability_zone: Option<String>,
    pub user_data: Option<String>,
    pub metadata: std::collections::BTreeMap<String, String>,
    pub config_drive: bool,
    pub key_data: Option<String>,
    #[serde(default)]
    pub key_name: Option<String>,
    pub vm_state: String,
    #[serde(default)]
    pub power_state: Option<i64>,
    pub task_state: Option<String>,
    /// `"none"`, `"auto"` or a list of requests, as the model stores them.
    pub requested_networks: serde_json::Value,
    pub ports: Vec<String>,
    pub host: Option<String>,
    /// Volumes mapped to the server, for a delete to detach (and delete, where asked).
    #[serde(default)]
    pub volume_attachments: Vec<MappedVolume>,
    /// Volumes to boot from or start with, as the model stores them.
    #[serde(default)]
    pub block_devices: serde_json::Value,
}

/// A volume mapped to a server, with the Volume service's attachment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MappedVolume {
    pub volume_id: String,
    pub attachment_id: String,
    pub device: String,
    pub delete_on_termination: bool,
}

/// A power operation on a running guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PowerOp {
    Start,
    Stop,
    SoftReboot,
    HardReboot,
    Pause,
    Unpause,
}

/// A volume to attach to (or detach from) a guest on this host.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VolumeOp {
    pub instance_id: String,
    pub request_id: String,
    pub volume_id: String,
    pub attachment_id: String,
    pub device: String,
}

/// A step boundary of a build in one message: the event that ended, the state change, the
/// event that begins.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Step {
    pub finish: Option<EventFinish>,
    pub update: Option<InstanceUpdate>,
    pub start: Option<EventStart>,
}
