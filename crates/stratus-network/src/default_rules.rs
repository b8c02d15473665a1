//! The rule templates every new security group is made from (Neutron's
//! `security-groups-default-rules`): administrators add and remove them, any reader lists
//! them. A template changes the groups made after it, never the groups already there.
//!
//! A template is checked as a rule is (`rules.rs`); its remote group is `PARENT` (the group
//! being made) or an existing group. Two templates that are the same rule and are both meant
//! for the `default` group, or both for other groups, are one too many (409).

use stratus_api::{AuthContext, Target};
use stratus_store::now_micros;
use stratus_store::sql::{Filters, Page};

use crate::db;
use crate::error::{NetworkError, Result};
use crate::inputs::DefaultRuleInput;
use crate::model::{DefaultSecurityGroupRule, PARENT_GROUP};
use crate::networks::{flag, integer, Filter};
use crate::rules::{self, RuleAsked, RuleKey};
use crate::secgroups::ethertype_filter;
use crate::{new_id, NetworkService};

fn key_of(r: &DefaultSecurityGroupRule) -> RuleKey<'_> {
    RuleKey::new(
        &r.direction,
        &r.ethertype,
        r.protocol.as_deref(),
        (r.port_range_min, r.port_range_max),
        r.remote_group_id.as_deref(),
        r.normalized_cidr.as_deref(),
    )
}

fn not_found(id: &str) -> NetworkError {
    NetworkError::NotFound {
        kind: "DefaultSecurityGroupRuleNotFound",
        message: format!("Default Security Group rule {id} does not exist"),
    }
}

fn required(field: &str) -> NetworkError {
    NetworkError::invalid_as(
        "HTTPBadRequest",
        format!("Failed to parse request. Required attribute '{field}' not specified"),
    )
}

impl NetworkService {
    pub async fn create_default_security_group_rule(
        &self,
        caller: &AuthContext,
        input: DefaultRuleInput,
    ) -> Result<DefaultSecurityGroupRule> {
        self.enforce("create_default_security_group_rule", caller, &Target::new())?;
        let used_in_default_sg = input.used_in_default_sg.ok_or_else(|| required("used_in_default_sg"))?;
        let used_in_non_default_sg = input
            .used_in_non_default_sg
            .ok_or_else(|| required("used_in_non_default_sg"))?;
        if input.direction.is_none() {
            return Err(required("direction"));
        }
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
        if let Some(g) = checked.remote_group_id.as_deref().filter(|g| *g != PARENT_GROUP) {
            if db::get_security_group(self.db(), g).await?.is_none() {
                return Err(NetworkError::not_found("SecurityGroupNotFound", "Security group", g));
            }
        }
        let r = DefaultSecurityGroupRule {
            id: new_id(),
            direction: checked.direction,
            ethertype: checked.ethertype,
            protocol: checked.protocol,
            port_range_min: checked.port_range_min,
            port_range_max: checked.port_range_max,
            remote_ip_prefix: checked.remote_ip_prefix,
            normalized_cidr: checked.normalized_cidr,
            remote_group_id: checked.remote_group_id,
            description: checked.description,
            used_in_default_sg,
            used_in_non_default_sg,
            created_at: now_micros(),
        };
        let duplicate = |o: &DefaultSecurityGroupRule| {
            key_of(o) == key_of(&r)
                && ((o.used_in_default_sg && r.used_in_default_sg)
                    || (o.used_in_non_default_sg && r.used_in_non_default_sg))
        };
        if let Some(dup) = db::insert_default_rule(self.db(), &r, duplicate).await? {
            return Err(NetworkError::conflict(
                "DefaultSecurityGroupRuleExists",
                format!("Default Security group rule already exists. Rule id is {dup}."),
            ));
        }
        tracing::info!(template = %r.id, "default security group rule created");
        Ok(r)
    }

    pub async fn get_default_security_group_rule(
        &self,
        caller: &AuthContext,
        id: &str,
    ) -> Result<DefaultSecurityGroupRule> {
        self.enforce("get_default_security_group_rule", caller, &Target::new())?;
        db::get_default_rule(self.db(), id).await?.ok_or_else(|| not_found(id))
    }

    pub async fn list_default_security_group_rules(
        &self,
        caller: &AuthContext,
        filter: &Filter,
        page: &Page,
    ) -> Result<Vec<DefaultSecurityGroupRule>> {
        self.enforce("get_default_security_group_rule", caller, &Target::new())?;
        let mut f = Filters::new();
        for (k, v) in filter {
            match k.as_str() {
                "id" | "direction" | "remote_ip_prefix" | "remote_group_id" | "description" => {
                    f.eq(k, Some(v.as_str()));
                }
                "ethertype" => {
                    f.eq(k, Some(ethertype_filter(v)));
                }
                "protocol" => {
                    f.eq(k, Some(v.to_ascii_lowercase()));
                }
                "port_range_min" | "port_range_max" => {
                    f.eq(k, Some(integer(v)?));
                }
                "used_in_default_sg" | "used_in_non_default_sg" => {
                    f.eq_flag(k, Some(flag(k, v)?));
                }
                // No template names an address group: address groups are not supported here.
                "remote_address_group_id" => {
                    f.clause("1 = 0");
                }
                _ => {
                    return Err(NetworkError::invalid(format!(
                        "{k} is not a valid filter attribute of default security group rules"
                    )))
                }
            }
        }
        Ok(db::list_default_rules(self.db(), f, page).await?)
    }

    /// Removes a template; the groups made from it keep their rules.
    pub async fn delete_default_security_group_rule(&self, caller: &AuthContext, id: &str) -> Result<()> {
        self.enforce("delete_default_security_group_rule", caller, &Target::new())?;
        if !db::delete_default_rule(self.db(), id).await? {
            return Err(not_found(id));
        }
        tracing::info!(template = %id, "default security group rule deleted");
        Ok(())
    }
}
