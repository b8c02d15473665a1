//! `/v3/auth/*`, passwords and application credentials: the calls about the caller's own
//! identity.

use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use stratus_api::{ApiError, Caller, ValidJson};
use stratus_identity::model::ApplicationCredentialInput;
use stratus_identity::AuthRequest;

use crate::{flag, views, ApiState, Query};

fn subject(headers: &HeaderMap) -> Result<&str, ApiError> {
    headers
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("The X-Subject-Token header is required."))
}

/// `resp` with the `X-Subject-Token` header the token calls answer with.
fn with_subject(token: &str, resp: impl IntoResponse) -> Response {
    let mut resp = resp.into_response();
    if let Ok(v) = HeaderValue::from_str(token) {
        resp.headers_mut().insert("x-subject-token", v);
    }
    resp
}

/// Token responses carry the catalog unless the caller asked `?nocatalog`.
async fn catalog_unless_nocatalog(
    s: &ApiState,
    q: &Query,
    data: &stratus_identity::TokenData,
) -> Result<Option<Vec<stratus_identity::CatalogEntry>>, ApiError> {
    // Keystone gives an unscoped token no catalog at all (not an empty one).
    if flag(q, "nocatalog")?.unwrap_or(false) || data.ctx.scope == stratus_api::auth::Scope::Unscoped {
        return Ok(None);
    }
    Ok(Some(s.svc.catalog(data.ctx.project_id()).await?))
}

/// A new token's answer: its body (with the catalog unless `?nocatalog`) and the token itself
/// in `X-Subject-Token`.
pub(crate) async fn token_response(
    s: &ApiState,
    q: &Query,
    issued: stratus_identity::IssuedToken,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let catalog = catalog_unless_nocatalog(s, q, &issued.data).await?;
    Ok(with_subject(
        &issued.token,
        (status, Json(views::token(&issued.data, catalog.as_deref()))),
    ))
}

pub async fn issue(
    State(s): State<ApiState>,
    q: Query,
    headers: HeaderMap,
    uri: OriginalUri,
    ValidJson(req): ValidJson<AuthRequest>,
) -> Result<Response, ApiError> {
    // The oauth1 method proves itself with a signed Authorization header over this request.
    let signed = crate::delegation::signed_request(&s, "POST", &headers, &uri);
    let issued = s.svc.authenticate_signed(req, signed).await?;
    token_response(&s, &q, issued, StatusCode::CREATED).await
}

pub async fn validate(
    State(s): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    q: Query,
) -> Result<Response, ApiError> {
    let token = subject(&headers)?;
    let data = s.svc.check_token(&caller, token).await?;
    let catalog = catalog_unless_nocatalog(&s, &q, &data).await?;
    Ok(with_subject(token, Json(views::token(&data, catalog.as_deref()))))
}

pub async fn check(State(s): State<ApiState>, caller: Caller, headers: HeaderMap) -> Result<Response, ApiError> {
    let token = subject(&headers)?;
    s.svc.check_token(&caller, token).await?;
    Ok(with_subject(token, StatusCode::OK))
}

pub async fn revoke(State(s): State<ApiState>, caller: Caller, headers: HeaderMap) -> Result<StatusCode, ApiError> {
    s.svc.revoke_token(&caller, subject(&headers)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn catalog(
    State(s): State<ApiState>,
    caller: Caller,
    uri: OriginalUri,
) -> Result<Json<serde_json::Value>, ApiError> {
    let c = s.svc.catalog(caller.project_id()).await?;
    Ok(Json(
        json!({"catalog": views::catalog(&c), "links": {"self": crate::self_url(&s, &uri), "next": null, "previous": null}}),
    ))
}

pub async fn projects(
    State(s): State<ApiState>,
    caller: Caller,
    uri: OriginalUri,
) -> Result<Json<serde_json::Value>, ApiError> {
    let ps = s.svc.auth_projects(&caller).await?;
    Ok(Json(json!({
        "projects": ps.iter().map(|p| views::project(&s.base, p)).collect::<Vec<_>>(),
        "links": {"self": crate::self_url(&s, &uri), "next": null, "previous": null},
    })))
}

pub async fn domains(
    State(s): State<ApiState>,
    caller: Caller,
    uri: OriginalUri,
) -> Result<Json<serde_json::Value>, ApiError> {
    let ds = s.svc.auth_domains(&caller).await?;
    Ok(Json(json!({
        "domains": ds.iter().map(|d| views::domain(&s.base, d)).collect::<Vec<_>>(),
        "links": {"self": crate::self_url(&s, &uri), "next": null, "previous": null},
    })))
}

pub async fn system(
    State(s): State<ApiState>,
    caller: Caller,
    uri: OriginalUri,
) -> Result<Json<serde_json::Value>, ApiError> {
    s.svc
        .policy()
        .enforce("identity:get_auth_system", &caller, &stratus_api::Target::new())?;
    let has_system = caller.is_system() || s.svc.has_system_role(&caller.user_id).await?;
    let system = if has_system { json!([{"all": true}]) } else { json!([]) };
    Ok(Json(
        json!({"system": system, "links": {"self": crate::self_url(&s, &uri), "next": null, "previous": null}}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    user: PasswordChangeUser,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordChangeUser {
    password: String,
    original_password: String,
}

pub async fn change_password(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    ValidJson(body): ValidJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    s.svc
        .change_password(&id, &body.user.original_password, &body.user.password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppCredBody {
    application_credential: ApplicationCredentialInput,
}

pub async fn create_app_cred(
    State(s): State<ApiState>,
    caller: Caller,
    Path(user_id): Path<String>,
    ValidJson(body): ValidJson<AppCredBody>,
) -> Result<Response, ApiError> {
    let (ac, secret) = s
        .svc
        .create_app_cred(&caller, &user_id, body.application_credential)
        .await?;
    let mut v = views::app_cred(&s.base, &ac);
    v["secret"] = json!(secret);
    Ok((StatusCode::CREATED, Json(json!({"application_credential": v}))).into_response())
}

pub async fn list_app_creds(
    State(s): State<ApiState>,
    caller: Caller,
    Path(user_id): Path<String>,
    q: Query,
    uri: OriginalUri,
) -> Result<Json<serde_json::Value>, ApiError> {
    let list = s
        .svc
        .list_app_creds(&caller, &user_id, q.get("name").map(String::as_str))
        .await?;
    Ok(Json(json!({
        "application_credentials": list.iter().map(|a| views::app_cred(&s.base, a)).collect::<Vec<_>>(),
        "links": {"self": crate::self_url(&s, &uri), "next": null, "previous": null},
    })))
}

pub async fn get_app_cred(
    State(s): State<ApiState>,
    caller: Caller,
    Path((user_id, id)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let ac = s.svc.get_app_cred(&caller, &user_id, &id).await?;
    Ok(Json(json!({"application_credential": views::app_cred(&s.base, &ac)})))
}

pub async fn delete_app_cred(
    State(s): State<ApiState>,
    caller: Caller,
    Path((user_id, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    s.svc.delete_app_cred(&caller, &user_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn access_rule(base: &str, user_id: &str, r: &stratus_api::auth::AccessRule) -> serde_json::Value {
    json!({
        "id": r.id, "service": r.service, "path": r.path, "method": r.method,
        "links": {"self": format!("{base}/users/{user_id}/access_rules/{}", r.id)},
    })
}

pub async fn list_access_rules(
    State(s): State<ApiState>,
    caller: Caller,
    Path(user_id): Path<String>,
    q: Query,
    uri: OriginalUri,
) -> Result<Json<serde_json::Value>, ApiError> {
    let get = |k: &str| q.get(k).map(String::as_str);
    let list = s
        .svc
        .list_access_rules(&caller, &user_id, get("service"), get("path"), get("method"))
        .await?;
    Ok(Json(json!({
        "access_rules": list.iter().map(|r| access_rule(&s.base, &user_id, r)).collect::<Vec<_>>(),
        "links": {"self": crate::self_url(&s, &uri), "next": null, "previous": null},
    })))
}

pub async fn get_access_rule(
    State(s): State<ApiState>,
    caller: Caller,
    Path((user_id, id)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let r = s.svc.get_access_rule(&caller, &user_id, &id).await?;
    Ok(Json(json!({"access_rule": access_rule(&s.base, &user_id, &r)})))
}

pub async fn delete_access_rule(
    State(s): State<ApiState>,
    caller: Caller,
    Path((user_id, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    s.svc.delete_access_rule(&caller, &user_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
