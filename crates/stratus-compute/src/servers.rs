//! Servers, as the compute API sees them: create (validated, quota-checked, written and handed
//! to the conductor at once), read, delete in any state, and the actions users take.

use std::collections::BTreeMap;

use serde_json::Value;
use stratus_api::{AuthContext, Target};
use stratus_bus::{Bus, Context};
use stratus_compute_agent::clients::Rest;
use stratus_compute_agent::rpc::{compute_topic, InstanceRef, PowerOp, CONDUCTOR, VERSION};
use stratus_store::now_micros;

use crate::instances_db as idb;
use crate::model::{Instance, InstanceAction, NetworkRequest, RequestedNetworks};
use crate::server_filter::ServerFilter;
use crate::service::{ComputeError, ComputeService, Result};

/// A create request, after the API parsed its JSON.
#[derive(Debug, Clone, Default)]
pub struct NewServer {
    pub name: String,
    pub flavor_ref: String,
    pub image_ref: Option<String>,
    /// None: the request named no networks.
    pub networks: Option<RequestedNetworks>,
    pub key_name: Option<String>,
    /// Base64, as clients send it.
    pub user_data: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub availability_zone: Option<String>,
    pub min_count: u32,
    pub max_count: u32,
    pub config_drive: bool,
    /// The server group of the `group` scheduler hint.
    pub group: Option<String>,
    /// Volumes to boot from or start with.
    pub block_devices: Vec<crate::model::BlockDevice>,
    /// Security groups (names or ids) for the ports made for the server.
    pub security_groups: Vec<String>,
    pub description: Option<String>,
    pub tags: Vec<String>,
    /// Access addresses and disk config; the reservation id and index are given here.
    pub attrs: crate::model::ServerAttrs,
    /// The password the guest gets through its config drive (given, or made by the API).
    pub admin_pass: Option<String>,
}

/// A password as Nova makes one (`utils.generate_password`): 12 characters from letters and
/// digits, without the ones people misread.
pub fn generate_password() -> String {
    use rand::Rng;
    const SYMBOLS: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let mut rng = rand::thread_rng();
    (0..12).map(|_| SYMBOLS[rng.gen_range(0..SYMBOLS.len())] as char).collect()
}

/// Nova's status for a vm_state and task_state.
pub fn status_of(i: &Instance) -> &'static str {
    match (i.vm_state.as_str(), i.task_state.as_deref()) {
        ("active", Some("rebooting")) => "REBOOT",
        ("active", Some("rebooting_hard")) => "HARD_REBOOT",
        ("building", _) => "BUILD",
        ("active", _) => "ACTIVE",
        ("stopped", _) => "SHUTOFF",
        ("paused", _) => "PAUSED",
        ("error", _) => "ERROR",
        ("deleted", _) => "DELETED",
        _ => "UNKNOWN",
    }
}

fn not_found(id: &str) -> ComputeError {
    ComputeError::NotFound(format!("Instance {id} could not be found."))
}

/// The bytes of `user_data`, which clients send as base64.
fn user_data_bytes(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s.trim()).ok()
}

impl ComputeService {
    /// The bus the API casts builds on, and where the other services' APIs are.
    pub fn connect_pipeline(&self, bus: Bus, rest: Rest) {
        let _ = self.pipeline().set((bus, rest));
    }

    fn bus(&self) -> Result<&Bus> {
        self.pipeline()
            .get()
            .map(|(b, _)| b)
            .ok_or_else(|| ComputeError::Invalid("This cloud has no compute pipeline running.".into()))
    }

    fn rest(&self) -> Result<&Rest> {
        self.pipeline()
            .get()
            .map(|(_, r)| r)
            .ok_or_else(|| ComputeError::Invalid("This cloud has no compute pipeline running.".into()))
    }

    fn context(caller: &AuthContext, request_id: &str) -> Context {
        Context {
            request_id: request_id.to_owned(),
            user_id: caller.user_id.clone(),
            project_id: caller.project_id().map(str::to_owned),
            roles: caller.roles.iter().map(|r| r.name.clone()).collect(),
            token: Some(caller.token.clone()),
        }
    }

    async fn visible_server(&self, caller: &AuthContext, id: &str) -> Result<Instance> {
        match idb::get(self.db(), id).await? {
            Some(i) if caller.has_role("admin") || caller.project_id() == Some(i.project_id.as_str()) => {
                self.enforce(
                    "os_compute_api:servers:show",
                    caller,
                    &Target::new().with("project_id", &i.project_id),
                )?;
                Ok(i)
            }
            _ => Err(not_found(id)),
        }
    }

    /// Resolves what the user asked of the network: named networks and ports exist, `auto`
    /// becomes the project's one network.
    /// The networks of a new server, as Nova decides them. With none named (before 2.37) the
    /// project's only usable network is used, no network at all means no port, and several are
    /// a 409. `auto` (2.37) is the same, except that with none it would auto-allocate a
    /// network, which needs routers this cloud does not have yet: a 400 says so.
    async fn resolve_networks(
        &self,
        token: &str,
        project: &str,
        req: Option<RequestedNetworks>,
    ) -> Result<RequestedNetworks> {
        let rest = self.rest()?;
        let refused = |e: stratus_compute_agent::clients::ClientError, what: String| match e.status() {
            Some(404) => ComputeError::Invalid(format!("{what} could not be found.")),
            _ => ComputeError::Invalid(format!("{what}: {e}")),
        };
        let auto = matches!(req, Some(RequestedNetworks::Auto));
        // An empty list is no request at all, as in Nova (python-openstackclient sends one
        // before 2.37 when no network is named).
        let req = match req {
            Some(RequestedNetworks::List(l)) if l.is_empty() => None,
            other => other,
        };
        match req {
            Some(RequestedNetworks::None) => Ok(RequestedNetworks::None),
            None | Some(RequestedNetworks::Auto) => {
                let nets: Vec<Value> = rest
                    .available_networks(token, project)
                    .await
                    .map_err(|e| ComputeError::Invalid(format!("listing networks: {e}")))?
                    .into_iter()
                    .filter(|n| n["router:external"] != Value::Bool(true) || n["shared"] == Value::Bool(true))
                    .collect();
                match nets.as_slice() {
                    [] if auto => Err(ComputeError::Invalid(format!(
                        "Unable to automatically allocate a network for project {project}"
                    ))),
                    [] => Ok(RequestedNetworks::None),
                    [one] => Ok(RequestedNetworks::List(vec![NetworkRequest {
                        network_id: one["id"].as_str().map(str::to_owned),
                        ..Default::default()
                    }])),
                    _ => Err(ComputeError::Conflict(
                        "Multiple possible networks found, use a Network ID to be more specific.".into(),
                    )),
                }
            }
            Some(RequestedNetworks::List(list)) => {
                for r in &list {
                    match (&r.port_id, &r.network_id) {
                        (Some(p), _) => {
                            let port = rest.port(token, p).await.map_err(|e| refused(e, format!("Port {p}")))?;
                            if port["device_id"].as_str().is_some_and(|d| !d.is_empty()) {
                                return Err(ComputeError::Conflict(format!("Port {p} is still in use.")));
                            }
                        }
                        (None, Some(n)) => {
                            rest.network(token, n)
                                .await
                                .map_err(|e| refused(e, format!("Network {n}")))?;
                        }
                        (None, None) => {
                            return Err(ComputeError::Invalid(
                                "Invalid input for field/attribute networks: each needs a uuid or a port.".into(),
                            ))
                        }
                    }
                }
                Ok(RequestedNetworks::List(list))
            }
        }
    }

    /// The caller's project's security groups, by name or id, as the Network API has them.
    async fn resolve_security_groups(
        &self,
        caller: &AuthContext,
        token: &str,
        wanted: &[String],
    ) -> Result<Vec<crate::model::SecurityGroupRef>> {
        let mut out: Vec<crate::model::SecurityGroupRef> = Vec::new();
        if wanted.is_empty() {
            return Ok(out);
        }
        let project = caller.project_id().unwrap_or_default();
        let all = self
            .rest()?
            .security_groups(token, project)
            .await
            .map_err(|e| ComputeError::Invalid(format!("listing security groups: {e}")))?;
        for w in wanted {
            let found: Vec<&Value> = all
                .iter()
                .filter(|g| g["id"].as_str() == Some(w.as_str()) || g["name"].as_str() == Some(w.as_str()))
                .collect();
            let g = match found.as_slice() {
                [one] => *one,
                [] => {
                    return Err(ComputeError::Invalid(format!(
                        "Security group {w} not found for project {project}."
                    )))
                }
                _ => {
                    return Err(ComputeError::Conflict(format!(
                        "Multiple security groups named {w}: give its id."
                    )))
                }
            };
            let r = crate::model::SecurityGroupRef {
                id: g["id"].as_str().unwrap_or_default().to_owned(),
                name: g["name"].as_str().unwrap_or_default().to_owned(),
            };
            if !out.contains(&r) {
                out.push(r);
            }
        }
        Ok(out)
    }

    pub async fn create_servers(
        &self,
        caller: &AuthContext,
        request_id: &str,
        req: NewServer,
    ) -> Result<Vec<Instance>> {
        let project = caller
            .project_id()
            .ok_or_else(|| ComputeError::Invalid("A project-scoped token is required.".into()))?
            .to_owned();
        self.enforce(
            "os_compute_api:servers:create",
            caller,
            &Target::new().with("project_id", &project),
        )?;
        let name = req.name.trim();
        if name.is_empty() || name.chars().count() > 255 {
            return Err(ComputeError::Invalid(
                "Invalid input for field/attribute name: a server name is 1 to 255 characters.".into(),
            ));
        }
        check_description(req.description.as_deref())?;
        check_tags(&req.tags)?;
        if req.min_count < 1 || req.max_count < req.min_count {
            return Err(ComputeError::Invalid(format!(
                "Invalid input: min_count ({}) must be at least 1 and at most max_count ({}).",
                req.min_count, req.max_count
            )));
        }
        // The project's limits, read once for the whole create.
        let limits = self.compute_limits(&project).await?;
        let metadata_limit = limits.get("metadata_items");
        if metadata_limit >= 0 && req.metadata.len() as i64 > metadata_limit {
            return Err(ComputeError::OverQuota(format!(
                "Quota exceeded for metadata_items: at most {metadata_limit} metadata items."
            )));
        }
        for (k, v) in &req.metadata {
            if k.is_empty() || k.chars().count() > 255 || v.chars().count() > 255 {
                return Err(ComputeError::Invalid(format!(
                    "Invalid input for field/attribute metadata: key '{k:.40}' needs 1 to 255 characters and a value of at most 255."
                )));
            }
        }
        if let Some(u) = &req.user_data {
            if user_data_bytes(u).is_none_or(|b| b.is_empty() || b.len() > 65535) {
                return Err(ComputeError::Invalid(
                    "Invalid input for field/attribute user_data: user data needs to be valid base 64, of at most 65535 bytes.".into(),
                ));
            }
        }
        // A zone an enabled host is in: the default one, or an aggregate's (Nova's available zones).
        if let Some(z) = &req.availability_zone {
            if !self.bootable_zones().await?.contains(z) {
                return Err(ComputeError::Invalid(format!(
                    "The requested availability zone is not available: {z}."
                )));
            }
        }
        // A destination named by an administrator (2.74) is a host that exists; the scheduler
        // still filters it (it may be full, disabled or in another zone).
        if let Some(h) = &req.attrs.requested_host {
            self.enforce(
                "compute:servers:create:requested_destination",
                caller,
                &Target::new().with("project_id", &project),
            )?;
            if !idb::nodes(self.db()).await?.iter().any(|n| &n.host == h) {
                return Err(ComputeError::Invalid(format!("Compute host {h} could not be found.")));
            }
        }
        let flavor = self
            .get_flavor(caller, &req.flavor_ref)
            .await
            .map_err(|_| ComputeError::Invalid(format!("Flavor {} could not be found.", req.flavor_ref)))?;
        let token = caller.token.clone();
        let root_volume = req.block_devices.iter().any(|b| b.boot);
        if root_volume && req.attrs.trusted_image_certificates.as_ref().is_some_and(|c| !c.is_empty()) {
            return Err(ComputeError::Invalid(
                "Image certificate validation is not supported for volume-backed servers.".into(),
            ));
        }
        self.check_block_devices(&token, &req.block_devices).await?;
        let image_id = match req.image_ref.as_deref().filter(|i| !i.is_empty()) {
            // A volume at boot index 0 is the root disk; Nova then ignores imageRef.
            _ if root_volume => None,
            None => {
                return Err(ComputeError::Invalid(
                    "Invalid input: imageRef is required unless a block device with boot_index 0 is a volume.".into(),
                ))
            }
            Some(id) => {
                let img = self.rest()?.image(&token, id).await.map_err(|e| match e.status() {
                    Some(404) => ComputeError::Invalid(format!("Image {id} could not be found.")),
                    _ => ComputeError::Invalid(format!("Image {id}: {e}")),
                })?;
                if img["status"] != "active" {
                    return Err(ComputeError::Invalid(format!("Image {id} is not active.")));
                }
                let min_disk = img["min_disk"].as_i64().unwrap_or(0);
                let size_gb = img["size"].as_i64().unwrap_or(0).div_euclid(1 << 30);
                if flavor.root_gb > 0 && (flavor.root_gb < min_disk || flavor.root_gb < size_gb) {
                    return Err(ComputeError::Invalid(
                        "Flavor's disk is too small for requested image.".into(),
                    ));
                }
                if flavor.memory_mb < img["min_ram"].as_i64().unwrap_or(0) {
                    return Err(ComputeError::Invalid(
                        "Flavor's memory is too small for requested image.".into(),
                    ));
                }
                Some(id.to_owned())
            }
        };
        let key_data = match &req.key_name {
            Some(k) => Some(
                crate::db::get_keypair(self.db(), &caller.user_id, k)
                    .await?
                    .ok_or_else(|| ComputeError::Invalid("Invalid key_name provided.".into()))?
                    .public_key,
            ),
            None => None,
        };
        if let Some(g) = &req.group {
            self.get_server_group(caller, g)
                .await
                .map_err(|_| ComputeError::Invalid(format!("Invalid input: server group {g} could not be found.")))?;
        }
        let project_id = caller.project_id().unwrap_or_default().to_owned();
        let mut networks = self.resolve_networks(&token, &project_id, req.networks.clone()).await?;
        let groups = self
            .resolve_security_groups(caller, &token, &req.security_groups)
            .await?;
        if let RequestedNetworks::List(list) = &mut networks {
            for r in list.iter_mut().filter(|r| r.port_id.is_none()) {
                r.security_groups = groups.clone();
            }
        }
        if matches!(&networks, RequestedNetworks::List(l) if req.max_count > 1 && l.iter().any(|n| n.port_id.is_some() || n.fixed_ip.is_some()))
        {
            return Err(ComputeError::Invalid(
                "Unable to launch multiple instances with a single configured port or fixed IP.".into(),
            ));
        }
        let user_limits = self.user_limits_within(&limits, &project, &caller.user_id).await?;
        let mut made = Vec::new();
        let now = now_micros();
        // One reservation for the servers of this request, as Nova's `r-` ids.
        let reservation_id = format!("r-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        for n in 0..req.max_count {
            let i = Instance {
                id: uuid::Uuid::new_v4().to_string(),
                name: if req.max_count > 1 {
                    format!("{name}-{}", n + 1)
                } else {
                    name.to_owned()
                },
                project_id: project.clone(),
                user_id: caller.user_id.clone(),
                flavor: flavor.clone(),
                image_id: image_id.clone(),
                host: None,
                vm_state: "building".into(),
                task_state: Some("scheduling".into()),
                power_state: 0,
                availability_zone: req.availability_zone.clone(),
                zone_from_host: false,
                key_name: req.key_name.clone(),
                key_data: key_data.clone(),
                user_data: req.user_data.clone(),
                metadata: req.metadata.clone(),
                config_drive: req.config_drive,
                requested_networks: networks.clone(),
                block_devices: req.block_devices.clone(),
                description: req.description.clone(),
                tags: req.tags.clone(),
                addresses: BTreeMap::new(),
                ports: vec![],
                fault: None,
                locked: false,
                attempts: vec![],
                alternates: vec![],
                claimed: false,
                task_deadline: Some(now + self.config().build_timeout.as_micros() as i64),
                launched_at: None,
                terminated_at: None,
                created_at: now,
                updated_at: now,
                attrs: crate::model::ServerAttrs {
                    launch_index: n,
                    reservation_id: reservation_id.clone(),
                    ..req.attrs.clone()
                },
            };
            let check = |u: idb::Usage, mine: idb::Usage, members: Option<i64>| -> Result<()> {
                let over = |what: &str, limit: i64, used: i64, ask: i64| {
                    (limit >= 0 && used.saturating_add(ask) > limit).then(|| {
                        ComputeError::OverQuota(format!(
                            "Quota exceeded for {what}: Requested {ask}, but already used {used} of {limit} {what}"
                        ))
                    })
                };
                if let Some(e) = over("instances", limits.get("instances"), u.instances, 1)
                    .or_else(|| over("cores", limits.get("cores"), u.cores, flavor.vcpus))
                    .or_else(|| over("ram", limits.get("ram"), u.ram, flavor.memory_mb))
                    .or_else(|| over("instances", user_limits.get("instances"), mine.instances, 1))
                    .or_else(|| over("cores", user_limits.get("cores"), mine.cores, flavor.vcpus))
                    .or_else(|| over("ram", user_limits.get("ram"), mine.ram, flavor.memory_mb))
                {
                    return Err(e);
                }
                let members_limit = limits.get("server_group_members");
                if members.is_some_and(|m| members_limit >= 0 && m >= members_limit) {
                    return Err(ComputeError::OverQuota(format!(
                        "Quota exceeded, too many servers in group: the limit is {members_limit} servers (server_group_members)."
                    )));
                }
                Ok(())
            };
            match idb::insert_within_quota(self.db(), &i, request_id, req.group.as_deref(), check).await? {
                Ok(()) => made.push(i),
                Err(e) if made.len() >= req.min_count as usize => {
                    tracing::info!(made = made.len(), asked = req.max_count, reason = %e, "made fewer servers than max_count");
                    break;
                }
                Err(e) => {
                    for m in &made {
                        idb::mark_deleted(self.db(), m).await?;
                    }
                    return Err(e);
                }
            }
        }
        let bus = self.bus()?;
        for i in &made {
            let ctx = Self::context(caller, request_id);
            let r = InstanceRef {
                instance_id: i.id.clone(),
                request_id: request_id.to_owned(),
                admin_pass: req.admin_pass.clone(),
            };
            if let Err(e) = bus.cast(CONDUCTOR, "build_instance", VERSION, &ctx, &r).await {
                tracing::error!(instance = %i.id, error = %e, "handing the build to the conductor failed");
            }
        }
        Ok(made)
    }

    pub async fn get_server(&self, caller: &AuthContext, id: &str) -> Result<Instance> {
        self.visible_server(caller, id).await
    }

    pub async fn list_servers(&self, caller: &AuthContext, f: &ServerFilter) -> Result<Vec<Instance>> {
        let project = if f.all_projects {
            self.enforce("os_compute_api:servers:index:get_all_tenants", caller, &Target::new())?;
            f.project_id.clone()
        } else {
            Some(caller.project_id().unwrap_or("").to_owned())
        };
        let filter = f.compile()?;
        // Nova looks the flavor up first and lists nothing when there is no such flavor.
        if let Some(flavor) = &f.flavor {
            if crate::db::get_flavor(self.db(), flavor).await?.is_none() {
                return Ok(vec![]);
            }
        }
        // Either bound on the change time lists deleted servers too, as Nova's does.
        let mut all = match (f.changes_since, f.changes_before) {
            (None, None) => idb::list(self.db(), project.as_deref(), None).await?,
            (since, _) => idb::list_changed_since(self.db(), project.as_deref(), since.unwrap_or(i64::MIN)).await?,
        };
        all.retain(|i| filter.passes(i));
        Ok(all)
    }

    /// Changes a server's tags with `change` (which may refuse), under the update policy;
    /// returns them.
    pub async fn change_tags(
        &self,
        caller: &AuthContext,
        id: &str,
        change: impl FnOnce(&mut Vec<String>) -> Result<()>,
    ) -> Result<Vec<String>> {
        let mut i = self.visible_server(caller, id).await?;
        self.enforce(
            "os_compute_api:os-server-tags:update",
            caller,
            &Target::new().with("project_id", &i.project_id),
        )?;
        change(&mut i.tags)?;
        check_tags(&i.tags)?;
        idb::save(self.db(), &i, None).await?;
        Ok(i.tags)
    }

    /// Changes a server's name and (given as `Some`, where `Some(None)` clears it) its
    /// description.
    pub async fn update_server(
        &self,
        caller: &AuthContext,
        id: &str,
        name: Option<&str>,
        description: Option<Option<String>>,
        access: (Option<String>, Option<String>),
        auto_disk_config: Option<bool>,
    ) -> Result<Instance> {
        let mut i = self.visible_server(caller, id).await?;
        self.enforce(
            "os_compute_api:servers:update",
            caller,
            &Target::new().with("project_id", &i.project_id),
        )?;
        if let Some(name) = name {
            if name.trim().is_empty() || name.chars().count() > 255 {
                return Err(ComputeError::Invalid("Invalid input for field/attribute name.".into()));
            }
            i.name = name.to_owned();
        }
        if let Some(d) = description {
            check_description(d.as_deref())?;
            i.description = d;
        }
        if let Some(v4) = access.0 {
            i.attrs.access_ip_v4 = Some(v4);
        }
        if let Some(v6) = access.1 {
            i.attrs.access_ip_v6 = Some(v6);
        }
        if let Some(auto) = auto_disk_config {
            i.attrs.auto_disk_config = auto;
        }
        idb::save(self.db(), &i, None).await?;
        self.visible_server(caller, id).await
    }

    fn host_up(&self, node: Option<&crate::model::ComputeNode>) -> bool {
        node.is_some_and(|n| now_micros() - n.heartbeat_at <= self.config().service_down_time.as_micros() as i64)
    }

    /// Deletes a server in any state: through its host's agent when it has one that is up,
    /// here otherwise (its ports deleted with the caller's token, its claim released).
    pub async fn delete_server(&self, caller: &AuthContext, request_id: &str, id: &str) -> Result<()> {
        let mut i = self.visible_server(caller, id).await?;
        self.enforce(
            "os_compute_api:servers:delete",
            caller,
            &Target::new().with("project_id", &i.project_id),
        )?;
        if i.locked && !caller.has_role("admin") {
            return Err(ComputeError::Conflict(format!("Instance {id} is locked")));
        }
        idb::start_action(self.db(), &i, request_id, "delete", &caller.user_id).await?;
        let prior = i.task_state.clone();
        i.task_state = Some("deleting".into());
        idb::save(self.db(), &i, None).await?;
        let nodes = idb::nodes(self.db()).await?;
        let node = i.host.as_ref().and_then(|h| nodes.iter().find(|n| &n.host == h));
        let handed_over = i.host.is_some() && prior.as_deref() != Some("scheduling");
        if handed_over && self.host_up(node) {
            let ctx = Self::context(caller, request_id);
            let r = InstanceRef {
                instance_id: i.id.clone(),
                request_id: request_id.to_owned(),
                admin_pass: None,
            };
            if let Some(h) = &i.host {
                self.bus()?
                    .cast(&compute_topic(h), "terminate_instance", VERSION, &ctx, &r)
                    .await
                    .map_err(|e| ComputeError::Invalid(format!("the compute host {h} cannot be reached: {e}")))?;
            }
            return Ok(());
        }
        // Nobody runs it (still scheduling, failed before a host, or its host is down).
        if let Ok(rest) = self.rest() {
            for p in &i.ports {
                if let Err(e) = rest.delete_port(&caller.token, p).await {
                    tracing::warn!(port = %p, error = %e, "deleting a port of a deleted server failed");
                }
            }
            for a in idb::volume_attachments(self.db(), &i.id).await? {
                if let Err(e) = rest.delete_attachment(&caller.token, &a.attachment_id).await {
                    tracing::warn!(volume = %a.volume_id, error = %e, "detaching a volume of a deleted server failed");
                }
            }
        }
        idb::mark_deleted(self.db(), &i).await?;
        idb::finish_action(self.db(), &i.id, request_id, None).await?;
        Ok(())
    }

    /// Start, stop, reboot, pause and unpause, where the server's state allows them.
    pub async fn server_power(&self, caller: &AuthContext, request_id: &str, id: &str, op: PowerOp) -> Result<()> {
        let mut i = self.visible_server(caller, id).await?;
        let (policy, action, task, allowed): (&str, &str, &str, &[&str]) = match op {
            PowerOp::Start => ("os_compute_api:servers:start", "start", "powering-on", &["stopped"]),
            PowerOp::Stop => (
                "os_compute_api:servers:stop",
                "stop",
                "powering-off",
                &["active", "paused"],
            ),
            PowerOp::SoftReboot => ("os_compute_api:servers:reboot", "reboot", "rebooting", &["active"]),
            PowerOp::HardReboot => (
                "os_compute_api:servers:reboot",
                "reboot",
                "rebooting_hard",
                &["active", "stopped", "paused"],
            ),
            PowerOp::Pause => ("os_compute_api:os-pause-server:pause", "pause", "pausing", &["active"]),
            PowerOp::Unpause => (
                "os_compute_api:os-pause-server:unpause",
                "unpause",
                "unpausing",
                &["paused"],
            ),
        };
        self.enforce(policy, caller, &Target::new().with("project_id", &i.project_id))?;
        if i.locked && !caller.has_role("admin") {
            return Err(ComputeError::Conflict(format!("Instance {id} is locked")));
        }
        let os_name = match op {
            PowerOp::Start => "os-start",
            PowerOp::Stop => "os-stop",
            PowerOp::SoftReboot | PowerOp::HardReboot => "reboot",
            PowerOp::Pause => "pause",
            PowerOp::Unpause => "unpause",
        };
        if !allowed.contains(&i.vm_state.as_str()) || i.task_state.is_some() {
            return Err(ComputeError::Conflict(format!(
                "Cannot '{os_name}' instance {id} while it is in vm_state {} (task_state {}).",
                i.vm_state,
                i.task_state.as_deref().unwrap_or("None")
            )));
        }
        let host = i
            .host
            .clone()
            .ok_or_else(|| ComputeError::Conflict(format!("Instance {id} has no host.")))?;
        i.task_state = Some(task.into());
        if !idb::save(self.db(), &i, Some(None)).await? {
            return Err(ComputeError::Conflict(format!(
                "Instance {id} changed state; try again."
            )));
        }
        idb::start_action(self.db(), &i, request_id, action, &caller.user_id).await?;
        let ctx = Self::context(caller, request_id);
        let args = serde_json::json!({"instance_id": i.id, "request_id": request_id, "op": op});
        self.bus()?
            .cast(&compute_topic(&host), "power", VERSION, &ctx, &args)
            .await
            .map_err(|e| ComputeError::Invalid(format!("the compute host {host} cannot be reached: {e}")))?;
        Ok(())
    }

    /// The guest's NUMA topology as `GET /servers/{id}/topology` (2.78) shows it. The drivers
    /// here give a guest no NUMA topology (flavors' `hw:numa_*` specs are not applied), so a
    /// server has none, which Nova shows as no nodes; the policy is still the caller's.
    pub async fn server_numa_nodes(&self, caller: &AuthContext, id: &str) -> Result<Vec<serde_json::Value>> {
        let i = self.visible_server(caller, id).await?;
        self.enforce(
            "compute:server:topology:index",
            caller,
            &Target::new().with("project_id", &i.project_id),
        )?;
        Ok(Vec::new())
    }

    /// Locks (with the reason of 2.73, if given) or unlocks a server; unlocking forgets the reason.
    pub async fn set_locked(
        &self,
        caller: &AuthContext,
        request_id: &str,
        id: &str,
        locked: bool,
        reason: Option<String>,
    ) -> Result<()> {
        let mut i = self.visible_server(caller, id).await?;
        let policy = if locked {
            "os_compute_api:os-lock-server:lock"
        } else {
            "os_compute_api:os-lock-server:unlock"
        };
        self.enforce(policy, caller, &Target::new().with("project_id", &i.project_id))?;
        if reason.as_ref().is_some_and(|r| r.chars().count() > 255) {
            return Err(ComputeError::Invalid(
                "Invalid input for field/attribute locked_reason: at most 255 characters.".into(),
            ));
        }
        i.locked = locked;
        i.attrs.locked_reason = if locked { reason } else { None };
        idb::save(self.db(), &i, None).await?;
        idb::start_action(
            self.db(),
            &i,
            request_id,
            if locked { "lock" } else { "unlock" },
            &caller.user_id,
        )
        .await?;
        idb::finish_action(self.db(), &i.id, request_id, None).await?;
        Ok(())
    }

    pub async fn console_output(&self, caller: &AuthContext, id: &str, lines: Option<usize>) -> Result<String> {
        let i = self.visible_server(caller, id).await?;
        self.enforce(
            "os_compute_api:os-console-output",
            caller,
            &Target::new().with("project_id", &i.project_id),
        )?;
        let host = match (&i.host, i.vm_state.as_str()) {
            (Some(h), "active" | "stopped" | "paused") => h.clone(),
            _ => {
                return Err(ComputeError::Conflict(format!(
                    "Cannot 'os-getConsoleOutput' instance {id} while it is in vm_state {}.",
                    i.vm_state
                )))
            }
        };
        let ctx = Self::context(caller, &format!("req-{}", uuid::Uuid::new_v4()));
        let args = serde_json::json!({"instance_id": i.id, "lines": lines});
        self.bus()?
            .call(
                &compute_topic(&host),
                "console_output",
                VERSION,
                &ctx,
                &args,
                self.config().call_timeout,
            )
            .await
            .map_err(|e| ComputeError::Conflict(format!("The console of instance {id} is not available: {e}")))
    }

    /// `changePassword`: sets the password of the guest's administrator (`root`, or the
    /// image's `os_admin_user`) inside the running guest, through the host's hypervisor.
    pub async fn change_password(&self, caller: &AuthContext, id: &str, request_id: &str, password: &str) -> Result<()> {
        let i = self.visible_server(caller, id).await?;
        self.enforce(
            "os_compute_api:os-admin-password",
            caller,
            &Target::new().with("project_id", &i.project_id),
        )?;
        let host = match (&i.host, i.vm_state.as_str(), i.task_state.as_deref()) {
            (Some(h), "active", None) => h.clone(),
            _ => {
                return Err(ComputeError::Conflict(format!(
                    "Cannot 'changePassword' instance {id} while it is in vm_state {}.",
                    i.vm_state
                )))
            }
        };
        let user = self
            .image_admin_user(caller, &i)
            .await
            .unwrap_or_else(|| "root".to_owned());
        idb::start_action(self.db(), &i, request_id, "changePassword", &caller.user_id).await?;
        let ctx = Self::context(caller, request_id);
        let args = serde_json::json!({"instance_id": i.id, "user": user, "admin_pass": password});
        let done: std::result::Result<Value, _> = self
            .bus()?
            .call(&compute_topic(&host), "set_admin_password", VERSION, &ctx, &args, self.config().call_timeout)
            .await;
        // Nova's action message is "Error" when the action failed.
        idb::finish_action(self.db(), &i.id, request_id, done.as_ref().err().map(|_| "Error")).await?;
        match done {
            Ok(_) => Ok(()),
            Err(stratus_bus::BusError::Remote(e)) if e.kind == "SetAdminPasswdNotSupported" => {
                Err(ComputeError::NotImplemented("Unable to set password on instance".into()))
            }
            Err(e) => Err(ComputeError::Conflict(format!(
                "Failed to set admin password on {id} because {e}"
            ))),
        }
    }

    /// The image's `os_admin_user`, the user whose password Nova sets, when the image says.
    async fn image_admin_user(&self, caller: &AuthContext, i: &Instance) -> Option<String> {
        let image = i.image_id.as_deref()?;
        let v = self.rest().ok()?.image(&caller.token, image).await.ok()?;
        v["os_admin_user"].as_str().filter(|u| !u.is_empty()).map(str::to_owned)
    }

    /// A server's actions; with `deleted` (Nova from 2.21), a deleted server's too.
    pub async fn instance_actions(&self, caller: &AuthContext, id: &str, deleted: bool) -> Result<Vec<InstanceAction>> {
        let i = if deleted {
            match idb::get_even_deleted(self.db(), id).await? {
                Some(i) if caller.has_role("admin") || caller.project_id() == Some(i.project_id.as_str()) => i,
                _ => return Err(not_found(id)),
            }
        } else {
            self.visible_server(caller, id).await?
        };
        self.enforce(
            "os_compute_api:os-instance-actions:list",
            caller,
            &Target::new().with("project_id", &i.project_id),
        )?;
        Ok(idb::actions(self.db(), &i.id).await?)
    }

    /// Moves builds that overran their deadline to ERROR, saying in which step they stalled.
    pub async fn reap_overdue(&self) -> Result<usize> {
        let now = now_micros();
        let mut n = 0;
        for mut i in idb::overdue(self.db(), now).await? {
            let prior = i.task_state.clone();
            let step = prior.clone().unwrap_or_else(|| "None".into());
            let _ = idb::release(self.db(), &i).await;
            i.vm_state = "error".into();
            i.task_state = None;
            i.fault = Some(crate::model::Fault {
                code: 500,
                message: format!(
                    "Build of instance {} timed out after {} s in task state {step}",
                    i.id,
                    self.config().build_timeout.as_secs()
                ),
                details: String::new(),
                created: now,
            });
            if idb::save(self.db(), &i, Some(prior.as_deref())).await? {
                n += 1;
            }
        }
        Ok(n)
    }
}

impl ComputeService {
    /// The compute hosts, for `os-hypervisors` and `os-services` (administrators).
    pub async fn compute_nodes(
        &self,
        caller: &AuthContext,
        policy: &str,
    ) -> Result<Vec<(crate::model::ComputeNode, bool)>> {
        self.enforce(policy, caller, &Target::new())?;
        Ok(idb::nodes(self.db())
            .await?
            .into_iter()
            .map(|n| {
                let up = self.host_up(Some(&n));
                (n, up)
            })
            .collect())
    }
}

impl ComputeService {
    /// Adds to (or, with `replace`, replaces) a server's metadata; returns all of it.
    pub async fn set_server_metadata(
        &self,
        caller: &AuthContext,
        id: &str,
        items: BTreeMap<String, String>,
        replace: bool,
    ) -> Result<BTreeMap<String, String>> {
        let mut i = self.visible_server(caller, id).await?;
        self.enforce(
            "os_compute_api:server-metadata:update",
            caller,
            &Target::new().with("project_id", &i.project_id),
        )?;
        if i.locked && !caller.has_role("admin") {
            return Err(ComputeError::Conflict(format!("Instance {id} is locked")));
        }
        for (k, v) in &items {
            if k.is_empty() || k.chars().count() > 255 || v.chars().count() > 255 {
                return Err(ComputeError::Invalid(format!(
                    "Invalid input for field/attribute metadata: key '{k:.40}' needs 1 to 255 characters and a value of at most 255."
                )));
            }
        }
        if replace {
            i.metadata = items;
        } else {
            i.metadata.extend(items);
        }
        let metadata_limit = self.compute_limits(&i.project_id).await?.get("metadata_items");
        if metadata_limit >= 0 && i.metadata.len() as i64 > metadata_limit {
            return Err(ComputeError::OverQuota(format!(
                "Quota exceeded for metadata_items: at most {metadata_limit} metadata items."
            )));
        }
        idb::save(self.db(), &i, None).await?;
        Ok(i.metadata)
    }

    pub async fn delete_server_metadata(&self, caller: &AuthContext, id: &str, key: &str) -> Result<()> {
        let mut i = self.visible_server(caller, id).await?;
        self.enforce(
            "os_compute_api:server-metadata:delete",
            caller,
            &Target::new().with("project_id", &i.project_id),
        )?;
        if i.locked && !caller.has_role("admin") {
            return Err(ComputeError::Conflict(format!("Instance {id} is locked")));
        }
        if i.metadata.remove(key).is_none() {
            return Err(ComputeError::NotFound(format!("Metadata item was not found: {key}")));
        }
        idb::save(self.db(), &i, None).await?;
        Ok(())
    }
}

pub use crate::instances_db::VolumeAttachment;

impl ComputeService {
    /// The volume attachments of servers a list gave the caller, by server, in one query.
    pub async fn volume_attachments_of(
        &self,
        servers: &[Instance],
    ) -> Result<std::collections::HashMap<String, Vec<VolumeAttachment>>> {
        let ids: Vec<&str> = servers.iter().map(|i| i.id.as_str()).collect();
        let mut out: std::collections::HashMap<String, Vec<VolumeAttachment>> = Default::default();
        for a in idb::volume_attachments_of(self.db(), &ids).await? {
            out.entry(a.instance_id.clone()).or_default().push(a);
        }
        Ok(out)
    }

    pub async fn volume_attachments(&self, caller: &AuthContext, id: &str) -> Result<Vec<VolumeAttachment>> {
        let i = self.visible_server(caller, id).await?;
        Ok(idb::volume_attachments(self.db(), &i.id).await?)
    }

    /// Reserves the volume through the Volume API with the caller's token, and has the host's
    /// agent connect it and hand it to the hypervisor.
    pub async fn attach_volume(
        &self,
        caller: &AuthContext,
        request_id: &str,
        id: &str,
        volume_id: &str,
        device: Option<&str>,
        delete_on_termination: bool,
    ) -> Result<VolumeAttachment> {
        let i = self.visible_server(caller, id).await?;
        self.enforce(
            "os_compute_api:os-volumes-attachments:create",
            caller,
            &Target::new().with("project_id", &i.project_id),
        )?;
        if i.locked && !caller.has_role("admin") {
            return Err(ComputeError::Conflict(format!("Instance {id} is locked")));
        }
        let host = match (&i.host, i.vm_state.as_str(), &i.task_state) {
            (Some(h), "active" | "stopped" | "paused", None) => h.clone(),
            _ => {
                return Err(ComputeError::Conflict(format!(
                    "Cannot 'attach_volume' instance {id} while it is in vm_state {} (task_state {}).",
                    i.vm_state,
                    i.task_state.as_deref().unwrap_or("None")
                )))
            }
        };
        let existing = idb::volume_attachments(self.db(), &i.id).await?;
        // Nova's InvalidVolume: a 400, not a conflict.
        if existing.iter().any(|a| a.volume_id == volume_id) {
            return Err(ComputeError::Invalid(format!(
                "Invalid volume: volume {volume_id} is already attached to instance {id}."
            )));
        }
        let device = match device {
            Some(d) => {
                let ok = d
                    .strip_prefix("/dev/vd")
                    .is_some_and(|s| s.len() == 1 && s.as_bytes()[0].is_ascii_lowercase() && s != "a");
                if !ok {
                    return Err(ComputeError::Invalid(format!(
                        "The supplied device path ({d}) is invalid; use /dev/vdb to /dev/vdz."
                    )));
                }
                if existing.iter().any(|a| a.device == d) {
                    return Err(ComputeError::Invalid(format!(
                        "The supplied device path ({d}) is in use."
                    )));
                }
                d.to_owned()
            }
            None => (b'b'..=b'z')
                .map(|c| format!("/dev/vd{}", c as char))
                .find(|d| !existing.iter().any(|a| &a.device == d))
                .ok_or_else(|| ComputeError::Invalid("No free device name is left for a volume.".into()))?,
        };
        let attachment_id = self
            .rest()?
            .reserve_volume(&caller.token, volume_id, &i.id)
            .await
            .map_err(|e| match e.status() {
                Some(404) => ComputeError::NotFound(format!("Volume {volume_id} could not be found.")),
                _ => ComputeError::Invalid(format!("Invalid volume: {e}")),
            })?;
        let a = VolumeAttachment {
            instance_id: i.id.clone(),
            volume_id: volume_id.to_owned(),
            attachment_id: attachment_id.clone(),
            device: device.clone(),
            status: "attaching".into(),
            delete_on_termination: delete_on_termination as i64,
        };
        idb::insert_volume_attachment(self.db(), &a).await?;
        idb::start_action(self.db(), &i, request_id, "attach_volume", &caller.user_id).await?;
        let op = stratus_compute_agent::rpc::VolumeOp {
            instance_id: i.id.clone(),
            request_id: request_id.to_owned(),
            volume_id: volume_id.to_owned(),
            attachment_id,
            device,
        };
        let ctx = Self::context(caller, request_id);
        if let Err(e) = self
            .bus()?
            .cast(&compute_topic(&host), "attach_volume", VERSION, &ctx, &op)
            .await
        {
            let _ = self.rest()?.delete_attachment(&caller.token, &op.attachment_id).await;
            idb::delete_volume_attachment(self.db(), &i.id, volume_id).await?;
            return Err(ComputeError::Invalid(format!(
                "the compute host {host} cannot be reached: {e}"
            )));
        }
        Ok(a)
    }

    pub async fn detach_volume(&self, caller: &AuthContext, request_id: &str, id: &str, volume_id: &str) -> Result<()> {
        let i = self.visible_server(caller, id).await?;
        self.enforce(
            "os_compute_api:os-volumes-attachments:delete",
            caller,
            &Target::new().with("project_id", &i.project_id),
        )?;
        if i.locked && !caller.has_role("admin") {
            return Err(ComputeError::Conflict(format!("Instance {id} is locked")));
        }
        let a = idb::volume_attachments(self.db(), &i.id)
            .await?
            .into_iter()
            .find(|a| a.volume_id == volume_id)
            .ok_or_else(|| ComputeError::NotFound(format!("volume_id not found: {volume_id}")))?;
        if a.status != "attached" {
            return Err(ComputeError::Conflict(format!(
                "Volume {volume_id} is {} on instance {id}; try again when it is attached.",
                a.status
            )));
        }
        let host = i
            .host
            .clone()
            .ok_or_else(|| ComputeError::Conflict(format!("Instance {id} has no host.")))?;
        idb::set_volume_attachment_status(self.db(), &i.id, volume_id, "detaching").await?;
        idb::start_action(self.db(), &i, request_id, "detach_volume", &caller.user_id).await?;
        let op = stratus_compute_agent::rpc::VolumeOp {
            instance_id: i.id.clone(),
            request_id: request_id.to_owned(),
            volume_id: volume_id.to_owned(),
            attachment_id: a.attachment_id,
            device: a.device,
        };
        let ctx = Self::context(caller, request_id);
        self.bus()?
            .cast(&compute_topic(&host), "detach_volume", VERSION, &ctx, &op)
            .await
            .map_err(|e| ComputeError::Invalid(format!("the compute host {host} cannot be reached: {e}")))?;
        Ok(())
    }
}

impl ComputeService {
    /// `os-services` enable/disable of a compute host (by its service id or host name).
    pub async fn set_service_enabled(
        &self,
        caller: &AuthContext,
        service: &str,
        enabled: bool,
        reason: Option<&str>,
    ) -> Result<crate::model::ComputeNode> {
        self.enforce("os_compute_api:os-services:update", caller, &Target::new())?;
        if reason.is_some_and(|r| r.chars().count() > 255) {
            return Err(ComputeError::Invalid(
                "The disabled reason is longer than 255 characters.".into(),
            ));
        }
        let nodes = idb::nodes(self.db()).await?;
        let node = nodes
            .iter()
            .find(|n| n.service_id == service || n.host == service)
            .ok_or_else(|| ComputeError::NotFound(format!("Service {service} could not be found.")))?;
        idb::set_node_enabled(self.db(), &node.host, enabled, reason).await?;
        let nodes = idb::nodes(self.db()).await?;
        nodes
            .into_iter()
            .find(|n| n.host == node.host)
            .ok_or_else(|| ComputeError::NotFound(format!("Service {service} could not be found.")))
    }
}

impl ComputeService {
    /// Volumes named exist and are available; images to make volumes from exist, are active
    /// and fit the size asked.
    async fn check_block_devices(&self, token: &str, bdms: &[crate::model::BlockDevice]) -> Result<()> {
        if bdms.iter().filter(|b| b.boot).count() > 1 {
            return Err(ComputeError::Invalid(
                "Invalid input: only one block device can have boot_index 0.".into(),
            ));
        }
        if bdms.is_empty() {
            return Ok(());
        }
        let rest = self.rest()?;
        for b in bdms {
            if let Some(v) = &b.volume_id {
                let vol = rest.get_volume(token, v).await.map_err(|e| match e.status() {
                    Some(404) => ComputeError::Invalid(format!("Volume {v} could not be found.")),
                    _ => ComputeError::Invalid(format!("Volume {v}: {e}")),
                })?;
                if vol["status"] != "available" && !vol["multiattach"].as_bool().unwrap_or(false) {
                    return Err(ComputeError::Invalid(format!(
                        "Invalid volume: volume {v} status must be available, but it is {}.",
                        vol["status"].as_str().unwrap_or("unknown")
                    )));
                }
                // Cinder shows the flag as a string ("true"/"false").
                let bootable = vol["bootable"] == Value::Bool(true) || vol["bootable"] == "true";
                if b.boot && !bootable {
                    return Err(ComputeError::Invalid(format!("Block Device {v} is not bootable.")));
                }
            }
            if let Some(t) = &b.volume_type {
                let known = rest
                    .volume_type_exists(token, t)
                    .await
                    .map_err(|e| ComputeError::Invalid(format!("Volume type {t}: {e}")))?;
                if !known {
                    return Err(ComputeError::Invalid(format!("Volume type {t} could not be found.")));
                }
            }
            if let Some(id) = &b.image_id {
                let img = rest.image(token, id).await.map_err(|e| match e.status() {
                    Some(404) => ComputeError::Invalid(format!("Image {id} could not be found.")),
                    _ => ComputeError::Invalid(format!("Image {id}: {e}")),
                })?;
                if img["status"] != "active" {
                    return Err(ComputeError::Invalid(format!("Image {id} is not active.")));
                }
                let need = img["min_disk"]
                    .as_u64()
                    .unwrap_or(0)
                    .max(img["size"].as_u64().unwrap_or(0).div_ceil(1 << 30));
                if b.size_gb.unwrap_or(0) < need.max(1) {
                    return Err(ComputeError::Invalid(format!(
                        "Volume size {} GiB is smaller than image {id} needs ({} GiB).",
                        b.size_gb.unwrap_or(0),
                        need.max(1)
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Nova's limit on descriptions: 255 printable characters.
pub(crate) fn check_description(d: Option<&str>) -> Result<()> {
    match d {
        Some(d) if d.chars().count() > 255 || d.chars().any(char::is_control) => Err(ComputeError::Invalid(
            "Invalid input for field/attribute description: at most 255 printable characters.".into(),
        )),
        _ => Ok(()),
    }
}

/// Nova's rules for tags: 1 to 60 characters without '/' or ',', at most 50 on a server.
pub fn check_tags(tags: &[String]) -> Result<()> {
    if tags.len() > 50 {
        return Err(ComputeError::Invalid(format!(
            "Invalid input for field/attribute tags: at most 50 tags, not {}.",
            tags.len()
        )));
    }
    for t in tags {
        if t.is_empty() || t.chars().count() > 60 || t.contains('/') || t.contains(',') {
            return Err(ComputeError::Invalid(format!(
                "Invalid input for field/attribute tags: '{t:.60}' is not a tag (1 to 60 characters, no '/' or ',')."
            )));
        }
    }
    Ok(())
}
