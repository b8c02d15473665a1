//! Flavors: the sizes guests come in, public or shared with chosen projects, with extra specs
//! that the scheduler and the hypervisor read.

use std::collections::BTreeMap;

use stratus_api::{AuthContext, Target};

use crate::db;
use crate::model::{Flavor, NewFlavor};
use crate::service::{ComputeError, ComputeService, Result};

/// Nova's classic sizes, made once at the first start: (id, name, MiB, vCPUs, GiB).
const DEFAULTS: &[(&str, &str, i64, i64, i64)] = &[
    ("1", "m1.tiny", 512, 1, 1),
    ("2", "m1.small", 2048, 1, 20),
    ("3", "m1.medium", 4096, 2, 40),
    ("4", "m1.large", 8192, 4, 80),
    ("5", "m1.xlarge", 16384, 8, 160),
];

fn not_found(id: &str) -> ComputeError {
    ComputeError::NotFound(format!("Flavor {id} could not be found."))
}

impl ComputeService {
    pub(crate) async fn ensure_default_flavors(&self) -> Result<()> {
        if !db::bootstrap_once(self.db(), "default-flavors").await? {
            return Ok(());
        }
        for (id, name, ram, vcpus, disk) in DEFAULTS {
            let f = Flavor {
                id: (*id).into(),
                name: (*name).into(),
                description: None,
                memory_mb: *ram,
                vcpus: *vcpus,
                root_gb: *disk,
                ephemeral_gb: 0,
                swap: 0,
                rxtx_factor: 1.0,
                is_public: true,
                disabled: false,
                extra_specs: BTreeMap::new(),
            };
            match db::insert_flavor(self.db(), &f).await {
                Ok(()) | Err(stratus_store::StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        tracing::info!(flavors = DEFAULTS.len(), "made the default flavors");
        Ok(())
    }

    /// A flavor the caller may see: public, or shared with the caller's project, or any for
    /// administrators.
    pub async fn get_flavor(&self, caller: &AuthContext, id: &str) -> Result<Flavor> {
        let f = db::get_flavor(self.db(), id).await?.ok_or_else(|| not_found(id))?;
        if f.is_public || caller.has_role("admin") {
            return Ok(f);
        }
        let access = db::flavor_access(self.db(), id).await?;
        if caller.project_id().is_some_and(|p| access.iter().any(|a| a == p)) {
            Ok(f)
        } else {
            Err(not_found(id))
        }
    }

    /// Flavors the caller may see; `is_public` None lists public and private ones alike
    /// (administrators see every private flavor, others those shared with them).
    pub async fn list_flavors(&self, caller: &AuthContext, is_public: Option<bool>) -> Result<Vec<Flavor>> {
        let admin = caller.has_role("admin");
        let mut all = if admin {
            db::list_flavors(self.db(), None).await?
        } else {
            db::list_flavors(self.db(), Some(caller.project_id().unwrap_or(""))).await?
        };
        if let Some(p) = is_public {
            all.retain(|f| f.is_public == p);
        }
        Ok(all)
    }

    pub async fn create_flavor(&self, caller: &AuthContext, req: NewFlavor) -> Result<Flavor> {
        self.enforce("os_compute_api:os-flavor-manage:create", caller, &Target::new())?;
        let name = req.name.trim();
        if name.is_empty() || name.len() != req.name.len() || name.chars().count() > 255 {
            return Err(ComputeError::Invalid(
                "Invalid input for field/attribute name: a flavor name is 1 to 255 characters without leading or trailing whitespace.".into(),
            ));
        }
        let checks = [
            ("ram", req.memory_mb, 1),
            ("vcpus", req.vcpus, 1),
            ("disk", req.root_gb, 0),
            ("OS-FLV-EXT-DATA:ephemeral", req.ephemeral_gb, 0),
            ("swap", req.swap, 0),
        ];
        for (field, v, min) in checks {
            if v < min || v > i32::MAX as i64 {
                return Err(ComputeError::Invalid(format!(
                    "Invalid input for field/attribute {field}. Value: {v}. It must be an integer from {min} to {}.",
                    i32::MAX
                )));
            }
        }
        if !(req.rxtx_factor > 0.0 && req.rxtx_factor.is_finite()) {
            return Err(ComputeError::Invalid(format!(
                "Invalid input for field/attribute rxtx_factor. Value: {}. It must be greater than 0.",
                req.rxtx_factor
            )));
        }
        if req.description.as_ref().is_some_and(|d| d.chars().count() > 65535) {
            return Err(ComputeError::Invalid(
                "Flavor description is longer than 65535 characters.".into(),
            ));
        }
        let id = match req.id.as_deref() {
            None | Some("auto") => uuid::Uuid::new_v4().to_string(),
            Some(id) => {
                if id.is_empty()
                    || id.len() > 255
                    || id.trim() != id
                    || !id.chars().all(|c| c.is_alphanumeric() || "-_. ".contains(c))
                {
                    return Err(ComputeError::Invalid(format!(
                        "Invalid input for field/attribute id. Value: {id}. It may hold letters, digits, '-', '_', '.' and spaces."
                    )));
                }
                id.to_owned()
            }
        };
        if db::get_flavor(self.db(), &id).await?.is_some() {
            return Err(ComputeError::Conflict(format!("Flavor with ID {id} already exists.")));
        }
        let f = Flavor {
            id,
            name: name.to_owned(),
            description: req.description,
            memory_mb: req.memory_mb,
            vcpus: req.vcpus,
            root_gb: req.root_gb,
            ephemeral_gb: req.ephemeral_gb,
            swap: req.swap,
            rxtx_factor: req.rxtx_factor,
            is_public: req.is_public,
            disabled: false,
            extra_specs: BTreeMap::new(),
        };
        db::insert_flavor(self.db(), &f).await.map_err(|e| match e {
            stratus_store::StoreError::Conflict(_) => {
                ComputeError::Conflict(format!("Flavor with name {name} already exists."))
            }
            e => e.into(),
        })?;
        Ok(f)
    }

    /// Only the description changes (microversion 2.55).
    pub async fn update_flavor(&self, caller: &AuthContext, id: &str, description: Option<String>) -> Result<Flavor> {
        self.enforce("os_compute_api:os-flavor-manage:update", caller, &Target::new())?;
        let f = self.get_flavor(caller, id).await?;
        if description.as_ref().is_some_and(|d| d.chars().count() > 65535) {
            return Err(ComputeError::Invalid(
                "Flavor description is longer than 65535 characters.".into(),
            ));
        }
        db::update_flavor(self.db(), &f.id, Some(description.as_deref().unwrap_or("")), None).await?;
        self.get_flavor(caller, id).await
    }

    pub async fn delete_flavor(&self, caller: &AuthContext, id: &str) -> Result<()> {
        self.enforce("os_compute_api:os-flavor-manage:delete", caller, &Target::new())?;
        if !db::delete_flavor(self.db(), id).await? {
            return Err(not_found(id));
        }
        Ok(())
    }

    pub async fn flavor_access(&self, caller: &AuthContext, id: &str) -> Result<Vec<String>> {
        self.enforce("os_compute_api:os-flavor-access", caller, &Target::new())?;
        let f = self.get_flavor(caller, id).await?;
        if f.is_public {
            return Err(ComputeError::NotFound(
                "Access list not available for public flavors.".into(),
            ));
        }
        Ok(db::flavor_access(self.db(), id).await?)
    }

    pub async fn add_flavor_access(&self, caller: &AuthContext, id: &str, project: &str) -> Result<Vec<String>> {
        self.enforce(
            "os_compute_api:os-flavor-access:add_tenant_access",
            caller,
            &Target::new(),
        )?;
        let f = self.get_flavor(caller, id).await?;
        if f.is_public {
            return Err(ComputeError::Conflict("Can not add access to a public flavor.".into()));
        }
        if project.trim().is_empty() || project.len() > 255 {
            return Err(ComputeError::Invalid(
                "Invalid input: 'tenant' must be a project id.".into(),
            ));
        }
        db::add_flavor_access(self.db(), id, project)
            .await
            .map_err(|e| match e {
                stratus_store::StoreError::Conflict(_) => ComputeError::Conflict(format!(
                    "Flavor access already exists for flavor {id} and project {project} combination."
                )),
                e => e.into(),
            })?;
        Ok(db::flavor_access(self.db(), id).await?)
    }

    pub async fn remove_flavor_access(&self, caller: &AuthContext, id: &str, project: &str) -> Result<Vec<String>> {
        self.enforce(
            "os_compute_api:os-flavor-access:remove_tenant_access",
            caller,
            &Target::new(),
        )?;
        self.get_flavor(caller, id).await?;
        if !db::remove_flavor_access(self.db(), id, project).await? {
            return Err(ComputeError::NotFound(format!(
                "Flavor access not found for {id} / {project} combination."
            )));
        }
        Ok(db::flavor_access(self.db(), id).await?)
    }

    /// Adds or replaces extra specs; returns what was set.
    pub async fn set_extra_specs(
        &self,
        caller: &AuthContext,
        id: &str,
        specs: BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>> {
        self.enforce("os_compute_api:os-flavor-extra-specs:create", caller, &Target::new())?;
        let f = self.get_flavor(caller, id).await?;
        for (k, v) in &specs {
            let key_ok = !k.is_empty()
                && k.chars().count() <= 255
                && k.chars().all(|c| c.is_alphanumeric() || "-_.: ".contains(c));
            if !key_ok || v.chars().count() > 255 {
                return Err(ComputeError::Invalid(format!(
                    "Invalid input for field/attribute extra_specs. Key '{k}' must be 1 to 255 letters, digits, \
                     '-', '_', '.', ':' or spaces, with a value of at most 255 characters."
                )));
            }
        }
        let mut all = f.extra_specs.clone();
        all.extend(specs.clone());
        db::update_flavor(self.db(), id, None, Some(&all)).await?;
        Ok(specs)
    }

    pub async fn delete_extra_spec(&self, caller: &AuthContext, id: &str, key: &str) -> Result<()> {
        self.enforce("os_compute_api:os-flavor-extra-specs:delete", caller, &Target::new())?;
        let f = self.get_flavor(caller, id).await?;
        let mut all = f.extra_specs.clone();
        if all.remove(key).is_none() {
            return Err(ComputeError::NotFound(format!(
                "Flavor {id} has no extra specs with key {key}."
            )));
        }
        db::update_flavor(self.db(), id, None, Some(&all)).await?;
        Ok(())
    }
}
