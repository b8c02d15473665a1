//! Security groups and their rules, with the `default` group every project gets on first use.
//! A new group starts with the rules of the templates (`default_rules.rs`) meant for its kind.

use stratus_api::{AuthContext, Target};
use stratus_store::now_micros;
use stratus_store::sql::Filters;

use crate::db;
use crate::error::{NetworkError, Result};
use crate::inputs::{RuleInput, SecurityGroupInput};
use crate::model::{DefaultSecurityGroupRule, SecurityGroup, SecurityGroupRule, PARENT_GROUP};
use crate::networks::{flag, integer, target, Filter};
use crate::rules::{self, RuleAsked, RuleKey};
use crate::tags::{tag_filter, TagKind};
use crate::{check_len, is_admin, new_id, owner_of, NetworkService};
use stratus_store::sql::Page;

/// The rule `template` makes in `group`; None when it names a remote group that is gone.
fn from_template(
    group: &SecurityGroup,
    template: &DefaultSecurityGroupRule,
    remote_exists: impl Fn(&str) -> bool,
    now: i64,
) -> Option<SecurityGroupRule> {
    let remote_group_id = match template.remote_group_id.as_deref() {
        Some(PARENT_GROUP) => Some(group.id.clone()),
        Some(other) if !remote_exists(other) => {
            tracing::warn!(template = %template.id, remote_group = %other, "a default rule names a security group that is gone; skipped");
            return None;
        }
        other => other.map(str::to_owned),
    };
    Some(SecurityGroupRule {
        id: new_id(),
        security_group_id: group.id.clone(),
        project_id: group.project_id.clone(),
        direction: template.direction.clone(),
        ethertype: template.ethertype.clone(),
        protocol: template.protocol.clone(),
        port_range_min: template.port_range_min,
        port_range_max: template.port_range_max,
        remote_ip_prefix: template.remote_ip_prefix.clone(),
        normalized_cidr: template.normalized_cidr.clone(),
        remote_group_id,
        description: template.description.clone(),
        revision_number: 1,
        created_at: now,
        updated_at: now,
    })
}

/// An ethertype filter as Neutron converts it (`ipv4` is `IPv4`); others stay as given and
/// match nothing.
pub(crate) fn ethertype_filter(v: &str) -> String {
    match v.to_ascii_lowercase().as_str() {
        "ipv4" => "IPv4".into(),
        "ipv6" => "IPv6".into(),
        _ => v.to_owned(),
    }
}

/// The key a rule is compared by for duplicates.
pub(crate) fn key_of(r: &SecurityGroupRule) -> RuleKey<'_> {
    RuleKey::new(
        &r.direction,
        &r.ethertype,
        r.protocol.as_deref(),
        (r.port_range_min, r.port_range_max),
        r.remote_group_id.as_deref(),
        r.normalized_cidr.as_deref(),
    )
}

impl NetworkService {
    /// The rules a new group starts with: those of the templates for its kind, in the order
    /// the templates were made.
    async fn initial_rules(&self, g: &SecurityGroup, default_group: bool) -> Result<Vec<SecurityGroupRule>> {
        let templates = db::templates_for(self.db(), default_group).await?;
        let mut existing = Vec::new();
        for t in &templates {
            if let Some(r) = t.remote_group_id.as_deref().filter(|r| *r != PARENT_GROUP) {
                if db::get_security_group(self.db(), r).await?.is_some() {
                    existing.push(r.to_owned());
                }
            }
        }
        let now = g.created_at;
        Ok(templates
            .iter()
            .filter_map(|t| from_template(g, t, |r| existing.iter().any(|e| e == r), now))
            .collect())
    }

    /// The project's `default` group, made on first use with the rules the templates give the
    /// default group (at first Neutron's four: all egress, and ingress from members of the
    /// group, for IPv4 and IPv6).
    pub async fn default_security_group(&self, project_id: &str) -> Result<String> {
        if let Some(id) = db::default_security_group(self.db(), project_id).await? {
            return Ok(id);
        }
        let now = now_micros();
        let mut g = SecurityGroup {
            id: new_id(),
            name: "default".into(),
            description: "Default security group".into(),
            project_id: project_id.to_owned(),
            stateful: true,
            rules: Vec::new(),
            revision_number: 1,
            created_at: now,
            updated_at: now,
            tags: Vec::new(),
        };
        g.rules = self.initial_rules(&g, true).await?;
        // The default group is the service's own doing: no quota stops it (it counts, as in
        // Neutron).
        match db::insert_security_group(self.db(), &g, true, None).await {
            Ok(_) => Ok(g.id),
            // Another request made it first.
            Err(stratus_store::StoreError::Conflict(_)) => {
                db::default_security_group(self.db(), project_id).await?.ok_or_else(|| {
                    NetworkError::conflict("Conflict", "The default security group is being created; try again.")
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn create_security_group(
        &self,
        caller: &AuthContext,
        input: SecurityGroupInput,
    ) -> Result<SecurityGroup> {
        let project_id = owner_of(caller, input.project_id.as_deref(), input.tenant_id.as_deref())?;
        self.enforce("create_security_group", caller, &target(&project_id))?;
        let name = input.name.unwrap_or_default();
        check_len("name", &name)?;
        let description = input.description.unwrap_or_default();
        check_len("description", &description)?;
        if name.eq_ignore_ascii_case("default") {
            return Err(NetworkError::conflict(
                "SecurityGroupDefaultAlreadyExists",
                "Default security group already exists.",
            ));
        }
        self.default_security_group(&project_id).await?;
        let within = self.quota_for(&project_id, "security_group").await?;
        let now = now_micros();
        let mut g = SecurityGroup {
            id: new_id(),
            name,
            description,
            project_id,
            stateful: input.stateful.unwrap_or(true),
            rules: Vec::new(),
            revision_number: 1,
            created_at: now,
            updated_at: now,
            tags: Vec::new(),
        };
        g.rules = self.initial_rules(&g, false).await?;
        db::insert_security_group(self.db(), &g, false, within).await??;
        // The order a show lists them in (the store's: time made, then id), so that create and
        // show agree.
        g.rules
            .sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(g)
    }

    pub(crate) async fn visible_security_group(&self, caller: &AuthContext, id: &str) -> Result<SecurityGroup> {
        match db::get_security_group(self.db(), id).await? {
            Some(g) if is_admin(caller) || caller.project_id() == Some(g.project_id.as_str()) => Ok(g),
            _ => Err(NetworkError::not_found("SecurityGroupNotFound", "Security group", id)),
        }
    }

    pub async fn get_security_group(&self, caller: &AuthContext, id: &str) -> Result<SecurityGroup> {
        let g = self.visible_security_group(caller, id).await?;
        self.enforce("get_security_group", caller, &target(&g.project_id))?;
        Ok(g)
    }

    pub async fn list_security_groups(
        &self,
        caller: &AuthContext,
        filter: &Filter,
        page: &Page,
    ) -> Result<Vec<SecurityGroup>> {
        self.enforce(
            "get_security_group",
            caller,
            &Target::new().opt("project_id", caller.project_id()),
        )?;
        // As Neutron: the project asked about (an administrator's filter) or the caller's own
        // gets its default group now, so that the list shows it.
        let asked = filter
            .iter()
            .find(|(k, _)| k == "project_id" || k == "tenant_id")
            .map(|(_, v)| v.as_str())
            .filter(|_| is_admin(caller));
        if let Some(p) = asked.or(caller.project_id()) {
            self.default_security_group(p).await?;
        }
        let mut f = Filters::new();
        if !is_admin(caller) {
            f.eq("project_id", Some(caller.project_id().unwrap_or("")));
        }
        for (k, v) in filter {
            match k.as_str() {
                "id" | "name" | "description" | "project_id" => {
                    f.eq(k, Some(v.as_str()));
                }
                "tenant_id" => {
                    f.eq("project_id", Some(v.as_str()));
                }
                "stateful" => {
                    f.eq_flag(k, Some(flag(k, v)?));
                }
                "revision_number" => {
                    f.eq(k, Some(integer(v)?));
                }
                t if tag_filter(&mut f, TagKind::SecurityGroups, t, v) => {}
                _ => {
                    return Err(NetworkError::invalid(format!(
                        "{k} is not a valid filter attribute of security groups"
                    )))
                }
            }
        }
        Ok(db::list_security_groups(self.db(), f, page).await?)
    }

    pub async fn update_security_group(
        &self,
        caller: &AuthContext,
        id: &str,
        input: SecurityGroupInput,
    ) -> Result<SecurityGroup> {
        let mut g = self.visible_security_group(caller, id).await?;
        self.enforce("update_security_group", caller, &target(&g.project_id))?;
        if let Some(n) = input.name {
            check_len("name", &n)?;
            let is_default = db::is_default_group(self.db(), id).await?;
            if is_default && n != g.name {
                return Err(NetworkError::conflict(
                    "SecurityGroupCannotUpdateDefault",
                    "Updating default security group not allowed.",
                ));
            }
            // Neutron's name_not_default: only the project's default group is called that.
            if !is_default && n.eq_ignore_ascii_case("default") {
                return Err(NetworkError::conflict(
                    "SecurityGroupDefaultAlreadyExists",
                    "Default security group already exists.",
                ));
            }
            g.name = n;
        }
        if let Some(d) = input.description {
            check_len("description", &d)?;
            g.description = d;
        }
        g.revision_number += 1;
        g.updated_at = now_micros();
        db::update_security_group(self.db(), &g).await?;
        Ok(g)
    }

    pub async fn delete_security_group(&self, caller: &AuthContext, id: &str) -> Result<()> {
        let g = self.visible_security_group(caller, id).await?;
        self.enforce("delete_security_group", caller, &target(&g.project_id))?;
        if db::is_default_group(self.db(), id).await? && !is_admin(caller) {
            return Err(NetworkError::conflict(
                "SecurityGroupCannotRemoveDefault",
                "Removing default security group not allowed.",
            ));
        }
        if !db::delete_security_group(self.db(), id).await? {
            return Err(NetworkError::conflict(
                "SecurityGroupInUse",
                format!("Security Group {id} in use."),
            ));
        }
        Ok(())
    }

    pub async fn create_security_group_rule(
        &self,
        caller: &AuthContext,
        input: RuleInput,
    ) -> Result<SecurityGroupRule> {
        let group_id = input
            .security_group_id
            .clone()
            .ok_or_else(|| NetworkError::invalid("'security_group_id' is required"))?;
        let g = self.visible_security_group(caller, &group_id).await?;
        self.enforce("create_security_group_rule", caller, &target(&g.project_id))?;
        let checked = rules::check(RuleAsked {
            direction: input.direction,
            ethertype: input.ethertype,
            protocol: input.protocol,
            port_range_min: input.port_range_min,
            port_range_max: input.port_range_max,
            remote_ip_prefix: input.remote_ip_prefix,
            remote_group_id: input.remote_group_id,
            remote_address_group_id: input.remote_address_group_id.is_some_and(|v| !v.is_null()),
            description: input.description,
        })?;
        if let Some(rg) = &checked.remote_group_id {
            self.visible_security_group(caller, rg).await?;
        }
        let now = now_micros();
        let r = SecurityGroupRule {
            id: new_id(),
            security_group_id: g.id.clone(),
            project_id: g.project_id.clone(),
            direction: checked.direction,
            ethertype: checked.ethertype,
            protocol: checked.protocol,
            port_range_min: checked.port_range_min,
            port_range_max: checked.port_range_max,
            remote_ip_prefix: checked.remote_ip_prefix,
            normalized_cidr: checked.normalized_cidr,
            remote_group_id: checked.remote_group_id,
            description: checked.description,
            revision_number: 1,
            created_at: now,
            updated_at: now,
        };
        if let Some(dup) = g.rules.iter().find(|o| key_of(o) == key_of(&r)) {
            return Err(NetworkError::conflict(
                "SecurityGroupRuleExists",
                format!("Security group rule already exists. Rule id is {}.", dup.id),
            ));
        }
        let within = self.quota_for(&r.project_id, "security_group_rule").await?;
        db::insert_rule(self.db(), &r, within).await??;
        Ok(r)
    }

    pub async fn get_security_group_rule(&self, caller: &AuthContext, id: &str) -> Result<SecurityGroupRule> {
        match db::get_rule(self.db(), id).await? {
            Some(r) if is_admin(caller) || caller.project_id() == Some(r.project_id.as_str()) => {
                self.enforce("get_security_group_rule", caller, &target(&r.project_id))?;
                Ok(r)
            }
            _ => Err(NetworkError::not_found(
                "SecurityGroupRuleNotFound",
                "Security group rule",
                id,
            )),
        }
    }

    pub async fn list_security_group_rules(
        &self,
        caller: &AuthContext,
        filter: &Filter,
        page: &Page,
    ) -> Result<Vec<SecurityGroupRule>> {
        self.enforce(
            "get_security_group_rule",
            caller,
            &Target::new().opt("project_id", caller.project_id()),
        )?;
        let mut f = Filters::new();
        if !is_admin(caller) {
            f.eq("project_id", Some(caller.project_id().unwrap_or("")));
        }
        for (k, v) in filter {
            match k.as_str() {
                "id" | "security_group_id" | "direction" | "remote_ip_prefix" | "normalized_cidr"
                | "remote_group_id" | "project_id" | "description" => {
                    f.eq(k, Some(v.as_str()));
                }
                // Stored as Neutron converts them: IPv4/IPv6, lower-case protocol names.
                "ethertype" => {
                    f.eq(k, Some(ethertype_filter(v)));
                }
                "protocol" => {
                    f.eq(k, Some(v.to_ascii_lowercase()));
                }
                "tenant_id" => {
                    f.eq("project_id", Some(v.as_str()));
                }
                "port_range_min" | "port_range_max" | "revision_number" => {
                    f.eq(k, Some(integer(v)?));
                }
                _ => {
                    return Err(NetworkError::invalid(format!(
                        "{k} is not a valid filter attribute of security group rules"
                    )))
                }
            }
        }
        Ok(db::list_rules(self.db(), f, page).await?)
    }

    pub async fn delete_security_group_rule(&self, caller: &AuthContext, id: &str) -> Result<()> {
        let r = self.get_security_group_rule(caller, id).await?;
        self.enforce("delete_security_group_rule", caller, &target(&r.project_id))?;
        db::delete_rule(self.db(), id).await?;
        Ok(())
    }
}
