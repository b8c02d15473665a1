//! The SQL of credentials (`/v3/credentials` and OS-EC2's). Blobs arrive here encrypted.

use sqlx::FromRow;
use stratus_store::{now_micros, Db, Result};

use super::{extra_of, extra_text};
use crate::model::Extra;

/// A credential as stored: its blob still encrypted.
#[derive(Debug, Clone)]
pub(crate) struct CredentialRow {
    pub id: String,
    pub user_id: String,
    pub project_id: Option<String>,
    pub cred_type: String,
    pub encrypted_blob: String,
    pub extra: Extra,
}

#[derive(FromRow)]
struct Row {
    id: String,
    user_id: String,
    project_id: Option<String>,
    #[sqlx(rename = "type")]
    cred_type: String,
    encrypted_blob: String,
    extra: String,
}

impl From<Row> for CredentialRow {
    fn from(r: Row) -> Self {
        CredentialRow {
            id: r.id,
            user_id: r.user_id,
            project_id: r.project_id,
            cred_type: r.cred_type,
            encrypted_blob: r.encrypted_blob,
            extra: extra_of(&r.extra),
        }
    }
}

const COLS: &str = "id, user_id, project_id, type, encrypted_blob, extra";

pub(crate) async fn insert_credential(db: &Db, c: &CredentialRow) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO credentials ({COLS}, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    ))
    .bind(&c.id)
    .bind(&c.user_id)
    .bind(c.project_id.clone())
    .bind(&c.cred_type)
    .bind(&c.encrypted_blob)
    .bind(extra_text(&c.extra))
    .bind(now_micros())
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub(crate) async fn get_credential(db: &Db, id: &str) -> Result<Option<CredentialRow>> {
    Ok(sqlx::query_as::<_, Row>(&format!("SELECT {COLS} FROM credentials WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .map(Into::into))
}

/// Credentials, of one user and/or of one type when given, oldest first.
pub(crate) async fn list_credentials(db: &Db, user_id: Option<&str>, cred_type: Option<&str>) -> Result<Vec<CredentialRow>> {
    let mut f = stratus_store::sql::Filters::new();
    f.eq("user_id", user_id).eq("type", cred_type);
    let sql = format!("SELECT {COLS} FROM credentials{} ORDER BY created_at, id", f.sql());
    Ok(sqlx::query_as_with::<_, Row, _>(&sql, f.args())
        .fetch_all(&db.pool)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

pub(crate) async fn update_credential(db: &Db, c: &CredentialRow) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE credentials SET encrypted_blob = $1, project_id = $2, type = $3, extra = $4 WHERE id = $5",
    )
    .bind(&c.encrypted_blob)
    .bind(c.project_id.clone())
    .bind(&c.cred_type)
    .bind(extra_text(&c.extra))
    .bind(&c.id)
    .execute(&db.pool)
    .await?;
    Ok(r.rows_affected() > 0)
}

pub(crate) async fn delete_credential(db: &Db, id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM credentials WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(r.rows_affected() > 0)
}
