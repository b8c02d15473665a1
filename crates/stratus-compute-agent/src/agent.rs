//! The agent of one compute host: it builds guests the conductor sends it, step by step, each
//! step an instance action event, undoing what it did when a step fails.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};
use stratus_bus::{Bus, BusError, Context, Endpoint, Listener, RemoteError};
use stratus_virt::{Driver, GuestSpec, Nic, PowerState};

use crate::clients::{Port, Rest};
use crate::rpc::*;

#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub host: String,
    pub availability_zone: String,
    /// Where the Image and Network APIs are (`http://host:port`).
    pub public_url: String,
    pub heartbeat: Duration,
    /// How long a conductor call may take.
    pub call_timeout: Duration,
    /// The compute services' own user; without it privileged calls use the caller's token.
    pub service: Option<crate::clients::ServiceCredentials>,
    /// Where base images are cached, for drivers that need image files.
    pub image_cache: std::path::PathBuf,
    /// How long a stop waits for the guest to power off before it is forced (Nova's
    /// `shutdown_timeout`).
    pub shutdown_timeout: Duration,
    /// How often power states are synced with the driver (a guest that died on its own is
    /// seen as stopped).
    pub power_sync: Duration,
    /// Cached base images no guest has used for this long are removed (Nova's
    /// `remove_unused_original_minimum_age_seconds`, a day); the cache is swept hourly.
    pub image_cache_min_age: Duration,
}

impl AgentConfig {
    pub fn new(host: &str, public_url: &str, image_cache: &std::path::Path) -> Self {
        AgentConfig {
            host: host.to_owned(),
            availability_zone: "nova".into(),
            public_url: public_url.to_owned(),
            heartbeat: Duration::from_secs(10),
            call_timeout: Duration::from_secs(60),
            service: None,
            image_cache: image_cache.to_owned(),
            shutdown_timeout: Duration::from_secs(60),
            power_sync: Duration::from_secs(10),
            image_cache_min_age: Duration::from_secs(24 * 3600),
        }
    }
}

struct Inner {
    cfg: AgentConfig,
    bus: Bus,
    driver: Arc<dyn Driver>,
    rest: Rest,
    images: crate::images::ImageCache,
    /// One operation at a time per instance: a power action and the power sync must not
    /// interleave, or the sync writes back a state the action has just changed.
    locks: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// A running agent; dropping it stops listening and heartbeating (guests keep running).
pub struct Agent {
    _listener: Listener,
    heartbeat: tokio::task::JoinHandle<()>,
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

/// Why a build failed on this host: another host may do better, or none can (the user has
/// to act first, as on a used-up quota: Nova's `BuildAbortException`).
#[derive(Debug)]
enum BuildFailure {
    Reschedule(String),
    Abort(String),
}

impl std::fmt::Display for BuildFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildFailure::Reschedule(why) | BuildFailure::Abort(why) => f.write_str(why),
        }
    }
}

impl From<String> for BuildFailure {
    fn from(why: String) -> Self {
        BuildFailure::Reschedule(why)
    }
}

/// A refusal of the Image, Network or Volume API while building: a quota refusal aborts the
/// build with what ran out, anything else is worth another host.
fn refused(what: &str, e: crate::clients::ClientError) -> BuildFailure {
    if e.is_over_quota() {
        BuildFailure::Abort(format!("Quota exceeded for {what}: {e}"))
    } else {
        BuildFailure::Reschedule(e.to_string())
    }
}

fn remote(e: impl std::fmt::Display) -> RemoteError {
    RemoteError::new("ComputeError", e.to_string())
}

impl Agent {
    /// Registers the host with the conductor, repairs what a restart interrupted, and serves
    /// `compute.<host>`.
    pub async fn start(cfg: AgentConfig, bus: Bus, driver: Arc<dyn Driver>) -> Result<Agent, BusError> {
        let inner = Arc::new(Inner {
            rest: match &cfg.service {
                Some(c) => Rest::new(&cfg.public_url).with_service(c.clone()),
                None => Rest::new(&cfg.public_url),
            },
            images: crate::images::ImageCache::new(&cfg.image_cache)
                .map_err(|e| BusError::Transport(format!("the image cache {}: {e}", cfg.image_cache.display())))?,
            cfg,
            bus,
            driver,
            locks: Default::default(),
        });
        inner.report().await?;
        let listener = inner
            .bus
            .serve(&compute_topic(&inner.cfg.host), Arc::new(Served(inner.clone())))
            .await?;
        inner.reconcile().await;
        let hb = inner.clone();
        let heartbeat = tokio::spawn(async move {
            let mut last_sync = tokio::time::Instant::now();
            let mut last_sweep = tokio::time::Instant::now();
            loop {
                tokio::time::sleep(hb.cfg.heartbeat.min(hb.cfg.power_sync)).await;
                if let Err(e) = hb.report().await {
                    tracing::warn!(host = %hb.cfg.host, error = %e, "reporting to the conductor failed");
                }
                if last_sync.elapsed() >= hb.cfg.power_sync {
                    last_sync = tokio::time::Instant::now();
                    hb.sync_power_states().await;
                }
                if hb.driver.needs_image_files() && last_sweep.elapsed() >= Duration::from_secs(3600) {
                    last_sweep = tokio::time::Instant::now();
                    hb.sweep_images().await;
                }
            }
        });
        tracing::info!(host = %inner.cfg.host, driver = inner.driver.name(), "compute agent started");
        Ok(Agent {
            _listener: listener,
            heartbeat,
        })
    }
}

fn system_context() -> Context {
    Context {
        request_id: format!("req-{}", uuid::Uuid::new_v4()),
        user_id: String::new(),
        project_id: None,
        roles: vec!["service".into()],
        token: None,
    }
}

impl Inner {
    async fn lock(&self, instance_id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let m = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            // Instances come and go; locks nobody holds are dropped as the map grows.
            if locks.len() > 1024 {
                locks.retain(|_, l| Arc::strong_count(l) > 1);
            }
            locks.entry(instance_id.to_owned()).or_default().clone()
        };
        m.lock_owned().await
    }

    async fn conductor<A: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        ctx: &Context,
        method: &str,
        args: &A,
    ) -> Result<R, BusError> {
        self.bus
            .call(CONDUCTOR, method, VERSION, ctx, args, self.cfg.call_timeout)
            .await
    }

    async fn report(&self) -> Result<(), BusError> {
        let r = self
            .driver
            .host_resources()
            .await
            .map_err(|e| BusError::Transport(e.to_string()))?;
        let report = NodeReport {
            host: self.cfg.host.clone(),
            availability_zone: self.cfg.availability_zone.clone(),
            hypervisor_type: r.hypervisor_type,
            hypervisor_version: r.hypervisor_version as i64,
            vcpus: r.vcpus as i64,
            memory_mb: r.memory_mb as i64,
            disk_gb: r.disk_gb as i64,
            host_ip: own_address(&self.cfg.public_url).await,
        };
        self.conductor::<_, Value>(&system_context(), "report_node", &report)
            .await?;
        Ok(())
    }

    async fn update(&self, ctx: &Context, u: InstanceUpdate) -> Result<(), BusError> {
        self.conductor::<_, Value>(ctx, "instance_update", &u).await.map(|_| ())
    }

    async fn event_start(&self, ctx: &Context, r: &InstanceRef, event: &str) {
        let e = EventStart {
            instance_id: r.instance_id.clone(),
            request_id: r.request_id.clone(),
            event: event.into(),
            host: self.cfg.host.clone(),
        };
        if let Err(err) = self.conductor::<_, Value>(ctx, "event_start", &e).await {
            tracing::warn!(error = %err, event, "recording an event failed");
        }
    }

    async fn event_finish(&self, ctx: &Context, r: &InstanceRef, event: &str, result: &Result<(), String>) {
        let e = EventFinish {
            instance_id: r.instance_id.clone(),
            request_id: r.request_id.clone(),
            event: event.into(),
            ok: result.is_ok(),
            details: result.as_ref().err().cloned(),
        };
        if let Err(err) = self.conductor::<_, Value>(ctx, "event_finish", &e).await {
            tracing::warn!(error = %err, event, "recording an event failed");
        }
    }

    /// One conductor call for a step boundary: finish an event, change the state, start the
    /// next event (each part optional, in that order).
    async fn step(
        &self,
        ctx: &Context,
        r: &InstanceRef,
        finish: Option<(&str, Result<(), String>)>,
        update: Option<InstanceUpdate>,
        start: Option<&str>,
    ) -> Result<(), BusError> {
        let step = Step {
            finish: finish.map(|(event, result)| EventFinish {
                instance_id: r.instance_id.clone(),
                request_id: r.request_id.clone(),
                event: event.into(),
                ok: result.is_ok(),
                details: result.err(),
            }),
            update,
            start: start.map(|event| EventStart {
                instance_id: r.instance_id.clone(),
                request_id: r.request_id.clone(),
                event: event.into(),
                host: self.cfg.host.clone(),
            }),
        };
        self.conductor::<_, Value>(ctx, "step", &step).await.map(|_| ())
    }

    fn task(&self, id: &str, task: &str, from: Option<&str>) -> InstanceUpdate {
        InstanceUpdate {
            instance_id: id.into(),
            task_state: Some(task.into()),
            expected_task_state: from.map(str::to_owned),
            check_task_state: true,
            ..Default::default()
        }
    }

    /// The seed's last steps: allocate the network, map the block devices, spawn.
    async fn build(&self, ctx: &Context, r: &InstanceRef) -> Result<(), RemoteError> {
        let info: BuildInfo = self.conductor(ctx, "instance_get", r).await.map_err(remote)?;
        if info.vm_state != "building" {
            tracing::info!(instance = %r.instance_id, state = %info.vm_state, "not building any more; nothing to do");
            return Ok(());
        }
        // Messages arrive at least once: a build meant for another host (after a reschedule),
        // or one a restart interrupted here (the restart's reconciliation deals with it), is
        // not built again.
        if info.host.as_deref() != Some(self.cfg.host.as_str()) || info.task_state.is_some() {
            tracing::info!(instance = %r.instance_id, host = ?info.host, task = ?info.task_state,
                           "a build message that is no longer this host's to act on; ignored");
            return Ok(());
        }
        let token = ctx.token.clone().unwrap_or_default();
        let mut made: Vec<Port> = Vec::new();
        let mut bound: Vec<Port> = Vec::new();
        let mut mapped: Vec<MappedVolume> = Vec::new();
        let mut created_volumes: Vec<String> = Vec::new();
        let id = r.instance_id.clone();
        let result: Result<(), BuildFailure> = async {
            // Each step is one conductor call: the last step's event finished, the state
            // changed, the next step's event started.
            let fail = |e: BusError| e.to_string();
            self.step(
                ctx,
                r,
                None,
                Some(self.task(&id, "networking", None)),
                Some("compute_allocate_network"),
            )
            .await
            .map_err(fail)?;
            let net = self.allocate_network(&token, &info, &mut made, &mut bound).await;
            let addresses = match net {
                Ok(a) => a,
                Err(e) => {
                    let _ = self
                        .step(
                            ctx,
                            r,
                            Some(("compute_allocate_network", Err(e.to_string()))),
                            None,
                            None,
                        )
                        .await;
                    return Err(e);
                }
            };
            let u = InstanceUpdate {
                addresses: Some(addresses),
                ports: Some(made.iter().map(|p| p.id.clone()).collect()),
                ..self.task(&id, "block_device_mapping", Some("networking"))
            };
            self.step(
                ctx,
                r,
                Some(("compute_allocate_network", Ok(()))),
                Some(u),
                Some("compute_block_device_mapping"),
            )
            .await
            .map_err(fail)?;
            // block devices: volumes made from images and given volumes, attached through the
            // Volume API's attachments
            let volumes = match self.map_volumes(&token, &info, &mut mapped, &mut created_volumes).await {
                Ok(v) => v,
                Err(e) => {
                    let _ = self
                        .step(
                            ctx,
                            r,
                            Some(("compute_block_device_mapping", Err(e.to_string()))),
                            None,
                            None,
                        )
                        .await;
                    return Err(e);
                }
            };
            if !mapped.is_empty() {
                let m = json!({"instance_id": id, "volumes": mapped});
                self.conductor::<_, Value>(ctx, "volumes_mapped", &m)
                    .await
                    .map_err(fail)?;
            }
            self.step(
                ctx,
                r,
                Some(("compute_block_device_mapping", Ok(()))),
                Some(self.task(&id, "spawning", Some("block_device_mapping"))),
                Some("compute_spawn"),
            )
            .await
            .map_err(fail)?;
            let mut spec = GuestSpec {
                uuid: info.instance_id.clone(),
                name: info.name.clone(),
                hostname: hostname_of(&info.name),
                project_id: info.project_id.clone(),
                availability_zone: info
                    .availability_zone
                    .clone()
                    .unwrap_or_else(|| self.cfg.availability_zone.clone()),
                public_keys: match (&info.key_name, &info.key_data) {
                    (Some(n), Some(d)) => [(n.clone(), d.clone())].into(),
                    _ => Default::default(),
                },
                vcpus: info.vcpus as u32,
                memory_mb: info.memory_mb as u64,
                root_gb: info.root_gb as u64,
                nics: made
                    .iter()
                    .chain(bound.iter())
                    .map(|p| Nic {
                        port_id: p.id.clone(),
                        mac: p.mac.clone(),
                        network_id: p.network_id.clone(),
                        bridge: p.bridge.clone(),
                        ips: p.ips.clone(),
                        mtu: p.mtu,
                    })
                    .collect(),
                volumes,
                user_data: info.user_data.clone(),
                metadata: info.metadata.clone(),
                config_drive: info.config_drive,
                admin_pass: r.admin_pass.clone(),
                ..Default::default()
            };
            let prepared = match (&info.image_id, self.driver.needs_image_files()) {
                (Some(image), true) => self.prepare_image(&token, image, &mut spec).await,
                _ => Ok(()),
            };
            if let Err(e) = prepared {
                let _ = self
                    .step(ctx, r, Some(("compute_spawn", Err(e.clone()))), None, None)
                    .await;
                return Err(e.into());
            }
            if let Err(e) = self.driver.spawn(&spec).await {
                let e = e.to_string();
                let _ = self
                    .step(ctx, r, Some(("compute_spawn", Err(e.clone()))), None, None)
                    .await;
                return Err(e.into());
            }
            // The guest's devices are plugged: its ports are up (Neutron's agent reports the
            // same when it sees the TAP).
            for p in made.iter().chain(bound.iter()) {
                if let Err(e) = self.rest.set_port_status(&token, &p.id, "ACTIVE").await {
                    tracing::warn!(port = %p.id, error = %e, "marking a plugged port ACTIVE failed");
                }
            }
            let done = InstanceUpdate {
                instance_id: id.clone(),
                vm_state: Some("active".into()),
                clear_task_state: true,
                power_state: Some(PowerState::Running.code() as i64),
                launched: true,
                expected_task_state: Some("spawning".into()),
                check_task_state: true,
                ..Default::default()
            };
            self.step(ctx, r, Some(("compute_spawn", Ok(()))), Some(done), None)
                .await
                .map_err(|e| fail(e).into())
        }
        .await;
        if let Err(failure) = result {
            let abort = matches!(failure, BuildFailure::Abort(_));
            let reason = failure.to_string();
            tracing::warn!(instance = %r.instance_id, host = %self.cfg.host, %reason, "build failed; undoing it");
            self.undo(&token, &r.instance_id, &made, &bound).await;
            for m in &mapped {
                if let Err(e) = self.rest.delete_attachment(&token, &m.attachment_id).await {
                    tracing::warn!(volume = %m.volume_id, error = %e, "detaching a volume failed");
                }
            }
            for v in &created_volumes {
                if let Err(e) = self.rest.delete_volume(&token, v).await {
                    tracing::warn!(volume = %v, error = %e, "deleting a volume made for the build failed");
                }
            }
            let resched = Reschedule {
                instance_id: r.instance_id.clone(),
                request_id: r.request_id.clone(),
                host: self.cfg.host.clone(),
                reason,
                abort,
                admin_pass: r.admin_pass.clone(),
            };
            self.conductor::<_, Value>(ctx, "reschedule", &resched)
                .await
                .map_err(remote)?;
        }
        Ok(())
    }

    /// Fetches the image (and the kernel and ramdisk it names) into the host's cache.
    async fn prepare_image(&self, token: &str, image_id: &str, spec: &mut GuestSpec) -> Result<(), String> {
        let image = self.rest.image(token, image_id).await.map_err(|e| e.to_string())?;
        let path = self.images.fetch(&self.rest, token, &image).await?;
        spec.image_path = Some(path.display().to_string());
        spec.image_format =
            Some(stratus_virt::qemu::qemu_format(image["disk_format"].as_str().unwrap_or("raw")).to_owned());
        for (prop, slot) in [
            ("kernel_id", &mut spec.kernel_path),
            ("ramdisk_id", &mut spec.ramdisk_path),
        ] {
            if let Some(id) = image[prop].as_str().filter(|s| !s.is_empty()) {
                let part = self
                    .rest
                    .image(token, id)
                    .await
                    .map_err(|e| format!("the image's {prop} {id}: {e}"))?;
                *slot = Some(self.images.fetch(&self.rest, token, &part).await?.display().to_string());
            }
        }
        spec.kernel_cmdline = image["os_command_line"].as_str().map(str::to_owned);
        Ok(())
    }

    /// Makes the volumes asked for from images, and attaches every volume of the build: the
    /// root one as /dev/vda, the others from /dev/vdb.
    async fn map_volumes(
        &self,
        token: &str,
        info: &BuildInfo,
        mapped: &mut Vec<MappedVolume>,
        created: &mut Vec<String>,
    ) -> Result<Vec<stratus_virt::VolumeAttach>, BuildFailure> {
        #[derive(Deserialize)]
        struct Bd {
            volume_id: Option<String>,
            image_id: Option<String>,
            size_gb: Option<u64>,
            boot: bool,
            delete_on_termination: bool,
            #[serde(default)]
            volume_type: Option<String>,
        }
        let mut bds: Vec<Bd> = serde_json::from_value(info.block_devices.clone()).unwrap_or_default();
        bds.sort_by_key(|b| !b.boot);
        let mut out = Vec::new();
        let mut next = b'b';
        for bd in bds {
            let volume_id = match (&bd.volume_id, &bd.image_id) {
                (Some(v), _) => v.clone(),
                (None, Some(img)) => {
                    let size = bd.size_gb.unwrap_or(1);
                    let v = self
                        .rest
                        .create_volume_from_image(
                            token,
                            &format!("{}-root", info.name),
                            img,
                            size,
                            bd.volume_type.as_deref(),
                        )
                        .await
                        .map_err(|e| refused("volumes", e))?;
                    created.push(v.clone());
                    self.wait_volume(token, &v).await?;
                    v
                }
                (None, None) => return Err("a block device names neither a volume nor an image".to_owned().into()),
            };
            let device = if bd.boot {
                "/dev/vda".to_owned()
            } else {
                let d = format!("/dev/vd{}", next as char);
                next += 1;
                d
            };
            let attachment = self
                .rest
                .reserve_volume(token, &volume_id, &info.instance_id)
                .await
                .map_err(|e| format!("reserving volume {volume_id}: {e}"))?;
            mapped.push(MappedVolume {
                volume_id: volume_id.clone(),
                attachment_id: attachment.clone(),
                device: device.clone(),
                delete_on_termination: bd.delete_on_termination,
            });
            let connector =
                json!({"host": self.cfg.host, "mountpoint": device, "multipath": false, "platform": "x86_64"});
            let ci = self
                .rest
                .connect_volume(token, &attachment, connector)
                .await
                .map_err(|e| format!("connecting volume {volume_id}: {e}"))?;
            self.rest
                .complete_attachment(token, &attachment)
                .await
                .map_err(|e| format!("completing the attachment of volume {volume_id}: {e}"))?;
            out.push(stratus_virt::VolumeAttach {
                volume_id,
                connection_info: ci,
                device: Some(device),
            });
        }
        Ok(out)
    }

    /// Waits for a volume being made to become available (or to fail).
    async fn wait_volume(&self, token: &str, id: &str) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3600);
        loop {
            let v = self.rest.get_volume(token, id).await.map_err(|e| e.to_string())?;
            match v["status"].as_str().unwrap_or_default() {
                "available" => return Ok(()),
                s if s.starts_with("error") => return Err(format!("volume {id} went to {s}")),
                _ => {}
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!("volume {id} was not made within an hour"));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn undo(&self, token: &str, id: &str, made: &[Port], bound: &[Port]) {
        if let Err(e) = self.driver.destroy(id).await {
            tracing::warn!(instance = %id, error = %e, "removing the guest failed");
        }
        for p in made {
            if let Err(e) = self.rest.delete_port(token, &p.id).await {
                tracing::warn!(port = %p.id, error = %e, "deleting a port failed");
            }
        }
        for p in bound {
            if let Err(e) = self.rest.unbind_port(token, &p.id).await {
                tracing::warn!(port = %p.id, error = %e, "unbinding a port failed");
            }
        }
    }

    /// Makes or binds the instance's ports; returns its addresses by network name.
    async fn allocate_network(
        &self,
        token: &str,
        info: &BuildInfo,
        made: &mut Vec<Port>,
        bound: &mut Vec<Port>,
    ) -> Result<Value, BuildFailure> {
        #[derive(Deserialize)]
        struct Req {
            network_id: Option<String>,
            port_id: Option<String>,
            fixed_ip: Option<String>,
            #[serde(default)]
            security_groups: Vec<GroupRef>,
        }
        #[derive(Deserialize)]
        struct GroupRef {
            id: String,
        }
        let reqs: Vec<Req> = match &info.requested_networks {
            Value::Array(_) => serde_json::from_value(info.requested_networks.clone()).map_err(|e| e.to_string())?,
            _ => vec![],
        };
        let mut addresses = serde_json::Map::new();
        for req in reqs {
            let (mut port, mine) = match (&req.port_id, &req.network_id) {
                (Some(pid), _) => {
                    let p = self
                        .rest
                        .bind_port(token, pid, &info.instance_id, &self.cfg.host)
                        .await
                        .map_err(|e| e.to_string())?;
                    (p, false)
                }
                (None, Some(nid)) => {
                    let p = self
                        .rest
                        .create_port(
                            token,
                            nid,
                            &info.instance_id,
                            &self.cfg.host,
                            req.fixed_ip.as_deref(),
                            &req.security_groups.iter().map(|g| g.id.clone()).collect::<Vec<_>>(),
                        )
                        .await
                        .map_err(|e| refused("ports", e))?;
                    (p, true)
                }
                (None, None) => return Err("a network request names neither a network nor a port".to_owned().into()),
            };
            let net = self.rest.network(token, &port.network_id).await;
            if let Ok(n) = &net {
                port.mtu = n["mtu"].as_i64().unwrap_or(port.mtu);
            }
            // Recorded before anything can fail, so that the undo finds it.
            if mine {
                made.push(port.clone());
            } else {
                bound.push(port.clone());
            }
            let net = net.map_err(|e| e.to_string())?;
            let name = net["name"]
                .as_str()
                .filter(|n| !n.is_empty())
                .unwrap_or(&port.network_id)
                .to_owned();
            let list = addresses.entry(name).or_insert_with(|| json!([]));
            if let Some(a) = list.as_array_mut() {
                for ip in &port.ips {
                    a.push(json!({"addr": ip, "version": if ip.contains(':') { 6 } else { 4 }, "mac": port.mac, "port_id": port.id}));
                }
            }
        }
        Ok(Value::Object(addresses))
    }

    async fn terminate(&self, ctx: &Context, r: &InstanceRef) -> Result<(), RemoteError> {
        let _g = self.lock(&r.instance_id).await;
        let info: BuildInfo = self.conductor(ctx, "instance_get", r).await.map_err(remote)?;
        let token = ctx.token.clone().unwrap_or_default();
        self.event_start(ctx, r, "compute_terminate_instance").await;
        let mut result: Result<(), String> = self.driver.destroy(&r.instance_id).await.map_err(|e| e.to_string());
        for p in &info.ports {
            if let Err(e) = self.rest.delete_port(&token, p).await {
                result = Err(format!("deleting port {p}: {e}"));
            }
        }
        for a in &info.volume_attachments {
            if let Err(e) = self.rest.delete_attachment(&token, &a.attachment_id).await {
                result = Err(format!("detaching volume {}: {e}", a.volume_id));
            } else if a.delete_on_termination {
                if let Err(e) = self.rest.delete_volume(&token, &a.volume_id).await {
                    result = Err(format!("deleting volume {}: {e}", a.volume_id));
                }
            }
        }
        if let Value::Array(reqs) = &info.requested_networks {
            for pid in reqs.iter().filter_map(|q| q["port_id"].as_str()) {
                if let Err(e) = self.rest.unbind_port(&token, pid).await {
                    result = Err(format!("unbinding port {pid}: {e}"));
                }
            }
        }
        self.event_finish(ctx, r, "compute_terminate_instance", &result).await;
        if let Err(e) = &result {
            // The record stays (in error) so that a later delete can finish the job.
            tracing::warn!(instance = %r.instance_id, error = %e, "terminating left something behind");
            return Err(remote(e));
        }
        self.conductor::<_, Value>(ctx, "instance_destroyed", r)
            .await
            .map_err(remote)?;
        Ok(())
    }

    /// Connects the reserved volume on this host, hands it to the hypervisor and completes
    /// the attachment; undoes all of it when a step fails.
    async fn attach_volume(&self, ctx: &Context, v: &VolumeOp) -> Result<(), RemoteError> {
        let token = ctx.token.clone().unwrap_or_default();
        let r = InstanceRef {
            instance_id: v.instance_id.clone(),
            request_id: v.request_id.clone(),
            admin_pass: None,
        };
        self.event_start(ctx, &r, "compute_attach_volume").await;
        let connector =
            json!({"host": self.cfg.host, "mountpoint": v.device, "multipath": false, "platform": "x86_64"});
        let result: Result<(), String> = async {
            let info = self
                .rest
                .connect_volume(&token, &v.attachment_id, connector)
                .await
                .map_err(|e| e.to_string())?;
            let attach = stratus_virt::VolumeAttach {
                volume_id: v.volume_id.clone(),
                connection_info: info,
                device: Some(v.device.clone()),
            };
            self.driver
                .attach_volume(&v.instance_id, &attach)
                .await
                .map_err(|e| e.to_string())?;
            if let Err(e) = self.rest.complete_attachment(&token, &v.attachment_id).await {
                let _ = self.driver.detach_volume(&v.instance_id, &v.volume_id).await;
                return Err(e.to_string());
            }
            Ok(())
        }
        .await;
        self.event_finish(ctx, &r, "compute_attach_volume", &result).await;
        let done = json!({"instance_id": v.instance_id, "volume_id": v.volume_id, "ok": result.is_ok()});
        if result.is_err() {
            let _ = self.rest.delete_attachment(&token, &v.attachment_id).await;
        }
        self.conductor::<_, Value>(ctx, "volume_attached", &done)
            .await
            .map_err(remote)?;
        result.map_err(remote)
    }

    async fn detach_volume(&self, ctx: &Context, v: &VolumeOp) -> Result<(), RemoteError> {
        let token = ctx.token.clone().unwrap_or_default();
        let r = InstanceRef {
            instance_id: v.instance_id.clone(),
            request_id: v.request_id.clone(),
            admin_pass: None,
        };
        self.event_start(ctx, &r, "compute_detach_volume").await;
        let result: Result<(), String> = async {
            match self.driver.detach_volume(&v.instance_id, &v.volume_id).await {
                Ok(()) | Err(stratus_virt::DriverError::NotFound(_)) => {}
                Err(e) => return Err(e.to_string()),
            }
            self.rest
                .delete_attachment(&token, &v.attachment_id)
                .await
                .map_err(|e| e.to_string())
        }
        .await;
        self.event_finish(ctx, &r, "compute_detach_volume", &result).await;
        let done = json!({"instance_id": v.instance_id, "volume_id": v.volume_id, "ok": result.is_ok()});
        self.conductor::<_, Value>(ctx, "volume_detached", &done)
            .await
            .map_err(remote)?;
        result.map_err(remote)
    }

    async fn power(&self, ctx: &Context, r: &InstanceRef, op: PowerOp) -> Result<(), RemoteError> {
        let _g = self.lock(&r.instance_id).await;
        let event = format!(
            "compute_{}",
            serde_json::to_value(op)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        );
        self.event_start(ctx, r, &event).await;
        let id = &r.instance_id;
        let done = match op {
            PowerOp::Start => self.driver.power_on(id).await.map(|_| ("active", PowerState::Running)),
            PowerOp::Stop => self
                .driver
                .power_off(id, self.cfg.shutdown_timeout)
                .await
                .map(|_| ("stopped", PowerState::Shutdown)),
            PowerOp::SoftReboot => self
                .driver
                .reboot(id, false)
                .await
                .map(|_| ("active", PowerState::Running)),
            PowerOp::HardReboot => self
                .driver
                .reboot(id, true)
                .await
                .map(|_| ("active", PowerState::Running)),
            PowerOp::Pause => self.driver.pause(id).await.map(|_| ("paused", PowerState::Paused)),
            PowerOp::Unpause => self.driver.unpause(id).await.map(|_| ("active", PowerState::Running)),
        };
        let result = done.as_ref().map(|_| ()).map_err(|e| e.to_string());
        self.event_finish(ctx, r, &event, &result).await;
        let u = match &done {
            Ok((vm, ps)) => InstanceUpdate {
                instance_id: id.clone(),
                vm_state: Some((*vm).into()),
                power_state: Some(ps.code() as i64),
                clear_task_state: true,
                ..Default::default()
            },
            Err(_) => InstanceUpdate {
                instance_id: id.clone(),
                clear_task_state: true,
                ..Default::default()
            },
        };
        self.update(ctx, u).await.map_err(remote)?;
        result.map_err(remote)
    }

    /// After a restart: builds this host was in the middle of are undone and rescheduled;
    /// power states are synced with what the driver runs.
    async fn reconcile(&self) {
        let ctx = system_context();
        let host = json!({"host": self.cfg.host});
        let instances: Vec<BuildInfo> = match self.conductor(&ctx, "instances_on_host", &host).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "could not list this host's instances");
                return;
            }
        };
        let running = self.driver.list().await.unwrap_or_default();
        for i in instances {
            let r = InstanceRef {
                instance_id: i.instance_id.clone(),
                request_id: ctx.request_id.clone(),
                admin_pass: None,
            };
            if i.vm_state == "building" && i.task_state.is_some() {
                tracing::warn!(instance = %i.instance_id, task = ?i.task_state, "a build was interrupted by a restart; undoing it");
                let _ = self.driver.destroy(&i.instance_id).await;
                // Ports made for it are deleted by the conductor's reschedule path on the next host
                // or on delete; the reschedule records why.
                let resched = Reschedule {
                    instance_id: i.instance_id.clone(),
                    request_id: r.request_id.clone(),
                    host: self.cfg.host.clone(),
                    reason: format!("the compute agent on {} restarted during the build", self.cfg.host),
                    abort: false,
                    // The password died with the process that had it, as in Nova.
                    admin_pass: None,
                };
                if let Err(e) = self.conductor::<_, Value>(&ctx, "reschedule", &resched).await {
                    tracing::warn!(instance = %i.instance_id, error = %e, "rescheduling failed");
                }
                continue;
            }
            self.sync_power_state(&ctx, &i, &running, true).await;
        }
    }

    /// What the driver runs, compared with what the records say: a guest that died on its
    /// own is stopped, as Nova's periodic power sync has it. Instances in the middle of a task
    /// are left to the task.
    async fn sweep_images(&self) {
        let in_use = match self.driver.images_in_use().await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "listing the images guests use failed; the cache is kept");
                return;
            }
        };
        if let Err(e) = self.images.sweep(&in_use, self.cfg.image_cache_min_age) {
            tracing::warn!(error = %e, "sweeping the image cache failed");
        }
    }

    async fn sync_power_states(&self) {
        let ctx = system_context();
        let host = json!({"host": self.cfg.host});
        let Ok(instances) = self
            .conductor::<_, Vec<BuildInfo>>(&ctx, "instances_on_host", &host)
            .await
        else {
            return;
        };
        let Ok(running) = self.driver.list().await else { return };
        for i in instances
            .iter()
            .filter(|i| i.task_state.is_none() && i.vm_state != "building")
        {
            let listed = running
                .iter()
                .find(|(id, _)| *id == i.instance_id)
                .map(|(_, p)| *p)
                .unwrap_or(PowerState::Shutdown);
            if i.power_state == Some(listed.code() as i64) {
                continue;
            }
            // It looks out of step: read both sides again while no action can run.
            let _g = self.lock(&i.instance_id).await;
            let r = InstanceRef {
                instance_id: i.instance_id.clone(),
                request_id: ctx.request_id.clone(),
                admin_pass: None,
            };
            let Ok(fresh) = self.conductor::<_, BuildInfo>(&ctx, "instance_get", &r).await else {
                continue;
            };
            if fresh.task_state.is_some() || fresh.vm_state == "building" || fresh.vm_state == "deleted" {
                continue;
            }
            let now = match self.driver.info(&i.instance_id).await {
                Ok(info) => info.power_state,
                Err(stratus_virt::DriverError::NotFound(_)) => PowerState::Shutdown,
                Err(_) => continue,
            };
            self.sync_power_state(&ctx, &fresh, &[(fresh.instance_id.clone(), now)], false)
                .await;
        }
    }

    async fn sync_power_state(&self, ctx: &Context, i: &BuildInfo, running: &[(String, PowerState)], restart: bool) {
        let power = running
            .iter()
            .find(|(id, _)| *id == i.instance_id)
            .map(|(_, p)| *p)
            .unwrap_or(PowerState::Shutdown);
        let mut u = InstanceUpdate {
            instance_id: i.instance_id.clone(),
            power_state: Some(power.code() as i64),
            ..Default::default()
        };
        if power == PowerState::Shutdown && i.vm_state == "active" {
            tracing::info!(instance = %i.instance_id, "the guest is not running any more; the server is stopped");
            u.vm_state = Some("stopped".into());
        } else if !restart && i.power_state == Some(power.code() as i64) {
            return;
        }
        if i.task_state.is_some() {
            u.clear_task_state = true;
        }
        if !restart {
            // Only while no task started since the list was read.
            u.check_task_state = true;
        }
        if let Err(e) = self.update(ctx, u).await {
            tracing::warn!(instance = %i.instance_id, error = %e, "syncing the power state failed");
        }
    }
}

struct Served(Arc<Inner>);

#[derive(Deserialize)]
struct PowerArgs {
    instance_id: String,
    request_id: String,
    op: PowerOp,
}

#[derive(Deserialize)]
struct ConsoleArgs {
    instance_id: String,
    lines: Option<usize>,
}

/// A new password for a user of a running guest (`changePassword`).
#[derive(Deserialize)]
struct PasswordArgs {
    instance_id: String,
    user: String,
    admin_pass: String,
}

#[async_trait]
impl Endpoint for Served {
    fn version(&self) -> &str {
        VERSION
    }

    async fn dispatch(&self, ctx: Context, method: &str, args: Value) -> Result<Value, RemoteError> {
        let a = &self.0;
        let parse = |v: Value| -> Result<InstanceRef, RemoteError> {
            serde_json::from_value(v).map_err(|e| RemoteError::new("BadMessage", e.to_string()))
        };
        match method {
            "build_and_run_instance" => a.build(&ctx, &parse(args)?).await.map(|_| Value::Null),
            "terminate_instance" => a.terminate(&ctx, &parse(args)?).await.map(|_| Value::Null),
            "power" => {
                let p: PowerArgs =
                    serde_json::from_value(args).map_err(|e| RemoteError::new("BadMessage", e.to_string()))?;
                let r = InstanceRef {
                    instance_id: p.instance_id,
                    request_id: p.request_id,
                    admin_pass: None,
                };
                a.power(&ctx, &r, p.op).await.map(|_| Value::Null)
            }
            "attach_volume" => {
                let v: VolumeOp =
                    serde_json::from_value(args).map_err(|e| RemoteError::new("BadMessage", e.to_string()))?;
                a.attach_volume(&ctx, &v).await.map(|_| Value::Null)
            }
            "detach_volume" => {
                let v: VolumeOp =
                    serde_json::from_value(args).map_err(|e| RemoteError::new("BadMessage", e.to_string()))?;
                a.detach_volume(&ctx, &v).await.map(|_| Value::Null)
            }
            "console_output" => {
                let c: ConsoleArgs =
                    serde_json::from_value(args).map_err(|e| RemoteError::new("BadMessage", e.to_string()))?;
                let out = a.driver.console_output(&c.instance_id, c.lines).await.map_err(remote)?;
                Ok(Value::String(out))
            }
            "host_uptime" => host_uptime().await.map(Value::String).map_err(remote),
            "set_admin_password" => {
                let p: PasswordArgs =
                    serde_json::from_value(args).map_err(|e| RemoteError::new("BadMessage", e.to_string()))?;
                match a.driver.set_admin_password(&p.instance_id, &p.user, &p.admin_pass).await {
                    Ok(()) => Ok(Value::Null),
                    // Nova's NotImplementedError (501) and InstancePasswordSetFailed (409).
                    Err(e @ stratus_virt::DriverError::Unsupported(..)) => {
                        Err(RemoteError::new("SetAdminPasswdNotSupported", e.to_string()))
                    }
                    Err(e) => Err(RemoteError::new("InstancePasswordSetFailed", e.to_string())),
                }
            }
            other => Err(RemoteError::new(
                "UnknownMethod",
                format!("compute has no method {other}"),
            )),
        }
    }
}

/// The local address this host talks to the APIs at `public_url` from (a UDP "connect" sends
/// nothing; it only asks the kernel for the route), as Nova's `my_ip` is the host's address.
async fn own_address(public_url: &str) -> Option<String> {
    let url = reqwest::Url::parse(public_url).ok()?;
    let host = url.host_str()?.trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = url.port_or_known_default()?;
    let target = tokio::net::lookup_host((host.as_str(), port)).await.ok()?.next()?;
    let bind = if target.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
    let socket = tokio::net::UdpSocket::bind(bind).await.ok()?;
    socket.connect(target).await.ok()?;
    Some(socket.local_addr().ok()?.ip().to_string())
}

/// The host's uptime as `uptime` prints it (Nova's libvirt driver runs the same command):
/// the time, how long the host has been up, its users and load averages.
async fn host_uptime() -> Result<String, std::io::Error> {
    let out = tokio::process::Command::new("uptime")
        .env("LANG", "C")
        .env("LC_ALL", "C")
        .output()
        .await;
    match out {
        Ok(o) if o.status.success() && !o.stdout.is_empty() => {
            Ok(String::from_utf8_lossy(&o.stdout).trim_end().to_owned())
        }
        // No `uptime` on this host: the same facts from /proc, without the user count.
        _ => {
            let up = tokio::fs::read_to_string("/proc/uptime").await?;
            let load = tokio::fs::read_to_string("/proc/loadavg").await?;
            Ok(uptime_line(&up, &load, std::time::SystemTime::now()))
        }
    }
}

/// `HH:MM:SS up D days, HH:MM,  load average: a, b, c` from /proc/uptime and /proc/loadavg.
fn uptime_line(proc_uptime: &str, proc_loadavg: &str, now: std::time::SystemTime) -> String {
    let secs = proc_uptime
        .split_whitespace()
        .next()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(0.0) as u64;
    let (days, hours, minutes) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    let up = match days {
        0 => format!("{hours:2}:{minutes:02}"),
        1 => format!("1 day, {hours:2}:{minutes:02}"),
        d => format!("{d} days, {hours:2}:{minutes:02}"),
    };
    let load: Vec<&str> = proc_loadavg.split_whitespace().take(3).collect();
    let clock = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() % 86_400)
        .unwrap_or(0);
    format!(
        " {:02}:{:02}:{:02} up {up},  load average: {}",
        clock / 3600,
        clock % 3600 / 60,
        clock % 60,
        load.join(", ")
    )
}

/// A hostname made from a server's name, as Nova sanitizes display names: lowercase letters,
/// digits and hyphens, at most 63 characters.
fn hostname_of(name: &str) -> String {
    let mut h = String::new();
    for c in name.trim().chars() {
        match c {
            'a'..='z' | '0'..='9' | '-' => h.push(c),
            'A'..='Z' => h.push(c.to_ascii_lowercase()),
            ' ' | '_' | '.' => h.push('-'),
            _ => {}
        }
    }
    let h: String = h.trim_matches('-').chars().take(63).collect();
    let h = h.trim_end_matches('-').to_owned();
    if h.is_empty() {
        "server".into()
    } else {
        h
    }
}

#[cfg(test)]
mod uptime_tests {
    use super::uptime_line;

    #[test]
    fn the_proc_files_make_an_uptime_line() {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(86_400 * 3 + 3600 * 17 + 60 + 5);
        assert_eq!(
            uptime_line("8699.49 10441.74\n", "0.65 1.27 1.30 1/144 7775\n", at),
            " 17:01:05 up  2:24,  load average: 0.65, 1.27, 1.30"
        );
        assert_eq!(
            uptime_line("270000.0 1.0", "0.00 0.01 0.05 1/1 1", at),
            " 17:01:05 up 3 days,  3:00,  load average: 0.00, 0.01, 0.05"
        );
    }
}
