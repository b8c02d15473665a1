//! Networking v2.0 over HTTP: Neutron's paths, JSON, filters, field selection, sorting,
//! pagination and `NeutronError` faults.
//!
//! Handlers extract and authenticate, call one method of [`NetworkService`], and render; they
//! cannot reach the records (private to `stratus-network`) and decide nothing about who may do
//! what (the service checks policy and visibility).

mod default_rules;
mod handlers;
mod query;
mod tags;
mod views;

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use stratus_api::auth::{AuthState, TokenValidator};
use stratus_api::FaultStyle;
use stratus_network::NetworkService;

/// What every handler needs.
#[derive(Clone)]
pub struct ApiState {
    pub svc: NetworkService,
    /// `http://host:port/network/v2.0`, for links.
    pub base: Arc<str>,
}

/// The extensions implemented here, as `(alias, name, description)`. Clients read this list
/// to decide what to send, so it names exactly what works.
pub(crate) const EXTENSIONS: &[(&str, &str, &str)] = &[
    (
        "allowed-address-pairs",
        "Allowed Address Pairs",
        "Ports may carry traffic of other addresses.",
    ),
    ("binding", "Port Binding", "Hosts and VIF types of ports."),
    (
        "external-net",
        "Neutron external network",
        "The router:external attribute of networks.",
    ),
    ("net-mtu", "Network MTU", "The MTU of networks."),
    (
        "net-mtu-writable",
        "Network MTU (writable)",
        "The MTU of networks can be changed.",
    ),
    ("port-security", "Port Security", "Port security of ports."),
    ("project-id", "project_id field enabled", "project_id beside tenant_id."),
    ("provider", "Provider Network", "Provider attributes of networks."),
    ("quotas", "Quota management support", "Quotas per project."),
    (
        "quota_details",
        "Quota details management support",
        "Quota usage per project.",
    ),
    ("security-group", "security-group", "Security groups and rules."),
    (
        "security-groups-default-rules",
        "Default rules for security groups",
        "Configure set of security group rules used as default rules for every new security group.",
    ),
    (
        "security-groups-normalized-cidr",
        "Normalized CIDR field for security group rules",
        "The normalized_cidr of rules: the network their remote_ip_prefix means.",
    ),
    (
        "service-type",
        "Neutron Service Type Management",
        "API for retrieving service providers for Neutron advanced services.",
    ),
    (
        "stateful-security-group",
        "Stateful security group",
        "The stateful attribute of security groups.",
    ),
    (
        "standard-attr-description",
        "standard-attr-description",
        "Descriptions of resources.",
    ),
    (
        "standard-attr-revisions",
        "Resource revision numbers",
        "revision_number of resources.",
    ),
    (
        "standard-attr-timestamp",
        "Resource timestamps",
        "created_at and updated_at of resources.",
    ),
    (
        "standard-attr-tag",
        "Tag support for resources with standard attribute: network, subnet, port, security_group",
        "Enables to set tag on resources with standard attribute.",
    ),
    (
        "tag-creation",
        "Tag creation extension",
        "Allow to create multiple tags for a resource.",
    ),
    ("sorting", "Sorting support", "sort_key and sort_dir on lists."),
    ("pagination", "Pagination support", "limit and marker on lists."),
    (
        "filter-validation",
        "Filter parameters validation",
        "Unknown filters are refused.",
    ),
];

async fn versions(State(s): State<ApiState>) -> Json<serde_json::Value> {
    Json(
        json!({"versions": [{"id": "v2.0", "status": "CURRENT", "links": [{"rel": "self", "href": format!("{}/", s.base)}]}]}),
    )
}

async fn resources(State(s): State<ApiState>) -> Json<serde_json::Value> {
    let items: Vec<_> = [
        "network",
        "subnet",
        "port",
        "security_group",
        "security_group_rule",
        "default_security_group_rule",
        "quota",
        "service_provider",
    ]
        .iter()
        .map(|name| {
            let collection = format!("{}s", name.replace('_', "-"));
            json!({"name": name, "collection": collection, "links": [{"rel": "self", "href": format!("{}/{collection}", s.base)}]})
        })
        .collect();
    Json(json!({ "resources": items }))
}

/// The router mounted at `/network`.
pub fn router(svc: NetworkService, validator: Arc<dyn TokenValidator>, public_url: &str) -> Router {
    let public_url = public_url.trim_end_matches('/');
    let state = ApiState {
        svc,
        base: format!("{public_url}/network/v2.0").into(),
    };
    let auth = AuthState {
        validator,
        identity_uri: format!("{public_url}/identity/v3").into(),
        service_types: &["network"],
        mount: "/network",
    };
    use default_rules::*;
    use handlers::*;
    use tags::*;
    let v2 = Router::new()
        .route("/", get(resources))
        .route("/extensions", get(list_extensions))
        .route("/extensions/{alias}", get(get_extension))
        .route("/networks", get(list_networks).post(create_network))
        .route(
            "/networks/{id}",
            get(get_network).put(update_network).delete(delete_network),
        )
        .route("/subnets", get(list_subnets).post(create_subnet))
        .route(
            "/subnets/{id}",
            get(get_subnet).put(update_subnet).delete(delete_subnet),
        )
        .route("/ports", get(list_ports).post(create_port))
        .route("/ports/{id}", get(get_port).put(update_port).delete(delete_port))
        .route(
            "/security-groups",
            get(list_security_groups).post(create_security_group),
        )
        .route(
            "/security-groups/{id}",
            get(get_security_group)
                .put(update_security_group)
                .delete(delete_security_group),
        )
        .route("/security-group-rules", get(list_rules).post(create_rule))
        .route("/security-group-rules/{id}", get(get_rule).delete(delete_rule))
        .route(
            "/default-security-group-rules",
            get(list_default_rules).post(create_default_rule),
        )
        .route(
            "/default-security-group-rules/{id}",
            get(get_default_rule).delete(delete_default_rule),
        )
        .route(
            "/networks/{id}/tags",
            get(list_tags::<Networks>)
                .put(replace_tags::<Networks>)
                .post(add_tags::<Networks>)
                .delete(remove_all_tags::<Networks>),
        )
        .route(
            "/networks/{id}/tags/{tag}",
            get(check_tag::<Networks>)
                .put(add_tag::<Networks>)
                .delete(remove_tag::<Networks>),
        )
        .route(
            "/subnets/{id}/tags",
            get(list_tags::<Subnets>)
                .put(replace_tags::<Subnets>)
                .post(add_tags::<Subnets>)
                .delete(remove_all_tags::<Subnets>),
        )
        .route(
            "/subnets/{id}/tags/{tag}",
            get(check_tag::<Subnets>)
                .put(add_tag::<Subnets>)
                .delete(remove_tag::<Subnets>),
        )
        .route(
            "/ports/{id}/tags",
            get(list_tags::<Ports>)
                .put(replace_tags::<Ports>)
                .post(add_tags::<Ports>)
                .delete(remove_all_tags::<Ports>),
        )
        .route(
            "/ports/{id}/tags/{tag}",
            get(check_tag::<Ports>)
                .put(add_tag::<Ports>)
                .delete(remove_tag::<Ports>),
        )
        .route(
            "/security-groups/{id}/tags",
            get(list_tags::<SecurityGroups>)
                .put(replace_tags::<SecurityGroups>)
                .post(add_tags::<SecurityGroups>)
                .delete(remove_all_tags::<SecurityGroups>),
        )
        .route(
            "/security-groups/{id}/tags/{tag}",
            get(check_tag::<SecurityGroups>)
                .put(add_tag::<SecurityGroups>)
                .delete(remove_tag::<SecurityGroups>),
        )
        .route("/service-providers", get(list_service_providers))
        .route("/quotas", get(list_quotas))
        .route(
            "/quotas/{project}",
            get(get_quota).put(update_quota).delete(reset_quota),
        )
        .route("/quotas/{project}/default", get(default_quota))
        .route("/quotas/{project}/details", get(quota_details));
    Router::new()
        .route("/", get(versions))
        .nest("/v2.0", v2)
        .fallback(stratus_api::error::not_found_fallback)
        .layer(axum::middleware::from_fn_with_state(
            auth,
            stratus_api::auth::middleware,
        ))
        .layer(axum::middleware::from_fn(stratus_api::error::method_not_allowed))
        // Before authentication: a NUL reaches no store, not even the token lookup.
        .layer(axum::middleware::from_fn(stratus_api::nul::refuse_nul_in_uri))
        .layer(axum::middleware::from_fn(|req, next| {
            stratus_api::error::render_faults(FaultStyle::Network, req, next)
        }))
        .with_state(state)
}
