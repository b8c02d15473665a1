//! Authentication, token issue and validation, revocation, and the catalog.
//!
//! Validation is the call every service makes on every request, so what it reads (role graph,
//! catalog, revocation events, validated tokens) is cached per node. Writes on this node bump a
//! generation that drops the caches at once; other nodes re-read within `cache_ttl`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Deserialize;
use stratus_api::auth::{AuthContext, RoleRef, Scope};
use stratus_store::now_micros;

use crate::error::{IdentityError, Result};
use crate::model::{Domain, Project, TargetKind, User, SYSTEM_ALL};
use crate::store::{self, RevocationEvent};
use crate::token::{new_audit_id, TokenPayload, TokenScope};
use crate::{new_id, IdentityService};

// ---------------------------------------------------------------- request shapes

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthRequest {
    pub auth: AuthBody,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthBody {
    pub identity: IdentityReq,
    pub scope: Option<ScopeReq>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityReq {
    pub methods: Vec<String>,
    pub password: Option<PasswordReq>,
    pub token: Option<TokenReq>,
    pub application_credential: Option<AppCredReq>,
    /// OAuth 1.0a: the access token is in the request's signed Authorization header.
    pub oauth1: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordReq {
    pub user: UserReq,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserReq {
    pub id: Option<String>,
    pub name: Option<String>,
    pub domain: Option<NamedRef>,
    pub password: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedRef {
    pub id: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenReq {
    pub id: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppCredReq {
    pub id: Option<String>,
    pub name: Option<String>,
    pub user: Option<UserReq>,
    pub secret: String,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ScopeReq {
    /// `"unscoped"`.
    Word(String),
    Target(ScopeTarget),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeTarget {
    pub project: Option<ProjectRef>,
    pub domain: Option<NamedRef>,
    pub system: Option<SystemRef>,
    #[serde(rename = "OS-TRUST:trust")]
    pub trust: Option<TrustRef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustRef {
    pub id: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectRef {
    pub id: Option<String>,
    pub name: Option<String>,
    pub domain: Option<NamedRef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemRef {
    pub all: bool,
}

// ---------------------------------------------------------------- results

/// A validated token: the caller's context plus what the token response shows besides it.
#[derive(Debug, Clone)]
pub struct TokenData {
    pub ctx: Arc<AuthContext>,
    pub application_credential: Option<(String, String, bool)>,
    /// The trust of a trust-scoped token.
    pub trust: Option<crate::model::Trust>,
    /// The OAuth access token and its consumer, for a token made from one.
    pub oauth: Option<(String, String)>,
    /// When the user's password expires (Unix microseconds).
    pub password_expires_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub data: TokenData,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CatalogEndpoint {
    pub id: String,
    pub interface: String,
    pub region: Option<String>,
    pub region_id: Option<String>,
    pub url: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CatalogEntry {
    pub id: String,
    #[serde(rename = "type")]
    pub service_type: String,
    pub name: String,
    pub endpoints: Vec<CatalogEndpoint>,
}

// ---------------------------------------------------------------- caches

#[derive(Default)]
pub(crate) struct RevocationCache {
    events: Arc<Vec<RevocationEvent>>,
    loaded: Option<(Instant, u64)>,
}

struct RoleGraph {
    names: HashMap<String, String>,
    implies: HashMap<String, Vec<String>>,
    /// Domain-specific roles: they only bring the roles they imply, never appear themselves.
    domain_specific: HashSet<String>,
}

#[derive(Default)]
pub(crate) struct Caches {
    /// Bumped by every write on this node.
    generation: AtomicU64,
    tokens: Mutex<HashMap<String, (TokenData, Instant, u64)>>,
    roles: Mutex<Option<(Arc<RoleGraph>, Instant, u64)>>,
    catalog: Mutex<Option<(Arc<CatalogSnapshot>, Instant, u64)>>,
}

/// The catalog as the store holds it, and the endpoints each filtered project sees
/// (OS-EP-FILTER: its own endpoints and those of its endpoint groups).
pub(crate) struct CatalogSnapshot {
    entries: Vec<CatalogEntry>,
    filters: HashMap<String, HashSet<String>>,
}

const TOKEN_CACHE_MAX: usize = 50_000;

fn unauthenticated() -> IdentityError {
    IdentityError::Unauthenticated("The request you have made requires authentication.".into())
}

fn require_id_or_name(r: &NamedRef, field: &str) -> Result<()> {
    if r.id.is_none() && r.name.is_none() {
        return Err(IdentityError::Validation(format!(
            "Invalid input for field '{field}': an id or a name is required."
        )));
    }
    Ok(())
}

fn invalid_token() -> IdentityError {
    IdentityError::Unauthenticated("The token is invalid, expired or revoked.".into())
}

impl IdentityService {
    /// Drops this node's caches: called after every write.
    pub(crate) fn changed(&self) {
        self.inner.caches.generation.fetch_add(1, Ordering::SeqCst);
    }

    fn generation(&self) -> u64 {
        self.inner.caches.generation.load(Ordering::SeqCst)
    }

    fn fresh(&self, at: Instant, generation: u64) -> bool {
        generation == self.generation() && at.elapsed() < self.inner.cfg.cache_ttl
    }

    // ------------------------------------------------------------ passwords

    /// bcrypt on a blocking thread, a bounded number at once.
    pub(crate) async fn hash_secret(&self, secret: &str) -> Result<String> {
        let _permit = self
            .inner
            .hashes
            .acquire()
            .await
            .map_err(|e| IdentityError::internal("hash pool closed", e))?;
        let secret = secret.to_owned();
        let cost = self.inner.cfg.password_hash_rounds;
        tokio::task::spawn_blocking(move || bcrypt::hash(secret, cost))
            .await
            .map_err(|e| IdentityError::internal("hash task", e))?
            .map_err(|e| IdentityError::internal("hashing", e))
    }

    pub(crate) async fn verify_secret(&self, secret: &str, hash: &str) -> Result<bool> {
        let _permit = self
            .inner
            .hashes
            .acquire()
            .await
            .map_err(|e| IdentityError::internal("hash pool closed", e))?;
        let (secret, hash) = (secret.to_owned(), hash.to_owned());
        Ok(
            tokio::task::spawn_blocking(move || bcrypt::verify(secret, &hash).unwrap_or(false))
                .await
                .map_err(|e| IdentityError::internal("verify task", e))?,
        )
    }

    // ------------------------------------------------------------ roles

    async fn role_graph(&self) -> Result<Arc<RoleGraph>> {
        if let Ok(guard) = self.inner.caches.roles.lock() {
            if let Some((g, at, generation)) = guard.as_ref() {
                if self.fresh(*at, *generation) {
                    return Ok(g.clone());
                }
            }
        }
        let generation = self.generation();
        let roles = store::all_roles(self.db()).await?;
        let mut implies: HashMap<String, Vec<String>> = HashMap::new();
        for (prior, implied) in store::implied_roles(self.db()).await? {
            implies.entry(prior).or_default().push(implied);
        }
        let domain_specific = roles
            .iter()
            .filter(|r| r.domain_id.is_some())
            .map(|r| r.id.clone())
            .collect();
        let g = Arc::new(RoleGraph {
            names: roles.into_iter().map(|r| (r.id, r.name)).collect(),
            implies,
            domain_specific,
        });
        if let Ok(mut guard) = self.inner.caches.roles.lock() {
            *guard = Some((g.clone(), Instant::now(), generation));
        }
        Ok(g)
    }

    /// Role ids with every role they imply, transitively.
    pub(crate) async fn expand_implied(&self, ids: Vec<String>) -> Result<Vec<RoleRef>> {
        let g = self.role_graph().await?;
        let mut seen: HashSet<String> = HashSet::new();
        let mut stack = ids;
        let mut out = Vec::new();
        while let Some(id) = stack.pop() {
            if !seen.insert(id.clone()) {
                continue;
            }
            if let Some(next) = g.implies.get(&id) {
                stack.extend(next.iter().cloned());
            }
            if let Some(name) = g.names.get(&id) {
                out.push(RoleRef { id, name: name.clone() });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The user's effective roles on a target: direct, through groups, and implied.
    pub(crate) async fn effective_roles(
        &self,
        user_id: &str,
        kind: TargetKind,
        target_id: &str,
    ) -> Result<Vec<RoleRef>> {
        let g = self.role_graph().await?;
        let mut roles = self.effective_roles_with_domain_roles(user_id, kind, target_id).await?;
        roles.retain(|r| !g.domain_specific.contains(&r.id));
        Ok(roles)
    }

    /// As [`Self::effective_roles`], domain-specific roles kept (a trust may delegate them).
    pub(crate) async fn effective_roles_with_domain_roles(
        &self,
        user_id: &str,
        kind: TargetKind,
        target_id: &str,
    ) -> Result<Vec<RoleRef>> {
        let ids = store::direct_role_ids(self.db(), user_id, kind, target_id).await?;
        self.expand_implied(ids).await
    }

    /// Whether a user holds any role on the system.
    pub async fn has_system_role(&self, user_id: &str) -> Result<bool> {
        Ok(!self
            .effective_roles(user_id, TargetKind::System, SYSTEM_ALL)
            .await?
            .is_empty())
    }

    // ------------------------------------------------------------ authenticate

    pub async fn authenticate(&self, req: AuthRequest) -> Result<IssuedToken> {
        self.authenticate_signed(req, None).await
    }

    /// Authenticates; `signed` is the request as OAuth 1.0a signs it (method, URL and its
    /// Authorization header), for the `oauth1` method.
    pub async fn authenticate_signed(
        &self,
        req: AuthRequest,
        signed: Option<crate::resources::oauth::SignedRequest>,
    ) -> Result<IssuedToken> {
        let AuthBody { identity, scope } = req.auth;
        if identity.methods.is_empty() {
            return Err(IdentityError::Validation(
                "Invalid input for field 'auth.identity.methods': at least one method is required.".into(),
            ));
        }
        for m in &identity.methods {
            if !crate::token::METHODS.contains(&m.as_str()) {
                return Err(IdentityError::Unauthenticated(format!(
                    "Attempted to authenticate with an unsupported method: {m}."
                )));
            }
        }
        let has = |m: &str| identity.methods.iter().any(|x| x == m);
        let now = now_micros();
        let max_expiry = now + self.inner.cfg.token_expiration.as_micros() as i64;

        if has("oauth1") {
            let signed = signed.ok_or_else(|| {
                IdentityError::Validation("The oauth1 method needs a signed Authorization header.".into())
            })?;
            if scope.is_some() {
                return Err(IdentityError::Validation(
                    "Invalid input for field 'auth.scope': an OAuth access token is scoped to its project.".into(),
                ));
            }
            let (access, user) = self.oauth_access(&signed).await?;
            let payload = TokenPayload {
                user_id: user.id,
                methods: vec!["oauth1".into()],
                scope: TokenScope::Project(access.project_id.clone()),
                issued_at: now,
                expires_at: access.expires_at.min(max_expiry),
                audit_ids: vec![new_audit_id()],
                application_credential_id: None,
                trust_id: None,
                access_token_id: Some(access.id.clone()),
            };
            let data = self.token_data(&payload, None).await?;
            return Ok(IssuedToken {
                token: self.seal(&payload).await,
                data,
            });
        }

        if has("application_credential") {
            let ac = identity.application_credential.ok_or_else(|| {
                IdentityError::Validation(
                    "Invalid input for field 'auth.identity.application_credential': required by the method.".into(),
                )
            })?;
            if scope.is_some() {
                return Err(IdentityError::Unauthenticated(
                    "Application credentials cannot request a scope: they are scoped to their project.".into(),
                ));
            }
            return self.auth_app_cred(ac, now, max_expiry).await;
        }

        let (user, methods, expires_at, audit_chain) = if has("password") {
            let pw = identity.password.ok_or_else(|| {
                IdentityError::Validation(
                    "Invalid input for field 'auth.identity.password': required by the method.".into(),
                )
            })?;
            let user = self.auth_password(pw.user).await?;
            (user, vec!["password".to_owned()], max_expiry, None)
        } else {
            let t = identity.token.ok_or_else(|| {
                IdentityError::Validation(
                    "Invalid input for field 'auth.identity.token': required by the method.".into(),
                )
            })?;
            // Keystone answers a token it cannot use here as not found (404), not 401.
            let old = self
                .validate(&t.id)
                .await
                .map_err(|_| IdentityError::not_found("token", "the token given to the token method"))?;
            if old.ctx.application_credential_id.is_some() {
                return Err(IdentityError::Denied(
                    "A token made from an application credential cannot be rescoped.".into(),
                ));
            }
            if old.trust.is_some() || old.oauth.is_some() || old.ctx.methods.iter().any(|m| m == "ec2credential") {
                return Err(IdentityError::Denied(
                    "A token delegated from a trust, an OAuth token or an EC2 credential cannot be rescoped.".into(),
                ));
            }
            let user = store::get_user(self.db(), &old.ctx.user_id)
                .await?
                .ok_or_else(invalid_token)?;
            let mut methods = old.ctx.methods.clone();
            if !methods.iter().any(|m| m == "token") {
                methods.push("token".into());
            }
            let chain = old.ctx.audit_ids.last().cloned();
            (user, methods, old.ctx.expires_at, chain)
        };

        // A trust scope: the trustee acts on the trust's project, as the trustor when the
        // trust impersonates.
        if let Some(ScopeReq::Target(ScopeTarget { trust: Some(tr), .. })) = &scope {
            let ScopeReq::Target(t) = scope.as_ref().expect("matched above") else {
                unreachable!("matched above")
            };
            if t.project.is_some() || t.domain.is_some() || t.system.is_some() {
                return Err(IdentityError::Validation(
                    "Invalid input for field 'auth.scope': give exactly one of project, domain, system or OS-TRUST:trust."
                        .into(),
                ));
            }
            let trust = self.use_trust(&tr.id, &user.id).await?;
            let mut audit_ids = vec![new_audit_id()];
            audit_ids.extend(audit_chain);
            let payload = TokenPayload {
                user_id: if trust.impersonation {
                    trust.trustor_user_id.clone()
                } else {
                    user.id.clone()
                },
                methods,
                scope: match &trust.project_id {
                    Some(p) => TokenScope::Project(p.clone()),
                    None => TokenScope::Unscoped,
                },
                issued_at: now,
                expires_at: trust.expires_at.map_or(expires_at, |e| e.min(expires_at)),
                audit_ids,
                application_credential_id: None,
                trust_id: Some(trust.id.clone()),
                access_token_id: None,
            };
            let data = self.token_data(&payload, None).await?;
            return Ok(IssuedToken {
                token: self.seal(&payload).await,
                data,
            });
        }
        let scope = match scope {
            Some(s) => self.resolve_scope(s).await?,
            None => self.default_scope(&user).await?,
        };
        let mut audit_ids = vec![new_audit_id()];
        audit_ids.extend(audit_chain);
        let payload = TokenPayload {
            user_id: user.id.clone(),
            methods,
            scope,
            issued_at: now,
            expires_at,
            audit_ids,
            application_credential_id: None,
            trust_id: None,
            access_token_id: None,
        };
        let data = self.token_data(&payload, None).await?;
        Ok(IssuedToken {
            token: self.seal(&payload).await,
            data,
        })
    }

    async fn seal(&self, payload: &TokenPayload) -> String {
        self.inner.keys.read().await.encrypt(&payload.encode())
    }

    /// A domain by id, or else by name; `None` when neither is given or nothing matches.
    async fn domain_by_ref(&self, r: &NamedRef) -> Result<Option<Domain>> {
        Ok(match (&r.id, &r.name) {
            (Some(id), _) => store::get_domain(self.db(), id).await?,
            (None, Some(name)) => store::get_domain_by_name(self.db(), name).await?,
            (None, None) => None,
        })
    }

    async fn find_domain(&self, r: &NamedRef, field: &str) -> Result<Domain> {
        require_id_or_name(r, field)?;
        self.domain_by_ref(r).await?.ok_or_else(unauthenticated)
    }

    async fn find_user(&self, u: &UserReq, field: &str) -> Result<User> {
        let found = match (&u.id, &u.name) {
            (Some(id), _) => store::get_user(self.db(), id).await?,
            (None, Some(name)) => {
                let d = u.domain.as_ref().ok_or_else(|| {
                    IdentityError::Validation(format!(
                        "Invalid input for field '{field}.domain': a user given by name needs its domain."
                    ))
                })?;
                let domain = self.find_domain(d, &format!("{field}.domain")).await?;
                store::get_user_by_name(self.db(), &domain.id, name).await?
            }
            (None, None) => {
                return Err(IdentityError::Validation(format!(
                    "Invalid input for field '{field}': an id or a name is required."
                )))
            }
        };
        found.ok_or_else(unauthenticated)
    }

    /// Checks that the user and their domain are enabled; returns the domain.
    async fn check_user_enabled(&self, user: &User) -> Result<Domain> {
        if !user.enabled {
            return Err(IdentityError::Unauthenticated(format!(
                "The account is disabled for user: {}.",
                user.id
            )));
        }
        match store::get_domain(self.db(), &user.domain_id).await? {
            Some(d) if d.enabled => Ok(d),
            _ => Err(IdentityError::Unauthenticated(format!(
                "The domain of user {} is disabled.",
                user.id
            ))),
        }
    }

    async fn auth_password(&self, u: UserReq) -> Result<User> {
        let password = u.password.clone().ok_or_else(|| {
            IdentityError::Validation(
                "Invalid input for field 'auth.identity.password.user.password': required.".into(),
            )
        })?;
        let user = self.find_user(&u, "auth.identity.password.user").await?;
        let creds = store::get_credentials(self.db(), &user.id)
            .await?
            .ok_or_else(unauthenticated)?;
        let exempt = |o: &str| user.options.get(o).and_then(serde_json::Value::as_bool).unwrap_or(false);
        let lockout = self
            .inner
            .cfg
            .lockout_failure_attempts
            .filter(|_| !exempt("ignore_lockout_failure_attempts"));
        if let Some(limit) = lockout {
            let until = creds.failed_auth_at.unwrap_or(0) + self.inner.cfg.lockout_duration.as_micros() as i64;
            if creds.failed_auth_count >= limit as i64 && now_micros() < until {
                return Err(IdentityError::Unauthenticated(format!(
                    "The account is locked for user: {}.",
                    user.id
                )));
            }
        }
        let ok = match &creds.password_hash {
            Some(h) => self.verify_secret(&password, h).await?,
            None => false,
        };
        if lockout.is_some() || (ok && creds.failed_auth_count != 0) {
            store::record_auth_result(self.db(), &user.id, ok).await?;
        }
        if !ok {
            tracing::info!(user_id = %user.id, "password authentication failed");
            return Err(unauthenticated());
        }
        if creds.password_expires_at.is_some_and(|e| e <= now_micros()) && !exempt("ignore_password_expiry") {
            return Err(IdentityError::Unauthenticated(format!(
                "The password is expired and needs to be changed for user: {}.",
                user.id
            )));
        }
        self.check_user_enabled(&user).await?;
        Ok(user)
    }

    async fn auth_app_cred(&self, ac: AppCredReq, now: i64, max_expiry: i64) -> Result<IssuedToken> {
        let row = match (&ac.id, &ac.name) {
            (Some(id), _) => store::get_app_cred(self.db(), id).await?,
            (None, Some(name)) => {
                let u = ac.user.as_ref().ok_or_else(|| {
                    IdentityError::Validation(
                        "Invalid input for field 'auth.identity.application_credential.user': required with a name."
                            .into(),
                    )
                })?;
                let user = self.find_user(u, "auth.identity.application_credential.user").await?;
                store::get_app_cred_by_name(self.db(), &user.id, name).await?
            }
            (None, None) => {
                return Err(IdentityError::Validation(
                    "Invalid input for field 'auth.identity.application_credential': an id or a name is required."
                        .into(),
                ))
            }
        }
        .ok_or_else(unauthenticated)?;
        if row.expires_at.is_some_and(|e| e <= now) {
            return Err(IdentityError::Unauthenticated(
                "The application credential has expired.".into(),
            ));
        }
        if !self.verify_secret(&ac.secret, &row.secret_hash).await? {
            return Err(unauthenticated());
        }
        let user = store::get_user(self.db(), &row.user_id)
            .await?
            .ok_or_else(unauthenticated)?;
        self.check_user_enabled(&user).await?;
        let payload = TokenPayload {
            user_id: user.id,
            methods: vec!["application_credential".into()],
            scope: TokenScope::Project(row.project_id.clone()),
            issued_at: now,
            expires_at: row.expires_at.map_or(max_expiry, |e| e.min(max_expiry)),
            audit_ids: vec![new_audit_id()],
            application_credential_id: Some(row.id.clone()),
            trust_id: None,
            access_token_id: None,
        };
        let data = self.token_data(&payload, None).await?;
        Ok(IssuedToken {
            token: self.seal(&payload).await,
            data,
        })
    }

    /// `POST /v3/ec2tokens`: a request signed with an EC2 credential's secret becomes a token
    /// of the credential's user on its project (or of the trust the credential was made in).
    /// The signature is the proof, so no token is needed to ask.
    pub async fn authenticate_ec2(&self, req: crate::ec2sig::Ec2Request) -> Result<IssuedToken> {
        let access = req
            .access
            .clone()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| IdentityError::Unauthenticated("The EC2 request names no access key.".into()))?;
        let given = req
            .signature
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| IdentityError::Unauthenticated("The EC2 request carries no signature.".into()))?;
        let cred = self
            .ec2_by_access(&access)
            .await?
            .ok_or_else(|| IdentityError::not_found("EC2 access key", &access))?;
        // Some clients sign the host without its port; Keystone accepts either.
        let mut hosts = vec![req.host.clone()];
        if let Some((h, _)) = req.host.rsplit_once(':') {
            hosts.push(h.to_owned());
        }
        let signed = hosts.iter().any(|h| {
            req.expected_signature(&cred.secret, h)
                .is_some_and(|want| crate::ec2sig::same(&want, &given))
        });
        if !signed {
            return Err(IdentityError::Unauthenticated("The EC2 signature is not valid.".into()));
        }
        // A signed request is good for 15 minutes (Keystone's `[credential] auth_ttl`).
        if let Some(ts) = req.timestamp() {
            let when = crate::parse_time(&ts)
                .or_else(|| {
                    chrono::NaiveDateTime::parse_from_str(&ts, "%Y%m%dT%H%M%SZ")
                        .ok()
                        .map(|t| t.and_utc().timestamp_micros())
                })
                .ok_or_else(|| IdentityError::Unauthenticated(format!("The EC2 timestamp {ts} is not a time.")))?;
            if now_micros() - when > 15 * 60 * 1_000_000 {
                return Err(IdentityError::Unauthenticated("The EC2 request has expired.".into()));
            }
        }
        let now = now_micros();
        let trust = match &cred.trust_id {
            Some(t) => Some(
                store::get_trust(self.db(), t)
                    .await?
                    .ok_or_else(|| IdentityError::Unauthenticated("The EC2 credential's trust is gone.".into()))?,
            ),
            None => None,
        };
        let user_id = match &trust {
            Some(t) if t.impersonation => t.trustor_user_id.clone(),
            _ => cred.user_id.clone(),
        };
        let payload = TokenPayload {
            user_id,
            methods: vec!["ec2credential".into()],
            scope: TokenScope::Project(cred.project_id.clone()),
            issued_at: now,
            expires_at: now + self.inner.cfg.token_expiration.as_micros() as i64,
            audit_ids: vec![new_audit_id()],
            application_credential_id: None,
            trust_id: cred.trust_id.clone(),
            access_token_id: None,
        };
        let data = self.token_data(&payload, None).await?;
        Ok(IssuedToken {
            token: self.seal(&payload).await,
            data,
        })
    }

    async fn resolve_scope(&self, s: ScopeReq) -> Result<TokenScope> {
        let t = match s {
            ScopeReq::Word(w) if w == "unscoped" => return Ok(TokenScope::Unscoped),
            ScopeReq::Word(w) => {
                return Err(IdentityError::Validation(format!(
                    "Invalid input for field 'auth.scope': '{w}' is not a scope."
                )))
            }
            ScopeReq::Target(t) => t,
        };
        let given = [t.project.is_some(), t.domain.is_some(), t.system.is_some(), t.trust.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        if given != 1 {
            return Err(IdentityError::Validation(
                "Invalid input for field 'auth.scope': give exactly one of project, domain or system.".into(),
            ));
        }
        if let Some(p) = t.project {
            let project = match (&p.id, &p.name) {
                (Some(id), _) => store::get_project(self.db(), id).await?,
                (None, Some(name)) => {
                    let d = p.domain.as_ref().ok_or_else(|| {
                        IdentityError::Validation("Invalid input for field 'auth.scope.project.domain': a project given by name needs its domain.".into())
                    })?;
                    let domain = self
                        .domain_by_ref(d)
                        .await?
                        .ok_or_else(|| IdentityError::Unauthenticated("The scope's domain was not found.".into()))?;
                    store::get_project_by_name(self.db(), &domain.id, name).await?
                }
                (None, None) => {
                    return Err(IdentityError::Validation(
                        "Invalid input for field 'auth.scope.project': an id or a name is required.".into(),
                    ))
                }
            };
            let project = project
                .ok_or_else(|| IdentityError::Unauthenticated("The project to scope to was not found.".into()))?;
            return Ok(TokenScope::Project(project.id));
        }
        if let Some(d) = t.domain {
            require_id_or_name(&d, "auth.scope.domain")?;
            let domain = self
                .domain_by_ref(&d)
                .await?
                .ok_or_else(|| IdentityError::Unauthenticated("The domain to scope to was not found.".into()))?;
            return Ok(TokenScope::Domain(domain.id));
        }
        match t.system {
            Some(SystemRef { all: true }) => Ok(TokenScope::System),
            _ => Err(IdentityError::Validation(
                "Invalid input for field 'auth.scope.system.all': must be true.".into(),
            )),
        }
    }

    /// Keystone scopes a token to the user's default project when none is asked for and the user
    /// has a role there.
    async fn default_scope(&self, user: &User) -> Result<TokenScope> {
        if let Some(p) = &user.default_project_id {
            if store::get_project(self.db(), p).await?.is_some_and(|p| p.enabled)
                && !self.effective_roles(&user.id, TargetKind::Project, p).await?.is_empty()
            {
                return Ok(TokenScope::Project(p.clone()));
            }
        }
        Ok(TokenScope::Unscoped)
    }

    // ------------------------------------------------------------ validate

    /// Validates a token: signature and expiry, revocation, and that its user, scope and roles
    /// still stand. Errors are `Unauthenticated`.
    pub async fn validate(&self, token: &str) -> Result<TokenData> {
        if let Ok(cache) = self.inner.caches.tokens.lock() {
            if let Some((data, at, generation)) = cache.get(token) {
                if self.fresh(*at, *generation) && data.ctx.expires_at > now_micros() {
                    return Ok(data.clone());
                }
            }
        }
        let generation = self.generation();
        let bytes = self
            .inner
            .keys
            .read()
            .await
            .decrypt(token)
            .map_err(|_| invalid_token())?;
        let payload = TokenPayload::decode(&bytes).ok_or_else(invalid_token)?;
        if payload.expires_at <= now_micros() {
            return Err(IdentityError::Unauthenticated("The token has expired.".into()));
        }
        let mut data = self.token_data(&payload, Some(token)).await?;
        if self.is_revoked(&payload, &data.ctx).await? {
            return Err(IdentityError::Unauthenticated("The token has been revoked.".into()));
        }
        Arc::make_mut(&mut data.ctx).token = token.to_owned();
        if let Ok(mut cache) = self.inner.caches.tokens.lock() {
            if cache.len() >= TOKEN_CACHE_MAX {
                cache.clear();
            }
            cache.insert(token.to_owned(), (data.clone(), Instant::now(), generation));
        }
        Ok(data)
    }

    /// Builds the caller's context from a payload, checking that user and scope still stand.
    async fn token_data(&self, p: &TokenPayload, token: Option<&str>) -> Result<TokenData> {
        let user = store::get_user(self.db(), &p.user_id)
            .await?
            .ok_or_else(invalid_token)?;
        let user_domain = self.check_user_enabled(&user).await?;
        let (scope, mut roles) = match &p.scope {
            TokenScope::Unscoped => (Scope::Unscoped, vec![]),
            TokenScope::Project(id) => {
                let project: Project = store::get_project(self.db(), id).await?.ok_or_else(invalid_token)?;
                let domain = store::get_domain(self.db(), &project.domain_id)
                    .await?
                    .ok_or_else(invalid_token)?;
                if !project.enabled || !domain.enabled {
                    return Err(IdentityError::Unauthenticated(format!(
                        "Project {} is disabled.",
                        project.id
                    )));
                }
                let roles = self.effective_roles(&user.id, TargetKind::Project, id).await?;
                (
                    Scope::Project {
                        id: project.id,
                        name: project.name,
                        domain_id: domain.id,
                        domain_name: domain.name,
                    },
                    roles,
                )
            }
            TokenScope::Domain(id) => {
                let domain = store::get_domain(self.db(), id).await?.ok_or_else(invalid_token)?;
                if !domain.enabled {
                    return Err(IdentityError::Unauthenticated(format!(
                        "Domain {} is disabled.",
                        domain.id
                    )));
                }
                let roles = self.effective_roles(&user.id, TargetKind::Domain, id).await?;
                (
                    Scope::Domain {
                        id: domain.id,
                        name: domain.name,
                    },
                    roles,
                )
            }
            TokenScope::System => (
                Scope::System,
                self.effective_roles(&user.id, TargetKind::System, SYSTEM_ALL).await?,
            ),
        };
        // A trust-scoped token: the trust's roles the trustor still holds on its project.
        let mut trust = None;
        if let Some(tid) = &p.trust_id {
            let t = match store::get_trust(self.db(), tid).await? {
                Some(t) if t.expires_at.is_none_or(|e| e > now_micros()) => t,
                _ => return Err(invalid_token()),
            };
            let delegated = self.expand_implied(t.role_ids.clone()).await?;
            roles = match &t.project_id {
                Some(project) => {
                    let held = self
                        .effective_roles(&t.trustor_user_id, TargetKind::Project, project)
                        .await?;
                    held.into_iter()
                        .filter(|r| delegated.iter().any(|d| d.id == r.id))
                        .collect()
                }
                None => vec![],
            };
            trust = Some(t);
        }
        // A token from an OAuth access token: the roles it was authorized with that its user
        // still holds.
        let mut oauth = None;
        if let Some(aid) = &p.access_token_id {
            let at = match store::get_access_token(self.db(), aid).await? {
                Some(a) if a.expires_at > now_micros() => a,
                _ => return Err(invalid_token()),
            };
            let allowed = self.expand_implied(at.role_ids.clone()).await?;
            roles.retain(|r| allowed.iter().any(|a| a.id == r.id));
            oauth = Some((at.id, at.consumer_id));
        }
        let mut app_cred = None;
        let mut access_rules = None;
        if let Some(ac_id) = &p.application_credential_id {
            let row = store::get_app_cred(self.db(), ac_id).await?.ok_or_else(invalid_token)?;
            let allowed: Vec<String> = serde_json::from_str(&row.roles).unwrap_or_default();
            let allowed = self.expand_implied(allowed).await?;
            roles.retain(|r| allowed.iter().any(|a| a.id == r.id));
            access_rules = Some(store::access_rules_of(self.db(), &row.id).await?);
            app_cred = Some((row.id, row.name, row.unrestricted == 0));
        }
        if scope != Scope::Unscoped && roles.is_empty() {
            let what = match &scope {
                Scope::Project { id, .. } => format!("project {id}"),
                Scope::Domain { id, .. } => format!("domain {id}"),
                _ => "the system".to_owned(),
            };
            return Err(IdentityError::Unauthenticated(format!(
                "User {} has no access to {what}.",
                user.id
            )));
        }
        let password_expires_at = user.password_expires_at;
        let ctx = AuthContext {
            user_id: user.id,
            user_name: user.name,
            user_domain_id: user_domain.id,
            user_domain_name: user_domain.name,
            scope,
            roles,
            methods: p.methods.clone(),
            audit_ids: p.audit_ids.clone(),
            issued_at: p.issued_at,
            expires_at: p.expires_at,
            application_credential_id: p.application_credential_id.clone(),
            trust_id: p.trust_id.clone(),
            access_rules,
            token: token.unwrap_or_default().to_owned(),
        };
        Ok(TokenData {
            ctx: Arc::new(ctx),
            application_credential: app_cred,
            trust,
            oauth,
            password_expires_at,
        })
    }

    // ------------------------------------------------------------ revocation

    async fn revocation_events(&self) -> Result<Arc<Vec<RevocationEvent>>> {
        {
            let cache = self.inner.revocations.read().await;
            if let Some((at, generation)) = cache.loaded {
                if self.fresh(at, generation) {
                    return Ok(cache.events.clone());
                }
            }
        }
        let generation = self.generation();
        let oldest = now_micros() - self.inner.cfg.token_expiration.as_micros() as i64;
        let events = Arc::new(store::revocations_since(self.db(), oldest).await?);
        let mut cache = self.inner.revocations.write().await;
        cache.events = events.clone();
        cache.loaded = Some((Instant::now(), generation));
        Ok(events)
    }

    async fn is_revoked(&self, p: &TokenPayload, ctx: &AuthContext) -> Result<bool> {
        let events = self.revocation_events().await?;
        let project = ctx.project_id();
        let domain = ctx.domain_id();
        Ok(events.iter().any(|e| {
            p.issued_at <= e.issued_before
                && e.user_id.as_deref().is_none_or(|u| u == p.user_id)
                && e.project_id.as_deref().is_none_or(|x| Some(x) == project)
                && e.domain_id
                    .as_deref()
                    .is_none_or(|x| Some(x) == domain || x == ctx.user_domain_id)
                && e.audit_id.as_deref().is_none_or(|a| p.audit_ids.iter().any(|t| t == a))
                && e.trust_id.as_deref().is_none_or(|t| p.trust_id.as_deref() == Some(t))
                && e.access_token_id
                    .as_deref()
                    .is_none_or(|t| p.access_token_id.as_deref() == Some(t))
        }))
    }

    /// Records a revocation event; tokens it matches are refused from now on, on every node.
    pub(crate) async fn revoke_matching(
        &self,
        user_id: Option<&str>,
        project_id: Option<&str>,
        domain_id: Option<&str>,
        audit_id: Option<&str>,
    ) -> Result<()> {
        let now = now_micros();
        let e = RevocationEvent {
            id: new_id(),
            user_id: user_id.map(str::to_owned),
            project_id: project_id.map(str::to_owned),
            domain_id: domain_id.map(str::to_owned),
            audit_id: audit_id.map(str::to_owned),
            trust_id: None,
            access_token_id: None,
            issued_before: now,
            revoked_at: now,
        };
        store::insert_revocation(self.db(), &e).await?;
        // Old events can no longer match any live token.
        store::prune_revocations(self.db(), now - 2 * self.inner.cfg.token_expiration.as_micros() as i64).await?;
        self.changed();
        Ok(())
    }

    /// Revokes every token made from a trust (or, with `access_token`, from an OAuth access
    /// token).
    pub(crate) async fn revoke_delegation(&self, trust_id: Option<&str>, access_token_id: Option<&str>) -> Result<()> {
        let now = now_micros();
        let e = RevocationEvent {
            id: new_id(),
            user_id: None,
            project_id: None,
            domain_id: None,
            audit_id: None,
            trust_id: trust_id.map(str::to_owned),
            access_token_id: access_token_id.map(str::to_owned),
            issued_before: now,
            revoked_at: now,
        };
        store::insert_revocation(self.db(), &e).await?;
        self.changed();
        Ok(())
    }

    pub(crate) async fn revoke_trust(&self, trust_id: &str) -> Result<()> {
        self.revoke_delegation(Some(trust_id), None).await
    }

    /// `DELETE /v3/auth/tokens`: revokes the subject token (and the tokens rescoped from it).
    pub async fn revoke_token(&self, caller: &AuthContext, subject: &str) -> Result<()> {
        let data = self
            .validate(subject)
            .await
            .map_err(|_| IdentityError::not_found("token", "the subject token"))?;
        self.inner.policy.enforce(
            "identity:revoke_token",
            caller,
            &stratus_api::Target::new().with("target.token.user_id", data.ctx.user_id.as_str()),
        )?;
        let audit = data.ctx.audit_ids.first().cloned();
        self.revoke_matching(None, None, None, audit.as_deref()).await
    }

    /// `GET /v3/auth/tokens`: validates the subject token on behalf of a caller.
    pub async fn check_token(&self, caller: &AuthContext, subject: &str) -> Result<TokenData> {
        let data = self
            .validate(subject)
            .await
            .map_err(|_| IdentityError::not_found("token", "the subject token"))?;
        self.inner.policy.enforce(
            "identity:validate_token",
            caller,
            &stratus_api::Target::new().with("target.token.user_id", data.ctx.user_id.as_str()),
        )?;
        Ok(data)
    }

    // ------------------------------------------------------------ catalog

    /// The service catalog, with `$(project_id)s` in endpoint URLs filled in for `project_id`
    /// (endpoints that need a project are left out of unscoped catalogs).
    pub async fn catalog(&self, project_id: Option<&str>) -> Result<Vec<CatalogEntry>> {
        let raw = self.raw_catalog().await?;
        // A project with endpoint associations sees only those endpoints, and only the
        // services left with one (Keystone's endpoint filter); others see them all.
        let only = project_id.and_then(|p| raw.filters.get(p));
        let mut out = Vec::with_capacity(raw.entries.len());
        for entry in raw.entries.iter() {
            let mut e = entry.clone();
            e.endpoints.retain_mut(|ep| {
                if only.is_some_and(|set| !set.contains(&ep.id)) {
                    return false;
                }
                let needs = ep.url.contains("$(project_id)s") || ep.url.contains("%(project_id)s");
                match (needs, project_id) {
                    (false, _) => true,
                    (true, Some(p)) => {
                        ep.url = ep.url.replace("$(project_id)s", p).replace("%(project_id)s", p);
                        true
                    }
                    (true, None) => false,
                }
            });
            if only.is_some() && e.endpoints.is_empty() {
                continue;
            }
            out.push(e);
        }
        Ok(out)
    }

    async fn raw_catalog(&self) -> Result<Arc<CatalogSnapshot>> {
        if let Ok(guard) = self.inner.caches.catalog.lock() {
            if let Some((c, at, generation)) = guard.as_ref() {
                if self.fresh(*at, *generation) {
                    return Ok(c.clone());
                }
            }
        }
        let generation = self.generation();
        let page = stratus_api::pagination::PageRequest::default();
        let services = store::list_services(self.db(), store::Filters::new(), &page).await?;
        let endpoints = store::list_endpoints(self.db(), store::Filters::new(), &page).await?;
        let mut filters: HashMap<String, HashSet<String>> = HashMap::new();
        for (endpoint, project) in store::project_associations(self.db(), "project_endpoints").await? {
            filters.entry(project).or_default().insert(endpoint);
        }
        let groups = store::list_endpoint_groups(self.db(), None).await?;
        for (group, project) in store::project_associations(self.db(), "project_endpoint_groups").await? {
            let set = filters.entry(project).or_default();
            if let Some(g) = groups.iter().find(|g| g.id == group) {
                set.extend(endpoints.iter().filter(|e| g.matches(e)).map(|e| e.id.clone()));
            }
        }
        let entries: Vec<CatalogEntry> = services
            .into_iter()
            .filter(|s| s.enabled)
            .map(|s| CatalogEntry {
                endpoints: endpoints
                    .iter()
                    .filter(|e| e.service_id == s.id && e.enabled)
                    .map(|e| CatalogEndpoint {
                        id: e.id.clone(),
                        interface: e.interface.clone(),
                        region: e.region_id.clone(),
                        region_id: e.region_id.clone(),
                        url: e.url.clone(),
                    })
                    .collect(),
                id: s.id,
                service_type: s.service_type,
                name: s.name,
            })
            .collect();
        let catalog = Arc::new(CatalogSnapshot { entries, filters });
        if let Ok(mut guard) = self.inner.caches.catalog.lock() {
            *guard = Some((catalog.clone(), Instant::now(), generation));
        }
        Ok(catalog)
    }
}

#[async_trait::async_trait]
impl stratus_api::TokenValidator for IdentityService {
    async fn validate(&self, token: &str) -> Result<Arc<AuthContext>, stratus_api::ApiError> {
        IdentityService::validate(self, token)
            .await
            .map(|d| d.ctx)
            .map_err(Into::into)
    }
}
