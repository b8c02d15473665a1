//! Guests in memory. Spawning takes the configured delay and fails at the configured rate;
//! each guest keeps a console log of what happened to it; the host's resources are whatever
//! the configuration says, so many fake hosts can run in one process.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use rand::Rng;

use crate::{tail, Driver, DriverError, GuestInfo, GuestSpec, HostResources, PowerState, Result, VolumeAttach};

#[derive(Debug, Clone)]
pub struct FakeConfig {
    pub hostname: String,
    pub vcpus: u32,
    pub memory_mb: u64,
    pub disk_gb: u64,
    pub spawn_delay: Duration,
    /// 0.0 (never) to 1.0 (always): the share of spawns that fail.
    pub failure_rate: f64,
}

impl FakeConfig {
    pub fn new(hostname: &str) -> Self {
        FakeConfig {
            hostname: hostname.to_owned(),
            vcpus: 16,
            memory_mb: 32768,
            disk_gb: 1024,
            spawn_delay: Duration::ZERO,
            failure_rate: 0.0,
        }
    }
}

struct Guest {
    spec: GuestSpec,
    power: PowerState,
    volumes: Vec<String>,
    console: String,
    /// The user and password last set in the guest.
    admin_password: Option<(String, String)>,
}

pub struct FakeDriver {
    cfg: FakeConfig,
    guests: Mutex<HashMap<String, Guest>>,
}

impl FakeDriver {
    pub fn new(cfg: FakeConfig) -> Self {
        FakeDriver {
            cfg,
            guests: Mutex::new(HashMap::new()),
        }
    }

    fn with<T>(&self, uuid: &str, f: impl FnOnce(&mut Guest) -> Result<T>) -> Result<T> {
        let mut guests = self.guests.lock().unwrap_or_else(|e| e.into_inner());
        let g = guests
            .get_mut(uuid)
            .ok_or_else(|| DriverError::NotFound(uuid.to_owned()))?;
        f(g)
    }
}

fn log(g: &mut Guest, line: &str) {
    g.console.push_str(line);
    g.console.push('\n');
}

#[async_trait]
impl Driver for FakeDriver {
    fn name(&self) -> &'static str {
        "fake"
    }

    async fn host_resources(&self) -> Result<HostResources> {
        Ok(HostResources {
            hostname: self.cfg.hostname.clone(),
            vcpus: self.cfg.vcpus,
            memory_mb: self.cfg.memory_mb,
            disk_gb: self.cfg.disk_gb,
            hypervisor_type: "fake".into(),
            hypervisor_version: 1000,
        })
    }

    async fn spawn(&self, spec: &GuestSpec) -> Result<()> {
        if self
            .guests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&spec.uuid)
        {
            return Err(DriverError::InvalidState(format!("guest {} already exists", spec.uuid)));
        }
        if !self.cfg.spawn_delay.is_zero() {
            tokio::time::sleep(self.cfg.spawn_delay).await;
        }
        if self.cfg.failure_rate > 0.0 && rand::thread_rng().gen_bool(self.cfg.failure_rate.clamp(0.0, 1.0)) {
            return Err(DriverError::Failed(format!(
                "the fake hypervisor on {} failed to spawn {} (failure rate {})",
                self.cfg.hostname, spec.uuid, self.cfg.failure_rate
            )));
        }
        let mut g = Guest {
            spec: spec.clone(),
            power: PowerState::Running,
            volumes: spec.volumes.iter().map(|v| v.volume_id.clone()).collect(),
            console: String::new(),
            admin_password: spec.admin_pass.clone().map(|p| ("root".to_owned(), p)),
        };
        log(
            &mut g,
            &format!(
                "fake guest {} ({}) started on {} with {} vCPU, {} MiB, {} NIC(s), {} volume(s)",
                spec.uuid,
                spec.name,
                self.cfg.hostname,
                spec.vcpus,
                spec.memory_mb,
                spec.nics.len(),
                spec.volumes.len()
            ),
        );
        for nic in &spec.nics {
            log(
                &mut g,
                &format!("nic {} mac {} on network {}", nic.port_id, nic.mac, nic.network_id),
            );
        }
        self.guests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(spec.uuid.clone(), g);
        Ok(())
    }

    async fn destroy(&self, uuid: &str) -> Result<()> {
        self.guests.lock().unwrap_or_else(|e| e.into_inner()).remove(uuid);
        Ok(())
    }

    async fn power_off(&self, uuid: &str, _timeout: Duration) -> Result<()> {
        self.with(uuid, |g| {
            if g.power != PowerState::Shutdown {
                g.power = PowerState::Shutdown;
                log(g, "powered off");
            }
            Ok(())
        })
    }

    async fn power_on(&self, uuid: &str) -> Result<()> {
        self.with(uuid, |g| {
            if g.power != PowerState::Running {
                g.power = PowerState::Running;
                log(g, "powered on");
            }
            Ok(())
        })
    }

    async fn reboot(&self, uuid: &str, hard: bool) -> Result<()> {
        self.with(uuid, |g| {
            if !hard && g.power != PowerState::Running {
                return Err(DriverError::InvalidState(format!(
                    "a soft reboot needs a running guest; {uuid} is {:?}",
                    g.power
                )));
            }
            g.power = PowerState::Running;
            log(g, if hard { "hard reboot" } else { "soft reboot" });
            Ok(())
        })
    }

    /// The fake guest keeps the password it was given, as its log says.
    async fn set_admin_password(&self, uuid: &str, user: &str, password: &str) -> Result<()> {
        self.with(uuid, |g| match g.power {
            PowerState::Running => {
                g.admin_password = Some((user.to_owned(), password.to_owned()));
                log(g, &format!("password of {user} set"));
                Ok(())
            }
            other => Err(DriverError::InvalidState(format!(
                "cannot set a password in a guest that is {other:?}"
            ))),
        })
    }

    async fn pause(&self, uuid: &str) -> Result<()> {
        self.with(uuid, |g| match g.power {
            PowerState::Running => {
                g.power = PowerState::Paused;
                log(g, "paused");
                Ok(())
            }
            PowerState::Paused => Ok(()),
            other => Err(DriverError::InvalidState(format!(
                "cannot pause a guest that is {other:?}"
            ))),
        })
    }

    async fn unpause(&self, uuid: &str) -> Result<()> {
        self.with(uuid, |g| match g.power {
            PowerState::Paused => {
                g.power = PowerState::Running;
                log(g, "unpaused");
                Ok(())
            }
            PowerState::Running => Ok(()),
            other => Err(DriverError::InvalidState(format!(
                "cannot unpause a guest that is {other:?}"
            ))),
        })
    }

    async fn attach_volume(&self, uuid: &str, volume: &VolumeAttach) -> Result<()> {
        self.with(uuid, |g| {
            if !g.volumes.contains(&volume.volume_id) {
                g.volumes.push(volume.volume_id.clone());
                log(
                    g,
                    &format!(
                        "volume {} attached as {}",
                        volume.volume_id,
                        volume.device.as_deref().unwrap_or("(next free device)")
                    ),
                );
            }
            Ok(())
        })
    }

    async fn detach_volume(&self, uuid: &str, volume_id: &str) -> Result<()> {
        self.with(uuid, |g| {
            if let Some(i) = g.volumes.iter().position(|v| v == volume_id) {
                g.volumes.remove(i);
                log(g, &format!("volume {volume_id} detached"));
            }
            Ok(())
        })
    }

    async fn console_output(&self, uuid: &str, lines: Option<usize>) -> Result<String> {
        self.with(uuid, |g| Ok(tail(&g.console, lines)))
    }

    async fn info(&self, uuid: &str) -> Result<GuestInfo> {
        self.with(uuid, |g| {
            Ok(GuestInfo {
                power_state: g.power,
                vcpus: g.spec.vcpus,
                memory_mb: g.spec.memory_mb,
                volumes: g.volumes.clone(),
            })
        })
    }

    async fn list(&self) -> Result<Vec<(String, PowerState)>> {
        let guests = self.guests.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<(String, PowerState)> = guests.iter().map(|(k, g)| (k.clone(), g.power)).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}
