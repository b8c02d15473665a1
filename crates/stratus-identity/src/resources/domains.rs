//! Domains.

use stratus_api::pagination::PageRequest;
use stratus_api::{AuthContext, Target};

use super::{check_len, check_short_name, ListFilter};
use crate::error::{on_conflict, IdentityError, Result};
use crate::model::{Domain, DomainInput};
use crate::store::{self, Filters, Val};
use crate::{new_id, IdentityService};

impl IdentityService {
    pub async fn create_domain(&self, caller: &AuthContext, input: DomainInput) -> Result<Domain> {
        self.enforce("identity:create_domain", caller, &Target::new())?;
        let name = check_short_name("domain.name", input.name.as_deref())?;
        check_len("domain.description", input.description.as_deref(), 65535)?;
        let d = Domain {
            id: input.explicit_domain_id.unwrap_or_else(new_id),
            name,
            description: input.description.unwrap_or_default(),
            enabled: input.enabled.unwrap_or(true),
            extra: super::new_extras(input.extra),
        };
        store::insert_domain(self.db(), &d).await.map_err(on_conflict(|| {
            format!("Duplicate entry: a domain named '{}' exists.", d.name)
        }))?;
        self.changed();
        Ok(d)
    }

    pub async fn get_domain(&self, caller: &AuthContext, id: &str) -> Result<Domain> {
        self.enforce(
            "identity:get_domain",
            caller,
            &Target::new().with("target.domain.id", id),
        )?;
        store::get_domain(self.db(), id)
            .await?
            .ok_or_else(|| IdentityError::not_found("domain", id))
    }

    pub async fn list_domains(&self, caller: &AuthContext, f: ListFilter, page: &PageRequest) -> Result<Vec<Domain>> {
        self.enforce("identity:list_domains", caller, &Target::new())?;
        self.check_marker("domains", page).await?;
        let mut w = Filters::new();
        w.eq("name", f.name.as_deref()).eq_flag("enabled", f.enabled);
        Ok(store::list_domains(self.db(), w, page).await?)
    }

    pub async fn update_domain(&self, caller: &AuthContext, id: &str, input: DomainInput) -> Result<Domain> {
        self.enforce(
            "identity:update_domain",
            caller,
            &Target::new().with("target.domain.id", id),
        )?;
        let before = store::get_domain(self.db(), id)
            .await?
            .ok_or_else(|| IdentityError::not_found("domain", id))?;
        let mut sets = vec![];
        if !input.extra.is_empty() {
            let stored = store::get_domain(self.db(), id)
                .await?
                .ok_or_else(|| IdentityError::not_found("domain", id))?;
            if let Some(v) = super::merged_extras("domain", id, &stored.extra, input.extra.clone())? {
                sets.push(("extra", v));
            }
        }
        if let Some(n) = &input.name {
            sets.push(("name", Val::S(check_short_name("domain.name", Some(n))?)));
        }
        if let Some(d) = input.description {
            check_len("domain.description", Some(&d), 65535)?;
            sets.push(("description", Val::S(d)));
        }
        if let Some(e) = input.enabled {
            sets.push(("enabled", Val::I(e as i64)));
        }
        store::update(self.db(), "domains", id, sets)
            .await
            .map_err(on_conflict(|| {
                "Duplicate entry: a domain with that name exists.".into()
            }))?;
        if before.enabled && input.enabled == Some(false) {
            self.revoke_matching(None, None, Some(id), None).await?;
        }
        self.changed();
        store::get_domain(self.db(), id)
            .await?
            .ok_or_else(|| IdentityError::not_found("domain", id))
    }

    pub async fn delete_domain(&self, caller: &AuthContext, id: &str) -> Result<()> {
        self.enforce(
            "identity:delete_domain",
            caller,
            &Target::new().with("target.domain.id", id),
        )?;
        let d = store::get_domain(self.db(), id)
            .await?
            .ok_or_else(|| IdentityError::not_found("domain", id))?;
        if d.enabled {
            return Err(IdentityError::Denied(format!(
                "Cannot delete a domain that is enabled, please disable it first: {id}."
            )));
        }
        // As Keystone: a disabled domain goes with everything it owns.
        let users = store::delete_domain_tree(self.db(), id).await?;
        self.revoke_matching(None, None, Some(id), None).await?;
        for u in users {
            self.revoke_matching(Some(&u), None, None, None).await?;
        }
        self.changed();
        Ok(())
    }

    /// Domains on which the caller holds a role (`/v3/auth/domains`).
    pub async fn auth_domains(&self, caller: &AuthContext) -> Result<Vec<Domain>> {
        self.enforce("identity:get_auth_domains", caller, &Target::new())?;
        let ids = store::targets_of_user(self.db(), &caller.user_id, crate::model::TargetKind::Domain).await?;
        let mut out = vec![];
        for id in ids {
            if let Some(d) = store::get_domain(self.db(), &id).await? {
                if d.enabled {
                    out.push(d);
                }
            }
        }
        Ok(out)
    }
}
