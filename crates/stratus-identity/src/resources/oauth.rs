//! OAuth 1.0a delegation (OS-OAUTH1): a consumer (a third-party application) asks for a
//! request token on a project, a user authorizes it with some of their roles, the consumer
//! exchanges it (with the verifier) for an access token, and then gets project-scoped tokens
//! for that user with those roles, without ever holding the user's password.
//!
//! Requests are signed with HMAC-SHA1 as RFC 5849 says; the signature is recomputed here with
//! the `oauth1-request` crate over the same parameters and compared. Secrets are kept
//! encrypted with the credential keys.

use std::collections::BTreeMap;
use std::num::NonZeroU64;

use rand::Rng;
use serde::Deserialize;
use stratus_api::auth::RoleRef;
use stratus_api::{AuthContext, Target};
use stratus_store::now_micros;

use crate::error::{IdentityError, Result};
use crate::model::{Extra, TargetKind, User};
use crate::store::{self, AccessTokenRow, ConsumerRow, RequestTokenRow};
use crate::{new_id, IdentityService};

/// How long a request token waits to be authorized and exchanged (Keystone's
/// `[oauth1] request_token_duration`).
const REQUEST_TOKEN_SECS: i64 = 28_800;
/// How long an access token lasts (`[oauth1] access_token_duration`).
const ACCESS_TOKEN_SECS: i64 = 86_400;
/// Verifier characters: letters and digits without the ones people misread.
const VERIFIER_CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghkmnpqrstuvwxyz23456789";

/// A request as OAuth signs it: the method, the URL it was sent to (scheme, host, port and
/// path, as the client saw it) and its `Authorization: OAuth ...` header.
#[derive(Debug, Clone)]
pub struct SignedRequest {
    pub method: String,
    pub url: String,
    pub authorization: String,
}

/// A consumer as the API shows it; `secret` only when it was just made.
#[derive(Debug, Clone)]
pub struct Consumer {
    pub id: String,
    pub description: Option<String>,
    pub secret: Option<String>,
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConsumerInput {
    /// Present (maybe null) or absent: absent leaves an update's description alone.
    #[serde(default, deserialize_with = "present")]
    pub description: Option<Option<String>>,
    pub secret: Option<serde_json::Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

/// A key and secret handed to the consumer, with when they stop working.
#[derive(Debug, Clone)]
pub struct OAuthToken {
    pub key: String,
    pub secret: String,
    pub expires_at: i64,
}

/// An access token as its user sees it (never its secret).
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub id: String,
    pub consumer_id: String,
    pub project_id: String,
    pub authorizing_user_id: String,
    pub role_ids: Vec<String>,
    pub expires_at: i64,
}

impl From<AccessTokenRow> for AccessToken {
    fn from(a: AccessTokenRow) -> Self {
        AccessToken {
            id: a.id,
            consumer_id: a.consumer_id,
            project_id: a.project_id,
            authorizing_user_id: a.authorizing_user_id,
            role_ids: a.role_ids,
            expires_at: a.expires_at,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeRole {
    pub id: Option<String>,
    pub name: Option<String>,
}

/// The `oauth_*` parameters of an `Authorization: OAuth k="v", ...` header, decoded.
pub(crate) fn parse_authorization(header: &str) -> Result<BTreeMap<String, String>> {
    let bad = || IdentityError::Validation("The Authorization header is not an OAuth 1.0a header.".into());
    let rest = header.trim().strip_prefix("OAuth").ok_or_else(bad)?;
    let mut out = BTreeMap::new();
    for part in rest.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (k, v) = part.split_once('=').ok_or_else(bad)?;
        let v = v.trim().trim_matches('"');
        let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8().map(|c| c.into_owned());
        let (k, v) = (decode(k.trim()).map_err(|_| bad())?, decode(v).map_err(|_| bad())?);
        if k != "realm" {
            out.insert(k, v);
        }
    }
    Ok(out)
}

/// The parameter a signed request must carry.
fn param<'a>(params: &'a BTreeMap<String, String>, name: &str) -> Result<&'a str> {
    params
        .get(name)
        .map(String::as_str)
        .ok_or_else(|| IdentityError::Validation(format!("The OAuth request lacks the '{name}' parameter.")))
}

/// Whether `signed` carries a valid HMAC-SHA1 signature made with the consumer's secret and
/// (for a request or access token) the token's secret.
fn signature_valid(
    signed: &SignedRequest,
    params: &BTreeMap<String, String>,
    consumer_secret: &str,
    token_secret: Option<&str>,
) -> bool {
    if params.get("oauth_signature_method").map(String::as_str) != Some("HMAC-SHA1") {
        return false;
    }
    let (Some(given), Some(key), Some(nonce)) = (
        params.get("oauth_signature"),
        params.get("oauth_consumer_key"),
        params.get("oauth_nonce"),
    ) else {
        return false;
    };
    let Some(timestamp) = params.get("oauth_timestamp").and_then(|t| t.parse::<u64>().ok()).and_then(NonZeroU64::new)
    else {
        return false;
    };
    let client = oauth1_request::Credentials::new(key.as_str(), consumer_secret);
    let mut b = oauth1_request::Builder::<_, _, &str>::new(client, oauth1_request::HmacSha1::new());
    if let (Some(t), Some(s)) = (params.get("oauth_token"), token_secret) {
        b.token(oauth1_request::Credentials::new(t.as_str(), s));
    }
    b.nonce(nonce.as_str())
        .timestamp(timestamp)
        .callback(params.get("oauth_callback").map(String::as_str))
        .verifier(params.get("oauth_verifier").map(String::as_str))
        .version(params.contains_key("oauth_version"));
    let expected = b.authorize(&signed.method, signed.url.as_str(), &());
    let Ok(expected) = parse_authorization(&expected) else {
        return false;
    };
    let Some(expected) = expected.get("oauth_signature") else {
        return false;
    };
    // Compared in constant time: the signature is a secret-keyed MAC.
    expected.len() == given.len()
        && expected.bytes().zip(given.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

fn bad_signature() -> IdentityError {
    IdentityError::Unauthenticated("The OAuth signature could not be verified.".into())
}

fn random_hex() -> String {
    new_id()
}

impl IdentityService {
    // ------------------------------------------------------------ consumers

    fn consumer_of(&self, row: ConsumerRow, with_secret: bool) -> Result<Consumer> {
        Ok(Consumer {
            secret: if with_secret { Some(self.open_secret(&row.encrypted_secret)?) } else { None },
            id: row.id,
            description: row.description,
            extra: row.extra,
        })
    }

    pub async fn create_consumer(&self, caller: &AuthContext, input: ConsumerInput) -> Result<Consumer> {
        self.enforce("identity:create_consumer", caller, &Target::new())?;
        if input.secret.is_some() {
            return Err(IdentityError::Validation(
                "Invalid input for field 'consumer.secret': a consumer's secret is made by Identity.".into(),
            ));
        }
        let row = ConsumerRow {
            id: new_id(),
            description: input.description.flatten(),
            encrypted_secret: self.seal_secret(&random_hex()),
            extra: super::new_extras(input.extra),
        };
        store::insert_consumer(self.db(), &row).await?;
        self.consumer_of(row, true)
    }

    async fn consumer_row(&self, id: &str) -> Result<ConsumerRow> {
        store::get_consumer(self.db(), id)
            .await?
            .ok_or_else(|| IdentityError::not_found("consumer", id))
    }

    pub async fn get_consumer(&self, caller: &AuthContext, id: &str) -> Result<Consumer> {
        self.enforce("identity:get_consumer", caller, &Target::new())?;
        let row = self.consumer_row(id).await?;
        self.consumer_of(row, false)
    }

    pub async fn list_consumers(&self, caller: &AuthContext) -> Result<Vec<Consumer>> {
        self.enforce("identity:list_consumers", caller, &Target::new())?;
        store::list_consumers(self.db())
            .await?
            .into_iter()
            .map(|r| self.consumer_of(r, false))
            .collect()
    }

    pub async fn update_consumer(&self, caller: &AuthContext, id: &str, input: ConsumerInput) -> Result<Consumer> {
        self.enforce("identity:update_consumer", caller, &Target::new())?;
        if input.secret.is_some() {
            return Err(IdentityError::Validation(
                "Invalid input for field 'consumer.secret': a consumer's secret cannot be changed.".into(),
            ));
        }
        if input.description.is_none() && input.extra.is_empty() {
            return Err(IdentityError::Validation(
                "Invalid input for field 'consumer': at least one attribute is required.".into(),
            ));
        }
        let mut row = self.consumer_row(id).await?;
        if let Some(d) = input.description {
            row.description = d;
        }
        if let Some(store::Val::S(text)) = super::merged_extras("consumer", id, &row.extra, input.extra)? {
            row.extra = store::extra_of(&text);
        }
        store::update_consumer(self.db(), &row).await?;
        self.consumer_of(row, false)
    }

    /// Deletes a consumer, its tokens, and the Identity tokens made through it.
    pub async fn delete_consumer(&self, caller: &AuthContext, id: &str) -> Result<()> {
        self.enforce("identity:delete_consumer", caller, &Target::new())?;
        self.consumer_row(id).await?;
        for access in store::delete_consumer(self.db(), id).await? {
            self.revoke_delegation(None, Some(&access)).await?;
        }
        Ok(())
    }

    // ------------------------------------------------------------ the flow

    /// The consumer that signed `signed`, checked with its secret and the token secret.
    async fn signed_consumer(
        &self,
        signed: &SignedRequest,
        params: &BTreeMap<String, String>,
        token_secret: Option<&str>,
    ) -> Result<ConsumerRow> {
        let key = param(params, "oauth_consumer_key")?;
        let consumer = store::get_consumer(self.db(), key)
            .await?
            .ok_or_else(|| IdentityError::not_found("consumer", key))?;
        let secret = self.open_secret(&consumer.encrypted_secret)?;
        if !signature_valid(signed, params, &secret, token_secret) {
            return Err(bad_signature());
        }
        Ok(consumer)
    }

    /// `POST /OS-OAUTH1/request_token`: a consumer asks for a request token on a project.
    pub async fn create_request_token(&self, signed: &SignedRequest, project_id: Option<&str>) -> Result<OAuthToken> {
        let params = parse_authorization(&signed.authorization)?;
        param(&params, "oauth_consumer_key")?;
        let project_id = project_id
            .filter(|p| !p.is_empty())
            .ok_or_else(|| IdentityError::Validation("The Requested-Project-Id header is required.".into()))?;
        let consumer = self.signed_consumer(signed, &params, None).await?;
        store::get_project(self.db(), project_id)
            .await?
            .ok_or_else(|| IdentityError::not_found("project", project_id))?;
        let token = OAuthToken {
            key: random_hex(),
            secret: random_hex(),
            expires_at: now_micros() + REQUEST_TOKEN_SECS * 1_000_000,
        };
        store::insert_request_token(
            self.db(),
            &RequestTokenRow {
                id: token.key.clone(),
                encrypted_secret: self.seal_secret(&token.secret),
                consumer_id: consumer.id,
                project_id: project_id.to_owned(),
                role_ids: None,
                authorizing_user_id: None,
                verifier: None,
                expires_at: token.expires_at,
            },
        )
        .await?;
        Ok(token)
    }

    /// `PUT /OS-OAUTH1/authorize/{request_token}`: the caller lets the consumer act for them
    /// on the token's project with some of the roles they hold there; the verifier returned is
    /// what the consumer needs to get its access token.
    pub async fn authorize_request_token(
        &self,
        caller: &AuthContext,
        request_id: &str,
        roles: Vec<AuthorizeRole>,
    ) -> Result<String> {
        self.enforce("identity:authorize_request_token", caller, &Target::new())?;
        if caller.application_credential_id.is_some()
            || caller.trust_id.is_some()
            || caller.methods.iter().any(|m| m == "oauth1" || m == "ec2credential")
        {
            return Err(IdentityError::Denied(
                "A delegated token cannot authorize a request token.".into(),
            ));
        }
        if roles.is_empty() {
            return Err(IdentityError::Validation(
                "Invalid input for field 'roles': at least one role is required.".into(),
            ));
        }
        let req = store::get_request_token(self.db(), request_id)
            .await?
            .ok_or_else(|| IdentityError::not_found("request token", request_id))?;
        if req.expires_at <= now_micros() {
            return Err(IdentityError::Unauthenticated("The request token has expired.".into()));
        }
        let held = self.effective_roles(&caller.user_id, TargetKind::Project, &req.project_id).await?;
        let mut role_ids = Vec::new();
        for r in roles {
            let found = held.iter().find(|h| match (&r.id, &r.name) {
                (Some(id), None) => &h.id == id,
                (None, Some(name)) => &h.name == name,
                _ => false,
            });
            match found {
                Some(h) if !role_ids.contains(&h.id) => role_ids.push(h.id.clone()),
                Some(_) => {}
                None if r.id.is_some() == r.name.is_some() => {
                    return Err(IdentityError::Validation(
                        "Invalid input for field 'roles': each role gives exactly one of id or name.".into(),
                    ))
                }
                None => {
                    return Err(IdentityError::Unauthenticated(format!(
                        "The user does not hold role {} on the token's project.",
                        r.id.or(r.name).unwrap_or_default()
                    )))
                }
            }
        }
        let verifier: String = {
            let mut rng = rand::thread_rng();
            (0..8).map(|_| VERIFIER_CHARS[rng.gen_range(0..VERIFIER_CHARS.len())] as char).collect()
        };
        if !store::authorize_request_token(self.db(), request_id, &caller.user_id, &role_ids, &verifier).await? {
            return Err(IdentityError::Conflict("The request token has already been authorized.".into()));
        }
        Ok(verifier)
    }

    /// `POST /OS-OAUTH1/access_token`: an authorized request token and its verifier become an
    /// access token.
    pub async fn create_access_token(&self, signed: &SignedRequest) -> Result<OAuthToken> {
        let params = parse_authorization(&signed.authorization)?;
        param(&params, "oauth_consumer_key")?;
        let request_id = param(&params, "oauth_token")?;
        let verifier = param(&params, "oauth_verifier")?;
        let req = store::get_request_token(self.db(), request_id)
            .await?
            .ok_or_else(|| IdentityError::not_found("request token", request_id))?;
        let req_secret = self.open_secret(&req.encrypted_secret)?;
        let consumer = self.signed_consumer(signed, &params, Some(&req_secret)).await?;
        if consumer.id != req.consumer_id {
            return Err(IdentityError::Unauthenticated("The request token belongs to another consumer.".into()));
        }
        if req.expires_at <= now_micros() {
            return Err(IdentityError::Unauthenticated("The request token has expired.".into()));
        }
        let (Some(user), Some(expected)) = (req.authorizing_user_id.clone(), req.verifier.as_deref()) else {
            return Err(IdentityError::Unauthenticated("The request token has not been authorized.".into()));
        };
        if expected != verifier {
            return Err(IdentityError::Unauthenticated("The verifier does not match.".into()));
        }
        let token = OAuthToken {
            key: random_hex(),
            secret: random_hex(),
            expires_at: now_micros() + ACCESS_TOKEN_SECS * 1_000_000,
        };
        let row = AccessTokenRow {
            id: token.key.clone(),
            encrypted_secret: self.seal_secret(&token.secret),
            consumer_id: consumer.id,
            project_id: req.project_id.clone(),
            authorizing_user_id: user,
            role_ids: req.role_ids.as_deref().and_then(|r| serde_json::from_str(r).ok()).unwrap_or_default(),
            expires_at: token.expires_at,
        };
        if !store::exchange_request_token(self.db(), &req.id, &row).await? {
            return Err(IdentityError::Unauthenticated("The request token has already been used.".into()));
        }
        Ok(token)
    }

    /// The access token (and its user) a signed token request carries, for `POST
    /// /auth/tokens` with the `oauth1` method.
    pub(crate) async fn oauth_access(&self, signed: &SignedRequest) -> Result<(AccessToken, User)> {
        let params = parse_authorization(&signed.authorization)?;
        param(&params, "oauth_consumer_key")?;
        let access_id = param(&params, "oauth_token")?;
        let access = store::get_access_token(self.db(), access_id)
            .await?
            .ok_or_else(|| IdentityError::Unauthenticated("The OAuth access token is not valid.".into()))?;
        let secret = self.open_secret(&access.encrypted_secret)?;
        let consumer = self.signed_consumer(signed, &params, Some(&secret)).await?;
        if consumer.id != access.consumer_id {
            return Err(bad_signature());
        }
        if access.expires_at <= now_micros() {
            return Err(IdentityError::Unauthenticated("The OAuth access token has expired.".into()));
        }
        let user = store::get_user(self.db(), &access.authorizing_user_id)
            .await?
            .filter(|u| u.enabled)
            .ok_or_else(|| IdentityError::Unauthenticated("The access token's user is disabled or gone.".into()))?;
        Ok((access.into(), user))
    }

    // ------------------------------------------------------------ a user's access tokens

    fn access_target(user_id: &str) -> Target {
        Target::new().with("target.user_id", user_id)
    }

    pub async fn list_access_tokens(&self, caller: &AuthContext, user_id: &str) -> Result<Vec<AccessToken>> {
        self.enforce("identity:list_access_tokens", caller, &Self::access_target(user_id))?;
        refuse_oauth(caller)?;
        Ok(store::list_access_tokens(self.db(), user_id)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    pub async fn get_access_token(&self, caller: &AuthContext, user_id: &str, id: &str) -> Result<AccessToken> {
        self.enforce("identity:get_access_token", caller, &Self::access_target(user_id))?;
        refuse_oauth(caller)?;
        match store::get_access_token(self.db(), id).await? {
            Some(a) if a.authorizing_user_id == user_id => Ok(a.into()),
            _ => Err(IdentityError::not_found("access token", id)),
        }
    }

    /// Deletes an access token and revokes the tokens made from it.
    pub async fn delete_access_token(&self, caller: &AuthContext, user_id: &str, id: &str) -> Result<()> {
        self.enforce("identity:delete_access_token", caller, &Self::access_target(user_id))?;
        refuse_oauth(caller)?;
        self.get_access_token(caller, user_id, id).await?;
        store::delete_access_token(self.db(), id).await?;
        self.revoke_delegation(None, Some(id)).await
    }

    /// The roles an access token carries (as they were authorized).
    pub async fn access_token_roles(&self, caller: &AuthContext, user_id: &str, id: &str) -> Result<Vec<RoleRef>> {
        self.enforce("identity:list_access_token_roles", caller, &Self::access_target(user_id))?;
        let a = self.get_access_token(caller, user_id, id).await?;
        let mut out = Vec::new();
        for rid in a.role_ids {
            if let Some(r) = store::get_role(self.db(), &rid).await? {
                out.push(RoleRef { id: r.id, name: r.name });
            }
        }
        Ok(out)
    }
}

/// A token made from an OAuth access token cannot manage access tokens.
fn refuse_oauth(caller: &AuthContext) -> Result<()> {
    if caller.methods.iter().any(|m| m == "oauth1") {
        return Err(IdentityError::Denied("A token made from an OAuth access token cannot manage access tokens.".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed_header(url: &str, consumer: (&str, &str), token: Option<(&str, &str)>, verifier: Option<&str>) -> String {
        let mut b = oauth1_request::Builder::<_, _, &str>::new(
            oauth1_request::Credentials::new(consumer.0, consumer.1),
            oauth1_request::HmacSha1::new(),
        );
        if let Some((k, s)) = token {
            b.token(oauth1_request::Credentials::new(k, s));
        }
        b.verifier(verifier).version(true);
        b.authorize("POST", url, &())
    }

    #[test]
    fn a_signature_made_with_the_secrets_verifies_and_any_change_does_not() {
        let url = "http://127.0.0.1:5000/v3/OS-OAUTH1/access_token";
        let header = signed_header(url, ("ck", "cs"), Some(("rk", "rs")), Some("ABCD2345"));
        let signed = SignedRequest { method: "POST".into(), url: url.into(), authorization: header };
        let params = parse_authorization(&signed.authorization).unwrap();
        assert_eq!(params["oauth_verifier"], "ABCD2345");
        assert!(signature_valid(&signed, &params, "cs", Some("rs")));
        assert!(!signature_valid(&signed, &params, "cs", Some("other")));
        assert!(!signature_valid(&signed, &params, "wrong", Some("rs")));
        let elsewhere = SignedRequest { url: "http://127.0.0.1:5000/v3/auth/tokens".into(), ..signed.clone() };
        assert!(!signature_valid(&elsewhere, &params, "cs", Some("rs")));
        let mut tampered = params.clone();
        tampered.insert("oauth_verifier".into(), "ZZZZ2345".into());
        assert!(!signature_valid(&signed, &tampered, "cs", Some("rs")));
    }

    #[test]
    fn headers_that_are_not_oauth_are_refused() {
        assert!(parse_authorization("Bearer abc").is_err());
        assert!(parse_authorization("OAuth novalue").is_err());
        let p = parse_authorization(r#"OAuth realm="x", oauth_callback="oob%20x""#).unwrap();
        assert_eq!(p.get("oauth_callback").map(String::as_str), Some("oob x"));
        assert!(!p.contains_key("realm"));
    }
}
