//! The handlers of `/default-security-group-rules` (Neutron's `security-groups-default-rules`).

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use stratus_api::Caller;
use stratus_network::inputs::DefaultRuleInput;

use crate::handlers::{body, listing, one, shown, Out};
use crate::{query, views, ApiState};

const TEMPLATE_SORT: &[(&str, &str)] = &[
    ("id", "id"),
    ("direction", "direction"),
    ("ethertype", "ethertype"),
    ("protocol", "protocol"),
    ("port_range_min", "port_range_min"),
    ("port_range_max", "port_range_max"),
    ("remote_ip_prefix", "remote_ip_prefix"),
    ("remote_group_id", "remote_group_id"),
];

pub(crate) async fn list_default_rules(State(s): State<ApiState>, c: Caller, RawQuery(raw): RawQuery) -> Out {
    let q = query::parse(raw.as_deref(), TEMPLATE_SORT)?;
    let items = s.svc.list_default_security_group_rules(&c, &q.filter, &q.page).await?;
    Ok(listing(
        &s,
        "default-security-group-rules",
        "default_security_group_rules",
        &q,
        items,
        |r| &r.id,
        views::default_rule,
    ))
}

pub(crate) async fn create_default_rule(State(s): State<ApiState>, c: Caller, req: Request) -> Out {
    let input: DefaultRuleInput = body(req, "default_security_group_rule").await?;
    let r = s.svc.create_default_security_group_rule(&c, input).await?;
    Ok(one(
        "default_security_group_rule",
        StatusCode::CREATED,
        views::default_rule(&r),
    ))
}

pub(crate) async fn get_default_rule(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Out {
    let r = s.svc.get_default_security_group_rule(&c, &id).await?;
    shown("default_security_group_rule", views::default_rule(&r), raw.as_deref())
}

pub(crate) async fn delete_default_rule(State(s): State<ApiState>, c: Caller, Path(id): Path<String>) -> Out {
    s.svc.delete_default_security_group_rule(&c, &id).await?;
    Ok(axum::response::IntoResponse::into_response(StatusCode::NO_CONTENT))
}
