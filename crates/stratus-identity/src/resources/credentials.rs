//! Credentials (`/v3/credentials`): opaque blobs a user keeps in Identity, encrypted at rest
//! with the credential keys; and OS-EC2's, a kind of them whose blob holds an access key and a
//! secret that sign EC2-style requests (`/v3/ec2tokens` turns a signed request into a token).
//!
//! An EC2 credential's id is the SHA-256 of its access key, as in Keystone, so both APIs see
//! the same credential. A token that was itself delegated (from a trust, an OAuth access
//! token, an application credential or an EC2 credential) cannot make or change credentials.

use sha2::{Digest, Sha256};
use stratus_api::{AuthContext, Target};

use crate::error::{IdentityError, Result};
use crate::model::Extra;
use crate::store::{self, CredentialRow};
use crate::{new_id, IdentityService};

/// A credential as the API shows it: the blob decrypted.
#[derive(Debug, Clone, PartialEq)]
pub struct Credential {
    pub id: String,
    pub user_id: String,
    pub project_id: Option<String>,
    pub cred_type: String,
    pub blob: String,
    pub extra: Extra,
}

/// What creating or changing a credential gives.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct CredentialInput {
    pub user_id: Option<String>,
    #[serde(rename = "type")]
    pub cred_type: Option<String>,
    pub blob: Option<String>,
    pub project_id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// An OS-EC2 credential.
#[derive(Debug, Clone, PartialEq)]
pub struct Ec2Credential {
    pub user_id: String,
    pub project_id: String,
    pub access: String,
    pub secret: String,
    pub trust_id: Option<String>,
}

/// The id of an EC2 credential: the SHA-256 of its access key, in hex.
pub(crate) fn ec2_id(access: &str) -> String {
    Sha256::digest(access.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn delegated(caller: &AuthContext) -> bool {
    caller.application_credential_id.is_some()
        || caller
            .methods
            .iter()
            .any(|m| m == "oauth1" || m == "ec2credential")
        || caller.trust_id.is_some()
}

fn refuse_delegated(caller: &AuthContext, what: &str) -> Result<()> {
    if delegated(caller) {
        return Err(IdentityError::Denied(format!(
            "A token delegated from a trust, an OAuth token, an application credential or an EC2 credential cannot {what}."
        )));
    }
    Ok(())
}

fn target(user_id: &str) -> Target {
    Target::new().with("target.credential.user_id", user_id)
}

impl IdentityService {
    fn open_credential(&self, row: CredentialRow) -> Result<Credential> {
        Ok(Credential {
            blob: self.open_secret(&row.encrypted_blob)?,
            id: row.id,
            user_id: row.user_id,
            project_id: row.project_id,
            cred_type: row.cred_type,
            extra: row.extra,
        })
    }

    pub async fn create_credential(&self, caller: &AuthContext, input: CredentialInput) -> Result<Credential> {
        let user_id = input.user_id.clone().ok_or_else(|| {
            IdentityError::Validation("Invalid input for field 'credential.user_id': the field is required.".into())
        })?;
        self.enforce("identity:create_credential", caller, &target(&user_id))?;
        refuse_delegated(caller, "make credentials")?;
        let cred_type = input.cred_type.clone().ok_or_else(|| {
            IdentityError::Validation("Invalid input for field 'credential.type': the field is required.".into())
        })?;
        let blob = input.blob.clone().ok_or_else(|| {
            IdentityError::Validation("Invalid input for field 'credential.blob': the field is required.".into())
        })?;
        super::check_len("credential.type", Some(&cred_type), 255)?;
        store::get_user(self.db(), &user_id)
            .await?
            .ok_or_else(|| IdentityError::not_found("user", &user_id))?;
        let id = if cred_type == "ec2" {
            let project = input.project_id.as_deref().ok_or_else(|| {
                IdentityError::Validation("Invalid input for field 'credential.project_id': an ec2 credential needs its project.".into())
            })?;
            store::get_project(self.db(), project)
                .await?
                .ok_or_else(|| IdentityError::not_found("project", project))?;
            let access = serde_json::from_str::<serde_json::Value>(&blob)
                .ok()
                .and_then(|v| v["access"].as_str().map(str::to_owned))
                .ok_or_else(|| {
                    IdentityError::Validation(
                        "Invalid input for field 'credential.blob': an ec2 blob is a JSON object with an 'access' key.".into(),
                    )
                })?;
            ec2_id(&access)
        } else {
            new_id()
        };
        let row = CredentialRow {
            id: id.clone(),
            user_id,
            project_id: input.project_id,
            cred_type,
            encrypted_blob: self.seal_secret(&blob),
            extra: super::new_extras(input.extra),
        };
        store::insert_credential(self.db(), &row)
            .await
            .map_err(crate::error::on_conflict(|| format!("Duplicate entry: credential {id} exists.")))?;
        self.open_credential(row)
    }

    async fn credential_row(&self, id: &str) -> Result<CredentialRow> {
        store::get_credential(self.db(), id)
            .await?
            .ok_or_else(|| IdentityError::not_found("credential", id))
    }

    pub async fn get_credential(&self, caller: &AuthContext, id: &str) -> Result<Credential> {
        let row = self.credential_row(id).await?;
        self.enforce("identity:get_credential", caller, &target(&row.user_id))?;
        self.open_credential(row)
    }

    /// The caller's credentials, or anyone's for those the policy lets read them all.
    pub async fn list_credentials(
        &self,
        caller: &AuthContext,
        user_id: Option<&str>,
        cred_type: Option<&str>,
    ) -> Result<Vec<Credential>> {
        let mut out = Vec::new();
        for row in store::list_credentials(self.db(), user_id, cred_type).await? {
            if self.enforce("identity:get_credential", caller, &target(&row.user_id)).is_ok() {
                out.push(self.open_credential(row)?);
            }
        }
        Ok(out)
    }

    /// Changes a credential's blob (and project, type, extra attributes). An EC2 credential
    /// keeps its id (made from its first access key) and its scope.
    pub async fn update_credential(&self, caller: &AuthContext, id: &str, input: CredentialInput) -> Result<Credential> {
        let mut row = self.credential_row(id).await?;
        self.enforce("identity:update_credential", caller, &target(&row.user_id))?;
        refuse_delegated(caller, "change credentials")?;
        if input.user_id.as_deref().is_some_and(|u| u != row.user_id) {
            return Err(IdentityError::Validation(
                "Invalid input for field 'credential.user_id': a credential cannot change owner.".into(),
            ));
        }
        if let Some(t) = input.cred_type {
            super::check_len("credential.type", Some(&t), 255)?;
            row.cred_type = t;
        }
        if let Some(p) = input.project_id {
            row.project_id = Some(p);
        }
        if let Some(blob) = input.blob {
            if row.cred_type == "ec2" {
                // As Keystone: an EC2 blob keeps its id, and the scope it was made in (trust,
                // application credential, OAuth token) cannot be changed or dropped.
                let new: serde_json::Value = serde_json::from_str(&blob).map_err(|_| {
                    IdentityError::Validation("Invalid input for field 'credential.blob': an ec2 blob is a JSON object.".into())
                })?;
                let old: serde_json::Value =
                    serde_json::from_str(&self.open_secret(&row.encrypted_blob)?).unwrap_or_default();
                for key in ["trust_id", "app_cred_id", "access_token_id", "access_id"] {
                    if old.get(key).filter(|v| !v.is_null()) != new.get(key).filter(|v| !v.is_null()) {
                        return Err(IdentityError::Validation(format!(
                            "Invalid input for field 'credential.blob': {key} can not be updated for credential."
                        )));
                    }
                }
            }
            row.encrypted_blob = self.seal_secret(&blob);
        }
        if let Some(v) = super::merged_extras("credential", id, &row.extra, input.extra)? {
            if let stratus_store::sql::Val::S(text) = v {
                row.extra = store::extra_of(&text);
            }
        }
        store::update_credential(self.db(), &row).await?;
        self.open_credential(row)
    }

    pub async fn delete_credential(&self, caller: &AuthContext, id: &str) -> Result<()> {
        let row = self.credential_row(id).await?;
        self.enforce("identity:delete_credential", caller, &target(&row.user_id))?;
        refuse_delegated(caller, "delete credentials")?;
        store::delete_credential(self.db(), id).await?;
        Ok(())
    }

    // ------------------------------------------------------------ OS-EC2

    fn ec2_of(&self, row: CredentialRow) -> Result<Ec2Credential> {
        let c = self.open_credential(row)?;
        let blob: serde_json::Value = serde_json::from_str(&c.blob).unwrap_or_default();
        Ok(Ec2Credential {
            user_id: c.user_id,
            project_id: c.project_id.unwrap_or_default(),
            access: blob["access"].as_str().unwrap_or_default().to_owned(),
            secret: blob["secret"].as_str().unwrap_or_default().to_owned(),
            trust_id: blob["trust_id"].as_str().map(str::to_owned),
        })
    }

    /// `POST /users/{u}/credentials/OS-EC2`: a new access key and secret for a project.
    pub async fn create_ec2(&self, caller: &AuthContext, user_id: &str, project_id: &str) -> Result<Ec2Credential> {
        self.enforce("identity:ec2_create_credential", caller, &target(user_id))?;
        refuse_delegated(caller, "make EC2 credentials")?;
        store::get_user(self.db(), user_id)
            .await?
            .ok_or_else(|| IdentityError::not_found("user", user_id))?;
        store::get_project(self.db(), project_id)
            .await?
            .ok_or_else(|| IdentityError::not_found("project", project_id))?;
        let access = new_id();
        let secret = new_id();
        let blob = serde_json::json!({"access": access, "secret": secret, "trust_id": null});
        let row = CredentialRow {
            id: ec2_id(&access),
            user_id: user_id.to_owned(),
            project_id: Some(project_id.to_owned()),
            cred_type: "ec2".into(),
            encrypted_blob: self.seal_secret(&blob.to_string()),
            extra: Default::default(),
        };
        store::insert_credential(self.db(), &row).await?;
        self.ec2_of(row)
    }

    pub async fn list_ec2(&self, caller: &AuthContext, user_id: &str) -> Result<Vec<Ec2Credential>> {
        self.enforce("identity:ec2_list_credentials", caller, &Target::new().with("target.user_id", user_id))?;
        store::get_user(self.db(), user_id)
            .await?
            .ok_or_else(|| IdentityError::not_found("user", user_id))?;
        store::list_credentials(self.db(), Some(user_id), Some("ec2"))
            .await?
            .into_iter()
            .map(|r| self.ec2_of(r))
            .collect()
    }

    async fn ec2_row(&self, user_id: &str, access: &str) -> Result<CredentialRow> {
        match store::get_credential(self.db(), &ec2_id(access)).await? {
            Some(r) if r.cred_type == "ec2" && r.user_id == user_id => Ok(r),
            _ => Err(IdentityError::not_found("EC2 credential", access)),
        }
    }

    pub async fn get_ec2(&self, caller: &AuthContext, user_id: &str, access: &str) -> Result<Ec2Credential> {
        let row = self.ec2_row(user_id, access).await?;
        self.enforce("identity:ec2_get_credential", caller, &target(&row.user_id))?;
        self.ec2_of(row)
    }

    pub async fn delete_ec2(&self, caller: &AuthContext, user_id: &str, access: &str) -> Result<()> {
        let row = self.ec2_row(user_id, access).await?;
        self.enforce("identity:ec2_delete_credential", caller, &target(&row.user_id))?;
        refuse_delegated(caller, "delete EC2 credentials")?;
        store::delete_credential(self.db(), &row.id).await?;
        Ok(())
    }

    /// The EC2 credential of an access key, for `/v3/ec2tokens`.
    pub(crate) async fn ec2_by_access(&self, access: &str) -> Result<Option<Ec2Credential>> {
        match store::get_credential(self.db(), &ec2_id(access)).await? {
            Some(r) if r.cred_type == "ec2" => Ok(Some(self.ec2_of(r)?)),
            _ => Ok(None),
        }
    }
}
