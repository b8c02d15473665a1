//! The calls that let someone act for a user without their password: credentials and OS-EC2's
//! (with `/v3/ec2tokens`), trusts (OS-TRUST) and OAuth 1.0a (OS-OAUTH1).

use axum::extract::{OriginalUri, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use stratus_api::{ApiError, Caller, ValidJson};
use stratus_identity::ec2sig::Ec2Request;
use stratus_identity::model::Role;
use stratus_identity::{
    format_time, AccessToken, AuthorizeRole, Consumer, ConsumerInput, Credential, CredentialInput, Ec2Credential,
    OAuthToken, SignedRequest, Trust, TrustInput,
};

use crate::{views, ApiState, Query};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/credentials", get(list_credentials).post(create_credential))
        .route(
            "/credentials/{id}",
            get(get_credential).patch(update_credential).delete(delete_credential),
        )
        .route("/users/{u}/credentials/OS-EC2", get(list_ec2).post(create_ec2))
        .route("/users/{u}/credentials/OS-EC2/{access}", get(get_ec2).delete(delete_ec2))
        .route("/ec2tokens", post(ec2_token))
        .route("/OS-TRUST/trusts", get(list_trusts).post(create_trust))
        .route("/OS-TRUST/trusts/{id}", get(get_trust).delete(delete_trust))
        .route("/OS-TRUST/trusts/{id}/roles", get(trust_roles))
        .route("/OS-TRUST/trusts/{id}/roles/{role}", get(trust_role).head(head_trust_role))
        .route("/OS-OAUTH1/consumers", get(list_consumers).post(create_consumer))
        .route(
            "/OS-OAUTH1/consumers/{id}",
            get(get_consumer).patch(update_consumer).delete(delete_consumer),
        )
        .route("/OS-OAUTH1/request_token", post(request_token))
        .route("/OS-OAUTH1/authorize/{id}", put(authorize))
        .route("/OS-OAUTH1/access_token", post(access_token))
        .route("/users/{u}/OS-OAUTH1/access_tokens", get(list_access_tokens))
        .route(
            "/users/{u}/OS-OAUTH1/access_tokens/{id}",
            get(get_access_token).delete(delete_access_token),
        )
        .route("/users/{u}/OS-OAUTH1/access_tokens/{id}/roles", get(access_token_roles))
        .route("/users/{u}/OS-OAUTH1/access_tokens/{id}/roles/{role}", get(access_token_role))
}

fn list_links(s: &ApiState, uri: &OriginalUri) -> Value {
    json!({"self": crate::self_url(s, uri), "next": null, "previous": null})
}

// ------------------------------------------------------------ credentials

fn credential(base: &str, c: &Credential) -> Value {
    let mut v = json!({
        "id": c.id, "user_id": c.user_id, "project_id": c.project_id, "type": c.cred_type, "blob": c.blob,
        "links": {"self": format!("{base}/credentials/{}", c.id)},
    });
    if let Value::Object(o) = &mut v {
        for (k, x) in &c.extra {
            o.entry(k.clone()).or_insert_with(|| x.clone());
        }
    }
    v
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialBody {
    credential: CredentialInput,
}

async fn create_credential(
    State(s): State<ApiState>,
    caller: Caller,
    ValidJson(b): ValidJson<CredentialBody>,
) -> Result<Response, ApiError> {
    let c = s.svc.create_credential(&caller, b.credential).await?;
    Ok((StatusCode::CREATED, Json(json!({"credential": credential(&s.base, &c)}))).into_response())
}

async fn list_credentials(
    State(s): State<ApiState>,
    caller: Caller,
    q: Query,
    uri: OriginalUri,
) -> Result<Json<Value>, ApiError> {
    let list = s
        .svc
        .list_credentials(&caller, q.get("user_id").map(String::as_str), q.get("type").map(String::as_str))
        .await?;
    Ok(Json(json!({
        "credentials": list.iter().map(|c| credential(&s.base, c)).collect::<Vec<_>>(),
        "links": list_links(&s, &uri),
    })))
}

async fn get_credential(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let c = s.svc.get_credential(&caller, &id).await?;
    Ok(Json(json!({"credential": credential(&s.base, &c)})))
}

async fn update_credential(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<CredentialBody>,
) -> Result<Json<Value>, ApiError> {
    let c = s.svc.update_credential(&caller, &id, b.credential).await?;
    Ok(Json(json!({"credential": credential(&s.base, &c)})))
}

async fn delete_credential(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    s.svc.delete_credential(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------------ OS-EC2

fn ec2(base: &str, c: &Ec2Credential) -> Value {
    json!({
        "user_id": c.user_id, "tenant_id": c.project_id, "access": c.access, "secret": c.secret,
        "trust_id": c.trust_id,
        "links": {"self": format!("{base}/users/{}/credentials/OS-EC2/{}", c.user_id, c.access)},
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ec2Body {
    tenant_id: String,
}

async fn create_ec2(
    State(s): State<ApiState>,
    caller: Caller,
    Path(user): Path<String>,
    ValidJson(b): ValidJson<Ec2Body>,
) -> Result<Response, ApiError> {
    let c = s.svc.create_ec2(&caller, &user, &b.tenant_id).await?;
    Ok((StatusCode::CREATED, Json(json!({"credential": ec2(&s.base, &c)}))).into_response())
}

async fn list_ec2(
    State(s): State<ApiState>,
    caller: Caller,
    Path(user): Path<String>,
    uri: OriginalUri,
) -> Result<Json<Value>, ApiError> {
    let list = s.svc.list_ec2(&caller, &user).await?;
    Ok(Json(json!({
        "credentials": list.iter().map(|c| ec2(&s.base, c)).collect::<Vec<_>>(),
        "links": list_links(&s, &uri),
    })))
}

async fn get_ec2(
    State(s): State<ApiState>,
    caller: Caller,
    Path((user, access)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let c = s.svc.get_ec2(&caller, &user, &access).await?;
    Ok(Json(json!({"credential": ec2(&s.base, &c)})))
}

async fn delete_ec2(
    State(s): State<ApiState>,
    caller: Caller,
    Path((user, access)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    s.svc.delete_ec2(&caller, &user, &access).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The body of `/v3/ec2tokens`: Keystone takes the request under any of three names.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ec2TokenBody {
    credentials: Option<Ec2Request>,
    credential: Option<Ec2Request>,
    #[serde(rename = "ec2Credentials")]
    ec2_credentials: Option<Ec2Request>,
}

async fn ec2_token(State(s): State<ApiState>, q: Query, ValidJson(b): ValidJson<Ec2TokenBody>) -> Result<Response, ApiError> {
    let req = b
        .credentials
        .or(b.credential)
        .or(b.ec2_credentials)
        .ok_or_else(|| ApiError::bad_request("Invalid input: the body needs 'credentials'."))?;
    let issued = s.svc.authenticate_ec2(req).await?;
    crate::auth::token_response(&s, &q, issued, StatusCode::OK).await
}

// ------------------------------------------------------------ OS-TRUST

fn trust_role_view(base: &str, r: &Role) -> Value {
    views::role(base, r)
}

fn trust(base: &str, t: &Trust, roles: Option<&[Role]>) -> Value {
    let mut v = json!({
        "id": t.id, "trustor_user_id": t.trustor_user_id, "trustee_user_id": t.trustee_user_id,
        "project_id": t.project_id, "impersonation": t.impersonation,
        "expires_at": t.expires_at.map(format_time), "remaining_uses": t.remaining_uses,
        "redelegated_trust_id": t.redelegated_trust_id, "redelegation_count": t.redelegation_count,
        "links": {"self": format!("{base}/OS-TRUST/trusts/{}", t.id)},
    });
    if let Some(roles) = roles {
        v["roles"] = json!(roles.iter().map(|r| trust_role_view(base, r)).collect::<Vec<_>>());
        v["roles_links"] = json!({"self": format!("{base}/OS-TRUST/trusts/{}/roles", t.id), "next": null, "previous": null});
    }
    if let Value::Object(o) = &mut v {
        for (k, x) in &t.extra {
            o.entry(k.clone()).or_insert_with(|| x.clone());
        }
    }
    v
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustBody {
    trust: TrustInput,
}

async fn create_trust(State(s): State<ApiState>, caller: Caller, ValidJson(b): ValidJson<TrustBody>) -> Result<Response, ApiError> {
    let t = s.svc.create_trust(&caller, b.trust).await?;
    let (t, roles) = s.svc.trust_roles(&caller, &t.id).await?;
    Ok((StatusCode::CREATED, Json(json!({"trust": trust(&s.base, &t, Some(&roles))}))).into_response())
}

async fn list_trusts(State(s): State<ApiState>, caller: Caller, q: Query, uri: OriginalUri) -> Result<Json<Value>, ApiError> {
    let list = s
        .svc
        .list_trusts(
            &caller,
            q.get("trustor_user_id").map(String::as_str),
            q.get("trustee_user_id").map(String::as_str),
        )
        .await?;
    Ok(Json(json!({
        "trusts": list.iter().map(|t| trust(&s.base, t, None)).collect::<Vec<_>>(),
        "links": list_links(&s, &uri),
    })))
}

async fn get_trust(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    s.svc.get_trust(&caller, &id).await?;
    let (t, roles) = s.svc.trust_roles(&caller, &id).await?;
    Ok(Json(json!({"trust": trust(&s.base, &t, Some(&roles))})))
}

async fn delete_trust(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    s.svc.delete_trust(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn trust_roles(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let (_, roles) = s.svc.trust_roles(&caller, &id).await?;
    Ok(Json(json!({
        "roles": roles.iter().map(|r| trust_role_view(&s.base, r)).collect::<Vec<_>>(),
        "links": {"self": format!("{}/OS-TRUST/trusts/{id}/roles", s.base), "next": null, "previous": null},
    })))
}

async fn one_trust_role(s: &ApiState, caller: &Caller, id: &str, role: &str) -> Result<Role, ApiError> {
    let (_, roles) = s.svc.trust_roles(caller, id).await?;
    roles
        .into_iter()
        .find(|r| r.id == role)
        .ok_or_else(|| ApiError::not_found(format!("Could not find role: {role}.")))
}

async fn trust_role(
    State(s): State<ApiState>,
    caller: Caller,
    Path((id, role)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let r = one_trust_role(&s, &caller, &id, &role).await?;
    Ok(Json(json!({"role": trust_role_view(&s.base, &r)})))
}

/// HEAD of a trust's role answers 200, as Keystone does (not the 204 of other checks).
async fn head_trust_role(
    State(s): State<ApiState>,
    caller: Caller,
    Path((id, role)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    one_trust_role(&s, &caller, &id, &role).await?;
    Ok(StatusCode::OK)
}

// ------------------------------------------------------------ OS-OAUTH1

fn consumer(base: &str, c: &Consumer) -> Value {
    let mut v = json!({
        "id": c.id, "description": c.description,
        "links": {"self": format!("{base}/OS-OAUTH1/consumers/{}", c.id)},
    });
    if let Some(secret) = &c.secret {
        v["secret"] = json!(secret);
    }
    if let Value::Object(o) = &mut v {
        for (k, x) in &c.extra {
            o.entry(k.clone()).or_insert_with(|| x.clone());
        }
    }
    v
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerBody {
    consumer: ConsumerInput,
}

async fn create_consumer(
    State(s): State<ApiState>,
    caller: Caller,
    ValidJson(b): ValidJson<ConsumerBody>,
) -> Result<Response, ApiError> {
    let c = s.svc.create_consumer(&caller, b.consumer).await?;
    Ok((StatusCode::CREATED, Json(json!({"consumer": consumer(&s.base, &c)}))).into_response())
}

async fn list_consumers(State(s): State<ApiState>, caller: Caller, uri: OriginalUri) -> Result<Json<Value>, ApiError> {
    let list = s.svc.list_consumers(&caller).await?;
    Ok(Json(json!({
        "consumers": list.iter().map(|c| consumer(&s.base, c)).collect::<Vec<_>>(),
        "links": list_links(&s, &uri),
    })))
}

async fn get_consumer(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let c = s.svc.get_consumer(&caller, &id).await?;
    Ok(Json(json!({"consumer": consumer(&s.base, &c)})))
}

async fn update_consumer(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<ConsumerBody>,
) -> Result<Json<Value>, ApiError> {
    let c = s.svc.update_consumer(&caller, &id, b.consumer).await?;
    Ok(Json(json!({"consumer": consumer(&s.base, &c)})))
}

async fn delete_consumer(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    s.svc.delete_consumer(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The request as its OAuth signature covers it: the URL the client called (its host as it
/// sent it, the scheme Identity is published under, the path without a query).
pub(crate) fn signed_request(s: &ApiState, method: &str, headers: &HeaderMap, uri: &OriginalUri) -> Option<SignedRequest> {
    let authorization = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    if !authorization.trim_start().starts_with("OAuth") {
        return None;
    }
    let scheme = s.base.split("://").next().unwrap_or("http").to_ascii_lowercase();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_ascii_lowercase)
        .or_else(|| s.base.split("://").nth(1).and_then(|r| r.split('/').next()).map(str::to_owned))?;
    let mut path = uri.0.path().to_owned();
    while path.contains("//") {
        path = path.replace("//", "/");
    }
    Some(SignedRequest {
        method: method.to_owned(),
        url: format!("{scheme}://{host}{path}"),
        authorization: authorization.to_owned(),
    })
}

fn need_signed(s: &ApiState, headers: &HeaderMap, uri: &OriginalUri) -> Result<SignedRequest, ApiError> {
    signed_request(s, "POST", headers, uri)
        .ok_or_else(|| ApiError::bad_request("An OAuth 1.0a Authorization header is required."))
}

/// OAuth's token answers: a form-encoded body, as RFC 5849 says.
fn form(t: &OAuthToken) -> Response {
    let body = format!(
        "oauth_token={}&oauth_token_secret={}&oauth_expires_at={}",
        t.key,
        t.secret,
        format_time(t.expires_at)
    );
    (
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/x-www-form-urlencoded")],
        body,
    )
        .into_response()
}

async fn request_token(State(s): State<ApiState>, headers: HeaderMap, uri: OriginalUri) -> Result<Response, ApiError> {
    let signed = need_signed(&s, &headers, &uri)?;
    let project = headers.get("requested-project-id").and_then(|v| v.to_str().ok());
    let t = s.svc.create_request_token(&signed, project).await?;
    Ok(form(&t))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeBody {
    roles: Vec<AuthorizeRole>,
}

async fn authorize(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<AuthorizeBody>,
) -> Result<Json<Value>, ApiError> {
    let verifier = s.svc.authorize_request_token(&caller, &id, b.roles).await?;
    Ok(Json(json!({"token": {"oauth_verifier": verifier}})))
}

async fn access_token(State(s): State<ApiState>, headers: HeaderMap, uri: OriginalUri) -> Result<Response, ApiError> {
    let signed = need_signed(&s, &headers, &uri)?;
    let t = s.svc.create_access_token(&signed).await?;
    Ok(form(&t))
}

fn access(base: &str, a: &AccessToken) -> Value {
    let own = format!("{base}/users/{}/OS-OAUTH1/access_tokens/{}", a.authorizing_user_id, a.id);
    json!({
        "id": a.id, "consumer_id": a.consumer_id, "project_id": a.project_id,
        "authorizing_user_id": a.authorizing_user_id, "expires_at": format_time(a.expires_at),
        "links": {"self": own, "roles": format!("{own}/roles")},
    })
}

async fn list_access_tokens(
    State(s): State<ApiState>,
    caller: Caller,
    Path(user): Path<String>,
    uri: OriginalUri,
) -> Result<Json<Value>, ApiError> {
    let list = s.svc.list_access_tokens(&caller, &user).await?;
    Ok(Json(json!({
        "access_tokens": list.iter().map(|a| access(&s.base, a)).collect::<Vec<_>>(),
        "links": list_links(&s, &uri),
    })))
}

async fn get_access_token(
    State(s): State<ApiState>,
    caller: Caller,
    Path((user, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let a = s.svc.get_access_token(&caller, &user, &id).await?;
    Ok(Json(json!({"access_token": access(&s.base, &a)})))
}

async fn delete_access_token(
    State(s): State<ApiState>,
    caller: Caller,
    Path((user, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    s.svc.delete_access_token(&caller, &user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn access_token_roles(
    State(s): State<ApiState>,
    caller: Caller,
    Path((user, id)): Path<(String, String)>,
    uri: OriginalUri,
) -> Result<Json<Value>, ApiError> {
    let roles = s.svc.access_token_roles(&caller, &user, &id).await?;
    Ok(Json(json!({
        "roles": roles.iter().map(|r| json!({"id": r.id, "name": r.name,
            "links": {"self": format!("{}/roles/{}", s.base, r.id)}})).collect::<Vec<_>>(),
        "links": list_links(&s, &uri),
    })))
}

async fn access_token_role(
    State(s): State<ApiState>,
    caller: Caller,
    Path((user, id, role)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let roles = s.svc.access_token_roles(&caller, &user, &id).await?;
    let r = roles
        .iter()
        .find(|r| r.id == role)
        .ok_or_else(|| ApiError::not_found(format!("Could not find role: {role}.")))?;
    Ok(Json(json!({"role": {"id": r.id, "name": r.name,
        "links": {"self": format!("{}/roles/{}", s.base, r.id)}}})))
}
