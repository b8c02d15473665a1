//! The conductor and the scheduler: the two services between the API and the agents that
//! read and write the compute records. The agents reach the records only through the
//! conductor's methods.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use stratus_bus::{Bus, BusError, Context, Endpoint, Listener, RemoteError};
use stratus_compute_agent::rpc::*;
use stratus_store::now_micros;

use crate::instances_db as idb;
use crate::model::{ComputeNode, Fault, Instance};
use crate::scheduler::{self, HostState, RequestSpec};
use crate::service::ComputeService;

fn remote(e: impl std::fmt::Display) -> RemoteError {
    RemoteError::new("ComputeError", e.to_string())
}

/// What the scheduler answers: the host claimed, and where to go next on failure.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Destination {
    pub host: String,
    pub alternates: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SelectArgs {
    instance_id: String,
    request_id: String,
    ignore_hosts: Vec<String>,
}

pub(crate) fn build_info(i: &Instance) -> BuildInfo {
    BuildInfo {
        instance_id: i.id.clone(),
        name: i.name.clone(),
        project_id: i.project_id.clone(),
        vcpus: i.flavor.vcpus,
        memory_mb: i.flavor.memory_mb,
        root_gb: i.flavor.root_gb,
        image_id: i.image_id.clone(),
        availability_zone: i.availability_zone.clone(),
        user_data: i.user_data.clone(),
        metadata: i.metadata.clone(),
        config_drive: i.config_drive,
        key_data: i.key_data.clone(),
        key_name: i.key_name.clone(),
        vm_state: i.vm_state.clone(),
        power_state: Some(i.power_state),
        task_state: i.task_state.clone(),
        requested_networks: match &i.requested_networks {
            crate::model::RequestedNetworks::List(l) => serde_json::to_value(l).unwrap_or(Value::Null),
            crate::model::RequestedNetworks::None => Value::String("none".into()),
            crate::model::RequestedNetworks::Auto => Value::String("auto".into()),
        },
        ports: i.ports.clone(),
        host: i.host.clone(),
        volume_attachments: vec![],
        block_devices: serde_json::to_value(&i.block_devices).unwrap_or(Value::Null),
    }
}

impl ComputeService {
    /// Serves the conductor's and the scheduler's topics on `bus` (both stop when the
    /// listeners are dropped).
    pub async fn serve(&self, bus: &Bus) -> Result<Vec<Listener>, BusError> {
        let mut out = self.serve_conductor(bus).await?;
        out.push(self.serve_scheduler(bus).await?);
        Ok(out)
    }

    pub async fn serve_scheduler(&self, bus: &Bus) -> Result<Listener, BusError> {
        bus.serve(SCHEDULER, Arc::new(Scheduler { svc: self.clone() })).await
    }

    /// The conductor's topic, and the reaper of overdue builds.
    pub async fn serve_conductor(&self, bus: &Bus) -> Result<Vec<Listener>, BusError> {
        let conductor = bus
            .serve(
                CONDUCTOR,
                Arc::new(Conductor {
                    svc: self.clone(),
                    bus: bus.clone(),
                }),
            )
            .await?;
        // Every task state has a deadline: overdue builds go to ERROR with a reason.
        let weak = Arc::downgrade(self.shared());
        let every = (self.config().build_timeout / 2).clamp(
            std::time::Duration::from_millis(500),
            std::time::Duration::from_secs(30),
        );
        let reaper = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(svc) = ComputeService::from_shared(&weak) else {
                    return;
                };
                match svc.reap_overdue().await {
                    Ok(0) => {}
                    Ok(n) => tracing::warn!(builds = n, "builds overran their deadline and went to ERROR"),
                    Err(e) => tracing::warn!(error = %e, "looking for overdue builds failed"),
                }
            }
        });
        let stop = Listener::new(move || reaper.abort());
        Ok(vec![conductor, stop])
    }

    async fn host_states(&self) -> crate::service::Result<Vec<HostState>> {
        let now = now_micros();
        let down = self.config().service_down_time.as_micros() as i64;
        let mut metadata = crate::aggregates::metadata_by_host(self.db()).await?;
        Ok(idb::nodes(self.db())
            .await?
            .into_iter()
            .map(|n| HostState {
                aggregate_metadata: metadata.remove(&n.host).unwrap_or_default(),
                up: now - n.heartbeat_at <= down,
                host: n.host,
                enabled: n.enabled,
                availability_zone: n.availability_zone,
                hypervisor_type: n.hypervisor_type,
                vcpus: n.vcpus.max(0) as u64,
                vcpus_used: n.vcpus_used.max(0) as u64,
                memory_mb: n.memory_mb.max(0) as u64,
                memory_mb_used: n.memory_mb_used.max(0) as u64,
                disk_gb: n.disk_gb.max(0) as u64,
                disk_gb_used: n.disk_gb_used.max(0) as u64,
            })
            .collect())
    }

    /// Filters and weighs the hosts, then claims the best one that still has room: claims are
    /// conditional updates, so concurrent schedulers never overcommit a host.
    async fn select_destinations(&self, a: &SelectArgs) -> Result<Destination, RemoteError> {
        let i = idb::get(self.db(), &a.instance_id)
            .await
            .map_err(remote)?
            .ok_or_else(|| RemoteError::new("InstanceNotFound", format!("instance {} is gone", a.instance_id)))?;
        let group = crate::groups::of_instance(self.db(), &i.id).await.map_err(remote)?;
        let spec = RequestSpec {
            vcpus: i.flavor.vcpus.max(0) as u64,
            memory_mb: i.flavor.memory_mb.max(0) as u64,
            disk_gb: i.flavor.root_gb.max(0) as u64,
            // A zone taken from an earlier host does not bind a reschedule.
            availability_zone: i.availability_zone.clone().filter(|_| !i.zone_from_host),
            hypervisor_type: None,
            group: group.as_ref().map(|(g, hosts)| scheduler::Group {
                policy: g.policy,
                member_hosts: hosts.clone(),
                max_server_per_host: g.max_server_per_host,
            }),
            ignore_hosts: a.ignore_hosts.clone(),
            extra_specs: i.flavor.extra_specs.clone(),
            requested_host: i.attrs.requested_host.clone(),
        };
        let cfg = self.config();
        for round in 0..3 {
            let mut spec = spec.clone();
            if round > 0 {
                // Fresh member hosts: a concurrent boot of the group may have claimed one.
                if let Some((_, hosts)) = crate::groups::of_instance(self.db(), &i.id).await.map_err(remote)? {
                    if let Some(g) = spec.group.as_mut() {
                        g.member_hosts = hosts;
                    }
                }
            }
            let hosts = self.host_states().await.map_err(remote)?;
            let ranked = scheduler::select(&hosts, &spec, &cfg.ratios, cfg.weighing, cfg.max_attempts)
                .map_err(|e| RemoteError::new("NoValidHost", e.0))?;
            for (n, host) in ranked.iter().enumerate() {
                if idb::claim(self.db(), &i, host, &cfg.ratios, group.as_ref().map(|(g, _)| g))
                    .await
                    .map_err(remote)?
                {
                    return Ok(Destination {
                        host: host.clone(),
                        alternates: ranked[n + 1..].to_vec(),
                    });
                }
            }
            // Every ranked host filled up meanwhile: look again at fresh numbers.
        }
        Err(RemoteError::new(
            "NoValidHost",
            "No valid host was found. The hosts that fit were claimed by other builds first.",
        ))
    }

    /// Asks the scheduler for a host and sends the build there; ERROR with the reason when
    /// there is none.
    pub(crate) async fn schedule_and_build(&self, bus: &Bus, ctx: &Context, r: &InstanceRef, ignore: Vec<String>) {
        let _ = idb::start_event(
            self.db(),
            &r.instance_id,
            &r.request_id,
            "conductor_schedule_and_build_instances",
            None,
        )
        .await;
        let args = SelectArgs {
            instance_id: r.instance_id.clone(),
            request_id: r.request_id.clone(),
            ignore_hosts: ignore,
        };
        let picked: Result<Destination, BusError> = bus
            .call(
                SCHEDULER,
                "select_destinations",
                VERSION,
                ctx,
                &args,
                self.config().call_timeout,
            )
            .await;
        match picked {
            Ok(d) => {
                let _ = idb::finish_event(
                    self.db(),
                    &r.instance_id,
                    &r.request_id,
                    "conductor_schedule_and_build_instances",
                    true,
                    None,
                )
                .await;
                let Ok(Some(mut i)) = idb::get(self.db(), &r.instance_id).await else {
                    return;
                };
                i.host = Some(d.host.clone());
                // A server asked into no zone is in its host's (Nova's conductor does the
                // same), which its view and its config drive then show.
                if i.availability_zone.is_none() || i.zone_from_host {
                    if let Some(zone) = idb::nodes(self.db())
                        .await
                        .ok()
                        .and_then(|nodes| nodes.into_iter().find(|n| n.host == d.host))
                        .map(|n| n.availability_zone)
                    {
                        i.availability_zone = Some(zone);
                        i.zone_from_host = true;
                    }
                }
                i.alternates = d.alternates.clone();
                i.attempts.push(d.host.clone());
                i.task_state = None;
                if !idb::save(self.db(), &i, Some(Some("scheduling")))
                    .await
                    .unwrap_or(false)
                {
                    // Deleted while scheduling: give the claim back.
                    let _ = idb::release(self.db(), &i).await;
                    return;
                }
                if let Err(e) = bus
                    .cast(&compute_topic(&d.host), "build_and_run_instance", VERSION, ctx, r)
                    .await
                {
                    self.fail_build(r, &format!("sending the build to {}: {e}", d.host), 500)
                        .await;
                }
            }
            Err(e) => {
                let mut msg = match &e {
                    BusError::Remote(re) => re.message.clone(),
                    other => other.to_string(),
                };
                // The hosts tried failed for a reason of their own: that reason, not only
                // "no valid host", is what the user can act on (as Nova's fault of the last
                // failure).
                if let Ok(Some(Fault { details, .. })) = idb::get(self.db(), &r.instance_id)
                    .await
                    .map(|i| i.and_then(|i| i.fault))
                {
                    let sep = if msg.ends_with('.') { " " } else { ". " };
                    msg = format!("{msg}{sep}Last failure on {details}");
                }
                let _ = idb::finish_event(
                    self.db(),
                    &r.instance_id,
                    &r.request_id,
                    "conductor_schedule_and_build_instances",
                    false,
                    Some(&msg),
                )
                .await;
                self.fail_build(r, &msg, 500).await;
            }
        }
    }

    /// ERROR with a fault that says why (`code` as Nova's faults: 500 for a failure, 403
    /// for a quota); the claim goes back and the steps left open are closed.
    async fn fail_build(&self, r: &InstanceRef, why: &str, code: u16) {
        tracing::warn!(instance = %r.instance_id, reason = %why, "build failed");
        let Ok(Some(mut i)) = idb::get(self.db(), &r.instance_id).await else {
            return;
        };
        let _ = idb::release(self.db(), &i).await;
        let _ = idb::finish_open_events(self.db(), &r.instance_id, &r.request_id, why).await;
        i.vm_state = "error".into();
        i.task_state = None;
        i.power_state = 0;
        i.fault = Some(Fault {
            code,
            message: why.chars().take(255).collect(),
            details: why.to_owned(),
            created: now_micros(),
        });
        let _ = idb::save(self.db(), &i, None).await;
        let _ = idb::finish_action(self.db(), &r.instance_id, &r.request_id, Some("Error")).await;
    }

    async fn reschedule(&self, bus: &Bus, ctx: &Context, a: &Reschedule) -> Result<(), RemoteError> {
        let Some(mut i) = idb::get(self.db(), &a.instance_id).await.map_err(remote)? else {
            return Ok(());
        };
        if i.host.as_deref() != Some(a.host.as_str())
            || (i.vm_state != "building" && i.task_state.as_deref() != Some("deleting"))
        {
            // A late or repeated report from a host the build has already left.
            tracing::info!(instance = %i.id, from = %a.host, now = ?i.host, "a stale reschedule; ignored");
            return Ok(());
        }
        let _ = idb::release(self.db(), &i).await;
        // A reschedule is part of the build: its events go with the create action, whatever
        // request the report came with (a restarted agent has none of its own).
        let request_id = idb::create_request_id(self.db(), &a.instance_id)
            .await
            .map_err(remote)?
            .unwrap_or_else(|| a.request_id.clone());
        let a = &Reschedule {
            request_id,
            ..a.clone()
        };
        // A step the host left open (interrupted by a restart) ends here, with the reason.
        let _ = idb::finish_open_events(self.db(), &a.instance_id, &a.request_id, &a.reason).await;
        let _ = idb::start_event(
            self.db(),
            &a.instance_id,
            &a.request_id,
            "conductor_reschedule",
            Some(&a.host),
        )
        .await;
        let _ = idb::finish_event(
            self.db(),
            &a.instance_id,
            &a.request_id,
            "conductor_reschedule",
            false,
            Some(&a.reason),
        )
        .await;
        if i.task_state.as_deref() == Some("deleting") {
            return idb::mark_deleted(self.db(), &i).await.map_err(remote);
        }
        let r = InstanceRef {
            instance_id: a.instance_id.clone(),
            request_id: a.request_id.clone(),
            admin_pass: a.admin_pass.clone(),
        };
        if a.abort {
            // No other host would do better (a quota of the user's is used up).
            let msg = format!("Build of instance {} aborted: {}", i.id, a.reason);
            self.fail_build(&r, &msg, 403).await;
            return Ok(());
        }
        if !i.attempts.contains(&a.host) {
            i.attempts.push(a.host.clone());
        }
        if i.attempts.len() >= self.config().max_attempts {
            let msg = format!(
                "Exceeded maximum number of retries. Exhausted all hosts available for retrying build failures for instance {}. Last failure on {}: {}",
                i.id, a.host, a.reason
            );
            self.fail_build(&r, &msg, 500).await;
            return Ok(());
        }
        i.host = None;
        // Kept (shown only in ERROR) so that a later "no valid host" can say what failed here.
        i.fault = Some(Fault {
            code: 500,
            message: a.reason.chars().take(255).collect(),
            details: format!("{}: {}", a.host, a.reason),
            created: now_micros(),
        });
        i.task_state = Some("scheduling".into());
        i.addresses.clear();
        idb::save(self.db(), &i, None).await.map_err(remote)?;
        let ignore = i.attempts.clone();
        let (svc, bus, ctx) = (self.clone(), bus.clone(), ctx.clone());
        tokio::spawn(async move { svc.schedule_and_build(&bus, &ctx, &r, ignore).await });
        Ok(())
    }

    async fn apply_update(&self, u: &InstanceUpdate) -> Result<(), RemoteError> {
        let mut i = idb::get(self.db(), &u.instance_id)
            .await
            .map_err(remote)?
            .ok_or_else(|| RemoteError::new("InstanceNotFound", format!("instance {} is gone", u.instance_id)))?;
        if let Some(v) = &u.vm_state {
            i.vm_state = v.clone();
        }
        if u.clear_task_state {
            i.task_state = None;
        } else if let Some(t) = &u.task_state {
            i.task_state = Some(t.clone());
        }
        if let Some(p) = u.power_state {
            i.power_state = p;
        }
        if let Some(a) = &u.addresses {
            i.addresses = serde_json::from_value(a.clone()).map_err(remote)?;
        }
        if let Some(p) = &u.ports {
            // Ports of every attempt are kept, so that a delete removes them all.
            for id in p {
                if !i.ports.contains(id) {
                    i.ports.push(id.clone());
                }
            }
        }
        if u.launched {
            i.launched_at = Some(now_micros());
            i.task_deadline = None;
            i.fault = None;
        }
        let expected = u.check_task_state.then_some(u.expected_task_state.as_deref());
        if !idb::save(self.db(), &i, expected).await.map_err(remote)? {
            return Err(RemoteError::new(
                "UnexpectedTaskState",
                format!("instance {} is no longer in task state {:?}", i.id, expected.flatten()),
            ));
        }
        if u.launched {
            let _ = idb::finish_action_for_create(self.db(), &i.id).await;
        }
        Ok(())
    }
}

struct Conductor {
    svc: ComputeService,
    bus: Bus,
}

fn args<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, RemoteError> {
    serde_json::from_value(v).map_err(|e| RemoteError::new("BadMessage", e.to_string()))
}

#[async_trait]
impl Endpoint for Conductor {
    fn version(&self) -> &str {
        VERSION
    }

    async fn dispatch(&self, ctx: Context, method: &str, a: Value) -> Result<Value, RemoteError> {
        let svc = &self.svc;
        let db = svc.db();
        let ok = |_| Value::Null;
        match method {
            "build_instance" => {
                let r: InstanceRef = args(a)?;
                svc.schedule_and_build(&self.bus, &ctx, &r, vec![]).await;
                Ok(Value::Null)
            }
            "instance_get" => {
                let r: InstanceRef = args(a)?;
                let i = idb::get(db, &r.instance_id).await.map_err(remote)?.ok_or_else(|| {
                    RemoteError::new("InstanceNotFound", format!("instance {} is gone", r.instance_id))
                })?;
                let mut info = build_info(&i);
                info.volume_attachments = idb::volume_attachments(db, &i.id)
                    .await
                    .map_err(remote)?
                    .into_iter()
                    .map(|a| MappedVolume {
                        volume_id: a.volume_id,
                        attachment_id: a.attachment_id,
                        device: a.device,
                        delete_on_termination: a.delete_on_termination != 0,
                    })
                    .collect();
                serde_json::to_value(info).map_err(remote)
            }
            "instance_update" => svc.apply_update(&args(a)?).await.map(ok),
            "step" => {
                let st: Step = args(a)?;
                if let Some(e) = &st.finish {
                    idb::finish_event(db, &e.instance_id, &e.request_id, &e.event, e.ok, e.details.as_deref())
                        .await
                        .map_err(remote)?;
                }
                if let Some(u) = &st.update {
                    svc.apply_update(u).await?;
                }
                if let Some(e) = &st.start {
                    idb::start_event(db, &e.instance_id, &e.request_id, &e.event, Some(&e.host))
                        .await
                        .map_err(remote)?;
                }
                Ok(Value::Null)
            }
            "event_start" => {
                let e: EventStart = args(a)?;
                idb::start_event(db, &e.instance_id, &e.request_id, &e.event, Some(&e.host))
                    .await
                    .map(ok)
                    .map_err(remote)
            }
            "event_finish" => {
                let e: EventFinish = args(a)?;
                idb::finish_event(db, &e.instance_id, &e.request_id, &e.event, e.ok, e.details.as_deref())
                    .await
                    .map(ok)
                    .map_err(remote)
            }
            "reschedule" => svc.reschedule(&self.bus, &ctx, &args(a)?).await.map(ok),
            "report_node" => {
                let n: NodeReport = args(a)?;
                let node = ComputeNode {
                    id: 0,
                    host: n.host,
                    service_id: uuid::Uuid::new_v4().to_string(),
                    availability_zone: n.availability_zone,
                    hypervisor_type: n.hypervisor_type,
                    hypervisor_version: n.hypervisor_version,
                    host_ip: n.host_ip,
                    vcpus: n.vcpus,
                    memory_mb: n.memory_mb,
                    disk_gb: n.disk_gb,
                    vcpus_used: 0,
                    memory_mb_used: 0,
                    disk_gb_used: 0,
                    enabled: true,
                    disabled_reason: None,
                    heartbeat_at: now_micros(),
                    running_vms: 0,
                    current_workload: 0,
                };
                idb::report_node(db, &node).await.map(ok).map_err(remote)
            }
            "instances_on_host" => {
                #[derive(Deserialize)]
                struct H {
                    host: String,
                }
                let h: H = args(a)?;
                let list = idb::list(db, None, Some(&h.host)).await.map_err(remote)?;
                serde_json::to_value(list.iter().map(build_info).collect::<Vec<_>>()).map_err(remote)
            }
            "volumes_mapped" => {
                #[derive(Deserialize)]
                struct Mapped {
                    instance_id: String,
                    volumes: Vec<MappedVolume>,
                }
                let m: Mapped = args(a)?;
                for v in m.volumes {
                    let row = idb::VolumeAttachment {
                        instance_id: m.instance_id.clone(),
                        volume_id: v.volume_id,
                        attachment_id: v.attachment_id,
                        device: v.device,
                        status: "attached".into(),
                        delete_on_termination: v.delete_on_termination as i64,
                    };
                    idb::insert_volume_attachment(db, &row).await.map_err(remote)?;
                }
                Ok(Value::Null)
            }
            "volume_attached" | "volume_detached" => {
                #[derive(Deserialize)]
                struct Done {
                    instance_id: String,
                    volume_id: String,
                    ok: bool,
                }
                let d: Done = args(a)?;
                let attached = method == "volume_attached";
                match (attached, d.ok) {
                    (true, true) | (false, false) => {
                        idb::set_volume_attachment_status(db, &d.instance_id, &d.volume_id, "attached").await
                    }
                    _ => idb::delete_volume_attachment(db, &d.instance_id, &d.volume_id).await,
                }
                .map_err(remote)?;
                let kind = if attached { "attach_volume" } else { "detach_volume" };
                let _ = idb::finish_action_named(db, &d.instance_id, kind, d.ok).await;
                Ok(Value::Null)
            }
            "instance_destroyed" => {
                let r: InstanceRef = args(a)?;
                if let Some(i) = idb::get(db, &r.instance_id).await.map_err(remote)? {
                    idb::mark_deleted(db, &i).await.map_err(remote)?;
                }
                let _ = idb::finish_action(db, &r.instance_id, &r.request_id, None).await;
                Ok(Value::Null)
            }
            other => Err(RemoteError::new(
                "UnknownMethod",
                format!("conductor has no method {other}"),
            )),
        }
    }
}

struct Scheduler {
    svc: ComputeService,
}

#[async_trait]
impl Endpoint for Scheduler {
    fn version(&self) -> &str {
        VERSION
    }

    async fn dispatch(&self, _ctx: Context, method: &str, a: Value) -> Result<Value, RemoteError> {
        match method {
            "select_destinations" => {
                let s: SelectArgs = args(a)?;
                let db = self.svc.db();
                let _ =
                    idb::start_event(db, &s.instance_id, &s.request_id, "scheduler_select_destinations", None).await;
                let picked = self.svc.select_destinations(&s).await;
                let details = picked.as_ref().err().map(|e| e.message.clone());
                let _ = idb::finish_event(
                    db,
                    &s.instance_id,
                    &s.request_id,
                    "scheduler_select_destinations",
                    picked.is_ok(),
                    details.as_deref(),
                )
                .await;
                serde_json::to_value(picked?).map_err(remote)
            }
            other => Err(RemoteError::new(
                "UnknownMethod",
                format!("scheduler has no method {other}"),
            )),
        }
    }
}
