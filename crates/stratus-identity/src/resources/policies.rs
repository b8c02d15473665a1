//! Policy blobs (`/v3/policies`): documents Identity keeps for the services that fetch their
//! policy from it. Identity stores and serves them; it does not read them.

use stratus_api::{AuthContext, Target};

use crate::error::{IdentityError, Result};
use crate::model::{Extra, PolicyBlob};
use crate::store;
use crate::{new_id, IdentityService};

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct PolicyInput {
    pub blob: Option<String>,
    #[serde(rename = "type")]
    pub policy_type: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl IdentityService {
    pub async fn create_policy(&self, caller: &AuthContext, input: PolicyInput) -> Result<PolicyBlob> {
        self.enforce("identity:create_policy", caller, &Target::new())?;
        let blob = input
            .blob
            .ok_or_else(|| IdentityError::Validation("Invalid input for field 'policy.blob': the field is required.".into()))?;
        let policy_type = input
            .policy_type
            .ok_or_else(|| IdentityError::Validation("Invalid input for field 'policy.type': the field is required.".into()))?;
        super::check_len("policy.type", Some(&policy_type), 255)?;
        let p = PolicyBlob { id: new_id(), policy_type, blob, extra: super::new_extras(input.extra) };
        store::insert_policy(self.db(), &p).await?;
        Ok(p)
    }

    async fn policy_row(&self, id: &str) -> Result<PolicyBlob> {
        store::get_policy(self.db(), id).await?.ok_or_else(|| IdentityError::not_found("policy", id))
    }

    pub async fn get_policy(&self, caller: &AuthContext, id: &str) -> Result<PolicyBlob> {
        self.enforce("identity:get_policy", caller, &Target::new())?;
        self.policy_row(id).await
    }

    pub async fn list_policies(&self, caller: &AuthContext, policy_type: Option<&str>) -> Result<Vec<PolicyBlob>> {
        self.enforce("identity:list_policies", caller, &Target::new())?;
        Ok(store::list_policies(self.db(), policy_type).await?)
    }

    pub async fn update_policy(&self, caller: &AuthContext, id: &str, input: PolicyInput) -> Result<PolicyBlob> {
        self.enforce("identity:update_policy", caller, &Target::new())?;
        if input.blob.is_none() && input.policy_type.is_none() && input.extra.is_empty() {
            return Err(IdentityError::Validation(
                "Invalid input for field 'policy': at least one attribute is required.".into(),
            ));
        }
        let mut p = self.policy_row(id).await?;
        if let Some(t) = input.policy_type {
            super::check_len("policy.type", Some(&t), 255)?;
            p.policy_type = t;
        }
        if let Some(b) = input.blob {
            p.blob = b;
        }
        if let Some(store::Val::S(text)) = super::merged_extras("policy", id, &p.extra, input.extra)? {
            p.extra = store::extra_of(&text);
        }
        store::update_policy(self.db(), &p).await?;
        Ok(p)
    }

    pub async fn delete_policy(&self, caller: &AuthContext, id: &str) -> Result<()> {
        self.enforce("identity:delete_policy", caller, &Target::new())?;
        if !store::delete_policy(self.db(), id).await? {
            return Err(IdentityError::not_found("policy", id));
        }
        Ok(())
    }
}
