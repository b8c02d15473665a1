//! Trusts (OS-TRUST): a trustor delegates some of their roles on a project to a trustee, who
//! then gets trust-scoped tokens carrying those roles, as the trustor (impersonation) or as
//! themselves. A trust may expire, may be used a limited number of times, and may allow its
//! trustee to redelegate it further.
//!
//! What a trust-scoped token holds is decided when it is validated: the trust's roles that the
//! trustor still holds on the project, so that a role the trustor loses is lost by the trust.

use serde::Deserialize;
use stratus_api::{AuthContext, Target};
use stratus_store::now_micros;

use crate::error::{IdentityError, Result};
use crate::model::{Role, TargetKind, Trust};
use crate::store;
use crate::{new_id, IdentityService};

/// How deep a trust may be redelegated (Keystone's `[trust] max_redelegation_count`).
const MAX_REDELEGATION: i64 = 3;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustRoleRef {
    pub id: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TrustInput {
    pub trustor_user_id: Option<String>,
    pub trustee_user_id: Option<String>,
    pub project_id: Option<String>,
    #[serde(default)]
    pub roles: Vec<TrustRoleRef>,
    pub impersonation: Option<bool>,
    pub expires_at: Option<String>,
    pub remaining_uses: Option<i64>,
    pub allow_redelegation: Option<bool>,
    pub redelegation_count: Option<i64>,
    #[serde(flatten)]
    pub extra: crate::model::Extra,
}

fn required<T>(v: Option<T>, field: &str) -> Result<T> {
    v.ok_or_else(|| IdentityError::Validation(format!("Invalid input for field 'trust.{field}': the field is required.")))
}

impl IdentityService {
    async fn trust_role(&self, r: &TrustRoleRef) -> Result<Role> {
        let found = match (&r.id, &r.name) {
            (Some(id), None) => store::get_role(self.db(), id).await?,
            (None, Some(name)) => store::get_role_by_name(self.db(), name).await?,
            _ => {
                return Err(IdentityError::Validation(
                    "Invalid input for field 'trust.roles': each role gives exactly one of id or name.".into(),
                ))
            }
        };
        found.ok_or_else(|| IdentityError::not_found("role", r.id.clone().or(r.name.clone()).unwrap_or_default()))
    }

    pub async fn create_trust(&self, caller: &AuthContext, input: TrustInput) -> Result<Trust> {
        let trustor = required(input.trustor_user_id.clone(), "trustor_user_id")?;
        let trustee = required(input.trustee_user_id.clone(), "trustee_user_id")?;
        let impersonation = required(input.impersonation, "impersonation")?;
        self.enforce(
            "identity:create_trust",
            caller,
            &Target::new().with("target.trust.trustor_user_id", trustor.as_str()),
        )?;
        if caller.application_credential_id.is_some() || caller.methods.iter().any(|m| m == "oauth1" || m == "ec2credential") {
            return Err(IdentityError::Denied("Delegated tokens cannot manage trusts.".into()));
        }
        if input.project_id.is_some() && input.roles.is_empty() {
            return Err(IdentityError::Denied("At least one role should be specified.".into()));
        }
        if caller.user_id != trustor {
            return Err(IdentityError::Denied("The authenticated user should match the trustor.".into()));
        }
        store::get_user(self.db(), &trustee)
            .await?
            .ok_or_else(|| IdentityError::not_found("user", &trustee))?;
        if let Some(n) = input.remaining_uses {
            if n <= 0 {
                return Err(IdentityError::Validation(
                    "Invalid input for field 'trust.remaining_uses': it must be a positive integer.".into(),
                ));
            }
        }
        let mut expires_at = match input.expires_at.as_deref() {
            None => None,
            Some(t) => Some(crate::parse_time(t).ok_or_else(|| {
                IdentityError::Validation(format!("Invalid input for field 'trust.expires_at': '{t}' is not a time."))
            })?),
        };
        if expires_at.is_some_and(|e| e <= now_micros()) {
            return Err(IdentityError::Validation(
                "Invalid input for field 'trust.expires_at': the time has passed.".into(),
            ));
        }
        let mut roles = Vec::new();
        for r in &input.roles {
            let role = self.trust_role(r).await?;
            if !roles.iter().any(|x: &Role| x.id == role.id) {
                roles.push(role);
            }
        }
        if let Some(p) = &input.project_id {
            store::get_project(self.db(), p)
                .await?
                .ok_or_else(|| IdentityError::not_found("project", p))?;
            let held = self.effective_roles_with_domain_roles(&trustor, TargetKind::Project, p).await?;
            if let Some(missing) = roles.iter().find(|r| !held.iter().any(|h| h.id == r.id)) {
                return Err(IdentityError::not_found("role", &missing.id));
            }
        }
        // Redelegation: a trust made with a trust-scoped token continues that trust.
        let allow = input.allow_redelegation.unwrap_or(false);
        let mut redelegated_trust_id = None;
        let mut count = if allow {
            let n = input.redelegation_count.unwrap_or(MAX_REDELEGATION);
            if n > MAX_REDELEGATION {
                return Err(IdentityError::Denied(format!(
                    "Requested redelegation depth of {n} is greater than allowed {MAX_REDELEGATION}."
                )));
            }
            if input.remaining_uses.is_some() && n != 0 {
                return Err(IdentityError::Validation(
                    "Invalid input for field 'trust.remaining_uses': a redelegatable trust cannot limit its uses.".into(),
                ));
            }
            n
        } else {
            0
        };
        if let Some(parent_id) = &caller.trust_id {
            let parent = store::get_trust(self.db(), parent_id)
                .await?
                .ok_or_else(|| IdentityError::not_found("trust", parent_id))?;
            if parent.redelegation_count <= 0 {
                return Err(IdentityError::Denied("This trust cannot be redelegated.".into()));
            }
            if roles.iter().any(|r| !parent.role_ids.contains(&r.id)) {
                return Err(IdentityError::Denied("A redelegated trust may only hold roles of the trust it comes from.".into()));
            }
            if impersonation && !parent.impersonation {
                return Err(IdentityError::Denied("Impersonation is not allowed: the trust it comes from has none.".into()));
            }
            match (expires_at, parent.expires_at) {
                (None, p) => expires_at = p,
                (Some(e), Some(p)) if e > p => {
                    return Err(IdentityError::Denied("A redelegated trust cannot outlive the trust it comes from.".into()))
                }
                _ => {}
            }
            count = parent.redelegation_count - 1;
            redelegated_trust_id = Some(parent.id);
        }
        let t = Trust {
            id: new_id(),
            trustor_user_id: trustor,
            trustee_user_id: trustee,
            project_id: input.project_id,
            impersonation,
            expires_at,
            remaining_uses: input.remaining_uses,
            redelegated_trust_id,
            redelegation_count: count,
            role_ids: roles.iter().map(|r| r.id.clone()).collect(),
            extra: super::new_extras(input.extra),
        };
        store::insert_trust(self.db(), &t).await?;
        Ok(t)
    }

    /// A trust that still stands: not deleted, not expired, not used up. Anything else is the
    /// trust not found, as Keystone answers it.
    pub(crate) async fn live_trust(&self, id: &str) -> Result<Trust> {
        match store::get_trust(self.db(), id).await? {
            Some(t) if t.expires_at.is_none_or(|e| e > now_micros()) && t.remaining_uses.is_none_or(|n| n > 0) => Ok(t),
            _ => Err(IdentityError::not_found("trust", id)),
        }
    }

    fn trust_target(t: &Trust) -> Target {
        Target::new()
            .with("target.trust.trustor_user_id", t.trustor_user_id.as_str())
            .with("target.trust.trustee_user_id", t.trustee_user_id.as_str())
    }

    pub async fn get_trust(&self, caller: &AuthContext, id: &str) -> Result<Trust> {
        let t = self.live_trust(id).await?;
        self.enforce("identity:get_trust", caller, &Self::trust_target(&t))?;
        Ok(t)
    }

    /// All trusts (administrators), or a trustor's or a trustee's.
    pub async fn list_trusts(&self, caller: &AuthContext, trustor: Option<&str>, trustee: Option<&str>) -> Result<Vec<Trust>> {
        match (trustor, trustee) {
            (Some(u), _) => self.enforce(
                "identity:list_trusts_for_trustor",
                caller,
                &Target::new().with("target.trust.trustor_user_id", u),
            )?,
            (None, Some(u)) => self.enforce(
                "identity:list_trusts_for_trustee",
                caller,
                &Target::new().with("target.trust.trustee_user_id", u),
            )?,
            (None, None) => self.enforce("identity:list_trusts", caller, &Target::new())?,
        }
        let now = now_micros();
        Ok(store::list_trusts(self.db(), trustor, trustee)
            .await?
            .into_iter()
            .filter(|t| t.expires_at.is_none_or(|e| e > now) && t.remaining_uses.is_none_or(|n| n > 0))
            .collect())
    }

    /// Deletes a trust (and those redelegated from it); the tokens it gave are revoked.
    pub async fn delete_trust(&self, caller: &AuthContext, id: &str) -> Result<()> {
        let t = self.live_trust(id).await?;
        self.enforce("identity:delete_trust", caller, &Self::trust_target(&t))?;
        for gone in store::delete_trust_tree(self.db(), id).await? {
            self.revoke_trust(&gone).await?;
        }
        Ok(())
    }

    /// The roles a trust delegates.
    pub async fn trust_roles(&self, caller: &AuthContext, id: &str) -> Result<(Trust, Vec<Role>)> {
        let t = self.live_trust(id).await?;
        self.enforce("identity:list_roles_for_trust", caller, &Self::trust_target(&t))?;
        let mut roles = Vec::new();
        for r in &t.role_ids {
            if let Some(role) = store::get_role(self.db(), r).await? {
                roles.push(role);
            }
        }
        Ok((t, roles))
    }

    /// The user a trust-scoped token is for, after checking the caller is the trustee and
    /// taking one of the trust's uses.
    pub(crate) async fn use_trust(&self, trust_id: &str, user_id: &str) -> Result<Trust> {
        let t = self
            .live_trust(trust_id)
            .await
            .map_err(|_| IdentityError::Unauthenticated(format!("Could not find trust: {trust_id}.")))?;
        if t.trustee_user_id != user_id {
            return Err(IdentityError::Denied("User is not a trustee.".into()));
        }
        let trustor = store::get_user(self.db(), &t.trustor_user_id)
            .await?
            .ok_or_else(|| IdentityError::Denied("The trustor of the trust is gone.".into()))?;
        if !trustor.enabled {
            return Err(IdentityError::Denied("The trustor is disabled.".into()));
        }
        if !store::consume_trust_use(self.db(), &t.id).await? {
            return Err(IdentityError::Unauthenticated(format!("Could not find trust: {trust_id}.")));
        }
        Ok(t)
    }
}
