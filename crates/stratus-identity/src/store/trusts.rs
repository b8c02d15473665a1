//! The SQL of trusts (OS-TRUST) and their roles.

use sqlx::FromRow;
use stratus_store::{now_micros, Db, Result};

use super::{extra_of, extra_text};
use crate::model::Trust;

#[derive(FromRow)]
struct Row {
    id: String,
    trustor_user_id: String,
    trustee_user_id: String,
    project_id: Option<String>,
    impersonation: i64,
    expires_at: Option<i64>,
    remaining_uses: Option<i64>,
    redelegated_trust_id: Option<String>,
    redelegation_count: i64,
    extra: String,
}

const COLS: &str = "id, trustor_user_id, trustee_user_id, project_id, impersonation, expires_at, remaining_uses, \
     redelegated_trust_id, redelegation_count, extra";

async fn with_roles(db: &Db, r: Row) -> Result<Trust> {
    let role_ids: Vec<String> = sqlx::query_scalar("SELECT role_id FROM trust_roles WHERE trust_id = $1 ORDER BY role_id")
        .bind(&r.id)
        .fetch_all(&db.pool)
        .await?;
    Ok(Trust {
        id: r.id,
        trustor_user_id: r.trustor_user_id,
        trustee_user_id: r.trustee_user_id,
        project_id: r.project_id,
        impersonation: r.impersonation != 0,
        expires_at: r.expires_at,
        remaining_uses: r.remaining_uses,
        redelegated_trust_id: r.redelegated_trust_id,
        redelegation_count: r.redelegation_count,
        role_ids,
        extra: extra_of(&r.extra),
    })
}

pub(crate) async fn insert_trust(db: &Db, t: &Trust) -> Result<()> {
    let mut tx = db.begin_write().await?;
    sqlx::query(&format!(
        "INSERT INTO trusts ({COLS}, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    ))
    .bind(&t.id)
    .bind(&t.trustor_user_id)
    .bind(&t.trustee_user_id)
    .bind(t.project_id.clone())
    .bind(t.impersonation as i64)
    .bind(t.expires_at)
    .bind(t.remaining_uses)
    .bind(t.redelegated_trust_id.clone())
    .bind(t.redelegation_count)
    .bind(extra_text(&t.extra))
    .bind(now_micros())
    .execute(&mut *tx)
    .await?;
    for r in &t.role_ids {
        sqlx::query("INSERT INTO trust_roles (trust_id, role_id) VALUES ($1, $2)")
            .bind(&t.id)
            .bind(r)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn get_trust(db: &Db, id: &str) -> Result<Option<Trust>> {
    let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLS} FROM trusts WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    match row {
        Some(r) => Ok(Some(with_roles(db, r).await?)),
        None => Ok(None),
    }
}

/// Trusts, of a trustor and/or a trustee when given.
pub(crate) async fn list_trusts(db: &Db, trustor: Option<&str>, trustee: Option<&str>) -> Result<Vec<Trust>> {
    let mut f = stratus_store::sql::Filters::new();
    f.eq("trustor_user_id", trustor).eq("trustee_user_id", trustee);
    let sql = format!("SELECT {COLS} FROM trusts{} ORDER BY created_at, id", f.sql());
    let rows: Vec<Row> = sqlx::query_as_with(&sql, f.args()).fetch_all(&db.pool).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(with_roles(db, r).await?);
    }
    Ok(out)
}

/// Uses one of a trust's remaining uses, if it has a count: false when none was left (another
/// request took the last one first).
pub(crate) async fn consume_trust_use(db: &Db, id: &str) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE trusts SET remaining_uses = remaining_uses - 1 WHERE id = $1 AND remaining_uses IS NOT NULL AND remaining_uses > 0",
    )
    .bind(id)
    .execute(&db.pool)
    .await?;
    if r.rows_affected() > 0 {
        return Ok(true);
    }
    let unlimited: Option<i64> = sqlx::query_scalar("SELECT COUNT(*) FROM trusts WHERE id = $1 AND remaining_uses IS NULL")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(unlimited.unwrap_or(0) > 0)
}

/// Deletes a trust and the trusts redelegated from it; returns the ids deleted.
pub(crate) async fn delete_trust_tree(db: &Db, id: &str) -> Result<Vec<String>> {
    let mut gone = vec![id.to_owned()];
    let mut frontier = vec![id.to_owned()];
    while let Some(t) = frontier.pop() {
        let children: Vec<String> = sqlx::query_scalar("SELECT id FROM trusts WHERE redelegated_trust_id = $1")
            .bind(&t)
            .fetch_all(&db.pool)
            .await?;
        for c in children {
            if !gone.contains(&c) {
                gone.push(c.clone());
                frontier.push(c);
            }
        }
    }
    let mut tx = db.begin_write().await?;
    for t in &gone {
        sqlx::query("DELETE FROM trusts WHERE id = $1").bind(t).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(gone)
}

/// The trusts a user is trustor or trustee of (deleted with the user).
pub(crate) async fn trusts_of_user(db: &Db, user_id: &str) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar("SELECT id FROM trusts WHERE trustor_user_id = $1 OR trustee_user_id = $1")
        .bind(user_id)
        .fetch_all(&db.pool)
        .await?)
}
