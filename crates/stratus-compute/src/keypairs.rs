//! Keypairs: a user's SSH public keys (or X.509 certificates), which guests find in their
//! metadata. Each belongs to a user, not a project; administrators may act for another user
//! (microversion 2.10). The key material itself is checked and made in [`crate::keys`].

use stratus_api::{AuthContext, Target};

use crate::db;
use crate::keys::{self, KeyType};
use crate::model::Keypair;
use crate::service::{ComputeError, ComputeService, Result};

fn not_found(name: &str) -> ComputeError {
    ComputeError::NotFound(format!("Keypair {name} not found for user"))
}

/// Nova's `KeyPairExists`.
fn exists(name: &str) -> ComputeError {
    ComputeError::Conflict(format!("Key pair '{name}' already exists."))
}

fn over_quota(limit: i64) -> ComputeError {
    ComputeError::OverQuota(format!("Quota exceeded, too many key pairs. The limit is {limit}."))
}

/// Generations running at once: each keeps a core busy for up to a second or two, and a burst
/// of requests must not starve the rest of the API.
static GENERATING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

fn invalid(reason: &str) -> ComputeError {
    ComputeError::Invalid(format!("Keypair data is invalid: {reason}."))
}

/// The characters Nova takes in a keypair name (microversion 2.92 added `.` and `@`; the
/// API refuses those two below it).
fn check_name(name: &str) -> Result<()> {
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || " _-.@".contains(c)) {
        return Err(invalid("Keypair name contains unsafe characters"));
    }
    if name.is_empty() || name.chars().count() > 255 {
        return Err(invalid(
            "Keypair name must be string and between 1 and 255 characters long",
        ));
    }
    if name.trim() != name {
        return Err(invalid("Keypair name must not begin or end with a space"));
    }
    Ok(())
}

/// A keypair to make: `public_key` imported as it is given, or (None) a new key generated.
#[derive(Debug, Clone, Copy)]
pub struct NewKeypair<'a> {
    pub name: &'a str,
    pub key_type: KeyType,
    pub public_key: Option<&'a str>,
    /// Another user's (administrators, microversion 2.10).
    pub user_id: Option<&'a str>,
}

/// A keypair just made, with the private key when it was generated here: handed to the
/// caller once, never stored.
#[derive(Debug, Clone)]
pub struct CreatedKeypair {
    pub keypair: Keypair,
    pub private_key: Option<String>,
}

impl ComputeService {
    /// Whose keypairs a request is about: the caller's own, or (administrators only) another
    /// user's.
    fn key_owner(&self, action: &str, caller: &AuthContext, user_id: Option<&str>) -> Result<String> {
        let owner = user_id.unwrap_or(&caller.user_id).to_owned();
        self.enforce(action, caller, &Target::new().with("user_id", &owner))?;
        Ok(owner)
    }

    /// Imports a public key, or generates a keypair as Nova does (an RSA key for `ssh`, a
    /// self-signed certificate for `x509`). The public key is stored exactly as given.
    pub async fn create_keypair(&self, caller: &AuthContext, req: NewKeypair<'_>) -> Result<CreatedKeypair> {
        let owner = self.key_owner("os_compute_api:os-keypairs:create", caller, req.user_id)?;
        check_name(req.name)?;
        let limit = match caller.project_id() {
            Some(p) => self.compute_limits(p).await?.get("key_pairs"),
            None => self.config().quota_key_pairs,
        };
        let (public_key, fingerprint, private_key) = match req.public_key {
            Some(pk) => {
                let fp = keys::fingerprint(req.key_type, pk).map_err(|keys::Refused(r)| invalid(&r))?;
                (pk.to_owned(), fp, None)
            }
            None => {
                // Making an RSA key takes a while: say a taken name or a full quota before
                // spending it (the insert checks both again, under the user's lock).
                if db::get_keypair(self.db(), &owner, req.name).await?.is_some() {
                    return Err(exists(req.name));
                }
                if limit >= 0 && db::count_keypairs(self.db(), &owner).await? >= limit {
                    return Err(over_quota(limit));
                }
                let _turn = GENERATING
                    .acquire()
                    .await
                    .map_err(|e| keys::KeyGenError::new(format!("waiting to generate: {e}")))?;
                let kind = req.key_type;
                let user = owner.clone();
                let g = tokio::task::spawn_blocking(move || match kind {
                    KeyType::Ssh => keys::generate_ssh(),
                    KeyType::X509 => keys::generate_x509(&user),
                })
                .await
                .map_err(|e| keys::KeyGenError::new(format!("the generating task: {e}")))??;
                (g.public_key, g.fingerprint, Some(g.private_key))
            }
        };
        let k = Keypair {
            id: i64::from(uuid::Uuid::new_v4().as_u128() as u32 >> 1),
            user_id: owner,
            name: req.name.to_owned(),
            key_type: req.key_type.as_str().into(),
            public_key,
            fingerprint,
            created_at: stratus_store::now_micros(),
        };
        match db::insert_keypair(self.db(), &k, limit).await {
            Ok(true) => Ok(CreatedKeypair {
                keypair: k,
                private_key,
            }),
            Ok(false) => Err(over_quota(limit)),
            Err(stratus_store::StoreError::Conflict(_)) => Err(exists(req.name)),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn get_keypair(&self, caller: &AuthContext, name: &str, user_id: Option<&str>) -> Result<Keypair> {
        let owner = self.key_owner("os_compute_api:os-keypairs:show", caller, user_id)?;
        db::get_keypair(self.db(), &owner, name)
            .await?
            .ok_or_else(|| not_found(name))
    }

    /// One more than `limit`, so the caller knows whether there is a next page.
    pub async fn list_keypairs(
        &self,
        caller: &AuthContext,
        user_id: Option<&str>,
        marker: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Vec<Keypair>> {
        let owner = self.key_owner("os_compute_api:os-keypairs:index", caller, user_id)?;
        if let Some(m) = marker {
            if db::get_keypair(self.db(), &owner, m).await?.is_none() {
                return Err(ComputeError::Invalid(format!("marker [{m}] not found")));
            }
        }
        Ok(db::list_keypairs(self.db(), &owner, marker, limit).await?)
    }

    pub async fn delete_keypair(&self, caller: &AuthContext, name: &str, user_id: Option<&str>) -> Result<()> {
        let owner = self.key_owner("os_compute_api:os-keypairs:delete", caller, user_id)?;
        if !db::delete_keypair(self.db(), &owner, name).await? {
            return Err(not_found(name));
        }
        Ok(())
    }
}
