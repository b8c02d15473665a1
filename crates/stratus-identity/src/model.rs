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
    #[serde(flatten)]
    pub extra: Extra,
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
    pub access_rules: Option<Vec<serde_json::Value>>,
}
