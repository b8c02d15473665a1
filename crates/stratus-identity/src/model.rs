//! Identity's resources as the service hands them out, and the inputs that create and change
//! them. Inputs type every field Keystone knows; where Keystone keeps attributes it does not
//! know (users, groups, projects, domains, roles, regions, services, endpoints), the input
//! gathers them in `extra` and the resource hands them back.

use serde::{Deserialize, Serialize};

/// Attributes Keystone does not know, kept as given and returned with the resource.
pub type Extra = serde_json::Map<String, serde_json::Value>;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Domain {
    pub id: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub parent_id: Option<String>,
    pub description: String,
    pub enabled: bool,
    pub tags: Vec<String>,
    /// A domain seen as a project (Keystone's `is_domain`): it has no domain and no parent.
    #[serde(skip)]
    pub is_domain: bool,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Project {
    /// A domain as the project API shows it.
    pub fn of_domain(d: Domain) -> Project {
        Project {
            id: d.id,
            name: d.name,
            domain_id: String::new(),
            parent_id: None,
            description: d.description,
            enabled: d.enabled,
            tags: vec![],
            is_domain: true,
            extra: d.extra,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct User {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub enabled: bool,
    pub default_project_id: Option<String>,
    pub description: Option<String>,
    pub email: Option<String>,
    /// When the password stops working (Unix microseconds); None when it does not expire.
    #[serde(skip)]
    pub password_expires_at: Option<i64>,
    /// Keystone's user options (`ignore_password_expiry`, `lock_password`, ...).
    #[serde(skip)]
    pub options: serde_json::Map<String, serde_json::Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub description: String,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub description: String,
    /// The domain owning a domain-specific role; None for a global role.
    pub domain_id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Region {
    pub id: String,
    pub description: String,
    pub parent_region_id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Service {
    pub id: String,
    #[serde(rename = "type")]
    pub service_type: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Endpoint {
    pub id: String,
    pub service_id: String,
    pub interface: String,
    pub region_id: Option<String>,
    pub url: String,
    pub enabled: bool,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ApplicationCredential {
    pub id: String,
    pub name: String,
    pub user_id: String,
    pub project_id: String,
    pub description: Option<String>,
    /// Unix microseconds.
    pub expires_at: Option<i64>,
    pub unrestricted: bool,
    pub roles: Vec<crate::RoleRef>,
    /// The requests its tokens may make; empty when they are not limited.
    pub access_rules: Vec<stratus_api::auth::AccessRule>,
}

/// A trust (OS-TRUST): the trustor lets the trustee act with some of the trustor's roles on a
/// project, as the trustor (impersonation) or as the trustee.
#[derive(Debug, Clone, PartialEq)]
pub struct Trust {
    pub id: String,
    pub trustor_user_id: String,
    pub trustee_user_id: String,
    pub project_id: Option<String>,
    pub impersonation: bool,
    /// Unix microseconds.
    pub expires_at: Option<i64>,
    pub remaining_uses: Option<i64>,
    pub redelegated_trust_id: Option<String>,
    pub redelegation_count: i64,
    pub role_ids: Vec<String>,
    pub extra: Extra,
}

/// Who holds a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActorKind {
    User,
    Group,
}

/// Where a role is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    Project,
    Domain,
    System,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::Group => "group",
        }
    }
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Project => "project",
            TargetKind::Domain => "domain",
            TargetKind::System => "system",
        }
    }
}

/// The target id of system assignments.
pub const SYSTEM_ALL: &str = "all";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub actor_kind: ActorKind,
    pub actor_id: String,
    pub target_kind: TargetKind,
    pub target_id: String,
    pub role_id: String,
    /// For effective listings: the group an assignment came through.
    pub via_group: Option<String>,
    /// A grant inherited by the projects under its target (OS-INHERIT), not held on it.
    pub inherited: bool,
    /// For effective listings: the inherited grant (its target) this assignment comes from.
    pub inherited_from: Option<(TargetKind, String)>,
}

impl Assignment {
    /// A grant of `role_id` to an actor on a target.
    pub fn new(
        actor_kind: ActorKind,
        actor_id: String,
        target_kind: TargetKind,
        target_id: String,
        role_id: String,
    ) -> Self {
        Assignment {
            actor_kind,
            actor_id,
            target_kind,
            target_id,
            role_id,
            via_group: None,
            inherited: false,
            inherited_from: None,
        }
    }
}

// ---------------------------------------------------------------- inputs

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DomainInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
    /// Accepted for compatibility; only `{}` is meaningful here.
    pub options: Option<serde_json::Map<String, serde_json::Value>>,
    pub tags: Option<Vec<String>>,
    pub explicit_domain_id: Option<String>,
    /// Everything else in the body (see [`Extra`]).
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProjectInput {
    pub name: Option<String>,
    pub domain_id: Option<String>,
    pub parent_id: Option<String>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
    pub is_domain: Option<bool>,
    pub tags: Option<Vec<String>>,
    pub options: Option<serde_json::Map<String, serde_json::Value>>,
    /// Everything else in the body (see [`Extra`]).
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct UserInput {
    pub name: Option<String>,
    pub domain_id: Option<String>,
    pub enabled: Option<bool>,
    pub password: Option<String>,
    pub default_project_id: Option<String>,
    pub description: Option<String>,
    pub email: Option<String>,
    pub options: Option<serde_json::Map<String, serde_json::Value>>,
    /// Everything else in the body (see [`Extra`]).
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct GroupInput {
    pub name: Option<String>,
    pub domain_id: Option<String>,
    pub description: Option<String>,
    /// Everything else in the body (see [`Extra`]).
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RoleInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub domain_id: Option<String>,
    pub options: Option<serde_json::Map<String, serde_json::Value>>,
    /// Everything else in the body (see [`Extra`]).
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RegionInput {
    pub id: Option<String>,
    pub description: Option<String>,
    pub parent_region_id: Option<String>,
    /// Everything else in the body (see [`Extra`]).
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ServiceInput {
    #[serde(rename = "type")]
    pub service_type: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
    /// Everything else in the body (see [`Extra`]).
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct EndpointInput {
    pub service_id: Option<String>,
    pub interface: Option<String>,
    pub region_id: Option<String>,
    /// Older clients send `region` for `region_id`.
    pub region: Option<String>,
    pub url: Option<String>,
    pub enabled: Option<bool>,
    /// Everything else in the body (see [`Extra`]).
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSelector {
    pub id: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationCredentialInput {
    pub name: String,
    pub secret: Option<String>,
    pub description: Option<String>,
    pub expires_at: Option<String>,
    pub roles: Option<Vec<RoleSelector>>,
    pub unrestricted: Option<bool>,
    pub access_rules: Option<Vec<AccessRuleInput>>,
}

/// An access rule as an application credential asks for it: an existing rule of the user by
/// id, or a (service, path, method) that reuses the user's rule for it or makes one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessRuleInput {
    pub id: Option<String>,
    pub service: Option<String>,
    pub path: Option<String>,
    pub method: Option<String>,
}

/// A policy blob kept for services that fetch their policy from Identity (`/v3/policies`).
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyBlob {
    pub id: String,
    pub policy_type: String,
    pub blob: String,
    pub extra: Extra,
}

/// An endpoint group (OS-EP-FILTER): the endpoints matching its filters (`service_id`,
/// `region_id`, `interface`), given to the projects associated with it.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointGroup {
    pub id: String,
    pub name: String,
    pub description: String,
    pub filters: serde_json::Map<String, serde_json::Value>,
}

impl EndpointGroup {
    /// Whether an endpoint matches every filter of the group.
    pub fn matches(&self, e: &Endpoint) -> bool {
        self.filters.iter().all(|(k, v)| {
            let want = v.as_str();
            match k.as_str() {
                "service_id" => want == Some(e.service_id.as_str()),
                "region_id" => want == e.region_id.as_deref(),
                "interface" => want == Some(e.interface.as_str()),
                _ => false,
            }
        })
    }
}

/// A registered limit: the default limit of a resource a service counts, in a region or all.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisteredLimit {
    pub id: String,
    pub service_id: String,
    pub region_id: Option<String>,
    pub resource_name: String,
    pub default_limit: i64,
    pub description: Option<String>,
}

/// A project's or a domain's own limit of a registered resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Limit {
    pub id: String,
    pub registered_limit_id: String,
    pub service_id: String,
    pub region_id: Option<String>,
    pub resource_name: String,
    pub project_id: Option<String>,
    pub domain_id: Option<String>,
    pub resource_limit: i64,
    pub description: Option<String>,
}
