//! Application credentials: a secret a user delegates to software, bound to one project and
//! a subset of the user's roles there.

use base64::Engine;
use stratus_api::auth::RoleRef;
use stratus_api::{AuthContext, Target};

use super::check_name;
use crate::error::{on_conflict, IdentityError, Result};
use crate::model::{AccessRuleInput, ApplicationCredential, ApplicationCredentialInput};
use stratus_api::auth::AccessRule;
use crate::store::{self, AppCredRow};
use crate::{new_id, parse_time, IdentityService};

const RULE_METHODS: [&str; 6] = ["DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"];

fn rule_field(v: Option<&str>, field: &str) -> Result<String> {
    v.map(str::to_owned).ok_or_else(|| {
        IdentityError::Validation(format!(
            "Invalid input for field 'application_credential.access_rules.{field}': the field is required."
        ))
    })
}

impl IdentityService {
    /// The rules a new credential asks for, as the user's rules: ones named by id must be the
    /// user's; others reuse the user's rule for the same request or get a new id.
    async fn resolve_access_rules(&self, user_id: &str, asked: &[AccessRuleInput]) -> Result<Vec<AccessRule>> {
        let mut out: Vec<AccessRule> = Vec::new();
        for a in asked {
            let rule = match (&a.id, &a.service, &a.path, &a.method) {
                (Some(id), None, None, None) => match store::get_access_rule(self.db(), id).await? {
                    Some((owner, r)) if owner == user_id => r,
                    _ => return Err(IdentityError::not_found("access rule", id)),
                },
                _ => {
                    let service = rule_field(a.service.as_deref(), "service")?;
                    let path = rule_field(a.path.as_deref(), "path")?;
                    let method = rule_field(a.method.as_deref(), "method")?;
                    if !path.starts_with('/') || path.chars().count() > 225 {
                        return Err(IdentityError::Validation(format!(
                            "Invalid input for field 'application_credential.access_rules.path': '{path}' must start with / and be at most 225 characters."
                        )));
                    }
                    if !RULE_METHODS.contains(&method.as_str()) {
                        return Err(IdentityError::Validation(format!(
                            "Invalid input for field 'application_credential.access_rules.method': '{method}' is not one of DELETE, GET, HEAD, PATCH, POST, PUT."
                        )));
                    }
                    check_name("application_credential.access_rules.service", Some(&service))?;
                    match store::find_access_rule(self.db(), user_id, &service, &path, &method).await? {
                        Some(r) => r,
                        None => AccessRule { id: a.id.clone().unwrap_or_else(new_id), service, path, method },
                    }
                }
            };
            if !out.iter().any(|r| r.id == rule.id) {
                out.push(rule);
            }
        }
        Ok(out)
    }

    /// A user's access rules (`GET /users/{id}/access_rules`), filtered.
    pub async fn list_access_rules(
        &self,
        caller: &AuthContext,
        user_id: &str,
        service: Option<&str>,
        path: Option<&str>,
        method: Option<&str>,
    ) -> Result<Vec<AccessRule>> {
        self.enforce("identity:list_access_rules", caller, &Target::new().with("target.user_id", user_id))?;
        Ok(store::list_access_rules(self.db(), user_id, service, path, method).await?)
    }

    pub async fn get_access_rule(&self, caller: &AuthContext, user_id: &str, id: &str) -> Result<AccessRule> {
        self.enforce("identity:get_access_rule", caller, &Target::new().with("target.user_id", user_id))?;
        match store::get_access_rule(self.db(), id).await? {
            Some((owner, r)) if owner == user_id => Ok(r),
            _ => Err(IdentityError::not_found("access rule", id)),
        }
    }

    /// Deletes a rule no application credential uses (403 while one does, as Keystone).
    pub async fn delete_access_rule(&self, caller: &AuthContext, user_id: &str, id: &str) -> Result<()> {
        self.enforce("identity:delete_access_rule", caller, &Target::new().with("target.user_id", user_id))?;
        self.get_access_rule(caller, user_id, id).await?;
        if !store::delete_unused_access_rule(self.db(), id).await? {
            return Err(IdentityError::Denied(format!(
                "May not delete access rule {id}: an application credential uses it."
            )));
        }
        Ok(())
    }

    async fn app_cred_view(&self, row: AppCredRow) -> Result<ApplicationCredential> {
        let ids: Vec<String> = serde_json::from_str(&row.roles).unwrap_or_default();
        let mut roles = vec![];
        for id in ids {
            if let Some(r) = store::get_role(self.db(), &id).await? {
                roles.push(RoleRef { id: r.id, name: r.name });
            }
        }
        let access_rules = store::access_rules_of(self.db(), &row.id).await?;
        Ok(ApplicationCredential {
            id: row.id,
            name: row.name,
            user_id: row.user_id,
            project_id: row.project_id,
            description: row.description,
            expires_at: row.expires_at,
            unrestricted: row.unrestricted != 0,
            access_rules,
            roles,
        })
    }

    /// Creates a credential for the caller's own project; returns it with its secret, which is
    /// shown this once and stored only as a hash.
    pub async fn create_app_cred(
        &self,
        caller: &AuthContext,
        user_id: &str,
        input: ApplicationCredentialInput,
    ) -> Result<(ApplicationCredential, String)> {
        self.enforce(
            "identity:create_application_credential",
            caller,
            &Target::new().with("target.user_id", user_id),
        )?;
        let name = check_name("application_credential.name", Some(&input.name))?;
        let access_rules = self.resolve_access_rules(user_id, input.access_rules.as_deref().unwrap_or_default()).await?;
        if caller.application_credential_id.is_some() {
            return Err(IdentityError::Denied(
                "An application credential cannot create another.".into(),
            ));
        }
        let project_id = caller.project_id().ok_or_else(|| {
            IdentityError::Denied("Application credentials are created with a project-scoped token.".into())
        })?;
        let expires_at = match &input.expires_at {
            Some(s) => Some(parse_time(s).ok_or_else(|| {
                IdentityError::Validation(format!(
                    "Invalid input for field 'application_credential.expires_at': '{s}' is not a time."
                ))
            })?),
            None => None,
        };
        if expires_at.is_some_and(|e| e <= stratus_store::now_micros()) {
            return Err(IdentityError::Validation(
                "Invalid input for field 'application_credential.expires_at': the time has passed.".into(),
            ));
        }
        // The delegated roles must be roles the caller holds in this token.
        let roles: Vec<RoleRef> = match &input.roles {
            None => caller.roles.clone(),
            Some(sel) if sel.is_empty() => caller.roles.clone(),
            Some(sel) => {
                let mut out = vec![];
                for s in sel {
                    let found = caller
                        .roles
                        .iter()
                        .find(|r| s.id.as_deref() == Some(&r.id) || s.name.as_deref() == Some(&r.name));
                    match found {
                        Some(r) => out.push(r.clone()),
                        None => {
                            return Err(IdentityError::Denied(format!(
                                "You cannot delegate role {} which you do not hold on this project.",
                                s.id.as_deref().or(s.name.as_deref()).unwrap_or("?")
                            )))
                        }
                    }
                }
                out
            }
        };
        let secret = match input.secret {
            Some(s) if s.is_empty() => {
                return Err(IdentityError::Validation(
                    "Invalid input for field 'application_credential.secret': must not be empty.".into(),
                ))
            }
            Some(s) => s,
            None => base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode([rand::random::<[u8; 32]>(), rand::random::<[u8; 32]>()].concat()),
        };
        let row = AppCredRow {
            id: new_id(),
            name: name.clone(),
            user_id: user_id.to_owned(),
            project_id: project_id.to_owned(),
            secret_hash: self.hash_secret(&secret).await?,
            description: input.description,
            expires_at,
            unrestricted: input.unrestricted.unwrap_or(false) as i64,
            roles: serde_json::to_string(&roles.iter().map(|r| &r.id).collect::<Vec<_>>())
                .unwrap_or_else(|_| "[]".into()),
        };
        store::insert_app_cred(self.db(), &row).await.map_err(on_conflict(|| {
            format!("Duplicate entry: an application credential named '{name}' exists.")
        }))?;
        // The credential and its rules are two writes: a credential whose rules could not be
        // linked is removed, so that it never exists unrestricted.
        if let Err(e) = store::link_access_rules(self.db(), &row.id, user_id, &access_rules).await {
            store::delete(self.db(), "application_credentials", &row.id).await?;
            return Err(e.into());
        }
        self.changed();
        Ok((self.app_cred_view(row).await?, secret))
    }

    pub async fn list_app_creds(
        &self,
        caller: &AuthContext,
        user_id: &str,
        name: Option<&str>,
    ) -> Result<Vec<ApplicationCredential>> {
        self.enforce(
            "identity:list_application_credentials",
            caller,
            &Target::new().with("target.user_id", user_id),
        )?;
        let mut out = vec![];
        for row in store::list_app_creds(self.db(), user_id, name).await? {
            out.push(self.app_cred_view(row).await?);
        }
        Ok(out)
    }

    pub async fn get_app_cred(&self, caller: &AuthContext, user_id: &str, id: &str) -> Result<ApplicationCredential> {
        self.enforce(
            "identity:get_application_credential",
            caller,
            &Target::new().with("target.user_id", user_id),
        )?;
        let row = store::get_app_cred(self.db(), id)
            .await?
            .filter(|r| r.user_id == user_id);
        self.app_cred_view(row.ok_or_else(|| IdentityError::not_found("application credential", id))?)
            .await
    }

    pub async fn delete_app_cred(&self, caller: &AuthContext, user_id: &str, id: &str) -> Result<()> {
        self.enforce(
            "identity:delete_application_credential",
            caller,
            &Target::new().with("target.user_id", user_id),
        )?;
        let row = store::get_app_cred(self.db(), id)
            .await?
            .filter(|r| r.user_id == user_id);
        row.ok_or_else(|| IdentityError::not_found("application credential", id))?;
        store::delete(self.db(), "application_credentials", id).await?;
        self.changed();
        Ok(())
    }
}
