//! Identity's resources: validation, policy and orchestration over the store. Each write drops
//! this node's caches and records the revocations Keystone makes for it.

mod app_creds;
mod assignments;
mod catalog;
pub(crate) mod credentials;
mod domain_configs;
mod domains;
mod endpoint_filters;
mod limits;
pub mod oauth;
mod policies;
mod projects;
pub(crate) mod trusts;
mod users;

use stratus_api::pagination::PageRequest;
use stratus_api::{AuthContext, Target};

pub use assignments::{AssignmentFilter, Named};
pub use domain_configs::DomainConfig;
pub use endpoint_filters::EndpointGroupInput;
pub use limits::{LimitFilter, LimitInput, RegisteredLimitInput};
pub use policies::PolicyInput;
pub use credentials::{Credential, CredentialInput, Ec2Credential};
pub use oauth::{AccessToken, AuthorizeRole, Consumer, ConsumerInput, OAuthToken, SignedRequest};
pub use trusts::{TrustInput, TrustRoleRef};

use crate::error::{IdentityError, Result};
use crate::store;
use crate::IdentityService;

/// The filters list calls accept; each list uses the ones that apply to its resource.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub name: Option<String>,
    pub domain_id: Option<String>,
    pub enabled: Option<bool>,
    pub parent_id: Option<String>,
    pub service_type: Option<String>,
    pub interface: Option<String>,
    pub service_id: Option<String>,
    pub region_id: Option<String>,
    pub is_domain: Option<bool>,
}

/// Names are 1 to 255 characters, not all blank, as Keystone's schemas say.
pub(crate) fn check_name(field: &str, name: Option<&str>) -> Result<String> {
    match name {
        None => Err(IdentityError::Validation(format!(
            "Invalid input for field '{field}': the field is required."
        ))),
        Some(n) if n.trim().is_empty() => Err(IdentityError::Validation(format!(
            "Invalid input for field '{field}': must not be empty."
        ))),
        Some(n) if n.chars().count() > 255 => Err(IdentityError::Validation(format!(
            "Invalid input for field '{field}': longer than 255 characters."
        ))),
        Some(n) => Ok(n.to_owned()),
    }
}

/// Extra attributes of a new resource: an `id` among them is not kept (Keystone makes its
/// own id, and a stored `id` would shadow nothing but confuse readers).
pub(crate) fn new_extras(mut extra: crate::model::Extra) -> crate::model::Extra {
    extra.remove("id");
    extra
}

/// The extra attributes after an update: the keys sent replace the stored ones (a key sent as
/// null is kept as null, as Keystone does), the others stay. An `id` in an update must name
/// the resource being updated. None when nothing changes.
pub(crate) fn merged_extras(
    what: &str,
    id: &str,
    before: &crate::model::Extra,
    mut changes: crate::model::Extra,
) -> Result<Option<crate::store::Val>> {
    match changes.remove("id") {
        Some(serde_json::Value::String(given)) if given == id => {}
        None => {}
        Some(given) => {
            return Err(IdentityError::Validation(format!(
                "Invalid input for field '{what}.id': the id in the body ({given}) does not match the {what} being updated ({id})."
            )))
        }
    }
    if changes.is_empty() {
        return Ok(None);
    }
    let mut all = before.clone();
    all.extend(changes);
    Ok(Some(crate::store::Val::S(crate::store::extra_text(&all))))
}

/// Project and domain names: as [`check_name`], and at most 64 characters (Keystone's schema
/// for both, since a project can act as a domain).
pub(crate) fn check_short_name(field: &str, name: Option<&str>) -> Result<String> {
    let n = check_name(field, name)?;
    check_len(field, Some(&n), 64)?;
    Ok(n)
}

pub(crate) fn check_len(field: &str, v: Option<&str>, max: usize) -> Result<()> {
    match v {
        Some(s) if s.chars().count() > max => Err(IdentityError::Validation(format!(
            "Invalid input for field '{field}': longer than {max} characters."
        ))),
        _ => Ok(()),
    }
}

impl IdentityService {
    pub(crate) fn enforce(&self, action: &str, caller: &AuthContext, target: &Target) -> Result<()> {
        Ok(self.policy().enforce(action, caller, target)?)
    }

    /// A marker must name an existing row, or the page would silently be wrong.
    pub(crate) async fn check_marker(&self, table: &str, page: &PageRequest) -> Result<()> {
        if let Some(m) = &page.marker {
            if !store::exists(self.db(), table, m).await? {
                return Err(IdentityError::Validation(format!("Marker {m} could not be found.")));
            }
        }
        Ok(())
    }
}
