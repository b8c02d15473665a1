//! Policy as data: named rules in oslo.policy's rule language, a default set per service,
//! overridable by an operator's YAML or JSON file.
//!
//! Supported syntax: `role:NAME`, `rule:NAME`, `system_scope:all`, `user_id:`, `project_id:`,
//! `domain_id:` and `user_domain_id:` compared with a literal or a `%(target.key)s` reference,
//! `@` (always), `!` (never), the empty rule (always), `and`, `or`, `not` and parentheses.
//! Rules are parsed once at start; a bad rule stops the service from starting, not a request.

use std::collections::HashMap;
use std::path::Path;

use crate::auth::AuthContext;
use crate::error::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("policy rule '{name}': {problem}")]
    Parse { name: String, problem: String },
    #[error("policy rule '{name}' refers to undefined rule '{missing}'")]
    Undefined { name: String, missing: String },
    #[error("reading policy file {path}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("policy file {path} is not a map of rule names to rule strings")]
    Format {
        path: String,
        #[source]
        source: serde_yaml::Error,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Always,
    Never,
    Role(String),
    Rule(String),
    SystemScope,
    /// A credential attribute compared with a literal or a target value.
    Match {
        cred: CredKey,
        value: Value,
    },
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum CredKey {
    UserId,
    ProjectId,
    DomainId,
    UserDomainId,
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Literal(String),
    Target(String),
}

/// Values of the object an action is applied to, by key (`target.project.id`, ...).
#[derive(Debug, Default, Clone)]
pub struct Target(HashMap<String, String>);

impl Target {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.0.insert(key.to_owned(), value.into());
        self
    }
    pub fn opt(self, key: &str, value: Option<&str>) -> Self {
        match value {
            Some(v) => self.with(key, v),
            None => self,
        }
    }
}

/// A parsed, checked rule set.
#[derive(Debug, Clone)]
pub struct Policy {
    rules: HashMap<String, Expr>,
}

impl Policy {
    /// Parses `defaults` (a YAML or JSON map of name → rule) and, over it, the operator's file.
    pub fn load(defaults: &str, overrides: Option<&Path>) -> Result<Self, PolicyError> {
        let mut raw: HashMap<String, String> =
            serde_yaml::from_str(defaults).map_err(|source| PolicyError::Format {
                path: "<defaults>".into(),
                source,
            })?;
        if let Some(path) = overrides {
            let text = std::fs::read_to_string(path).map_err(|source| PolicyError::File {
                path: path.display().to_string(),
                source,
            })?;
            let over: HashMap<String, String> = serde_yaml::from_str(&text).map_err(|source| PolicyError::Format {
                path: path.display().to_string(),
                source,
            })?;
            raw.extend(over);
        }
        let mut rules = HashMap::new();
        for (name, text) in &raw {
            let expr = parse(text).map_err(|problem| PolicyError::Parse {
                name: name.clone(),
                problem,
            })?;
            rules.insert(name.clone(), expr);
        }
        let policy = Policy { rules };
        for (name, expr) in &policy.rules {
            if let Some(missing) = policy.undefined(expr) {
                return Err(PolicyError::Undefined {
                    name: name.clone(),
                    missing,
                });
            }
        }
        Ok(policy)
    }

    fn undefined(&self, expr: &Expr) -> Option<String> {
        match expr {
            Expr::Rule(r) if !self.rules.contains_key(r) => Some(r.clone()),
            Expr::Not(e) => self.undefined(e),
            Expr::And(v) | Expr::Or(v) => v.iter().find_map(|e| self.undefined(e)),
            _ => None,
        }
    }

    /// Whether `ctx` may perform `action` on `target`. An action with no rule is refused: a
    /// missing default is a bug that must not open access.
    pub fn allows(&self, action: &str, ctx: &AuthContext, target: &Target) -> bool {
        match self.rules.get(action) {
            Some(expr) => self.eval(expr, ctx, target, 0),
            None => {
                tracing::error!(action, "no policy rule for action; refusing");
                false
            }
        }
    }

    /// [`Self::allows`], as the 403 Keystone and Nova answer.
    pub fn enforce(&self, action: &str, ctx: &AuthContext, target: &Target) -> Result<(), ApiError> {
        if self.allows(action, ctx, target) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "You are not authorized to perform the requested action: {action}."
            )))
        }
    }

    fn eval(&self, expr: &Expr, ctx: &AuthContext, target: &Target, depth: u32) -> bool {
        // Rules referring to each other in a loop would recurse forever; such a policy denies.
        if depth > 32 {
            return false;
        }
        match expr {
            Expr::Always => true,
            Expr::Never => false,
            Expr::Role(r) => ctx.roles.iter().any(|have| have.name.eq_ignore_ascii_case(r)),
            Expr::Rule(r) => self.rules.get(r).is_some_and(|e| self.eval(e, ctx, target, depth + 1)),
            Expr::SystemScope => ctx.is_system(),
            Expr::Match { cred, value } => {
                let have = match cred {
                    CredKey::UserId => Some(ctx.user_id.as_str()),
                    CredKey::ProjectId => ctx.project_id(),
                    CredKey::DomainId => ctx.domain_id(),
                    CredKey::UserDomainId => Some(ctx.user_domain_id.as_str()),
                };
                let want = match value {
                    Value::Literal(l) => Some(l.as_str()),
                    Value::Target(k) => target.0.get(k).map(String::as_str),
                };
                matches!((have, want), (Some(h), Some(w)) if h == w)
            }
            Expr::Not(e) => !self.eval(e, ctx, target, depth + 1),
            Expr::And(v) => v.iter().all(|e| self.eval(e, ctx, target, depth + 1)),
            Expr::Or(v) => v.iter().any(|e| self.eval(e, ctx, target, depth + 1)),
        }
    }
}

fn tokenize(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for ch in s.chars() {
        // `%(target.x)s` keeps its parentheses.
        let in_reference = cur.ends_with('%') || (cur.contains("%(") && !cur.contains(')'));
        match ch {
            '(' | ')' if in_reference => cur.push(ch),
            '(' | ')' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                out.push(ch.to_string());
            }
            c if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn parse(text: &str) -> Result<Expr, String> {
    let tokens = tokenize(text);
    if tokens.is_empty() {
        return Ok(Expr::Always);
    }
    let mut pos = 0;
    let e = parse_or(&tokens, &mut pos)?;
    if pos != tokens.len() {
        return Err(format!("unexpected '{}'", tokens[pos]));
    }
    Ok(e)
}

fn parse_or(t: &[String], pos: &mut usize) -> Result<Expr, String> {
    let mut items = vec![parse_and(t, pos)?];
    while t.get(*pos).is_some_and(|s| s == "or") {
        *pos += 1;
        items.push(parse_and(t, pos)?);
    }
    Ok(if items.len() == 1 {
        items.remove(0)
    } else {
        Expr::Or(items)
    })
}

fn parse_and(t: &[String], pos: &mut usize) -> Result<Expr, String> {
    let mut items = vec![parse_not(t, pos)?];
    while t.get(*pos).is_some_and(|s| s == "and") {
        *pos += 1;
        items.push(parse_not(t, pos)?);
    }
    Ok(if items.len() == 1 {
        items.remove(0)
    } else {
        Expr::And(items)
    })
}

fn parse_not(t: &[String], pos: &mut usize) -> Result<Expr, String> {
    if t.get(*pos).is_some_and(|s| s == "not") {
        *pos += 1;
        return Ok(Expr::Not(Box::new(parse_not(t, pos)?)));
    }
    parse_atom(t, pos)
}

fn parse_atom(t: &[String], pos: &mut usize) -> Result<Expr, String> {
    let tok = t.get(*pos).ok_or("rule ends too early")?.clone();
    *pos += 1;
    match tok.as_str() {
        "(" => {
            let e = parse_or(t, pos)?;
            if t.get(*pos).map(String::as_str) != Some(")") {
                return Err("missing ')'".into());
            }
            *pos += 1;
            Ok(e)
        }
        "@" => Ok(Expr::Always),
        "!" => Ok(Expr::Never),
        _ => parse_check(&tok),
    }
}

fn parse_check(tok: &str) -> Result<Expr, String> {
    let (kind, rest) = tok
        .split_once(':')
        .ok_or_else(|| format!("'{tok}' is not a check of the form kind:value"))?;
    if rest.is_empty() {
        return Err(format!("'{tok}' has no value"));
    }
    let value = || {
        if let Some(inner) = rest.strip_prefix("%(").and_then(|r| r.strip_suffix(")s")) {
            Value::Target(inner.to_owned())
        } else {
            Value::Literal(rest.to_owned())
        }
    };
    Ok(match kind {
        "role" => Expr::Role(rest.to_owned()),
        "rule" => Expr::Rule(rest.to_owned()),
        "system_scope" if rest == "all" => Expr::SystemScope,
        "user_id" => Expr::Match {
            cred: CredKey::UserId,
            value: value(),
        },
        "project_id" => Expr::Match {
            cred: CredKey::ProjectId,
            value: value(),
        },
        "domain_id" => Expr::Match {
            cred: CredKey::DomainId,
            value: value(),
        },
        "user_domain_id" => Expr::Match {
            cred: CredKey::UserDomainId,
            value: value(),
        },
        _ => return Err(format!("unsupported check '{tok}'")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{RoleRef, Scope};

    fn ctx(roles: &[&str], project: &str) -> AuthContext {
        AuthContext {
            user_id: "u1".into(),
            user_name: "alice".into(),
            user_domain_id: "default".into(),
            user_domain_name: "Default".into(),
            scope: Scope::Project {
                id: project.into(),
                name: "p".into(),
                domain_id: "default".into(),
                domain_name: "Default".into(),
            },
            roles: roles
                .iter()
                .map(|r| RoleRef {
                    id: format!("id-{r}"),
                    name: r.to_string(),
                })
                .collect(),
            methods: vec!["password".into()],
            audit_ids: vec![],
            issued_at: 0,
            expires_at: 0,
            application_credential_id: None,
            trust_id: None,
            access_rules: None,
            token: String::new(),
        }
    }

    const RULES: &str = r#"
admin_required: "role:admin"
project_reader: "role:reader and project_id:%(target.project_id)s"
"thing:get": "rule:admin_required or rule:project_reader"
"thing:open": ""
"thing:never": "!"
"thing:self": "user_id:%(target.user_id)s and not role:admin"
"thing:nested": "(role:reader and project_id:%(target.project_id)s) or (role:admin)"
"#;

    #[test]
    fn personas_and_targets() {
        let p = Policy::load(RULES, None).unwrap();
        let t = Target::new()
            .with("target.project_id", "p1")
            .with("target.user_id", "u1");
        assert!(p.allows("thing:get", &ctx(&["reader"], "p1"), &t));
        assert!(!p.allows("thing:get", &ctx(&["reader"], "p2"), &t));
        assert!(p.allows("thing:get", &ctx(&["admin"], "p2"), &t));
        assert!(p.allows("thing:open", &ctx(&[], "p2"), &t));
        assert!(!p.allows("thing:never", &ctx(&["admin"], "p1"), &t));
        assert!(p.allows("thing:self", &ctx(&["member"], "p1"), &t));
        assert!(!p.allows("thing:self", &ctx(&["admin"], "p1"), &t));
        assert!(p.allows("thing:nested", &ctx(&["reader"], "p1"), &t));
        assert!(!p.allows("thing:nested", &ctx(&["reader"], "p2"), &t));
        assert!(!p.allows("thing:unknown", &ctx(&["admin"], "p1"), &t));
        assert_eq!(
            p.enforce("thing:get", &ctx(&[], "p1"), &t).unwrap_err().kind,
            crate::ErrorKind::Forbidden
        );
    }

    #[test]
    fn overrides_replace_defaults() {
        let dir = std::env::temp_dir().join(format!("policy-{}", uuid::Uuid::new_v4()));
        std::fs::write(&dir, "\"thing:get\": \"role:auditor\"\n").unwrap();
        let p = Policy::load(RULES, Some(&dir)).unwrap();
        std::fs::remove_file(&dir).ok();
        assert!(p.allows("thing:get", &ctx(&["auditor"], "p9"), &Target::new()));
        assert!(!p.allows("thing:get", &ctx(&["admin"], "p9"), &Target::new()));
    }

    #[test]
    fn bad_rules_fail_at_load() {
        assert!(matches!(
            Policy::load("a: \"role:x and (\"", None),
            Err(PolicyError::Parse { .. })
        ));
        assert!(matches!(
            Policy::load("a: \"rule:b\"", None),
            Err(PolicyError::Undefined { .. })
        ));
        assert!(matches!(
            Policy::load("a: \"bogus:x\"", None),
            Err(PolicyError::Parse { .. })
        ));
    }
}
