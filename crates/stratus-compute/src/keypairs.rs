//! Keypairs: a user's SSH public keys, which guests find in their metadata. Each belongs to
//! a user, not a project; administrators may act for another user (microversion 2.10).

use md5::{Digest, Md5};
use stratus_api::{AuthContext, Target};

use crate::db;
use crate::model::Keypair;
use crate::service::{ComputeError, ComputeService, Result};

fn not_found(name: &str) -> ComputeError {
    ComputeError::NotFound(format!("Keypair {name} not found for user"))
}

/// Nova's fingerprint: the MD5 of the key's wire form, as colon-separated hex.
fn fingerprint(public_key: &str) -> Result<(String, String)> {
    let key = ssh_key::PublicKey::from_openssh(public_key.trim()).map_err(|e| {
        ComputeError::Invalid(format!(
            "Keypair data is invalid: failed to parse the public key ({e})."
        ))
    })?;
    let blob = key
        .to_bytes()
        .map_err(|e| ComputeError::Invalid(format!("Keypair data is invalid: {e}.")))?;
    let digest = Md5::digest(&blob);
    let fp = digest.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
    Ok((fp, key.to_openssh().unwrap_or_else(|_| public_key.trim().to_owned())))
}

impl ComputeService {
    /// Whose keypairs a request is about: the caller's own, or (administrators only) another
    /// user's.
    fn key_owner(&self, action: &str, caller: &AuthContext, user_id: Option<&str>) -> Result<String> {
        let owner = user_id.unwrap_or(&caller.user_id).to_owned();
        self.enforce(action, caller, &Target::new().with("user_id", &owner))?;
        Ok(owner)
    }

    pub async fn import_keypair(
        &self,
        caller: &AuthContext,
        name: &str,
        public_key: &str,
        key_type: Option<&str>,
        user_id: Option<&str>,
    ) -> Result<Keypair> {
        let owner = self.key_owner("os_compute_api:os-keypairs:create", caller, user_id)?;
        if name.is_empty()
            || name.chars().count() > 255
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || " _-.@".contains(c))
            || name.trim() != name
        {
            return Err(ComputeError::Invalid(
                "Keypair data is invalid: Keypair name must be string and between 1 and 255 characters long, \
                 of letters, digits, spaces, '-', '_', '.' and '@'."
                    .into(),
            ));
        }
        match key_type.unwrap_or("ssh") {
            "ssh" => {}
            "x509" => {
                return Err(ComputeError::Invalid(
                    "Keypair data is invalid: x509 keypairs are not supported by this cloud; use an SSH key.".into(),
                ))
            }
            other => {
                return Err(ComputeError::Invalid(format!(
                    "Invalid input for field/attribute type. Value: {other}. It must be one of ssh, x509."
                )))
            }
        }
        let (fp, _) = fingerprint(public_key)?;
        let k = Keypair {
            id: i64::from(uuid::Uuid::new_v4().as_u128() as u32 >> 1),
            user_id: owner,
            name: name.to_owned(),
            key_type: "ssh".into(),
            public_key: public_key.trim().to_owned(),
            fingerprint: fp,
            created_at: stratus_store::now_micros(),
        };
        let limit = match caller.project_id() {
            Some(p) => self.compute_limits(p).await?.get("key_pairs"),
            None => self.config().quota_key_pairs,
        };
        match db::insert_keypair(self.db(), &k, limit).await {
            Ok(true) => Ok(k),
            Ok(false) => Err(ComputeError::OverQuota(format!(
                "Quota exceeded, too many key pairs. The limit is {limit}."
            ))),
            Err(stratus_store::StoreError::Conflict(_)) => {
                Err(ComputeError::Conflict(format!("Key pair '{name}' already exists.")))
            }
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

#[cfg(test)]
mod tests {
    #[test]
    fn fingerprints_as_nova_shows_them() {
        // The expected values are what `ssh-keygen -l -E md5` printed for these keys.
        let ed = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMkX/D2GUQlJX7OBj+x6rmepYtcmzpQmAKI5RcHHxjKH test@stratus";
        assert_eq!(
            super::fingerprint(ed).expect("ed25519").0,
            "98:53:90:55:74:f7:86:02:42:36:d2:ba:26:74:31:ae"
        );
        let rsa = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCn5Nx+of50C+EbH9UUodw+Kr4DWZGoLuLkxldKVXVF+q3RERcsX4UTKWXj1XpF2WmMnAgHsR0HMqPp0rPmnO25F5g0JtcQabU6jO6Z4OhpoMoo4XtJ+IgwgVhqvzE1zuCr33CJI5Kghi1jL6ep+1YAPu3s4nd02IwEX3IiXRZacx7WVvYyHiKeQKZCX5aum+n2KIrKNxcICKj49vPU8ML+cBCPPqU7hvOTAIEW0Y+kX1rZD1dk+hg2Q8jqnzSfHwz9D+2DrHnfcfgfS1GEdAdbBNWJnGP1LFpQDLxEjsFq/IWZs/pfezxuo+u9uHVSJTqmffVx+yFqFhFB5r1mhDhv rsa@stratus";
        assert_eq!(
            super::fingerprint(rsa).expect("rsa").0,
            "cc:f2:d7:1b:77:69:80:3d:de:5a:5f:38:7d:95:9c:c0"
        );
        assert!(super::fingerprint("ssh-rsa not-base64").is_err());
        assert!(super::fingerprint("").is_err());
    }
}
