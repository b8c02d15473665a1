//! The caller's identity as every service sees it, and the middleware that establishes it from
//! `X-Auth-Token`.
//!
//! Validation itself is behind [`TokenValidator`], so this crate never knows how tokens are made
//! or stored: Identity validates in-process, other services through whatever validator they are
//! given.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// What a token is scoped to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    Unscoped,
    Project {
        id: String,
        name: String,
        domain_id: String,
        domain_name: String,
    },
    Domain {
        id: String,
        name: String,
    },
    System,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleRef {
    pub id: String,
    pub name: String,
}

/// A request an application credential's tokens may make: the service (by type), the
/// method, and the path as that service sees it, where `*` stands for one segment and `**`
/// for any number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRule {
    pub id: String,
    pub service: String,
    pub path: String,
    pub method: String,
}

impl AccessRule {
    /// Whether this rule lets `method` on `path` of service `service` through.
    pub fn allows(&self, service: &str, method: &str, path: &str) -> bool {
        self.service == service && self.method.eq_ignore_ascii_case(method) && path_matches(&self.path, path)
    }
}

/// Matches a path against a rule's pattern, segment by segment.
fn path_matches(pattern: &str, path: &str) -> bool {
    fn go(p: &[&str], s: &[&str]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(&"**"), _) => (0..=s.len()).any(|i| go(&p[1..], &s[i..])),
            (Some(&"*"), Some(_)) => go(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &s[1..]),
            _ => false,
        }
    }
    let split = |x: &str| x.trim_end_matches('/').split('/').map(str::to_owned).collect::<Vec<_>>();
    let (p, s) = (split(pattern), split(path));
    let p: Vec<&str> = p.iter().map(String::as_str).collect();
    let s: Vec<&str> = s.iter().map(String::as_str).collect();
    go(&p, &s)
}

/// The authenticated caller of one request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthContext {
    pub user_id: String,
    pub user_name: String,
    pub user_domain_id: String,
    pub user_domain_name: String,
    pub scope: Scope,
    /// Effective roles in the scope, implied roles included.
    pub roles: Vec<RoleRef>,
    pub methods: Vec<String>,
    pub audit_ids: Vec<String>,
    /// Unix microseconds.
    pub issued_at: i64,
    pub expires_at: i64,
    pub application_credential_id: Option<String>,
    /// The trust the token was scoped with (OS-TRUST), if any.
    #[serde(default)]
    pub trust_id: Option<String>,
    /// The access rules of the application credential the token was made with; None (or
    /// empty) when its requests are not limited.
    #[serde(default)]
    pub access_rules: Option<Vec<AccessRule>>,
    /// The token itself, so that a service can call another with the caller's identity, as the
    /// seed's flow does.
    #[serde(skip)]
    pub token: String,
}

impl AuthContext {
    pub fn has_role(&self, name: &str) -> bool {
        self.roles.iter().any(|r| r.name == name)
    }
    pub fn project_id(&self) -> Option<&str> {
        match &self.scope {
            Scope::Project { id, .. } => Some(id),
            _ => None,
        }
    }
    pub fn domain_id(&self) -> Option<&str> {
        match &self.scope {
            Scope::Domain { id, .. } => Some(id),
            Scope::Project { domain_id, .. } => Some(domain_id),
            _ => None,
        }
    }
    pub fn is_system(&self) -> bool {
        self.scope == Scope::System
    }
}

/// Turns a token into the caller's context, or says why it cannot.
#[async_trait::async_trait]
pub trait TokenValidator: Send + Sync + 'static {
    async fn validate(&self, token: &str) -> Result<Arc<AuthContext>, ApiError>;
}

/// State of the auth middleware.
#[derive(Clone)]
pub struct AuthState {
    pub validator: Arc<dyn TokenValidator>,
    /// Where a client should authenticate, for `WWW-Authenticate: Keystone uri="..."`.
    pub identity_uri: Arc<str>,
    /// The service's catalog types, which access rules name (`compute`, `image`, ...);
    /// empty for Identity, whose own API access rules do not limit (as Keystone).
    pub service_types: &'static [&'static str],
    /// Where the service is mounted (`/compute`): access rules name paths below it, as a
    /// service behind its own endpoint sees them (`/v2.1/servers`).
    pub mount: &'static str,
}

#[derive(Clone)]
struct Challenge(Arc<str>);

fn challenge_value(uri: &str) -> String {
    format!("Keystone uri=\"{uri}\"")
}

/// Validates `X-Auth-Token` when present; a request without one goes on unauthenticated, and
/// handlers that need a caller say so with the [`Caller`] extractor.
pub async fn middleware(State(state): State<AuthState>, mut req: Request, next: Next) -> Response {
    req.extensions_mut().insert(Challenge(state.identity_uri.clone()));
    if let Some(raw) = req.headers().get("x-auth-token") {
        let token = match raw.to_str() {
            Ok(t) if !t.is_empty() => t.to_owned(),
            _ => {
                return unauthorized(
                    &state.identity_uri,
                    "The request you have made requires authentication.",
                )
            }
        };
        match state.validator.validate(&token).await {
            Ok(ctx) => {
                if let Some(rules) = ctx.access_rules.as_ref().filter(|r| !r.is_empty() && !state.service_types.is_empty()) {
                    let full = req
                        .extensions()
                        .get::<axum::extract::OriginalUri>()
                        .map(|u| u.0.path().to_owned())
                        .unwrap_or_else(|| req.uri().path().to_owned());
                    let path = full.strip_prefix(state.mount).unwrap_or(&full);
                    let method = req.method().as_str();
                    if !rules
                        .iter()
                        .any(|r| state.service_types.iter().any(|t| r.allows(t, method, path)))
                    {
                        return unauthorized(
                            &state.identity_uri,
                            "The application credential's access rules do not allow this request.",
                        );
                    }
                }
                req.extensions_mut().insert(ctx);
            }
            Err(mut e) => {
                if e.kind == crate::ErrorKind::Unauthorized {
                    e.www_authenticate = Some(challenge_value(&state.identity_uri));
                }
                return e.into_response();
            }
        }
    }
    next.run(req).await
}

fn unauthorized(uri: &str, msg: &str) -> Response {
    let mut e = ApiError::unauthorized(msg);
    e.www_authenticate = Some(challenge_value(uri));
    e.into_response()
}

/// Extracts the authenticated caller; 401 when the request carried no valid token.
#[derive(Debug, Clone)]
pub struct Caller(pub Arc<AuthContext>);

impl std::ops::Deref for Caller {
    type Target = AuthContext;
    fn deref(&self) -> &AuthContext {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(ctx) = parts.extensions.get::<Arc<AuthContext>>() {
            return Ok(Caller(ctx.clone()));
        }
        let mut e = ApiError::unauthorized("The request you have made requires authentication.");
        if let Some(Challenge(uri)) = parts.extensions.get::<Challenge>() {
            e.www_authenticate = Some(challenge_value(uri));
        }
        Err(e)
    }
}

#[cfg(test)]
mod access_rule_tests {
    use super::AccessRule;

    fn rule(path: &str) -> AccessRule {
        AccessRule { id: "r".into(), service: "compute".into(), path: path.into(), method: "GET".into() }
    }

    #[test]
    fn one_star_is_one_segment_and_two_are_any() {
        assert!(rule("/v2.1/servers/*/ips").allows("compute", "GET", "/v2.1/servers/abc/ips"));
        assert!(!rule("/v2.1/servers/*/ips").allows("compute", "GET", "/v2.1/servers/a/b/ips"));
        assert!(rule("/v2.1/**").allows("compute", "GET", "/v2.1/servers/a/b/ips"));
        assert!(rule("/v2.1/**").allows("compute", "GET", "/v2.1"));
        assert!(!rule("/v2.1/servers").allows("compute", "POST", "/v2.1/servers"));
        assert!(!rule("/v2.1/servers").allows("image", "GET", "/v2.1/servers"));
        assert!(rule("/v2.1/servers").allows("compute", "get", "/v2.1/servers/"));
    }
}
