//! Volume types and their extra specs. Every deployment has Cinder's `__DEFAULT__` type, made
//! at start, which volumes get when they name none.

use std::collections::BTreeMap;

use stratus_api::AuthContext;

use crate::db;
use crate::model::VolumeType;
use crate::service::{Result, VolumeError, VolumeService};

pub(crate) const DEFAULT_TYPE: &str = "__DEFAULT__";

impl VolumeService {
    pub(crate) async fn ensure_default_type(&self) -> Result<()> {
        if db::find_type(self.db(), DEFAULT_TYPE).await?.is_none() {
            let t = VolumeType {
                id: uuid::Uuid::new_v4().to_string(),
                name: DEFAULT_TYPE.into(),
                description: "Default Volume Type".into(),
                is_public: true,
                extra_specs: BTreeMap::new(),
            };
            match db::insert_type(self.db(), &t).await {
                // Another process made it first.
                Ok(()) | Err(stratus_store::StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// The type a new volume asks for (by id or name), or the default one.
    pub(crate) async fn type_for(&self, asked: Option<&str>) -> Result<VolumeType> {
        let name = asked.unwrap_or(DEFAULT_TYPE);
        db::find_type(self.db(), name)
            .await?
            .ok_or_else(|| VolumeError::TypeNotFound(name.to_owned()))
    }

    pub async fn create_type(
        &self,
        caller: &AuthContext,
        name: &str,
        description: Option<String>,
        is_public: bool,
        extra_specs: BTreeMap<String, String>,
    ) -> Result<VolumeType> {
        self.enforce(
            "volume_extension:types_manage",
            caller,
            caller.project_id().unwrap_or(""),
        )?;
        if name.trim().is_empty() || name.chars().count() > 255 {
            return Err(VolumeError::Invalid(
                "Invalid input received: a volume type name is 1 to 255 characters.".into(),
            ));
        }
        let t = VolumeType {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_owned(),
            description: description.unwrap_or_default(),
            is_public,
            extra_specs,
        };
        db::insert_type(self.db(), &t).await.map_err(|e| match e {
            stratus_store::StoreError::Conflict(_) => {
                VolumeError::Conflict(format!("Volume Type {name} already exists."))
            }
            e => e.into(),
        })?;
        Ok(t)
    }

    pub async fn list_types(&self) -> Result<Vec<VolumeType>> {
        Ok(db::list_types(self.db()).await?)
    }

    pub async fn get_type(&self, id_or_name: &str) -> Result<VolumeType> {
        self.type_for(Some(id_or_name)).await
    }

    /// Name, description and visibility; the default type keeps its name.
    pub async fn update_type(
        &self,
        caller: &AuthContext,
        id: &str,
        name: Option<String>,
        description: Option<String>,
        is_public: Option<bool>,
    ) -> Result<VolumeType> {
        self.enforce(
            "volume_extension:types_manage",
            caller,
            caller.project_id().unwrap_or(""),
        )?;
        let mut t = self.get_type(id).await?;
        if let Some(name) = name {
            if name.trim().is_empty() || name.chars().count() > 255 {
                return Err(VolumeError::Invalid(
                    "Invalid input received: a volume type name is 1 to 255 characters.".into(),
                ));
            }
            if t.name == DEFAULT_TYPE && name != t.name {
                return Err(VolumeError::Invalid(
                    "The default volume type cannot be renamed.".into(),
                ));
            }
            if name != t.name && db::find_type(self.db(), &name).await?.is_some() {
                return Err(VolumeError::Conflict(format!("Volume Type {name} already exists.")));
            }
            t.name = name;
        }
        if let Some(d) = description {
            t.description = d;
        }
        if let Some(p) = is_public {
            t.is_public = p;
        }
        db::update_type(self.db(), &t).await?;
        Ok(t)
    }

    pub async fn unset_type_extra_spec(&self, caller: &AuthContext, id: &str, key: &str) -> Result<()> {
        self.enforce(
            "volume_extension:types_manage",
            caller,
            caller.project_id().unwrap_or(""),
        )?;
        let mut t = self.get_type(id).await?;
        if t.extra_specs.remove(key).is_none() {
            return Err(VolumeError::ExtraSpecNotFound(t.id, key.to_owned()));
        }
        db::set_extra_specs(self.db(), &t.id, &t.extra_specs).await?;
        Ok(())
    }

    pub async fn set_type_extra_specs(
        &self,
        caller: &AuthContext,
        id: &str,
        specs: BTreeMap<String, String>,
    ) -> Result<VolumeType> {
        self.enforce(
            "volume_extension:types_manage",
            caller,
            caller.project_id().unwrap_or(""),
        )?;
        let mut t = self.get_type(id).await?;
        t.extra_specs.extend(specs);
        db::set_extra_specs(self.db(), &t.id, &t.extra_specs).await?;
        Ok(t)
    }

    pub async fn delete_type(&self, caller: &AuthContext, id: &str) -> Result<()> {
        self.enforce(
            "volume_extension:types_manage",
            caller,
            caller.project_id().unwrap_or(""),
        )?;
        let t = self.get_type(id).await?;
        if t.name == DEFAULT_TYPE {
            return Err(VolumeError::Invalid(
                "The default volume type cannot be deleted.".into(),
            ));
        }
        if !db::delete_type(self.db(), &t.id, &t.name).await? {
            return Err(VolumeError::Invalid(format!(
                "Target volume type {} is still in use.",
                t.name
            )));
        }
        Ok(())
    }
}
