//! Roles, implied roles, and role assignments (grants).

use std::collections::BTreeSet;

use stratus_api::pagination::PageRequest;
use stratus_api::{AuthContext, Target};

use super::{check_len, check_name, ListFilter};
use crate::error::{on_conflict, IdentityError, Result};
use crate::model::{ActorKind, Assignment, Role, RoleInput, TargetKind, SYSTEM_ALL};
use crate::store::{self, Filters, Val};
use crate::{new_id, IdentityService};

/// Filters of `GET /v3/role_assignments`.
#[derive(Debug, Clone, Default)]
pub struct AssignmentFilter {
    pub user_id: Option<String>,
    pub group_id: Option<String>,
    pub project_id: Option<String>,
    pub domain_id: Option<String>,
    pub system: bool,
    pub role_id: Option<String>,
    pub effective: bool,
    /// `scope.OS-INHERIT:inherited_to=projects`: only the inherited grants.
    pub inherited_only: bool,
}

/// Names of what an assignment refers to, for `include_names`.
#[derive(Debug, Clone, Default)]
pub struct Named {
    pub name: String,
    pub domain: Option<(String, String)>,
}

impl IdentityService {
    pub async fn create_role(&self, caller: &AuthContext, input: RoleInput) -> Result<Role> {
        self.enforce("identity:create_role", caller, &Target::new())?;
        if let Some(d) = &input.domain_id {
            store::get_domain(self.db(), d)
                .await?
                .ok_or_else(|| IdentityError::not_found("domain", d))?;
        }
        let name = check_name("role.name", input.name.as_deref())?;
        check_len("role.description", input.description.as_deref(), 65535)?;
        let r = Role {
            id: new_id(),
            name,
            description: input.description.unwrap_or_default(),
            domain_id: input.domain_id,
            extra: super::new_extras(input.extra),
        };
        store::insert_role(self.db(), &r).await.map_err(on_conflict(|| {
            format!("Duplicate entry: a role named '{}' exists.", r.name)
        }))?;
        self.changed();
        Ok(r)
    }

    pub async fn get_role(&self, caller: &AuthContext, id: &str) -> Result<Role> {
        self.enforce("identity:get_role", caller, &Target::new())?;
        store::get_role(self.db(), id)
            .await?
            .ok_or_else(|| IdentityError::not_found("role", id))
    }

    pub async fn list_roles(&self, caller: &AuthContext, f: ListFilter, page: &PageRequest) -> Result<Vec<Role>> {
        self.enforce("identity:list_roles", caller, &Target::new())?;
        self.check_marker("roles", page).await?;
        // Global roles, or (with domain_id) the roles of one domain, as Keystone lists them.
        let mut w = Filters::new();
        w.eq("name", f.name.as_deref());
        match &f.domain_id {
            Some(d) => {
                w.eq("domain_id", Some(d.as_str()));
            }
            None => {
                w.clause("domain_id IS NULL");
            }
        }
        Ok(store::list_roles(self.db(), w, page).await?)
    }

    pub async fn update_role(&self, caller: &AuthContext, id: &str, input: RoleInput) -> Result<Role> {
        self.enforce("identity:update_role", caller, &Target::new())?;
        let mut sets = vec![];
        if !input.extra.is_empty() {
            let stored = store::get_role(self.db(), id)
                .await?
                .ok_or_else(|| IdentityError::not_found("role", id))?;
            if let Some(v) = super::merged_extras("role", id, &stored.extra, input.extra.clone())? {
                sets.push(("extra", v));
            }
        }
        if let Some(n) = &input.name {
            sets.push(("name", Val::S(check_name("role.name", Some(n))?)));
        }
        if let Some(d) = input.description {
            check_len("role.description", Some(&d), 65535)?;
            sets.push(("description", Val::S(d)));
        }
        if !store::update(self.db(), "roles", id, sets)
            .await
            .map_err(on_conflict(|| "Duplicate entry: a role with that name exists.".into()))?
        {
            return Err(IdentityError::not_found("role", id));
        }
        self.changed();
        store::get_role(self.db(), id)
            .await?
            .ok_or_else(|| IdentityError::not_found("role", id))
    }

    pub async fn delete_role(&self, caller: &AuthContext, id: &str) -> Result<()> {
        self.enforce("identity:delete_role", caller, &Target::new())?;
        if !store::delete_role(self.db(), id).await? {
            return Err(IdentityError::not_found("role", id));
        }
        self.changed();
        Ok(())
    }

    // ------------------------------------------------------------ implied roles

    async fn role_pair(&self, prior: &str, implied: &str) -> Result<(Role, Role)> {
        let p = store::get_role(self.db(), prior)
            .await?
            .ok_or_else(|| IdentityError::not_found("role", prior))?;
        let i = store::get_role(self.db(), implied)
            .await?
            .ok_or_else(|| IdentityError::not_found("role", implied))?;
        Ok((p, i))
    }

    pub async fn create_implied_role(&self, caller: &AuthContext, prior: &str, implied: &str) -> Result<(Role, Role)> {
        self.enforce("identity:create_implied_role", caller, &Target::new())?;
        let pair = self.role_pair(prior, implied).await?;
        if pair.0.domain_id.is_none() && pair.1.domain_id.is_some() {
            return Err(IdentityError::Denied(format!(
                "{prior} is a global role and cannot imply {implied}, a domain-specific role."
            )));
        }
        // An implication that loops back would make every role in the loop imply itself.
        let reach = self.expand_implied(vec![implied.to_owned()]).await?;
        if prior == implied || reach.iter().any(|r| r.id == prior) {
            return Err(IdentityError::Validation(format!(
                "Role {implied} already implies {prior}: the implication would make a loop."
            )));
        }
        store::add_implied_role(self.db(), prior, implied).await?;
        self.changed();
        Ok(pair)
    }

    pub async fn check_implied_role(&self, caller: &AuthContext, prior: &str, implied: &str) -> Result<(Role, Role)> {
        self.enforce("identity:list_implied_roles", caller, &Target::new())?;
        let pair = self.role_pair(prior, implied).await?;
        if store::implied_roles(self.db())
            .await?
            .iter()
            .any(|(p, i)| p == prior && i == implied)
        {
            Ok(pair)
        } else {
            Err(IdentityError::not_found(
                "implied role",
                format!("{prior} implies {implied}"),
            ))
        }
    }

    pub async fn delete_implied_role(&self, caller: &AuthContext, prior: &str, implied: &str) -> Result<()> {
        self.enforce("identity:delete_implied_role", caller, &Target::new())?;
        self.role_pair(prior, implied).await?;
        if !store::remove_implied_role(self.db(), prior, implied).await? {
            return Err(IdentityError::not_found(
                "implied role",
                format!("{prior} implies {implied}"),
            ));
        }
        self.changed();
        Ok(())
    }

    /// Every implication, as (prior role, implied roles).
    pub async fn list_implied_roles(
        &self,
        caller: &AuthContext,
        prior: Option<&str>,
    ) -> Result<Vec<(Role, Vec<Role>)>> {
        self.enforce("identity:list_implied_roles", caller, &Target::new())?;
        if let Some(p) = prior {
            store::get_role(self.db(), p)
                .await?
                .ok_or_else(|| IdentityError::not_found("role", p))?;
        }
        let roles = store::all_roles(self.db()).await?;
        let find = |id: &str| roles.iter().find(|r| r.id == id).cloned();
        let mut out: Vec<(Role, Vec<Role>)> = vec![];
        for (p, i) in store::implied_roles(self.db()).await? {
            if prior.is_some_and(|x| x != p) {
                continue;
            }
            let (Some(pr), Some(ir)) = (find(&p), find(&i)) else {
                continue;
            };
            match out.iter_mut().find(|(r, _)| r.id == pr.id) {
                Some((_, v)) => v.push(ir),
                None => out.push((pr, vec![ir])),
            }
        }
        Ok(out)
    }

    // ------------------------------------------------------------ grants

    async fn check_grant_parts(&self, a: &Assignment) -> Result<()> {
        match a.actor_kind {
            ActorKind::User => store::get_user(self.db(), &a.actor_id)
                .await?
                .map(|_| ())
                .ok_or_else(|| IdentityError::not_found("user", &a.actor_id))?,
            ActorKind::Group => store::get_group(self.db(), &a.actor_id)
                .await?
                .map(|_| ())
                .ok_or_else(|| IdentityError::not_found("group", &a.actor_id))?,
        }
        match a.target_kind {
            TargetKind::Project => store::get_project(self.db(), &a.target_id)
                .await?
                .map(|_| ())
                .ok_or_else(|| IdentityError::not_found("project", &a.target_id))?,
            TargetKind::Domain => store::get_domain(self.db(), &a.target_id)
                .await?
                .map(|_| ())
                .ok_or_else(|| IdentityError::not_found("domain", &a.target_id))?,
            TargetKind::System if a.inherited => {
                return Err(IdentityError::Validation(
                    "Inherited grants are made on domains and projects, not on the system.".into(),
                ))
            }
            TargetKind::System if a.target_id == SYSTEM_ALL => {}
            TargetKind::System => return Err(IdentityError::not_found("system", &a.target_id)),
        }
        store::get_role(self.db(), &a.role_id)
            .await?
            .ok_or_else(|| IdentityError::not_found("role", &a.role_id))?;
        Ok(())
    }

    pub async fn create_grant(&self, caller: &AuthContext, a: Assignment) -> Result<()> {
        self.enforce("identity:create_grant", caller, &Target::new())?;
        self.check_grant_parts(&a).await?;
        // A domain-specific role is granted only within its domain.
        if let Some(rd) = store::get_role(self.db(), &a.role_id).await?.and_then(|r| r.domain_id) {
            let target_domain = match a.target_kind {
                TargetKind::Domain => Some(a.target_id.clone()),
                TargetKind::Project => store::get_project(self.db(), &a.target_id).await?.map(|p| p.domain_id),
                TargetKind::System => None,
            };
            if target_domain.as_deref() != Some(rd.as_str()) {
                return Err(IdentityError::Denied(format!(
                    "Role {} is specific to domain {rd} and cannot be granted outside it.",
                    a.role_id
                )));
            }
        }
        store::grant(self.db(), &a).await?;
        self.changed();
        Ok(())
    }

    pub async fn check_grant(&self, caller: &AuthContext, a: Assignment) -> Result<()> {
        self.enforce("identity:check_grant", caller, &Target::new())?;
        self.check_grant_parts(&a).await?;
        let mut f = Filters::new();
        f.eq("actor_kind", Some(a.actor_kind.as_str()))
            .eq("actor_id", Some(&a.actor_id))
            .eq("target_kind", Some(a.target_kind.as_str()))
            .eq("target_id", Some(&a.target_id))
            .eq("role_id", Some(&a.role_id));
        if store::list_grants_in(self.db(), f, a.inherited).await?.is_empty() {
            return Err(IdentityError::not_found(
                "role assignment",
                format!("role {} on {}", a.role_id, a.target_id),
            ));
        }
        Ok(())
    }

    pub async fn revoke_grant(&self, caller: &AuthContext, a: Assignment) -> Result<()> {
        self.enforce("identity:revoke_grant", caller, &Target::new())?;
        self.check_grant_parts(&a).await?;
        if !store::revoke(self.db(), &a).await? {
            return Err(IdentityError::not_found(
                "role assignment",
                format!("role {} on {}", a.role_id, a.target_id),
            ));
        }
        // Keystone revokes the tokens the assignment could have contributed to.
        let users = match a.actor_kind {
            ActorKind::User => vec![a.actor_id.clone()],
            ActorKind::Group => store::group_members(self.db(), &a.actor_id)
                .await?
                .into_iter()
                .map(|u| u.id)
                .collect(),
        };
        for u in users {
            match a.target_kind {
                // An inherited grant reached projects below its target: the user's tokens go.
                _ if a.inherited => self.revoke_matching(Some(&u), None, None, None).await?,
                TargetKind::Project => self.revoke_matching(Some(&u), Some(&a.target_id), None, None).await?,
                TargetKind::Domain => self.revoke_matching(Some(&u), None, Some(&a.target_id), None).await?,
                TargetKind::System => self.revoke_matching(Some(&u), None, None, None).await?,
            }
        }
        self.changed();
        Ok(())
    }

    /// Roles an actor holds directly on a target (`GET /v3/projects/{p}/users/{u}/roles`).
    pub async fn list_grants(
        &self,
        caller: &AuthContext,
        actor: ActorKind,
        actor_id: &str,
        target: TargetKind,
        target_id: &str,
        inherited: bool,
    ) -> Result<Vec<Role>> {
        self.enforce("identity:list_grants", caller, &Target::new())?;
        let probe = Assignment {
            actor_kind: actor,
            actor_id: actor_id.to_owned(),
            target_kind: target,
            target_id: target_id.to_owned(),
            role_id: String::new(),
            via_group: None,
            inherited: false,
            inherited_from: None,
        };
        match actor {
            ActorKind::User => store::get_user(self.db(), actor_id)
                .await?
                .map(|_| ())
                .ok_or_else(|| IdentityError::not_found("user", actor_id))?,
            ActorKind::Group => store::get_group(self.db(), actor_id)
                .await?
                .map(|_| ())
                .ok_or_else(|| IdentityError::not_found("group", actor_id))?,
        }
        let mut f = Filters::new();
        f.eq("actor_kind", Some(probe.actor_kind.as_str()))
            .eq("actor_id", Some(actor_id))
            .eq("target_kind", Some(target.as_str()))
            .eq("target_id", Some(target_id));
        let mut out = vec![];
        for a in store::list_grants_in(self.db(), f, inherited).await? {
            if let Some(r) = store::get_role(self.db(), &a.role_id).await? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// `GET /v3/role_assignments`. Without `effective`, the grants as made (inherited ones
    /// marked). With it, as Keystone reports them: group grants become one per member,
    /// inherited grants one per project they reach, implied roles are added, and
    /// domain-specific roles (which only imply others) are left out.
    pub async fn list_role_assignments(&self, caller: &AuthContext, f: AssignmentFilter) -> Result<Vec<Assignment>> {
        self.enforce("identity:list_role_assignments", caller, &Target::new())?;
        let targets = [f.project_id.is_some(), f.domain_id.is_some(), f.system]
            .iter()
            .filter(|b| **b)
            .count();
        if targets > 1 {
            return Err(IdentityError::Validation(
                "Specify at most one of scope.project.id, scope.domain.id and scope.system.".into(),
            ));
        }
        if f.effective && f.group_id.is_some() {
            return Err(IdentityError::Validation(
                "The group.id filter cannot be combined with effective.".into(),
            ));
        }
        if f.effective && f.inherited_only {
            return Err(IdentityError::Validation(
                "The scope.OS-INHERIT:inherited_to filter cannot be combined with effective.".into(),
            ));
        }
        let target_filter = |w: &mut Filters| {
            if let Some(p) = &f.project_id {
                w.eq("target_kind", Some("project")).eq("target_id", Some(p));
            }
            if let Some(d) = &f.domain_id {
                w.eq("target_kind", Some("domain")).eq("target_id", Some(d));
            }
            if f.system {
                w.eq("target_kind", Some("system"));
            }
        };
        if !f.effective {
            let actor_filter = |w: &mut Filters| {
                if let Some(u) = &f.user_id {
                    w.eq("actor_kind", Some("user")).eq("actor_id", Some(u));
                }
                if let Some(g) = &f.group_id {
                    w.eq("actor_kind", Some("group")).eq("actor_id", Some(g));
                }
                if let Some(r) = &f.role_id {
                    w.eq("role_id", Some(r));
                }
            };
            let mut out = vec![];
            if !f.inherited_only {
                let mut w = Filters::new();
                target_filter(&mut w);
                actor_filter(&mut w);
                out.extend(store::list_assignments(self.db(), w).await?);
            }
            if !f.system {
                let mut w = Filters::new();
                target_filter(&mut w);
                actor_filter(&mut w);
                out.extend(store::list_grants_in(self.db(), w, true).await?);
            }
            return Ok(out);
        }
        // The grants that count: direct ones on the target asked for, and inherited ones as the
        // projects they reach (all of them, or the one asked for).
        let mut w = Filters::new();
        target_filter(&mut w);
        let mut grants = store::list_assignments(self.db(), w).await?;
        if f.domain_id.is_none() && !f.system {
            let inherited = match &f.project_id {
                Some(p) => store::inherited_reaching(self.db(), p)
                    .await?
                    .into_iter()
                    .map(|a| (a, vec![p.clone()]))
                    .collect::<Vec<_>>(),
                None => {
                    let mut all = vec![];
                    for a in store::list_grants_in(self.db(), Filters::new(), true).await? {
                        let projects = store::projects_inheriting(self.db(), a.target_kind, &a.target_id).await?;
                        all.push((a, projects));
                    }
                    all
                }
            };
            for (a, projects) in inherited {
                for p in projects {
                    grants.push(Assignment {
                        target_kind: TargetKind::Project,
                        target_id: p,
                        inherited: false,
                        inherited_from: Some((a.target_kind, a.target_id.clone())),
                        ..a.clone()
                    });
                }
            }
        }
        let domain_roles: BTreeSet<String> = store::all_roles(self.db())
            .await?
            .into_iter()
            .filter(|r| r.domain_id.is_some())
            .map(|r| r.id)
            .collect();
        let mut out: Vec<Assignment> = vec![];
        let mut seen = BTreeSet::new();
        for a in grants {
            let users: Vec<(String, Option<String>)> = match a.actor_kind {
                ActorKind::User => vec![(a.actor_id.clone(), None)],
                ActorKind::Group => store::group_members(self.db(), &a.actor_id)
                    .await?
                    .into_iter()
                    .map(|m| (m.id, Some(a.actor_id.clone())))
                    .collect(),
            };
            let roles = self.expand_implied(vec![a.role_id.clone()]).await?;
            for (user, via) in users {
                if f.user_id.as_deref().is_some_and(|u| u != user) {
                    continue;
                }
                for r in &roles {
                    if f.role_id.as_deref().is_some_and(|x| x != r.id) || domain_roles.contains(&r.id) {
                        continue;
                    }
                    let key = (
                        user.clone(),
                        a.target_kind.as_str(),
                        a.target_id.clone(),
                        r.id.clone(),
                        via.clone(),
                        a.inherited_from.clone().map(|(k, id)| (k.as_str(), id)),
                    );
                    if seen.insert(key) {
                        out.push(Assignment {
                            actor_kind: ActorKind::User,
                            actor_id: user.clone(),
                            target_kind: a.target_kind,
                            target_id: a.target_id.clone(),
                            role_id: r.id.clone(),
                            via_group: via.clone(),
                            inherited: false,
                            inherited_from: a.inherited_from.clone(),
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    /// Names for `include_names`: (role, actor, target).
    pub async fn assignment_names(&self, a: &Assignment) -> Result<(Named, Named, Named)> {
        let role = store::get_role(self.db(), &a.role_id)
            .await?
            .map(|r| Named {
                name: r.name,
                domain: None,
            })
            .unwrap_or_default();
        let domain_of = |id: String| async move {
            let name = store::get_domain(self.db(), &id)
                .await?
                .map(|d| d.name)
                .unwrap_or_default();
            Ok::<_, IdentityError>(Some((id, name)))
        };
        let actor = match a.actor_kind {
            ActorKind::User => match store::get_user(self.db(), &a.actor_id).await? {
                Some(u) => Named {
                    name: u.name,
                    domain: domain_of(u.domain_id).await?,
                },
                None => Named::default(),
            },
            ActorKind::Group => match store::get_group(self.db(), &a.actor_id).await? {
                Some(g) => Named {
                    name: g.name,
                    domain: domain_of(g.domain_id).await?,
                },
                None => Named::default(),
            },
        };
        let target = match a.target_kind {
            TargetKind::Project => match store::get_project(self.db(), &a.target_id).await? {
                Some(p) => Named {
                    name: p.name,
                    domain: domain_of(p.domain_id).await?,
                },
                None => Named::default(),
            },
            TargetKind::Domain => Named {
                name: store::get_domain(self.db(), &a.target_id)
                    .await?
                    .map(|d| d.name)
                    .unwrap_or_default(),
                domain: None,
            },
            TargetKind::System => Named {
                name: SYSTEM_ALL.to_owned(),
                domain: None,
            },
        };
        Ok((role, actor, target))
    }
}
