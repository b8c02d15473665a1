//! The SQL of policy blobs (`/v3/policies`).

use sqlx::FromRow;
use stratus_store::{now_micros, Db, Result};

use super::{extra_of, extra_text};
use crate::model::PolicyBlob;

#[derive(FromRow)]
struct Row {
    id: String,
    #[sqlx(rename = "type")]
    policy_type: String,
    blob: String,
    extra: String,
}

impl From<Row> for PolicyBlob {
    fn from(r: Row) -> Self {
        PolicyBlob { id: r.id, policy_type: r.policy_type, blob: r.blob, extra: extra_of(&r.extra) }
    }
}

pub(crate) async fn insert_policy(db: &Db, p: &PolicyBlob) -> Result<()> {
    sqlx::query("INSERT INTO policies (id, type, blob, extra, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&p.id)
        .bind(&p.policy_type)
        .bind(&p.blob)
        .bind(extra_text(&p.extra))
        .bind(now_micros())
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub(crate) async fn get_policy(db: &Db, id: &str) -> Result<Option<PolicyBlob>> {
    Ok(sqlx::query_as::<_, Row>("SELECT id, type, blob, extra FROM policies WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .map(Into::into))
}

pub(crate) async fn list_policies(db: &Db, policy_type: Option<&str>) -> Result<Vec<PolicyBlob>> {
    let mut f = stratus_store::sql::Filters::new();
    f.eq("type", policy_type);
    let sql = format!("SELECT id, type, blob, extra FROM policies{} ORDER BY created_at, id", f.sql());
    Ok(sqlx::query_as_with::<_, Row, _>(&sql, f.args())
        .fetch_all(&db.pool)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

pub(crate) async fn update_policy(db: &Db, p: &PolicyBlob) -> Result<()> {
    sqlx::query("UPDATE policies SET type = $1, blob = $2, extra = $3 WHERE id = $4")
        .bind(&p.policy_type)
        .bind(&p.blob)
        .bind(extra_text(&p.extra))
        .bind(&p.id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub(crate) async fn delete_policy(db: &Db, id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM policies WHERE id = $1").bind(id).execute(&db.pool).await?;
    Ok(r.rows_affected() > 0)
}
