//! A server's security groups in Nova's shapes: `GET /servers/{id}/os-security-groups` (every
//! microversion, unlike the deprecated top-level `os-security-groups`), and the bodies of the
//! `addSecurityGroup` / `removeSecurityGroup` server actions, which the servers' action
//! dispatch hands here.
//!
//! The groups and the ports are the Network service's; the compute service reads and changes
//! them with the caller's token. Nothing here decides who may.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use stratus_api::{ApiError, Caller};
use stratus_compute::server_security_groups::{RuleSource, SecurityGroupRule, ServerSecurityGroup};

use crate::{fail, reply, ApiState, Out};

/// The server's security group list, for the compute router.
pub(crate) fn routes() -> Router<ApiState> {
    Router::new().route("/servers/{id}/os-security-groups", get(list_server_security_groups))
}

fn rule_view(r: &SecurityGroupRule) -> Value {
    let (group, ip_range) = match &r.source {
        RuleSource::Cidr(cidr) => (json!({}), json!({ "cidr": cidr })),
        RuleSource::Group { name, tenant_id } => (json!({"name": name, "tenant_id": tenant_id}), json!({})),
    };
    json!({
        "id": r.id,
        "parent_group_id": r.parent_group_id,
        "ip_protocol": r.ip_protocol,
        "from_port": r.from_port,
        "to_port": r.to_port,
        "group": group,
        "ip_range": ip_range,
    })
}

fn group_view(g: &ServerSecurityGroup) -> Value {
    json!({
        "id": g.id,
        "name": g.name,
        "description": g.description,
        "tenant_id": g.tenant_id,
        "rules": g.rules.iter().map(rule_view).collect::<Vec<_>>(),
    })
}

pub(crate) async fn list_server_security_groups(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Out {
    let groups = s.svc.server_security_groups(&c, &id).await.map_err(fail)?;
    let items: Vec<Value> = groups.iter().map(group_view).collect();
    Ok(reply(StatusCode::OK, json!({ "security_groups": items })))
}

/// The group an action names, with Nova's refusals: the action's value must be an object
/// with a non-blank `name` (other members are ignored, as Nova's schema allows them).
fn group_name(body: &Value) -> Result<String, ApiError> {
    let Value::Object(o) = body else {
        return Err(ApiError::bad_request("Missing parameter dict"));
    };
    match o.get("name") {
        None => Err(ApiError::bad_request("Security group not specified")),
        Some(Value::String(n)) if !n.trim().is_empty() => Ok(n.clone()),
        Some(Value::String(_) | Value::Null) => Err(ApiError::bad_request("Security group name cannot be empty")),
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute name. Value: {:.60}. It is not a string.",
            other.to_string()
        ))),
    }
}

/// `addSecurityGroup` and `removeSecurityGroup`: 202 with no body once every port of the
/// server has (or no longer has) the group.
pub(crate) async fn action(s: &ApiState, c: &Caller, server_id: &str, action: &str, body: &Value) -> Out {
    let name = group_name(body)?;
    match action {
        "addSecurityGroup" => s.svc.add_security_group(c, server_id, &name).await,
        _ => s.svc.remove_security_group(c, server_id, &name).await,
    }
    .map_err(fail)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_bodies_are_read_as_nova_reads_them() {
        assert_eq!(group_name(&json!({"name": "web"})).ok().as_deref(), Some("web"));
        assert_eq!(
            group_name(&json!({"name": "web", "extra": 1})).ok().as_deref(),
            Some("web")
        );
        for (body, message) in [
            (json!("web"), "Missing parameter dict"),
            (json!(null), "Missing parameter dict"),
            (json!({}), "Security group not specified"),
            (json!({"name": "  "}), "Security group name cannot be empty"),
            (json!({"name": null}), "Security group name cannot be empty"),
        ] {
            let e = group_name(&body).expect_err("refused");
            assert_eq!(e.message, message, "{body}");
        }
        assert!(group_name(&json!({"name": 5})).is_err());
    }

    #[test]
    fn rules_show_a_cidr_or_a_group() {
        let r = SecurityGroupRule {
            id: "r".into(),
            parent_group_id: "g".into(),
            ip_protocol: Some("tcp".into()),
            from_port: Some(22),
            to_port: Some(22),
            source: RuleSource::Cidr("10.0.0.0/8".into()),
        };
        let v = rule_view(&r);
        assert_eq!(v["ip_range"], json!({"cidr": "10.0.0.0/8"}));
        assert_eq!(v["group"], json!({}));
        let v = rule_view(&SecurityGroupRule {
            source: RuleSource::Group {
                name: "web".into(),
                tenant_id: "p".into(),
            },
            ..r
        });
        assert_eq!(v["group"], json!({"name": "web", "tenant_id": "p"}));
        assert_eq!(v["ip_range"], json!({}));
    }
}
