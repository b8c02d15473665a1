//! Statements built at run time from optional filters, with `$n` placeholders that both
//! backends accept. Column names come from the calling service's code, never from a request;
//! values are always bound.

use sqlx::any::AnyArguments;
use sqlx::Arguments;

/// A bound value.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    S(String),
    I(i64),
    /// A NULL string column.
    Null,
}

impl From<&str> for Val {
    fn from(s: &str) -> Self {
        Val::S(s.to_owned())
    }
}
impl From<&String> for Val {
    fn from(s: &String) -> Self {
        Val::S(s.clone())
    }
}
impl From<String> for Val {
    fn from(s: String) -> Self {
        Val::S(s)
    }
}
impl From<i64> for Val {
    fn from(i: i64) -> Self {
        Val::I(i)
    }
}
impl From<bool> for Val {
    fn from(b: bool) -> Self {
        Val::I(crate::flag(b))
    }
}
impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(v: Option<T>) -> Self {
        v.map_or(Val::Null, Into::into)
    }
}

/// Bound values in placeholder order.
pub fn arguments(vals: &[Val]) -> AnyArguments<'static> {
    let mut args = AnyArguments::default();
    for v in vals {
        // Adding a String, i64 or Option<String> to AnyArguments cannot fail: they are
        // encodable types of every Any backend.
        let _ = match v {
            Val::S(s) => args.add(s.clone()),
            Val::I(i) => args.add(*i),
            Val::Null => args.add(None::<String>),
        };
    }
    args
}

/// `$1, $2, ... $n`: the placeholders of an `IN (...)` list bound with [`arguments`].
/// Takes the lock row `key` of `table` (whose key column is `column`, with a `version`
/// counter) for the rest of the transaction: writing the row first makes PostgreSQL lock it
/// until commit and SQLite take its write lock, so checks and writes under one key (a
/// project's quota, a server group) run one after another, across processes.
pub async fn lock_row(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    table: &'static str,
    column: &'static str,
    key: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO {table} ({column}, version) VALUES ($1, 0) \
         ON CONFLICT ({column}) DO UPDATE SET version = {table}.version + 1"
    ))
    .bind(key)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Sets per-project limits (`resource` to `hard_limit`) in `table`, a quota table of the
/// services' shared shape (`project_id`, `resource`, `hard_limit`), all in one transaction.
pub async fn set_project_limits(
    db: &crate::Db,
    table: &'static str,
    project: &str,
    limits: &[(&str, i64)],
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    for &(resource, limit) in limits {
        sqlx::query(&format!("DELETE FROM {table} WHERE project_id = $1 AND resource = $2"))
            .bind(project)
            .bind(resource)
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!(
            "INSERT INTO {table} (project_id, resource, hard_limit) VALUES ($1, $2, $3)"
        ))
        .bind(project)
        .bind(resource)
        .bind(limit)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// Removes a project's limits from `table` (it falls back to the defaults).
pub async fn delete_project_limits(db: &crate::Db, table: &'static str, project: &str) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("DELETE FROM {table} WHERE project_id = $1"))
        .bind(project)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub fn placeholders(n: usize) -> String {
    (1..=n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// A WHERE clause built from optional conditions.
#[derive(Debug, Default, Clone)]
pub struct Filters {
    clauses: Vec<String>,
    args: Vec<Val>,
}

impl Filters {
    pub fn new() -> Self {
        Self::default()
    }

    /// Binds `v` and returns its placeholder.
    pub fn bind(&mut self, v: impl Into<Val>) -> String {
        self.args.push(v.into());
        format!("${}", self.args.len())
    }

    /// `col = v` when `v` is given.
    pub fn eq<V: Into<Val>>(&mut self, col: &str, v: Option<V>) -> &mut Self {
        if let Some(v) = v {
            let p = self.bind(v);
            self.clauses.push(format!("{col} = {p}"));
        }
        self
    }

    /// `col = 0/1` when `v` is given.
    pub fn eq_flag(&mut self, col: &str, v: Option<bool>) -> &mut Self {
        self.eq(col, v)
    }

    /// A clause written by the caller around the placeholder of `v`.
    pub fn raw(&mut self, clause: impl Fn(&str) -> String, v: impl Into<Val>) -> &mut Self {
        let p = self.bind(v);
        self.clauses.push(clause(&p));
        self
    }

    /// A clause with no bound value, or whose values were bound with [`Filters::bind`].
    pub fn clause(&mut self, clause: impl Into<String>) -> &mut Self {
        self.clauses.push(clause.into());
        self
    }

    /// ` WHERE a AND b`, or nothing.
    pub fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    pub fn args(&self) -> AnyArguments<'static> {
        arguments(&self.args)
    }
}

/// A page of a list: at most `limit` rows after `marker` in id order.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub limit: Option<u32>,
    pub marker: Option<String>,
    /// Sort by these columns (validated by the caller) and then id; true for descending.
    pub sort: Vec<(&'static str, bool)>,
}

/// ` WHERE ... ORDER BY ... LIMIT n+1` for `page` over `table` (which has an `id` column): one
/// row more than the limit, so the caller knows whether a next page exists.
pub fn finish(f: &mut Filters, table: &str, page: &Page) -> String {
    let mut order: Vec<String> = page
        .sort
        .iter()
        .map(|(c, d)| format!("{c} {}", if *d { "DESC" } else { "ASC" }))
        .collect();
    let desc = page.sort.last().is_some_and(|s| s.1);
    // The id breaks ties, in the direction of the last key; a sort that ends with the id
    // already has it.
    let by_id = page.sort.last().is_some_and(|(c, _)| *c == "id");
    if !by_id {
        order.push(format!("id {}", if desc { "DESC" } else { "ASC" }));
    }
    if let Some(m) = &page.marker {
        // Keyset pagination: rows after the marker row in the same order.
        let mut alts = Vec::new();
        let keys: Vec<(&str, bool)> = page
            .sort
            .iter()
            .copied()
            .chain((!by_id).then_some(("id", desc)))
            .collect();
        for n in 0..keys.len() {
            let mut parts = Vec::new();
            for (c, _) in &keys[..n] {
                let p = f.bind(m.as_str());
                parts.push(format!("{c} = (SELECT {c} FROM {table} WHERE id = {p})"));
            }
            let (c, d) = keys[n];
            let p = f.bind(m.as_str());
            parts.push(format!(
                "{c} {} (SELECT {c} FROM {table} WHERE id = {p})",
                if d { "<" } else { ">" }
            ));
            alts.push(format!("({})", parts.join(" AND ")));
        }
        f.clause(format!("({})", alts.join(" OR ")));
    }
    let mut sql = format!("{} ORDER BY {}", f.sql(), order.join(", "));
    if let Some(l) = page.limit {
        sql.push_str(&format!(" LIMIT {}", l as u64 + 1));
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_in_order() {
        let mut f = Filters::new();
        f.eq("name", Some("a"))
            .eq::<&str>("owner", None)
            .eq_flag("enabled", Some(true));
        f.raw(|p| format!("size >= {p}"), 10i64);
        assert_eq!(f.sql(), " WHERE name = $1 AND enabled = $2 AND size >= $3");
        assert_eq!(f.args, vec![Val::S("a".into()), Val::I(1), Val::I(10)]);
        assert_eq!(placeholders(3), "$1, $2, $3");
    }
}
