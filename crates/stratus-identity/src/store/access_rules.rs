//! The SQL of access rules: the (service, path, method) an application credential's tokens
//! are limited to. A user's rules are shared by their credentials and outlive them.

use sqlx::FromRow;
use stratus_api::auth::AccessRule;
use stratus_store::{Db, Result};

#[derive(FromRow)]
struct Row {
    id: String,
    service: String,
    path: String,
    method: String,
}

impl From<Row> for AccessRule {
    fn from(r: Row) -> Self {
        AccessRule { id: r.id, service: r.service, path: r.path, method: r.method }
    }
}

/// A user's rule for (service, path, method), if they have one.
pub(crate) async fn find_access_rule(db: &Db, user_id: &str, service: &str, path: &str, method: &str) -> Result<Option<AccessRule>> {
    Ok(sqlx::query_as::<_, Row>(
        "SELECT id, service, path, method FROM access_rules WHERE user_id = $1 AND service = $2 AND path = $3 AND method = $4",
    )
    .bind(user_id)
    .bind(service)
    .bind(path)
    .bind(method)
    .fetch_optional(&db.pool)
    .await?
    .map(Into::into))
}

/// A rule by id, with the user it belongs to.
pub(crate) async fn get_access_rule(db: &Db, id: &str) -> Result<Option<(String, AccessRule)>> {
    let row: Option<(String, String, String, String, String)> =
        sqlx::query_as("SELECT user_id, id, service, path, method FROM access_rules WHERE id = $1")
            .bind(id)
            .fetch_optional(&db.pool)
            .await?;
    Ok(row.map(|(u, id, service, path, method)| (u, AccessRule { id, service, path, method })))
}

/// Links an application credential to its rules, making the new ones, in one transaction.
pub(crate) async fn link_access_rules(db: &Db, app_cred_id: &str, user_id: &str, rules: &[AccessRule]) -> Result<()> {
    let mut tx = db.begin_write().await?;
    for r in rules {
        sqlx::query(
            "INSERT INTO access_rules (id, user_id, service, path, method) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&r.id)
        .bind(user_id)
        .bind(&r.service)
        .bind(&r.path)
        .bind(&r.method)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO application_credential_access_rules (application_credential_id, access_rule_id) \
             VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(app_cred_id)
        .bind(&r.id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The rules of an application credential.
pub(crate) async fn access_rules_of(db: &Db, app_cred_id: &str) -> Result<Vec<AccessRule>> {
    Ok(sqlx::query_as::<_, Row>(
        "SELECT r.id, r.service, r.path, r.method FROM access_rules r \
         JOIN application_credential_access_rules l ON l.access_rule_id = r.id \
         WHERE l.application_credential_id = $1 ORDER BY r.service, r.path, r.method",
    )
    .bind(app_cred_id)
    .fetch_all(&db.pool)
    .await?
    .into_iter()
    .map(Into::into)
    .collect())
}

pub(crate) async fn list_access_rules(
    db: &Db,
    user_id: &str,
    service: Option<&str>,
    path: Option<&str>,
    method: Option<&str>,
) -> Result<Vec<AccessRule>> {
    let mut f = stratus_store::sql::Filters::new();
    f.eq("user_id", Some(user_id)).eq("service", service).eq("path", path).eq("method", method);
    let sql = format!("SELECT id, service, path, method FROM access_rules{} ORDER BY service, path, method", f.sql());
    Ok(sqlx::query_as_with::<_, Row, _>(&sql, f.args())
        .fetch_all(&db.pool)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// Deletes a rule no credential uses; false (and nothing deleted) when one does.
pub(crate) async fn delete_unused_access_rule(db: &Db, id: &str) -> Result<bool> {
    let mut tx = db.begin_write().await?;
    let used: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM application_credential_access_rules WHERE access_rule_id = $1")
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    if used > 0 {
        return Ok(false);
    }
    sqlx::query("DELETE FROM access_rules WHERE id = $1").bind(id).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(true)
}
