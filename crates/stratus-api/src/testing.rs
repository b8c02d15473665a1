//! Callers for service tests: an authenticated context with the given project and roles,
//! as Identity would produce it, without a token.

use crate::auth::{AuthContext, RoleRef, Scope};

/// A caller scoped to `project` (its id and name) holding `roles` (implied roles included,
/// as the caller must list them).
pub fn caller(project: &str, roles: &[&str]) -> AuthContext {
    AuthContext {
        user_id: format!("user-{project}"),
        user_name: format!("user-{project}"),
        user_domain_id: "default".into(),
        user_domain_name: "Default".into(),
        scope: Scope::Project {
            id: project.into(),
            name: project.into(),
            domain_id: "default".into(),
            domain_name: "Default".into(),
        },
        roles: roles
            .iter()
            .map(|r| RoleRef {
                id: r.to_string(),
                name: r.to_string(),
            })
            .collect(),
        methods: vec!["password".into()],
        audit_ids: vec![],
        issued_at: 0,
        expires_at: i64::MAX,
        application_credential_id: None,
        trust_id: None,
        access_rules: None,
        token: String::new(),
    }
}
