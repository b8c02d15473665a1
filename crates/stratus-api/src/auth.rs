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
