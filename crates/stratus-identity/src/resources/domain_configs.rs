//! Domain-specific configuration (`/v3/domains/{id}/config`): per-domain values of the
//! `identity` and `ldap` option groups, validated against the options Keystone allows there,
//! kept in the store, and served beside the defaults. Stratus's identity backend is SQL for
//! every domain: a stored `identity.driver` other than `sql` is kept and shown, as Keystone
//! keeps it when domain-specific drivers are off, but does not switch the backend.

use serde_json::{json, Map, Value};
use stratus_api::{AuthContext, Target};

use crate::error::{IdentityError, Result};
use crate::store;
use crate::IdentityService;

/// The config of one domain: groups of options.
pub type DomainConfig = Map<String, Value>;

/// Options that are stored but never shown.
const SENSITIVE: [(&str, &str); 1] = [("ldap", "password")];

/// The groups and options a domain may set, with Keystone's defaults.
const DEFAULTS: &str = r#"{
        "identity": {"driver": "sql", "list_limit": null},
        "ldap": {
            "url": "ldap://localhost", "user": null, "suffix": "cn=example,cn=com", "query_scope": "one",
            "page_size": 0, "alias_dereferencing": "default", "debug_level": null, "chase_referrals": null,
            "user_tree_dn": null, "user_filter": null, "user_objectclass": "inetOrgPerson",
            "user_id_attribute": "cn", "user_name_attribute": "sn", "user_mail_attribute": "mail",
            "user_description_attribute": "description", "user_pass_attribute": "userPassword",
            "user_enabled_attribute": "enabled", "user_enabled_invert": false, "user_enabled_mask": 0,
            "user_enabled_default": "True", "user_attribute_ignore": ["default_project_id"],
            "user_default_project_id_attribute": null, "user_enabled_emulation": false,
            "user_enabled_emulation_dn": null, "user_enabled_emulation_use_group_config": false,
            "user_additional_attribute_mapping": [], "group_tree_dn": null, "group_filter": null,
            "group_objectclass": "groupOfNames", "group_id_attribute": "cn", "group_name_attribute": "ou",
            "group_members_are_ids": false, "group_member_attribute": "member",
            "group_desc_attribute": "description", "group_attribute_ignore": [],
            "group_additional_attribute_mapping": [], "tls_cacertfile": null, "tls_cacertdir": null,
            "use_tls": false, "tls_req_cert": "demand", "use_pool": true, "pool_size": 10, "pool_retry_max": 3,
            "pool_retry_delay": 0.1, "pool_connection_timeout": -1, "pool_connection_lifetime": 600,
            "use_auth_pool": true, "auth_pool_size": 100, "auth_pool_connection_lifetime": 60
        }
    }"#;

pub fn defaults() -> DomainConfig {
    static PARSED: std::sync::OnceLock<DomainConfig> = std::sync::OnceLock::new();
    PARSED
        .get_or_init(|| serde_json::from_str(DEFAULTS).unwrap_or_default())
        .clone()
}

fn invalid(msg: String) -> IdentityError {
    // Keystone answers InvalidDomainConfig with 403.
    IdentityError::Denied(format!("Invalid domain specific configuration: {msg}"))
}

fn allowed(group: &str, option: &str) -> bool {
    SENSITIVE.contains(&(group, option))
        || defaults().get(group).and_then(Value::as_object).is_some_and(|g| g.contains_key(option))
}

/// Checks a config (or part of one) names only allowed, non-empty groups and options.
fn check(config: &DomainConfig) -> Result<()> {
    if config.is_empty() {
        return Err(invalid("the config is empty.".into()));
    }
    for (group, options) in config {
        if !defaults().contains_key(group) {
            return Err(invalid(format!("group {group} is not one a domain may set.")));
        }
        let Some(options) = options.as_object().filter(|o| !o.is_empty()) else {
            return Err(invalid(format!("group {group} must be a non-empty object.")));
        };
        for option in options.keys() {
            if !allowed(group, option) {
                return Err(invalid(format!("option {option} in group {group} is not one a domain may set.")));
            }
        }
    }
    Ok(())
}

fn to_rows(config: &DomainConfig) -> Vec<(String, String, Value)> {
    let mut rows = Vec::new();
    for (g, options) in config {
        if let Some(o) = options.as_object() {
            for (k, v) in o {
                rows.push((g.clone(), k.clone(), v.clone()));
            }
        }
    }
    rows
}

fn from_rows(rows: Vec<(String, String, Value)>, show_sensitive: bool) -> DomainConfig {
    let mut out = Map::new();
    for (g, o, v) in rows {
        if !show_sensitive && SENSITIVE.contains(&(g.as_str(), o.as_str())) {
            continue;
        }
        if let Value::Object(group) = out.entry(g).or_insert_with(|| Value::Object(Map::new())) {
            group.insert(o, v);
        }
    }
    out
}

/// Adds `changes` into `base`, option by option.
fn merge(base: &mut DomainConfig, changes: &DomainConfig) {
    for (g, options) in changes {
        if let (Value::Object(into), Some(from)) =
            (base.entry(g.clone()).or_insert_with(|| Value::Object(Map::new())), options.as_object())
        {
            for (k, v) in from {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

impl IdentityService {
    async fn config_domain(&self, id: &str) -> Result<()> {
        store::get_domain(self.db(), id).await?.ok_or_else(|| IdentityError::not_found("domain", id))?;
        Ok(())
    }

    async fn stored_config(&self, domain_id: &str) -> Result<DomainConfig> {
        Ok(from_rows(store::domain_config(self.db(), domain_id).await?, true))
    }

    /// `PUT`: sets the whole config; true when the domain had none before (201).
    pub async fn put_domain_config(&self, caller: &AuthContext, domain_id: &str, config: DomainConfig) -> Result<(bool, DomainConfig)> {
        self.enforce("identity:create_domain_config", caller, &Target::new())?;
        self.config_domain(domain_id).await?;
        check(&config)?;
        let existed = !self.stored_config(domain_id).await?.is_empty();
        store::replace_domain_config(self.db(), domain_id, &to_rows(&config)).await?;
        Ok((!existed, self.shown_config(domain_id).await?))
    }

    async fn shown_config(&self, domain_id: &str) -> Result<DomainConfig> {
        Ok(from_rows(store::domain_config(self.db(), domain_id).await?, false))
    }

    /// `GET`: the config, one group of it, or one option; 404 for what is not set.
    pub async fn get_domain_config(
        &self,
        caller: &AuthContext,
        domain_id: &str,
        group: Option<&str>,
        option: Option<&str>,
    ) -> Result<Value> {
        self.enforce("identity:get_domain_config", caller, &Target::new())?;
        self.config_domain(domain_id).await?;
        let config = self.shown_config(domain_id).await?;
        let missing = |what: String| IdentityError::not_found("domain config", format!("{what} of domain {domain_id}"));
        match (group, option) {
            (None, _) if config.is_empty() => Err(missing("any option".into())),
            (None, _) => Ok(Value::Object(config)),
            (Some(g), None) => {
                let v = config.get(g).cloned().ok_or_else(|| missing(format!("group {g}")))?;
                Ok(json!({ g: v }))
            }
            (Some(g), Some(o)) => {
                let v = config
                    .get(g)
                    .and_then(|x| x.get(o))
                    .cloned()
                    .ok_or_else(|| missing(format!("option {o} in group {g}")))?;
                Ok(json!({ o: v }))
            }
        }
    }

    /// `PATCH`: merges into the whole config, or into one group or option that must already
    /// be set. Answers with the whole config.
    pub async fn update_domain_config(
        &self,
        caller: &AuthContext,
        domain_id: &str,
        group: Option<&str>,
        option: Option<&str>,
        body: DomainConfig,
    ) -> Result<DomainConfig> {
        self.enforce("identity:update_domain_config", caller, &Target::new())?;
        self.config_domain(domain_id).await?;
        let mut stored = self.stored_config(domain_id).await?;
        let changes: DomainConfig = match (group, option) {
            (None, _) => body,
            (Some(g), None) => {
                if body.len() != 1 || !body.contains_key(g) {
                    return Err(invalid(format!("the body must hold exactly group {g}.")));
                }
                if !stored.contains_key(g) {
                    return Err(IdentityError::not_found("domain config", format!("group {g} of domain {domain_id}")));
                }
                body
            }
            (Some(g), Some(o)) => {
                if body.len() != 1 || !body.contains_key(o) {
                    return Err(invalid(format!("the body must hold exactly option {o}.")));
                }
                if stored.get(g).and_then(|x| x.get(o)).is_none() {
                    return Err(IdentityError::not_found("domain config", format!("option {o} in group {g} of domain {domain_id}")));
                }
                let mut m = Map::new();
                m.insert(g.to_owned(), Value::Object(body));
                m
            }
        };
        check(&changes)?;
        merge(&mut stored, &changes);
        store::replace_domain_config(self.db(), domain_id, &to_rows(&stored)).await?;
        self.shown_config(domain_id).await
    }

    /// `DELETE`: the whole config, a group, or an option (404 when not set).
    pub async fn delete_domain_config(&self, caller: &AuthContext, domain_id: &str, group: Option<&str>, option: Option<&str>) -> Result<()> {
        self.enforce("identity:delete_domain_config", caller, &Target::new())?;
        self.config_domain(domain_id).await?;
        let mut stored = self.stored_config(domain_id).await?;
        let gone = match (group, option) {
            (None, _) => {
                let had = !stored.is_empty();
                stored.clear();
                had
            }
            (Some(g), None) => stored.remove(g).is_some(),
            (Some(g), Some(o)) => {
                let removed = stored.get_mut(g).and_then(Value::as_object_mut).and_then(|m| m.remove(o)).is_some();
                if stored.get(g).and_then(Value::as_object).is_some_and(Map::is_empty) {
                    stored.remove(g);
                }
                removed
            }
        };
        if !gone {
            return Err(IdentityError::not_found("domain config", format!("what to delete of domain {domain_id}")));
        }
        store::replace_domain_config(self.db(), domain_id, &to_rows(&stored)).await?;
        Ok(())
    }

    /// The defaults: all of them, a group's, or one option's.
    pub async fn default_domain_config(&self, caller: &AuthContext, group: Option<&str>, option: Option<&str>) -> Result<Value> {
        self.enforce("identity:get_domain_config_default", caller, &Target::new())?;
        let d = defaults();
        match (group, option) {
            (None, _) => Ok(Value::Object(d)),
            (Some(g), o) => {
                let grp = d.get(g).ok_or_else(|| invalid(format!("group {g} is not one a domain may set.")))?;
                match o {
                    None => Ok(json!({ g: grp })),
                    Some(o) => {
                        let v = grp
                            .get(o)
                            .ok_or_else(|| invalid(format!("option {o} in group {g} is not one a domain may set.")))?;
                        Ok(json!({ o: v }))
                    }
                }
            }
        }
    }
}
