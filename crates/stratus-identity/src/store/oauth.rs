//! The SQL of OAuth 1.0a (OS-OAUTH1): consumers, request tokens and access tokens. Secrets
//! arrive here encrypted; role ids are kept as a JSON list.

use sqlx::FromRow;
use stratus_store::{now_micros, Db, Result};

use super::{extra_of, extra_text};
use crate::model::Extra;

#[derive(Debug, Clone)]
pub(crate) struct ConsumerRow {
    pub id: String,
    pub description: Option<String>,
    pub encrypted_secret: String,
    pub extra: Extra,
}

#[derive(FromRow)]
struct Consumer {
    id: String,
    description: Option<String>,
    encrypted_secret: String,
    extra: String,
}

impl From<Consumer> for ConsumerRow {
    fn from(c: Consumer) -> Self {
        ConsumerRow {
            id: c.id,
            description: c.description,
            encrypted_secret: c.encrypted_secret,
            extra: extra_of(&c.extra),
        }
    }
}

/// A request token: made for a consumer and a project, then authorized by a user with some of
/// their roles (which sets the verifier), then exchanged once for an access token.
#[derive(Debug, Clone, FromRow)]
pub(crate) struct RequestTokenRow {
    pub id: String,
    pub encrypted_secret: String,
    pub consumer_id: String,
    pub project_id: String,
    pub role_ids: Option<String>,
    pub authorizing_user_id: Option<String>,
    pub verifier: Option<String>,
    pub expires_at: i64,
}

/// An access token: what a consumer holds to get tokens for its authorizing user.
#[derive(Debug, Clone)]
pub(crate) struct AccessTokenRow {
    pub id: String,
    pub encrypted_secret: String,
    pub consumer_id: String,
    pub project_id: String,
    pub authorizing_user_id: String,
    pub role_ids: Vec<String>,
    pub expires_at: i64,
}

#[derive(FromRow)]
struct Access {
    id: String,
    encrypted_secret: String,
    consumer_id: String,
    project_id: String,
    authorizing_user_id: String,
    role_ids: String,
    expires_at: i64,
}

impl From<Access> for AccessTokenRow {
    fn from(a: Access) -> Self {
        AccessTokenRow {
            id: a.id,
            encrypted_secret: a.encrypted_secret,
            consumer_id: a.consumer_id,
            project_id: a.project_id,
            authorizing_user_id: a.authorizing_user_id,
            role_ids: serde_json::from_str(&a.role_ids).unwrap_or_default(),
            expires_at: a.expires_at,
        }
    }
}

const CONSUMER_COLS: &str = "id, description, encrypted_secret, extra";
const REQUEST_COLS: &str =
    "id, encrypted_secret, consumer_id, project_id, role_ids, authorizing_user_id, verifier, expires_at";
const ACCESS_COLS: &str = "id, encrypted_secret, consumer_id, project_id, authorizing_user_id, role_ids, expires_at";

pub(crate) async fn insert_consumer(db: &Db, c: &ConsumerRow) -> Result<()> {
    sqlx::query(&format!("INSERT INTO oauth_consumers ({CONSUMER_COLS}, created_at) VALUES ($1, $2, $3, $4, $5)"))
        .bind(&c.id)
        .bind(c.description.clone())
        .bind(&c.encrypted_secret)
        .bind(extra_text(&c.extra))
        .bind(now_micros())
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub(crate) async fn get_consumer(db: &Db, id: &str) -> Result<Option<ConsumerRow>> {
    Ok(sqlx::query_as::<_, Consumer>(&format!("SELECT {CONSUMER_COLS} FROM oauth_consumers WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .map(Into::into))
}

pub(crate) async fn list_consumers(db: &Db) -> Result<Vec<ConsumerRow>> {
    Ok(sqlx::query_as::<_, Consumer>(&format!(
        "SELECT {CONSUMER_COLS} FROM oauth_consumers ORDER BY created_at, id"
    ))
    .fetch_all(&db.pool)
    .await?
    .into_iter()
    .map(Into::into)
    .collect())
}

pub(crate) async fn update_consumer(db: &Db, c: &ConsumerRow) -> Result<()> {
    sqlx::query("UPDATE oauth_consumers SET description = $1, extra = $2 WHERE id = $3")
        .bind(c.description.clone())
        .bind(extra_text(&c.extra))
        .bind(&c.id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Deletes a consumer with its request and access tokens; the ids of the access tokens it had,
/// whose tokens the caller revokes.
pub(crate) async fn delete_consumer(db: &Db, id: &str) -> Result<Vec<String>> {
    let mut tx = db.begin_write().await?;
    let access: Vec<String> = sqlx::query_scalar("SELECT id FROM oauth_access_tokens WHERE consumer_id = $1")
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
    for table in ["oauth_access_tokens", "oauth_request_tokens"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE consumer_id = $1"))
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("DELETE FROM oauth_consumers WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(access)
}

pub(crate) async fn insert_request_token(db: &Db, r: &RequestTokenRow) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO oauth_request_tokens ({REQUEST_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(&r.id)
    .bind(&r.encrypted_secret)
    .bind(&r.consumer_id)
    .bind(&r.project_id)
    .bind(r.role_ids.clone())
    .bind(r.authorizing_user_id.clone())
    .bind(r.verifier.clone())
    .bind(r.expires_at)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub(crate) async fn get_request_token(db: &Db, id: &str) -> Result<Option<RequestTokenRow>> {
    Ok(
        sqlx::query_as::<_, RequestTokenRow>(&format!("SELECT {REQUEST_COLS} FROM oauth_request_tokens WHERE id = $1"))
            .bind(id)
            .fetch_optional(&db.pool)
            .await?,
    )
}

/// Records who authorized a request token, with which roles and verifier; false when the
/// token was already authorized (or is gone).
pub(crate) async fn authorize_request_token(
    db: &Db,
    id: &str,
    user_id: &str,
    role_ids: &[String],
    verifier: &str,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE oauth_request_tokens SET authorizing_user_id = $1, role_ids = $2, verifier = $3 \
         WHERE id = $4 AND authorizing_user_id IS NULL",
    )
    .bind(user_id)
    .bind(serde_json::to_string(role_ids).unwrap_or_else(|_| "[]".into()))
    .bind(verifier)
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Exchanges a request token for an access token in one transaction: the request token is
/// used up. False when another exchange took it first.
pub(crate) async fn exchange_request_token(db: &Db, request_id: &str, a: &AccessTokenRow) -> Result<bool> {
    let mut tx = db.begin_write().await?;
    let gone = sqlx::query("DELETE FROM oauth_request_tokens WHERE id = $1")
        .bind(request_id)
        .execute(&mut *tx)
        .await?;
    if gone.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query(&format!(
        "INSERT INTO oauth_access_tokens ({ACCESS_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    ))
    .bind(&a.id)
    .bind(&a.encrypted_secret)
    .bind(&a.consumer_id)
    .bind(&a.project_id)
    .bind(&a.authorizing_user_id)
    .bind(serde_json::to_string(&a.role_ids).unwrap_or_else(|_| "[]".into()))
    .bind(a.expires_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

pub(crate) async fn get_access_token(db: &Db, id: &str) -> Result<Option<AccessTokenRow>> {
    Ok(sqlx::query_as::<_, Access>(&format!("SELECT {ACCESS_COLS} FROM oauth_access_tokens WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .map(Into::into))
}

pub(crate) async fn list_access_tokens(db: &Db, user_id: &str) -> Result<Vec<AccessTokenRow>> {
    Ok(sqlx::query_as::<_, Access>(&format!(
        "SELECT {ACCESS_COLS} FROM oauth_access_tokens WHERE authorizing_user_id = $1 ORDER BY expires_at, id"
    ))
    .bind(user_id)
    .fetch_all(&db.pool)
    .await?
    .into_iter()
    .map(Into::into)
    .collect())
}

pub(crate) async fn delete_access_token(db: &Db, id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM oauth_access_tokens WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(r.rows_affected() > 0)
}
