//! Endpoint filters (OS-EP-FILTER): endpoint groups, and the endpoints (directly or through
//! groups) a project's catalog is limited to. A project with no association sees every
//! endpoint, as Keystone's `return_all_endpoints_if_no_filter`.

use serde_json::{Map, Value};
use stratus_api::pagination::PageRequest;
use stratus_api::{AuthContext, Target};

use crate::error::{IdentityError, Result};
use crate::model::{Endpoint, EndpointGroup, Project};
use crate::store;
use crate::{new_id, IdentityService};

const FILTER_KEYS: [&str; 3] = ["service_id", "region_id", "interface"];
const GROUPS: &str = "project_endpoint_groups";
const ENDPOINTS: &str = "project_endpoints";

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointGroupInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub filters: Option<Map<String, Value>>,
}

fn check_filters(f: &Map<String, Value>) -> Result<()> {
    if f.is_empty() {
        return Err(IdentityError::Validation(
            "Invalid input for field 'endpoint_group.filters': at least one filter is required.".into(),
        ));
    }
    for (k, v) in f {
        if !FILTER_KEYS.contains(&k.as_str()) {
            return Err(IdentityError::Validation(format!(
                "Invalid input for field 'endpoint_group.filters': '{k}' is not one of service_id, region_id, interface."
            )));
        }
        if !v.is_string() {
            return Err(IdentityError::Validation(format!(
                "Invalid input for field 'endpoint_group.filters.{k}': must be a string."
            )));
        }
    }
    Ok(())
}

impl IdentityService {
    pub async fn create_endpoint_group(&self, caller: &AuthContext, input: EndpointGroupInput) -> Result<EndpointGroup> {
        self.enforce("identity:create_endpoint_group", caller, &Target::new())?;
        let name = super::check_name("endpoint_group.name", input.name.as_deref())?;
        let filters = input.filters.ok_or_else(|| {
            IdentityError::Validation("Invalid input for field 'endpoint_group.filters': the field is required.".into())
        })?;
        check_filters(&filters)?;
        let g = EndpointGroup { id: new_id(), name, description: input.description.unwrap_or_default(), filters };
        store::insert_endpoint_group(self.db(), &g).await?;
        self.changed();
        Ok(g)
    }

    async fn endpoint_group_row(&self, id: &str) -> Result<EndpointGroup> {
        store::get_endpoint_group(self.db(), id)
            .await?
            .ok_or_else(|| IdentityError::not_found("endpoint group", id))
    }

    pub async fn get_endpoint_group(&self, caller: &AuthContext, id: &str) -> Result<EndpointGroup> {
        self.enforce("identity:get_endpoint_group", caller, &Target::new())?;
        self.endpoint_group_row(id).await
    }

    pub async fn list_endpoint_groups(&self, caller: &AuthContext, name: Option<&str>) -> Result<Vec<EndpointGroup>> {
        self.enforce("identity:list_endpoint_groups", caller, &Target::new())?;
        Ok(store::list_endpoint_groups(self.db(), name).await?)
    }

    pub async fn update_endpoint_group(&self, caller: &AuthContext, id: &str, input: EndpointGroupInput) -> Result<EndpointGroup> {
        self.enforce("identity:update_endpoint_group", caller, &Target::new())?;
        if input.name.is_none() && input.description.is_none() && input.filters.is_none() {
            return Err(IdentityError::Validation(
                "Invalid input for field 'endpoint_group': at least one attribute is required.".into(),
            ));
        }
        let mut g = self.endpoint_group_row(id).await?;
        if let Some(n) = input.name {
            g.name = super::check_name("endpoint_group.name", Some(&n))?;
        }
        if let Some(d) = input.description {
            g.description = d;
        }
        if let Some(f) = input.filters {
            check_filters(&f)?;
            g.filters = f;
        }
        store::update_endpoint_group(self.db(), &g).await?;
        self.changed();
        Ok(g)
    }

    pub async fn delete_endpoint_group(&self, caller: &AuthContext, id: &str) -> Result<()> {
        self.enforce("identity:delete_endpoint_group", caller, &Target::new())?;
        if !store::delete_endpoint_group(self.db(), id).await? {
            return Err(IdentityError::not_found("endpoint group", id));
        }
        self.changed();
        Ok(())
    }

    async fn all_endpoints(&self) -> Result<Vec<Endpoint>> {
        Ok(store::list_endpoints(self.db(), store::Filters::new(), &PageRequest::default()).await?)
    }

    /// The endpoints a group's filters match.
    pub async fn endpoint_group_endpoints(&self, caller: &AuthContext, id: &str) -> Result<Vec<Endpoint>> {
        self.enforce("identity:list_endpoints_associated_with_endpoint_group", caller, &Target::new())?;
        let g = self.endpoint_group_row(id).await?;
        Ok(self.all_endpoints().await?.into_iter().filter(|e| g.matches(e)).collect())
    }

    async fn associated_projects(&self, table: &str, key: &str) -> Result<Vec<Project>> {
        let mut out = Vec::new();
        for (k, p) in store::project_associations(self.db(), table).await? {
            if k == key {
                if let Some(p) = store::get_project(self.db(), &p).await? {
                    out.push(p);
                }
            }
        }
        Ok(out)
    }

    /// The projects associated with an endpoint group.
    pub async fn endpoint_group_projects(&self, caller: &AuthContext, id: &str) -> Result<Vec<Project>> {
        self.enforce("identity:list_projects_associated_with_endpoint_group", caller, &Target::new())?;
        self.endpoint_group_row(id).await?;
        self.associated_projects(GROUPS, id).await
    }

    /// The projects an endpoint is directly associated with.
    pub async fn endpoint_projects(&self, caller: &AuthContext, endpoint_id: &str) -> Result<Vec<Project>> {
        self.enforce("identity:list_projects_for_endpoint", caller, &Target::new())?;
        store::get_endpoint(self.db(), endpoint_id)
            .await?
            .ok_or_else(|| IdentityError::not_found("endpoint", endpoint_id))?;
        self.associated_projects(ENDPOINTS, endpoint_id).await
    }

    async fn association_parts(&self, group: bool, key: &str, project_id: &str) -> Result<()> {
        if group {
            self.endpoint_group_row(key).await?;
        } else {
            store::get_endpoint(self.db(), key).await?.ok_or_else(|| IdentityError::not_found("endpoint", key))?;
        }
        store::get_project(self.db(), project_id)
            .await?
            .ok_or_else(|| IdentityError::not_found("project", project_id))?;
        Ok(())
    }

    /// Associates a project with an endpoint group (`group`) or an endpoint.
    pub async fn add_project_association(&self, caller: &AuthContext, group: bool, key: &str, project_id: &str) -> Result<()> {
        let action = if group { "identity:add_endpoint_group_to_project" } else { "identity:add_endpoint_to_project" };
        self.enforce(action, caller, &Target::new())?;
        self.association_parts(group, key, project_id).await?;
        store::set_project_association(self.db(), if group { GROUPS } else { ENDPOINTS }, key, project_id, true).await?;
        self.changed();
        Ok(())
    }

    pub async fn check_project_association(&self, caller: &AuthContext, group: bool, key: &str, project_id: &str) -> Result<()> {
        let action = if group { "identity:get_endpoint_group_in_project" } else { "identity:check_endpoint_in_project" };
        self.enforce(action, caller, &Target::new())?;
        self.association_parts(group, key, project_id).await?;
        if !store::has_project_association(self.db(), if group { GROUPS } else { ENDPOINTS }, key, project_id).await? {
            return Err(IdentityError::not_found(
                if group { "endpoint group association" } else { "endpoint association" },
                format!("{key} with project {project_id}"),
            ));
        }
        Ok(())
    }

    pub async fn remove_project_association(&self, caller: &AuthContext, group: bool, key: &str, project_id: &str) -> Result<()> {
        let action = if group { "identity:remove_endpoint_group_from_project" } else { "identity:remove_endpoint_from_project" };
        self.enforce(action, caller, &Target::new())?;
        if !store::set_project_association(self.db(), if group { GROUPS } else { ENDPOINTS }, key, project_id, false).await? {
            return Err(IdentityError::not_found(
                if group { "endpoint group association" } else { "endpoint association" },
                format!("{key} with project {project_id}"),
            ));
        }
        self.changed();
        Ok(())
    }

    /// The endpoint groups a project is associated with.
    pub async fn project_endpoint_groups(&self, caller: &AuthContext, project_id: &str) -> Result<Vec<EndpointGroup>> {
        self.enforce("identity:list_endpoint_groups_for_project", caller, &Target::new())?;
        store::get_project(self.db(), project_id)
            .await?
            .ok_or_else(|| IdentityError::not_found("project", project_id))?;
        let ids: Vec<String> = store::project_associations(self.db(), GROUPS)
            .await?
            .into_iter()
            .filter(|(_, p)| p == project_id)
            .map(|(g, _)| g)
            .collect();
        Ok(store::list_endpoint_groups(self.db(), None)
            .await?
            .into_iter()
            .filter(|g| ids.contains(&g.id))
            .collect())
    }

    /// The endpoints a project sees through its associations: direct and through groups.
    pub async fn project_endpoints(&self, caller: &AuthContext, project_id: &str) -> Result<Vec<Endpoint>> {
        self.enforce("identity:list_endpoints_for_project", caller, &Target::new())?;
        store::get_project(self.db(), project_id)
            .await?
            .ok_or_else(|| IdentityError::not_found("project", project_id))?;
        let direct: Vec<String> = store::project_associations(self.db(), ENDPOINTS)
            .await?
            .into_iter()
            .filter(|(_, p)| p == project_id)
            .map(|(e, _)| e)
            .collect();
        let groups = self.project_endpoint_groups(caller, project_id).await?;
        Ok(self
            .all_endpoints()
            .await?
            .into_iter()
            .filter(|e| direct.contains(&e.id) || groups.iter().any(|g| g.matches(e)))
            .collect())
    }
}
