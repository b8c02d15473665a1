//! Networking v2.0 over HTTP: Neutron's paths, JSON, filters, field selection, sorting,
//! pagination and `NeutronError` faults.
//!
//! Handlers extract and authenticate, call one method of [`NetworkService`], and render; they
//! cannot reach the records (private to `stratus-network`) and decide nothing about who may do
//! what (the service checks policy and visibility).

mod handlers;
mod query;
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
    let items: Vec<_> = ["network", "subnet", "port", "security_group", "security_group_rule", "quota"]
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
    use handlers::*;
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
