//! Hypervisor drivers: what the compute agent asks of the host's hypervisor (the seed's last
//! step, "executes request on Hypervisor").
//!
//! [`Driver`] is the interface; [`fake::FakeDriver`] keeps guests in memory, with a configurable
//! spawn delay and failure rate and host resources set by configuration, so one process can
//! pose as many hosts. The QEMU driver implements the same trait.
//!
//! A driver must not call other services or read any database: the agent hands it everything
//! (image path, ports, volumes' connection info) in a [`GuestSpec`].

pub mod configdrive;
pub mod fake;
pub mod qemu;
pub mod qga;
pub mod qmp;

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Nova's power states, with Nova's numbers (clients show them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PowerState {
    NoState = 0,
    Running = 1,
    Paused = 3,
    Shutdown = 4,
    Crashed = 6,
    Suspended = 7,
}

impl PowerState {
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// A NIC of a guest: a port of the Network service, plugged by the agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Nic {
    pub port_id: String,
    pub mac: String,
    pub network_id: String,
    /// The bridge the Network service bound the port to; the driver plugs the guest's TAP
    /// (`tap` + the port id's first 11 characters, as Nova names it) into it.
    pub bridge: Option<String>,
    /// The port's fixed addresses (the guest gets them by DHCP).
    #[serde(default)]
    pub ips: Vec<String>,
    #[serde(default = "default_mtu")]
    pub mtu: i64,
}

fn default_mtu() -> i64 {
    1500
}

/// The TAP device of a port, as Nova names it (`tap` and the port id's first 11 characters),
/// so that the Network service's dataplane and operators recognise it.
pub fn tap_name(port_id: &str) -> String {
    format!("tap{}", port_id.chars().take(11).collect::<String>())
}

/// A volume given to a guest, with the Volume service's `connection_info`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeAttach {
    pub volume_id: String,
    pub connection_info: serde_json::Value,
    /// The device name the guest should see it as (`/dev/vdb`), when asked.
    pub device: Option<String>,
}

/// Everything a driver needs to make a guest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GuestSpec {
    pub uuid: String,
    pub name: String,
    pub vcpus: u32,
    pub memory_mb: u64,
    pub root_gb: u64,
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub project_id: String,
    #[serde(default)]
    pub availability_zone: String,
    /// Key pair names and their public keys, for the config drive.
    #[serde(default)]
    pub public_keys: std::collections::BTreeMap<String, String>,
    /// A local file holding the base image, when the guest boots from one.
    pub image_path: Option<String>,
    /// The base image's format (`qcow2`, `raw`).
    #[serde(default)]
    pub image_format: Option<String>,
    /// A kernel and ramdisk to boot directly (the image's `kernel_id` / `ramdisk_id`), with
    /// the image's `os_command_line`.
    #[serde(default)]
    pub kernel_path: Option<String>,
    #[serde(default)]
    pub ramdisk_path: Option<String>,
    #[serde(default)]
    pub kernel_cmdline: Option<String>,
    pub nics: Vec<Nic>,
    pub volumes: Vec<VolumeAttach>,
    pub user_data: Option<String>,
    pub metadata: std::collections::BTreeMap<String, String>,
    pub config_drive: bool,
    /// The password cloud-init sets from the config drive (`admin_pass`); never written to
    /// the guest's saved spec.
    #[serde(skip)]
    pub admin_pass: Option<String>,
}

/// What the driver knows of one guest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuestInfo {
    pub power_state: PowerState,
    pub vcpus: u32,
    pub memory_mb: u64,
    pub volumes: Vec<String>,
}

/// What a host offers, before allocation ratios.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostResources {
    pub hostname: String,
    pub vcpus: u32,
    pub memory_mb: u64,
    pub disk_gb: u64,
    /// `fake`, `QEMU` (TCG) or `KVM`.
    pub hypervisor_type: String,
    pub hypervisor_version: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("guest {0} not found on this host")]
    NotFound(String),
    /// The guest's state forbids the operation (pausing a stopped guest).
    #[error("{0}")]
    InvalidState(String),
    #[error("{0} is not supported by the {1} driver")]
    Unsupported(&'static str, &'static str),
    #[error("{0}")]
    Failed(String),
}

pub type Result<T, E = DriverError> = std::result::Result<T, E>;

/// A hypervisor. Every operation is idempotent where that makes sense: destroying a guest
/// that is gone, or stopping one that is stopped, succeeds.
#[async_trait]
pub trait Driver: Send + Sync + 'static {
    /// `fake`, `qemu`.
    fn name(&self) -> &'static str;
    /// Whether guests need their image as a local file (`GuestSpec::image_path`): the agent
    /// then fetches it into the host's cache before spawning.
    fn needs_image_files(&self) -> bool {
        false
    }
    async fn host_resources(&self) -> Result<HostResources>;
    /// Makes and starts the guest; on failure nothing of it is left on the host.
    async fn spawn(&self, spec: &GuestSpec) -> Result<()>;
    async fn destroy(&self, uuid: &str) -> Result<()>;
    /// A clean shutdown within `timeout`, then a hard stop.
    async fn power_off(&self, uuid: &str, timeout: Duration) -> Result<()>;
    async fn power_on(&self, uuid: &str) -> Result<()>;
    async fn reboot(&self, uuid: &str, hard: bool) -> Result<()>;
    async fn pause(&self, uuid: &str) -> Result<()>;
    async fn unpause(&self, uuid: &str) -> Result<()>;
    async fn attach_volume(&self, uuid: &str, volume: &VolumeAttach) -> Result<()>;
    async fn detach_volume(&self, uuid: &str, volume_id: &str) -> Result<()>;
    /// The guest's console log, the last `lines` lines when given.
    async fn console_output(&self, uuid: &str, lines: Option<usize>) -> Result<String>;
    async fn info(&self, uuid: &str) -> Result<GuestInfo>;
    /// Every guest this driver runs, with its power state, for the agent's sync at start.
    async fn list(&self) -> Result<Vec<(String, PowerState)>>;
    /// The local image files guests on this host are made from (`GuestSpec::image_path`,
    /// kernel and ramdisk), which the host's image cache must keep.
    async fn images_in_use(&self) -> Result<Vec<String>> {
        Ok(vec![])
    }
    /// Sets the password of `user` inside the running guest (Nova's `set_admin_password`).
    async fn set_admin_password(&self, uuid: &str, user: &str, password: &str) -> Result<()> {
        let _ = (uuid, user, password);
        Err(DriverError::Unsupported("setting a guest's password", self.name()))
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: Option<usize>) -> String {
    match n {
        None => text.to_owned(),
        Some(n) => {
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(n);
            let mut out = lines[from..].join("\n");
            if !out.is_empty() {
                out.push('\n');
            }
            out
        }
    }
}
