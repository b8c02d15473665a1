//! The SQL of OS-EP-FILTER: endpoint groups, and which endpoints and groups a project sees.

use sqlx::FromRow;
use stratus_store::{now_micros, Db, Result};

use crate::model::EndpointGroup;

#[derive(FromRow)]
struct Row {
    id: String,
    name: String,
    description: String,
    filters: String,
}

impl From<Row> for EndpointGroup {
    fn from(r: Row) -> Self {
        EndpointGroup {
            id: r.id,
            name: r.name,
            description: r.description,
            filters: serde_json::from_str(&r.filters).unwrap_or_default(),
        }
    }
}

pub(crate) async fn insert_endpoint_group(db: &Db, g: &EndpointGroup) -> Result<()> {
    sqlx::query("INSERT INTO endpoint_groups (id, name, description, filters, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&g.id)
        .bind(&g.name)
        .bind(&g.description)
        .bind(serde_json::Value::Object(g.filters.clone()).to_string())
        .bind(now_micros())
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub(crate) async fn get_endpoint_group(db: &Db, id: &str) -> Result<Option<EndpointGroup>> {
    Ok(sqlx::query_as::<_, Row>("SELECT id, name, description, filters FROM endpoint_groups WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .map(Into::into))
}

pub(crate) async fn list_endpoint_groups(db: &Db, name: Option<&str>) -> Result<Vec<EndpointGroup>> {
    let mut f = stratus_store::sql::Filters::new();
    f.eq("name", name);
    let sql = format!("SELECT id, name, description, filters FROM endpoint_groups{} ORDER BY created_at, id", f.sql());
    Ok(sqlx::query_as_with::<_, Row, _>(&sql, f.args())
        .fetch_all(&db.pool)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

pub(crate) async fn update_endpoint_group(db: &Db, g: &EndpointGroup) -> Result<()> {
    sqlx::query("UPDATE endpoint_groups SET name = $1, description = $2, filters = $3 WHERE id = $4")
        .bind(&g.name)
        .bind(&g.description)
        .bind(serde_json::Value::Object(g.filters.clone()).to_string())
        .bind(&g.id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub(crate) async fn delete_endpoint_group(db: &Db, id: &str) -> Result<bool> {
    let mut tx = db.begin_write().await?;
    sqlx::query("DELETE FROM project_endpoint_groups WHERE endpoint_group_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let r = sqlx::query("DELETE FROM endpoint_groups WHERE id = $1").bind(id).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(r.rows_affected() > 0)
}

/// Associates (or, with `add` false, dissociates) a project with an endpoint group or an
/// endpoint; `table` is `project_endpoint_groups` or `project_endpoints`. Returns whether a
/// row changed.
pub(crate) async fn set_project_association(db: &Db, table: &str, key: &str, project_id: &str, add: bool) -> Result<bool> {
    let column = association_column(table);
    let sql = if add {
        format!("INSERT INTO {table} ({column}, project_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
    } else {
        format!("DELETE FROM {table} WHERE {column} = $1 AND project_id = $2")
    };
    let r = sqlx::query(&sql).bind(key).bind(project_id).execute(&db.pool).await?;
    Ok(r.rows_affected() > 0)
}

fn association_column(table: &str) -> &'static str {
    if table == "project_endpoints" {
        "endpoint_id"
    } else {
        "endpoint_group_id"
    }
}

pub(crate) async fn has_project_association(db: &Db, table: &str, key: &str, project_id: &str) -> Result<bool> {
    let column = association_column(table);
    let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE {column} = $1 AND project_id = $2"))
        .bind(key)
        .bind(project_id)
        .fetch_one(&db.pool)
        .await?;
    Ok(n > 0)
}

/// Every association of a table as (key, project), for the catalog's filter and the lists.
pub(crate) async fn project_associations(db: &Db, table: &str) -> Result<Vec<(String, String)>> {
    let column = association_column(table);
    Ok(sqlx::query_as(&format!("SELECT {column}, project_id FROM {table} ORDER BY {column}, project_id"))
        .fetch_all(&db.pool)
        .await?)
}
