//! The SQL of domain-specific configuration: one row per option, its value as JSON text.

use stratus_store::{Db, Result};

/// A domain's options as (group, option, value), in group and option order.
pub(crate) async fn domain_config(db: &Db, domain_id: &str) -> Result<Vec<(String, String, serde_json::Value)>> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT grp, option_name, value FROM domain_configs WHERE domain_id = $1 ORDER BY grp, option_name",
    )
    .bind(domain_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(g, o, v)| (g, o, serde_json::from_str(&v).unwrap_or(serde_json::Value::Null)))
        .collect())
}

/// Replaces a domain's whole configuration with `options`, in one transaction.
pub(crate) async fn replace_domain_config(
    db: &Db,
    domain_id: &str,
    options: &[(String, String, serde_json::Value)],
) -> Result<()> {
    let mut tx = db.begin_write().await?;
    sqlx::query("DELETE FROM domain_configs WHERE domain_id = $1")
        .bind(domain_id)
        .execute(&mut *tx)
        .await?;
    for (g, o, v) in options {
        sqlx::query("INSERT INTO domain_configs (domain_id, grp, option_name, value) VALUES ($1, $2, $3, $4)")
            .bind(domain_id)
            .bind(g)
            .bind(o)
            .bind(v.to_string())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}
