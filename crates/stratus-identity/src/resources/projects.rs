//! Projects, with parents.

use stratus_api::pagination::PageRequest;
use stratus_api::{AuthContext, Target};

use super::{check_len, check_short_name, ListFilter};
use crate::error::{on_conflict, IdentityError, Result};
use crate::model::{Project, ProjectInput, TargetKind};
use crate::store::{self, Filters, Val};
use crate::{new_id, IdentityService};

fn check_tags(tags: &[String]) -> Result<()> {
    if tags.len() > 80 {
        return Err(IdentityError::Validation(
            "Invalid input for field 'project.tags': at most 80 tags.".into(),
        ));
    }
    for t in tags {
        if t.is_empty() || t.chars().count() > 255 || t.contains('/') || t.contains(',') {
            return Err(IdentityError::Validation(format!(
                "Invalid input for field 'project.tags': '{t}' must be 1-255 characters without '/' or ','."
            )));
        }
    }
    Ok(())
}

impl IdentityService {
    pub async fn create_project(&self, caller: &AuthContext, input: ProjectInput) -> Result<Project> {
        self.enforce(
            "identity:create_project",
            caller,
            &Target::new().opt("target.project.domain_id", input.domain_id.as_deref()),
        )?;
        let name = check_short_name("project.name", input.name.as_deref())?;
        check_len("project.description", input.description.as_deref(), 65535)?;
        if input.is_domain == Some(true) {
            // A project acting as a domain is a domain: made, listed and changed through
            // either API.
            if input.parent_id.is_some() {
                return Err(IdentityError::Validation(
                    "Invalid input for field 'project.parent_id': only root projects are allowed to act as domains.".into(),
                ));
            }
            if input.domain_id.is_some() {
                return Err(IdentityError::Validation(
                    "Invalid input for field 'project.domain_id': a project acting as a domain has no domain.".into(),
                ));
            }
            let d = self
                .create_domain(
                    caller,
                    crate::model::DomainInput {
                        name: Some(name),
                        description: input.description,
                        enabled: input.enabled,
                        extra: input.extra,
                        ..Default::default()
                    },
                )
                .await?;
            return Ok(Project::of_domain(d));
        }
        let tags = input.tags.unwrap_or_default();
        check_tags(&tags)?;
        let parent = match &input.parent_id {
            Some(p) => Some(store::get_project(self.db(), p).await?.ok_or_else(|| {
                IdentityError::Validation(format!(
                    "Invalid input for field 'project.parent_id': project {p} does not exist."
                ))
            })?),
            None => None,
        };
        let domain_id = match (&input.domain_id, &parent) {
            (Some(d), Some(p)) if *d != p.domain_id => {
                return Err(IdentityError::Validation(
                    "Invalid input for field 'project.domain_id': a project must be in its parent's domain.".into(),
                ))
            }
            (Some(d), _) => d.clone(),
            (None, Some(p)) => p.domain_id.clone(),
            (None, None) => caller.domain_id().unwrap_or(&caller.user_domain_id).to_owned(),
        };
        if store::get_domain(self.db(), &domain_id).await?.is_none() {
            return Err(IdentityError::Validation(format!(
                "Invalid input for field 'project.domain_id': domain {domain_id} does not exist."
            )));
        }
        let p = Project {
            is_domain: false,
            id: new_id(),
            name,
            domain_id,
            parent_id: input.parent_id,
            description: input.description.unwrap_or_default(),
            enabled: input.enabled.unwrap_or(true),
            tags,
            extra: super::new_extras(input.extra),
        };
        store::insert_project(self.db(), &p).await.map_err(on_conflict(|| {
            format!(
                "Duplicate entry: a project named '{}' exists in domain {}.",
                p.name, p.domain_id
            )
        }))?;
        self.changed();
        Ok(p)
    }

    pub async fn get_project(&self, caller: &AuthContext, id: &str) -> Result<Project> {
        self.enforce(
            "identity:get_project",
            caller,
            &Target::new().with("target.project.id", id),
        )?;
        if let Some(p) = store::get_project(self.db(), id).await? {
            return Ok(p);
        }
        store::get_domain(self.db(), id)
            .await?
            .map(Project::of_domain)
            .ok_or_else(|| IdentityError::not_found("project", id))
    }

    pub async fn list_projects(&self, caller: &AuthContext, f: ListFilter, page: &PageRequest) -> Result<Vec<Project>> {
        self.enforce(
            "identity:list_projects",
            caller,
            &Target::new().opt("target.domain_id", f.domain_id.as_deref()),
        )?;
        self.check_marker("projects", page).await?;
        if f.is_domain == Some(true) {
            let mut w = Filters::new();
            w.eq("name", f.name.as_deref()).eq_flag("enabled", f.enabled);
            return Ok(store::list_domains(self.db(), w, page)
                .await?
                .into_iter()
                .map(Project::of_domain)
                .collect());
        }
        let mut w = Filters::new();
        w.eq("name", f.name.as_deref())
            .eq("domain_id", f.domain_id.as_deref())
            .eq("parent_id", f.parent_id.as_deref())
            .eq_flag("enabled", f.enabled);
        Ok(store::list_projects(self.db(), w, page).await?)
    }

    pub async fn update_project(&self, caller: &AuthContext, id: &str, input: ProjectInput) -> Result<Project> {
        self.enforce(
            "identity:update_project",
            caller,
            &Target::new().with("target.project.id", id),
        )?;
        let before = match store::get_project(self.db(), id).await? {
            Some(p) => p,
            None if store::get_domain(self.db(), id).await?.is_some() => {
                let d = self
                    .update_domain(
                        caller,
                        id,
                        crate::model::DomainInput {
                            name: input.name,
                            description: input.description,
                            enabled: input.enabled,
                            extra: input.extra,
                            ..Default::default()
                        },
                    )
                    .await?;
                return Ok(Project::of_domain(d));
            }
            None => return Err(IdentityError::not_found("project", id)),
        };
        if input.domain_id.as_deref().is_some_and(|d| d != before.domain_id) {
            return Err(IdentityError::Validation(
                "Invalid input for field 'project.domain_id': a project cannot move to another domain.".into(),
            ));
        }
        if input
            .parent_id
            .as_deref()
            .is_some_and(|p| Some(p) != before.parent_id.as_deref())
        {
            return Err(IdentityError::Validation(
                "Invalid input for field 'project.parent_id': a project cannot change parent.".into(),
            ));
        }
        let mut sets = vec![];
        if !input.extra.is_empty() {
            let stored = store::get_project(self.db(), id)
                .await?
                .ok_or_else(|| IdentityError::not_found("project", id))?;
            if let Some(v) = super::merged_extras("project", id, &stored.extra, input.extra.clone())? {
                sets.push(("extra", v));
            }
        }
        if let Some(n) = &input.name {
            sets.push(("name", Val::S(check_short_name("project.name", Some(n))?)));
        }
        if let Some(d) = input.description {
            check_len("project.description", Some(&d), 65535)?;
            sets.push(("description", Val::S(d)));
        }
        if let Some(e) = input.enabled {
            sets.push(("enabled", Val::I(e as i64)));
        }
        if let Some(t) = input.tags {
            check_tags(&t)?;
            sets.push((
                "tags",
                Val::S(serde_json::to_string(&t).unwrap_or_else(|_| "[]".into())),
            ));
        }
        store::update(self.db(), "projects", id, sets)
            .await
            .map_err(on_conflict(|| {
                "Duplicate entry: a project with that name exists in the domain.".into()
            }))?;
        if before.enabled && input.enabled == Some(false) {
            self.revoke_matching(None, Some(id), None, None).await?;
        }
        self.changed();
        store::get_project(self.db(), id)
            .await?
            .ok_or_else(|| IdentityError::not_found("project", id))
    }

    pub async fn delete_project(&self, caller: &AuthContext, id: &str) -> Result<()> {
        self.enforce(
            "identity:delete_project",
            caller,
            &Target::new().with("target.project.id", id),
        )?;
        if store::get_project(self.db(), id).await?.is_none() {
            return match store::get_domain(self.db(), id).await? {
                Some(d) if d.enabled => Err(IdentityError::Validation(format!(
                    "Cannot delete project {id}: it acts as a domain and is enabled; disable it first."
                ))),
                Some(_) => self.delete_domain(caller, id).await,
                None => Err(IdentityError::not_found("project", id)),
            };
        }
        if store::count_children(self.db(), id).await? > 0 {
            return Err(IdentityError::Denied(format!(
                "Cannot delete project {id}: it has child projects; delete them first."
            )));
        }
        store::delete_with_assignments(self.db(), "projects", id, "project", true).await?;
        store::delete_limits_of(self.db(), "project_id", id).await?;
        self.revoke_matching(None, Some(id), None, None).await?;
        self.changed();
        Ok(())
    }

    /// Enabled projects on which a user holds a role.
    pub async fn user_projects(&self, caller: &AuthContext, user_id: &str) -> Result<Vec<Project>> {
        self.enforce(
            "identity:list_user_projects",
            caller,
            &Target::new().with("target.user_id", user_id),
        )?;
        store::get_user(self.db(), user_id)
            .await?
            .ok_or_else(|| IdentityError::not_found("user", user_id))?;
        self.projects_of(user_id).await
    }

    /// `/v3/auth/projects`: the projects the caller can scope to.
    pub async fn auth_projects(&self, caller: &AuthContext) -> Result<Vec<Project>> {
        self.enforce("identity:get_auth_projects", caller, &Target::new())?;
        self.projects_of(&caller.user_id).await
    }

    async fn projects_of(&self, user_id: &str) -> Result<Vec<Project>> {
        let ids = store::targets_of_user(self.db(), user_id, TargetKind::Project).await?;
        let mut out = vec![];
        for id in ids {
            if let Some(p) = store::get_project(self.db(), &id).await? {
                if p.enabled {
                    out.push(p);
                }
            }
        }
        Ok(out)
    }
}

/// A project's tags as a resource of their own (`/projects/{id}/tags`), as Keystone serves
/// them beside the `tags` attribute.
impl IdentityService {
    pub async fn project_tags(&self, caller: &AuthContext, id: &str) -> Result<Vec<String>> {
        self.enforce(
            "identity:get_project_tags",
            caller,
            &Target::new().with("target.project.id", id),
        )?;
        Ok(store::get_project(self.db(), id)
            .await?
            .ok_or_else(|| IdentityError::not_found("project", id))?
            .tags)
    }

    /// Replaces the tags (`Some`), adds one (`add`) or removes one (`remove`); the tags after.
    pub async fn change_project_tags(
        &self,
        caller: &AuthContext,
        id: &str,
        replace: Option<Vec<String>>,
        add: Option<&str>,
        remove: Option<&str>,
    ) -> Result<Vec<String>> {
        self.enforce(
            "identity:update_project_tags",
            caller,
            &Target::new().with("target.project.id", id),
        )?;
        let mut tags = store::get_project(self.db(), id)
            .await?
            .ok_or_else(|| IdentityError::not_found("project", id))?
            .tags;
        if let Some(all) = replace {
            let mut unique = Vec::new();
            for t in all {
                if unique.contains(&t) {
                    return Err(IdentityError::Validation(format!(
                        "Invalid input for field 'tags': '{t}' is given twice."
                    )));
                }
                unique.push(t);
            }
            tags = unique;
        }
        if let Some(t) = add {
            if !tags.iter().any(|x| x == t) {
                tags.push(t.to_owned());
            }
        }
        if let Some(t) = remove {
            let before = tags.len();
            tags.retain(|x| x != t);
            if tags.len() == before {
                return Err(IdentityError::not_found("project tag", t));
            }
        }
        check_tags(&tags)?;
        store::update(
            self.db(),
            "projects",
            id,
            vec![(
                "tags",
                Val::S(serde_json::to_string(&tags).unwrap_or_else(|_| "[]".into())),
            )],
        )
        .await?;
        self.changed();
        Ok(tags)
    }
}
