//! The QEMU driver: one `qemu-system-x86_64` process per guest, daemonized so that guests
//! outlive the agent, each managed over its QMP socket. A guest's files live in
//! `STATE_DIR/instances/<uuid>/`: `spec.json` (what it was made from, with the volumes attached
//! since), `disk.qcow2` (an overlay over the cached base image), `config.img` (the config drive),
//! `console.log` (the serial console), `qmp.sock` and `qemu.pid`. Everything the driver knows
//! is in those files, so a restarted agent finds its guests as it left them.
//!
//! KVM is used where it really runs guests, TCG otherwise; [`probe_kvm`] tells them apart, since
//! a nested host can open /dev/kvm and then never run a guest, or run it slower than TCG.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};
use tokio::process::Command;

use crate::{
    qmp, tail, tap_name, Driver, DriverError, GuestInfo, GuestSpec, HostResources, Nic, PowerState, Result,
    VolumeAttach,
};

#[derive(Debug, Clone)]
pub struct QemuConfig {
    pub state_dir: PathBuf,
    pub qemu: PathBuf,
    pub qemu_img: PathBuf,
    /// Give every guest a config drive, whether it asked for one or not.
    pub force_config_drive: bool,
    /// Memory kept for the host and the cloud, not offered to guests.
    pub reserved_memory_mb: u64,
    /// How long a soft reboot waits for the guest to power off before it is stopped.
    pub reboot_timeout: Duration,
    /// KVM or TCG, or `Auto`: KVM where [`probe_kvm`] finds it runs guests well.
    pub accel: AccelChoice,
}

/// The accelerator asked for in the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccelChoice {
    #[default]
    Auto,
    Kvm,
    Tcg,
}

impl QemuConfig {
    pub fn new(state_dir: &Path) -> Self {
        QemuConfig {
            state_dir: state_dir.to_owned(),
            qemu: PathBuf::from("qemu-system-x86_64"),
            qemu_img: PathBuf::from("qemu-img"),
            force_config_drive: false,
            reserved_memory_mb: 512,
            reboot_timeout: Duration::from_secs(60),
            accel: AccelChoice::Auto,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

pub struct QemuDriver {
    cfg: QemuConfig,
    accel: Accel,
    version: u64,
    /// One operation at a time per guest: QMP sessions and file changes do not interleave.
    locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

fn failed(what: impl std::fmt::Display) -> DriverError {
    DriverError::Failed(what.to_string())
}

fn io_failed(what: &str, e: std::io::Error) -> DriverError {
    DriverError::Failed(format!("{what}: {e}"))
}

/// Why KVM will not run guests well here, if it will not: KVM is used only with the CPU's own
/// virtualisation (a `vmx` or `svm` flag), because a KVM without it (a paravirtual KVM inside a
/// VM, such as PVM) keeps the guest's page tables in software and boots a Linux kernel many
/// times slower than TCG; and only where a vCPU with the CPU model guests get (`host`) runs at
/// all: SeaBIOS writes to its debug port at once when it does. Nested hosts that open /dev/kvm
/// but cannot give guests the host's CPU fail there (QEMU aborts setting its MSRs).
pub async fn probe_kvm(qemu: &Path, scratch: &Path) -> std::result::Result<(), String> {
    if std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_err()
    {
        return Err("/dev/kvm cannot be opened".into());
    }
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    if !cpu_virtualises(&cpuinfo) {
        return Err(
            "the CPU has no vmx or svm flag: this KVM has no hardware virtualisation and runs guests slower than TCG"
                .into(),
        );
    }
    let log = scratch.join("kvm-probe.log");
    let _ = std::fs::remove_file(&log);
    let child = Command::new(qemu)
        .args([
            "-machine",
            "pc,accel=kvm",
            "-cpu",
            "host",
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-m",
            "32",
        ])
        .arg("-debugcon")
        .arg(format!("file:{}", log.display()))
        .args(["-global", "isa-debugcon.iobase=0x402"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let Ok(mut child) = child else {
        return Err(format!("{} cannot be run", qemu.display()));
    };
    let mut ran = false;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if std::fs::read(&log).map(|b| !b.is_empty()).unwrap_or(false) {
            ran = true;
            break;
        }
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
    }
    let _ = child.kill().await;
    let _ = std::fs::remove_file(&log);
    if ran {
        Ok(())
    } else {
        Err("KVM does not run a vCPU with the host's CPU model here".into())
    }
}

/// Whether the first CPU of `/proc/cpuinfo` has Intel's or AMD's virtualisation extensions.
fn cpu_virtualises(cpuinfo: &str) -> bool {
    cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .is_some_and(|l| l.split_whitespace().any(|f| f == "vmx" || f == "svm"))
}

/// `qemu-system-x86_64 --version` as Nova reports hypervisor versions (10.0.2 is 10000002).
async fn qemu_version(qemu: &Path) -> Result<u64> {
    let out = Command::new(qemu)
        .arg("--version")
        .output()
        .await
        .map_err(|e| failed(format!("{} cannot run: {e}", qemu.display())))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text
        .split_whitespace()
        .skip_while(|w| *w != "version")
        .nth(1)
        .unwrap_or_default();
    let mut n = v.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    let (a, b, c) = (n.next().unwrap_or(0), n.next().unwrap_or(0), n.next().unwrap_or(0));
    Ok(a * 1_000_000 + b * 1000 + c)
}

/// QEMU's option syntax doubles commas inside values.
fn opt(v: &Path) -> String {
    v.display().to_string().replace(',', ",,")
}

/// A node and device name for a volume: QEMU wants at most 31 characters starting with a
/// letter.
fn volume_node(volume_id: &str) -> String {
    let hex: String = volume_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(24)
        .collect();
    format!("vol{hex}")
}

/// The QEMU format of an image's `disk_format`.
pub fn qemu_format(disk_format: &str) -> &'static str {
    match disk_format {
        "qcow2" => "qcow2",
        "vmdk" => "vmdk",
        "vdi" => "vdi",
        "vhd" => "vpc",
        "vhdx" => "vhdx",
        _ => "raw",
    }
}

fn volume_blockdev(v: &VolumeAttach) -> Result<Value> {
    let kind = v.connection_info["driver_volume_type"].as_str().unwrap_or_default();
    if kind != "file" {
        return Err(DriverError::Unsupported("volumes other than files", "qemu"));
    }
    let data = &v.connection_info["data"];
    let path = data["device_path"]
        .as_str()
        .ok_or_else(|| failed(format!("volume {} has no device_path", v.volume_id)))?;
    let read_only = data["access_mode"].as_str() == Some("ro");
    Ok(json!({
        "driver": data["format"].as_str().unwrap_or("raw"),
        "node-name": volume_node(&v.volume_id),
        "read-only": read_only,
        "file": {"driver": "file", "filename": path},
    }))
}

impl QemuDriver {
    /// Checks QEMU runs and decides between KVM and TCG; the choice is logged.
    pub async fn new(cfg: QemuConfig) -> Result<Self> {
        std::fs::create_dir_all(cfg.state_dir.join("instances"))
            .map_err(|e| io_failed(&format!("creating {}", cfg.state_dir.display()), e))?;
        let version = qemu_version(&cfg.qemu).await?;
        let (accel, why) = match cfg.accel {
            AccelChoice::Tcg => (Accel::Tcg, "TCG, as configured".to_owned()),
            AccelChoice::Kvm => (Accel::Kvm, "KVM, as configured".to_owned()),
            AccelChoice::Auto => match probe_kvm(&cfg.qemu, &cfg.state_dir).await {
                Ok(()) => (Accel::Kvm, "KVM runs guests".to_owned()),
                Err(why) => (Accel::Tcg, format!("TCG: {why}")),
            },
        };
        tracing::info!(qemu = %cfg.qemu.display(), version, accel = ?accel, "QEMU driver ready ({why})");
        Ok(QemuDriver {
            cfg,
            accel,
            version,
            locks: Default::default(),
        })
    }

    /// KVM or TCG, as decided at start.
    pub fn accel(&self) -> Accel {
        self.accel
    }

    fn dir(&self, uuid: &str) -> Result<PathBuf> {
        // The uuid names a directory: nothing but a uuid's characters may reach the path.
        if uuid.is_empty() || uuid.len() > 64 || !uuid.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(DriverError::NotFound(uuid.to_owned()));
        }
        Ok(self.cfg.state_dir.join("instances").join(uuid))
    }

    async fn lock(&self, uuid: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let m = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(uuid.to_owned()).or_default().clone()
        };
        m.lock_owned().await
    }

    /// The guests this driver made, by uuid and directory (those with a spec).
    fn guests(&self) -> Result<Vec<(String, PathBuf)>> {
        let root = self.cfg.state_dir.join("instances");
        let rd = std::fs::read_dir(&root).map_err(|e| io_failed(&format!("reading {}", root.display()), e))?;
        Ok(rd
            .flatten()
            .filter(|e| e.path().join("spec.json").exists())
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .collect())
    }

    fn read_spec(&self, dir: &Path, uuid: &str) -> Result<GuestSpec> {
        let text = std::fs::read(dir.join("spec.json")).map_err(|_| DriverError::NotFound(uuid.to_owned()))?;
        serde_json::from_slice(&text).map_err(|e| failed(format!("{}: {e}", dir.join("spec.json").display())))
    }

    fn write_spec(&self, dir: &Path, spec: &GuestSpec) -> Result<()> {
        let tmp = dir.join("spec.json.tmp");
        let text = serde_json::to_vec_pretty(spec).map_err(failed)?;
        std::fs::write(&tmp, text).map_err(|e| io_failed("writing the guest's spec", e))?;
        std::fs::rename(&tmp, dir.join("spec.json")).map_err(|e| io_failed("writing the guest's spec", e))
    }

    /// The QEMU process of the guest, if it runs (the pid file's process, checked to be this
    /// guest's, since pids are reused).
    fn pid(&self, dir: &Path, uuid: &str) -> Option<i32> {
        let pid: i32 = std::fs::read_to_string(dir.join("qemu.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let cmdline = String::from_utf8_lossy(&cmdline);
        // A zombie has an empty command line: it is not running.
        cmdline.contains(uuid).then_some(pid)
    }

    async fn kill(&self, dir: &Path, uuid: &str) -> Result<()> {
        if let Some(pid) = self.pid(dir, uuid) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            for _ in 0..100 {
                if self.pid(dir, uuid).is_none() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if self.pid(dir, uuid).is_some() {
                return Err(failed(format!("QEMU process {pid} of guest {uuid} does not die")));
            }
        }
        let _ = std::fs::remove_file(dir.join("qemu.pid"));
        let _ = std::fs::remove_file(dir.join("qmp.sock"));
        Ok(())
    }

    async fn qmp(&self, dir: &Path, command: &str, args: Option<Value>) -> Result<Value> {
        qmp::execute(&dir.join("qmp.sock"), command, args).await.map_err(failed)
    }

    async fn plug(&self, nic: &Nic) -> Result<String> {
        let tap = tap_name(&nic.port_id);
        if !Path::new("/sys/class/net").join(&tap).exists() {
            // A persistent TAP: QEMU opens it by name, and it outlives QEMU across stop/start.
            ip(&["tuntap", "add", "dev", &tap, "mode", "tap"]).await?;
        }
        let mtu = if nic.mtu > 0 { nic.mtu } else { 1500 }.to_string();
        match &nic.bridge {
            Some(br) => {
                if !Path::new("/sys/class/net").join(br).exists() {
                    return Err(failed(format!(
                        "bridge {br} of network {} does not exist on this host",
                        nic.network_id
                    )));
                }
                ip(&["link", "set", &tap, "master", br, "mtu", &mtu, "up"]).await?;
            }
            None => ip(&["link", "set", &tap, "mtu", &mtu, "up"]).await?,
        }
        Ok(tap)
    }

    async fn unplug(&self, nic: &Nic) -> Result<()> {
        let tap = tap_name(&nic.port_id);
        if Path::new("/sys/class/net").join(&tap).exists() {
            ip(&["link", "del", &tap]).await?;
        }
        Ok(())
    }

    /// The command line that starts the guest as `spec` (with its current volumes) describes.
    fn argv(&self, dir: &Path, spec: &GuestSpec) -> Result<Vec<String>> {
        let mut a: Vec<String> = Vec::new();
        let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
        let machine = match self.accel {
            Accel::Kvm => "pc,accel=kvm",
            Accel::Tcg => "pc,accel=tcg",
        };
        push(&["-name", &spec.uuid, "-uuid", &spec.uuid, "-machine", machine]);
        if self.accel == Accel::Kvm {
            push(&["-cpu", "host"]);
        }
        push(&[
            "-m",
            &spec.memory_mb.to_string(),
            "-smp",
            &spec.vcpus.max(1).to_string(),
            "-no-user-config",
            "-nodefaults",
            "-display",
            "none",
            "-daemonize",
        ]);
        let sock = dir.join("qmp.sock");
        if sock.as_os_str().len() > 100 {
            return Err(failed(format!(
                "{} is too long for a UNIX socket: use a shorter state directory",
                sock.display()
            )));
        }
        push(&["-pidfile", &dir.join("qemu.pid").display().to_string()]);
        push(&["-qmp", &format!("unix:{},server=on,wait=off", opt(&sock))]);
        // The guest agent's channel: a guest running qemu-guest-agent answers on it (to set a
        // password); one that does not simply never answers.
        push(&[
            "-chardev",
            &format!("socket,id=qga0,path={},server=on,wait=off", opt(&dir.join("qga.sock"))),
            "-device",
            "virtio-serial-pci,id=vserial0",
            "-device",
            "virtserialport,bus=vserial0.0,chardev=qga0,name=org.qemu.guest_agent.0",
        ]);
        push(&[
            "-chardev",
            &format!("file,id=serial0,path={},append=on", opt(&dir.join("console.log"))),
            "-serial",
            "chardev:serial0",
        ]);
        if let Some(k) = &spec.kernel_path {
            push(&["-kernel", k]);
            if let Some(r) = &spec.ramdisk_path {
                push(&["-initrd", r]);
            }
            let cmdline = spec
                .kernel_cmdline
                .clone()
                .unwrap_or_else(|| "root=/dev/vda console=tty0 console=ttyS0".into());
            push(&["-append", &cmdline]);
        }
        if spec.image_path.is_some() {
            let root = json!({"driver": "qcow2", "node-name": "root",
                              "file": {"driver": "file", "filename": dir.join("disk.qcow2")}});
            push(&["-blockdev", &root.to_string()]);
            // With -kernel, QEMU's own loader holds boot index 0.
            push(&[
                "-device",
                if spec.kernel_path.is_some() {
                    "virtio-blk-pci,drive=root,id=root"
                } else {
                    "virtio-blk-pci,drive=root,id=root,bootindex=0"
                },
            ]);
        }
        for (i, nic) in spec.nics.iter().enumerate() {
            let tap = tap_name(&nic.port_id);
            push(&[
                "-netdev",
                &format!("tap,id=net{i},ifname={tap},script=no,downscript=no"),
            ]);
            push(&[
                "-device",
                &format!("virtio-net-pci,netdev=net{i},mac={},id=nic{i}", nic.mac),
            ]);
        }
        for v in &spec.volumes {
            let node = volume_node(&v.volume_id);
            push(&["-blockdev", &volume_blockdev(v)?.to_string()]);
            let boot =
                if spec.image_path.is_none() && spec.kernel_path.is_none() && v.device.as_deref() == Some("/dev/vda") {
                    ",bootindex=0"
                } else {
                    ""
                };
            push(&["-device", &format!("virtio-blk-pci,drive={node},id={node}{boot}")]);
        }
        // Last, so that the disks given at boot come first in the guest's order.
        if spec.config_drive {
            let cd = json!({"driver": "raw", "node-name": "config", "read-only": true,
                            "file": {"driver": "file", "filename": dir.join("config.img"), "read-only": true}});
            push(&["-blockdev", &cd.to_string()]);
            push(&["-device", "virtio-blk-pci,drive=config,id=config"]);
        }
        Ok(a)
    }

    async fn start(&self, dir: &Path, spec: &GuestSpec) -> Result<()> {
        for nic in &spec.nics {
            self.plug(nic).await?;
        }
        trim_console(&dir.join("console.log"));
        let argv = self.argv(dir, spec)?;
        tracing::debug!(guest = %spec.uuid, ?argv, "starting QEMU");
        // With -daemonize the command returns once the guest is set up, or fails with why.
        let out = Command::new(&self.cfg.qemu)
            .args(&argv)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| failed(format!("{} cannot run: {e}", self.cfg.qemu.display())))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(failed(format!("QEMU refused to start the guest: {}", err.trim())));
        }
        Ok(())
    }

    async fn make(&self, dir: &Path, spec: &mut GuestSpec) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| io_failed("creating the guest's directory", e))?;
        spec.config_drive = spec.config_drive || self.cfg.force_config_drive;
        // Written first, so that undoing a half-made guest knows its TAPs.
        self.write_spec(dir, spec)?;
        if let Some(base) = &spec.image_path {
            let format = spec.image_format.clone().unwrap_or_else(|| "raw".into());
            let info = run(&self.cfg.qemu_img, &["info", "--output=json", "-f", &format, base]).await?;
            let info: Value = serde_json::from_str(&info).map_err(failed)?;
            let virtual_size = info["virtual-size"].as_u64().unwrap_or(0);
            let root = spec.root_gb << 30;
            if root > 0 && root < virtual_size {
                return Err(failed(format!(
                    "the flavor's root disk ({} GiB) is smaller than the image ({virtual_size} bytes)",
                    spec.root_gb
                )));
            }
            let overlay = dir.join("disk.qcow2").display().to_string();
            let mut args = vec![
                "create",
                "-q",
                "-f",
                "qcow2",
                "-F",
                &format,
                "-b",
                base.as_str(),
                &overlay,
            ];
            let size = format!("{}G", spec.root_gb);
            if root > 0 {
                args.push(&size);
            }
            run(&self.cfg.qemu_img, &args).await?;
        }
        if spec.config_drive {
            let (path, s) = (dir.join("config.img"), spec.clone());
            tokio::task::spawn_blocking(move || crate::configdrive::write(&path, &s))
                .await
                .map_err(failed)?
                .map_err(|e| io_failed("writing the config drive", e))?;
        }
        self.start(dir, spec).await
    }

    async fn destroy_locked(&self, uuid: &str) -> Result<()> {
        let dir = self.dir(uuid)?;
        if !dir.exists() {
            return Ok(());
        }
        self.kill(&dir, uuid).await?;
        if let Ok(spec) = self.read_spec(&dir, uuid) {
            for nic in &spec.nics {
                self.unplug(nic).await?;
            }
        }
        tokio::fs::remove_dir_all(&dir)
            .await
            .map_err(|e| io_failed(&format!("removing {}", dir.display()), e))
    }

    async fn power_state(&self, dir: &Path, uuid: &str) -> PowerState {
        if self.pid(dir, uuid).is_none() {
            return PowerState::Shutdown;
        }
        match self.qmp(dir, "query-status", None).await {
            Ok(v) => match v["status"].as_str().unwrap_or_default() {
                "running" => PowerState::Running,
                "paused" | "suspended" => PowerState::Paused,
                "shutdown" => PowerState::Shutdown,
                "internal-error" | "guest-panicked" | "io-error" => PowerState::Crashed,
                _ => PowerState::NoState,
            },
            Err(_) => PowerState::NoState,
        }
    }

    async fn stop_locked(&self, dir: &Path, uuid: &str, timeout: Duration) -> Result<()> {
        if self.pid(dir, uuid).is_none() {
            return self.kill(dir, uuid).await;
        }
        // The ACPI power button; a guest that ignores it is stopped when the time is up.
        if let Err(e) = self.qmp(dir, "system_powerdown", None).await {
            tracing::debug!(guest = %uuid, error = %e, "system_powerdown");
        }
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if self.pid(dir, uuid).is_none() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if self.pid(dir, uuid).is_some() {
            tracing::info!(guest = %uuid, ?timeout, "the guest did not power off in time; stopping it");
        }
        self.kill(dir, uuid).await
    }
}

/// The console log is appended across boots; before a boot, a log past 4 MiB keeps its last
/// MiB (what `os-getConsoleOutput` reads), so a guest rebooted for months does not fill the disk.
fn trim_console(path: &Path) {
    const KEEP: usize = 1 << 20;
    let Ok(meta) = std::fs::metadata(path) else { return };
    if meta.len() <= 4 << 20 {
        return;
    }
    if let Ok(bytes) = std::fs::read(path) {
        let tail = &bytes[bytes.len().saturating_sub(KEEP)..];
        // From the first whole line.
        let start = tail.iter().position(|b| *b == b'\n').map(|p| p + 1).unwrap_or(0);
        if let Err(e) = std::fs::write(path, &tail[start..]) {
            tracing::warn!(path = %path.display(), error = %e, "trimming the console log failed");
        }
    }
}

async fn run(program: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .await
        .map_err(|e| failed(format!("{} cannot run: {e}", program.display())))?;
    if !out.status.success() {
        return Err(failed(format!(
            "{} {}: {}",
            program.display(),
            args.first().unwrap_or(&""),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn ip(args: &[&str]) -> Result<()> {
    run(Path::new("ip"), args).await.map(|_| ())
}

fn meminfo_mb() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb / 1024)
        .unwrap_or(0)
}

#[async_trait]
impl Driver for QemuDriver {
    fn name(&self) -> &'static str {
        "qemu"
    }

    fn needs_image_files(&self) -> bool {
        true
    }

    async fn host_resources(&self) -> Result<HostResources> {
        let vcpus = std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1);
        let disk_gb = nix::sys::statvfs::statvfs(&self.cfg.state_dir)
            .map(|s| (s.blocks() * s.fragment_size()) >> 30)
            .unwrap_or(0);
        Ok(HostResources {
            hostname: String::new(),
            vcpus,
            memory_mb: meminfo_mb().saturating_sub(self.cfg.reserved_memory_mb),
            disk_gb,
            hypervisor_type: match self.accel {
                Accel::Kvm => "KVM",
                Accel::Tcg => "QEMU",
            }
            .into(),
            hypervisor_version: self.version,
        })
    }

    async fn spawn(&self, spec: &GuestSpec) -> Result<()> {
        let _g = self.lock(&spec.uuid).await;
        let dir = self.dir(&spec.uuid)?;
        if dir.exists() {
            // A guest of that uuid left by an earlier attempt on this host.
            self.destroy_locked(&spec.uuid).await?;
        }
        let mut spec = spec.clone();
        match self.make(&dir, &mut spec).await {
            Ok(()) => Ok(()),
            Err(e) => {
                if let Err(u) = self.destroy_locked(&spec.uuid).await {
                    tracing::warn!(guest = %spec.uuid, error = %u, "removing a guest that failed to spawn failed");
                }
                Err(e)
            }
        }
    }

    async fn destroy(&self, uuid: &str) -> Result<()> {
        let _g = self.lock(uuid).await;
        self.destroy_locked(uuid).await
    }

    async fn power_off(&self, uuid: &str, timeout: Duration) -> Result<()> {
        let _g = self.lock(uuid).await;
        let dir = self.dir(uuid)?;
        self.read_spec(&dir, uuid)?;
        self.stop_locked(&dir, uuid, timeout).await
    }

    async fn power_on(&self, uuid: &str) -> Result<()> {
        let _g = self.lock(uuid).await;
        let dir = self.dir(uuid)?;
        let spec = self.read_spec(&dir, uuid)?;
        if self.pid(&dir, uuid).is_some() {
            return Ok(());
        }
        self.kill(&dir, uuid).await?;
        self.start(&dir, &spec).await
    }

    async fn reboot(&self, uuid: &str, hard: bool) -> Result<()> {
        let _g = self.lock(uuid).await;
        let dir = self.dir(uuid)?;
        let spec = self.read_spec(&dir, uuid)?;
        if self.pid(&dir, uuid).is_none() {
            self.kill(&dir, uuid).await?;
            return self.start(&dir, &spec).await;
        }
        if hard {
            self.qmp(&dir, "system_reset", None).await?;
            // A paused guest is reset but stays paused; a hard reboot leaves it running.
            self.qmp(&dir, "cont", None).await.map(|_| ())
        } else {
            self.stop_locked(&dir, uuid, self.cfg.reboot_timeout).await?;
            self.start(&dir, &spec).await
        }
    }

    /// Through the QEMU guest agent in the guest, as Nova's libvirt driver does; a guest
    /// without the agent is a failure that says so.
    async fn set_admin_password(&self, uuid: &str, user: &str, password: &str) -> Result<()> {
        let _g = self.lock(uuid).await;
        let dir = self.dir(uuid)?;
        self.read_spec(&dir, uuid)?;
        if self.pid(&dir, uuid).is_none() {
            return Err(DriverError::InvalidState(format!("guest {uuid} is not running")));
        }
        crate::qga::set_user_password(&dir.join("qga.sock"), user, password, crate::qga::TIMEOUT)
            .await
            .map_err(|e| failed(e.to_string()))
    }

    async fn pause(&self, uuid: &str) -> Result<()> {
        let _g = self.lock(uuid).await;
        let dir = self.dir(uuid)?;
        self.read_spec(&dir, uuid)?;
        if self.pid(&dir, uuid).is_none() {
            return Err(DriverError::InvalidState(format!("guest {uuid} is not running")));
        }
        self.qmp(&dir, "stop", None).await.map(|_| ())
    }

    async fn unpause(&self, uuid: &str) -> Result<()> {
        let _g = self.lock(uuid).await;
        let dir = self.dir(uuid)?;
        self.read_spec(&dir, uuid)?;
        if self.pid(&dir, uuid).is_none() {
            return Err(DriverError::InvalidState(format!("guest {uuid} is not running")));
        }
        self.qmp(&dir, "cont", None).await.map(|_| ())
    }

    async fn attach_volume(&self, uuid: &str, volume: &VolumeAttach) -> Result<()> {
        let _g = self.lock(uuid).await;
        let dir = self.dir(uuid)?;
        let mut spec = self.read_spec(&dir, uuid)?;
        if spec.volumes.iter().any(|v| v.volume_id == volume.volume_id) {
            return Ok(());
        }
        let blockdev = volume_blockdev(volume)?;
        if self.pid(&dir, uuid).is_some() {
            let node = volume_node(&volume.volume_id);
            self.qmp(&dir, "blockdev-add", Some(blockdev)).await?;
            let dev = json!({"driver": "virtio-blk-pci", "id": node, "drive": node});
            if let Err(e) = self.qmp(&dir, "device_add", Some(dev)).await {
                let _ = self.qmp(&dir, "blockdev-del", Some(json!({"node-name": node}))).await;
                return Err(e);
            }
        }
        spec.volumes.push(volume.clone());
        self.write_spec(&dir, &spec)
    }

    async fn detach_volume(&self, uuid: &str, volume_id: &str) -> Result<()> {
        let _g = self.lock(uuid).await;
        let dir = self.dir(uuid)?;
        let mut spec = self.read_spec(&dir, uuid)?;
        if !spec.volumes.iter().any(|v| v.volume_id == volume_id) {
            return Ok(());
        }
        if self.pid(&dir, uuid).is_some() {
            let node = volume_node(volume_id);
            match self.qmp(&dir, "device_del", Some(json!({"id": node}))).await {
                Ok(_) => {}
                Err(e) if e.to_string().contains("DeviceNotFound") => {}
                Err(e) => return Err(e),
            }
            // The guest ejects the device (ACPI); the disk's node is removed after it.
            let mut gone = false;
            for _ in 0..150 {
                let list = self
                    .qmp(&dir, "qom-list", Some(json!({"path": "/machine/peripheral"})))
                    .await?;
                if !list
                    .as_array()
                    .is_some_and(|l| l.iter().any(|p| p["name"] == json!(node)))
                {
                    gone = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            if !gone {
                return Err(failed(format!(
                    "the guest did not release volume {volume_id} within 30 s"
                )));
            }
            if let Err(e) = self.qmp(&dir, "blockdev-del", Some(json!({"node-name": node}))).await {
                tracing::warn!(guest = %uuid, volume = %volume_id, error = %e, "removing the volume's block node failed");
            }
        }
        spec.volumes.retain(|v| v.volume_id != volume_id);
        self.write_spec(&dir, &spec)
    }

    async fn console_output(&self, uuid: &str, lines: Option<usize>) -> Result<String> {
        let dir = self.dir(uuid)?;
        self.read_spec(&dir, uuid)?;
        let bytes = std::fs::read(dir.join("console.log")).unwrap_or_default();
        // Consoles grow without bound; the last MiB holds any tail a client asks for.
        let from = bytes.len().saturating_sub(1 << 20);
        Ok(tail(&String::from_utf8_lossy(&bytes[from..]), lines))
    }

    async fn info(&self, uuid: &str) -> Result<GuestInfo> {
        let dir = self.dir(uuid)?;
        let spec = self.read_spec(&dir, uuid)?;
        Ok(GuestInfo {
            power_state: self.power_state(&dir, uuid).await,
            vcpus: spec.vcpus,
            memory_mb: spec.memory_mb,
            volumes: spec.volumes.iter().map(|v| v.volume_id.clone()).collect(),
        })
    }

    async fn images_in_use(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for (uuid, dir) in self.guests()? {
            if let Ok(spec) = self.read_spec(&dir, &uuid) {
                out.extend(
                    [spec.image_path, spec.kernel_path, spec.ramdisk_path]
                        .into_iter()
                        .flatten(),
                );
            }
        }
        Ok(out)
    }

    async fn list(&self) -> Result<Vec<(String, PowerState)>> {
        let mut out = Vec::new();
        for (uuid, dir) in self.guests()? {
            let power = self.power_state(&dir, &uuid).await;
            out.push((uuid, power));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn kvm_needs_the_cpu_virtualisation_flags() {
        assert!(super::cpu_virtualises("processor : 0\nflags\t\t: fpu vme vmx ept\n"));
        assert!(super::cpu_virtualises("flags : fpu svm npt\n"));
        assert!(!super::cpu_virtualises("flags : fpu hypervisor\nflags : vmx\n"));
        assert!(!super::cpu_virtualises(""));
    }
}
