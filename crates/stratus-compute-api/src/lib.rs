//! Compute v2.1 over HTTP: Nova's paths, microversions, JSON shapes and faults.
//!
//! Handlers extract and authenticate, call one method of [`ComputeService`], and render; they
//! cannot reach the records (private to `stratus-compute`), and they decide nothing about who
//! may do what (the service checks policy and visibility).

mod aggregates;
mod availability_zones;
mod extensions;
mod flavors;
mod hypervisors;
mod images;
mod iso8601;
mod keypairs;
mod quotas;
mod server_security_groups;
mod servers;
mod tenant_usage;

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use stratus_api::auth::{AuthState, TokenValidator};
use stratus_api::microversion::{Microversion, Range};
use stratus_api::{ApiError, ErrorKind, FaultStyle};
use stratus_compute::{ComputeError, ComputeService};

/// The microversions spoken here, in both of Nova's headers. 2.79 is the newest whose every
/// change to the resources served here is honoured (flavor descriptions at 2.55, extra specs in
/// flavors at 2.61, keypair types at 2.2, other users' keypairs at 2.10, keypair pages at 2.35,
/// the host of each instance action event at 2.62, hypervisors' `cpu_info` object at 2.28,
/// pages at 2.33 and uuids at 2.53, usage pages at 2.40, aggregate uuids at 2.41; then trusted
/// image certificates at 2.63, group policy and rules at 2.64, `changes-before` at 2.66, block
/// device volume types at 2.67, attachment tags at 2.70, a server's groups at 2.71, lock
/// reasons at 2.73, a requested host at 2.74, 2.75's strict list query, full update answer,
/// integer swap and hypervisor servers, server topology at 2.78 and attachments'
/// `delete_on_termination` at 2.79). What 2.65 to 2.77 change in APIs not served here
/// (migrations, evacuate, cells, external events, unshelve) changes nothing here.
pub const MICROVERSIONS: Range = Range {
    service: "compute",
    legacy_header: Some("x-openstack-nova-api-version"),
    min: Microversion::new(2, 1),
    max: Microversion::new(2, 79),
};

/// What every handler needs.
#[derive(Clone)]
pub struct ApiState {
    pub svc: ComputeService,
    /// `http://host:port/compute/v2.1`, for links.
    pub base: Arc<str>,
}

pub(crate) type Out = Result<Response, ApiError>;

/// The service's errors as Nova answers them.
pub(crate) fn fail(e: ComputeError) -> ApiError {
    match e {
        ComputeError::NotFound(m) => ApiError::not_found(m),
        ComputeError::Conflict(m) => ApiError::conflict(m),
        ComputeError::Invalid(m) => ApiError::bad_request(m),
        ComputeError::Denied(m) => ApiError::forbidden(m),
        // Nova answers quota failures with 403.
        ComputeError::OverQuota(m) => ApiError::new(ErrorKind::Forbidden, m),
        ComputeError::Unavailable(m) => ApiError::unavailable(m),
        ComputeError::NotImplemented(m) => ApiError::new(ErrorKind::NotImplemented, m),
        e @ (ComputeError::Store(_) | ComputeError::KeyGeneration(_)) => ApiError::internal(&e),
    }
}

pub(crate) fn reply(status: StatusCode, v: Value) -> Response {
    (status, Json(v)).into_response()
}

fn version_doc(s: &ApiState) -> Value {
    json!({
        "id": "v2.1",
        "status": "CURRENT",
        "version": MICROVERSIONS.max.to_string(),
        "min_version": MICROVERSIONS.min.to_string(),
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": format!("{}/", s.base)}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}],
    })
}

/// The v2.0 API Nova still lists beside v2.1 (served here as v2.1 at its lowest
/// microversion would be; only its document is served at `/v2`).
fn v20_doc(s: &ApiState) -> Value {
    let root = s.base.trim_end_matches("/v2.1");
    json!({
        "id": "v2.0",
        "status": "SUPPORTED",
        "version": "",
        "min_version": "",
        "updated": "2011-01-21T11:33:21Z",
        "links": [{"rel": "self", "href": format!("{root}/v2/")}],
    })
}

async fn versions(State(s): State<ApiState>) -> Json<Value> {
    Json(json!({ "versions": [v20_doc(&s), version_doc(&s)] }))
}

async fn version_v20(State(s): State<ApiState>) -> Json<Value> {
    let mut v = v20_doc(&s);
    v["links"]
        .as_array_mut()
        .map(|l| l.push(json!({"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"})));
    v["media-types"] =
        json!([{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2"}]);
    Json(json!({ "version": v }))
}

/// Nova answers every compute request with its request id twice: as
/// `x-openstack-request-id` and as its older `x-compute-request-id`.
async fn compute_request_id(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let id = req
        .extensions()
        .get::<stratus_api::request_id::RequestId>()
        .map(|r| r.0.clone());
    let mut resp = next.run(req).await;
    if let Some(v) = id.and_then(|id| axum::http::HeaderValue::from_str(&id).ok()) {
        resp.headers_mut().insert("x-compute-request-id", v);
    }
    resp
}

async fn version(State(s): State<ApiState>) -> Json<Value> {
    Json(json!({ "version": version_doc(&s) }))
}

/// The router mounted at `/compute`.
pub fn router(svc: ComputeService, validator: Arc<dyn TokenValidator>, public_url: &str) -> Router {
    let public_url = public_url.trim_end_matches('/');
    let state = ApiState {
        svc,
        base: format!("{public_url}/compute/v2.1").into(),
    };
    let auth = AuthState {
        validator,
        identity_uri: format!("{public_url}/identity/v3").into(),
        service_types: &["compute"],
        mount: "/compute",
    };
    use aggregates::*;
    use availability_zones::*;
    use extensions::*;
    use flavors::*;
    use hypervisors::*;
    use keypairs::*;
    use quotas::*;
    use servers::*;
    use tenant_usage::*;
    let protected = Router::new()
        .route("/flavors", get(list_flavors).post(create_flavor))
        .route("/flavors/detail", get(list_flavors_detail))
        .route(
            "/flavors/{id}",
            get(show_flavor).put(update_flavor).delete(delete_flavor),
        )
        .route("/flavors/{id}/action", post(flavor_action))
        .route("/flavors/{id}/os-flavor-access", get(show_flavor_access))
        .route(
            "/flavors/{id}/os-extra_specs",
            get(list_extra_specs).post(create_extra_specs),
        )
        .route(
            "/flavors/{id}/os-extra_specs/{key}",
            get(show_extra_spec).put(put_extra_spec).delete(delete_extra_spec),
        )
        .route("/os-keypairs", get(list_keypairs).post(create_keypair))
        .route("/os-keypairs/{name}", get(show_keypair).delete(delete_keypair))
        .route("/servers", get(list_servers).post(create_server))
        .route("/servers/detail", get(list_servers_detail))
        .route(
            "/servers/{id}",
            get(show_server).put(update_server).delete(delete_server),
        )
        .route("/servers/{id}/action", post(server_action))
        .route(
            "/servers/{id}/metadata",
            get(show_server_metadata)
                .post(add_server_metadata)
                .put(replace_server_metadata),
        )
        .route(
            "/servers/{id}/metadata/{key}",
            get(show_server_metadata_item)
                .put(put_server_metadata_item)
                .delete(delete_server_metadata_item),
        )
        .route("/servers/{id}/topology", get(server_topology))
        .route("/servers/{id}/ips", get(server_ips))
        .route("/servers/{id}/ips/{network}", get(server_ips_of_network))
        .route(
            "/servers/{id}/tags",
            get(list_server_tags)
                .put(replace_server_tags)
                .delete(delete_server_tags),
        )
        .route(
            "/servers/{id}/tags/{tag}",
            get(show_server_tag).put(add_server_tag).delete(delete_server_tag),
        )
        .route(
            "/servers/{id}/os-volume_attachments",
            get(list_volume_attachments).post(attach_volume),
        )
        .route(
            "/servers/{id}/os-volume_attachments/{volume}",
            get(show_volume_attachment).delete(detach_volume),
        )
        .route("/os-server-groups", get(list_server_groups).post(create_server_group))
        .route(
            "/os-server-groups/{id}",
            get(show_server_group).delete(delete_server_group),
        )
        .route("/servers/{id}/os-instance-actions", get(list_instance_actions))
        .route("/servers/{id}/os-instance-actions/{req}", get(show_instance_action))
        .route("/os-hypervisors", get(list_hypervisors))
        .route("/os-hypervisors/detail", get(list_hypervisors_detail))
        .route("/os-hypervisors/statistics", get(hypervisor_statistics))
        .route("/os-hypervisors/{id}", get(show_hypervisor))
        .route("/os-hypervisors/{id}/uptime", get(hypervisor_uptime))
        .route("/os-hypervisors/{id}/search", get(search_hypervisors))
        .route("/os-hypervisors/{id}/servers", get(hypervisor_servers))
        .route("/os-aggregates", get(list_aggregates).post(create_aggregate))
        .route(
            "/os-aggregates/{id}",
            get(show_aggregate).put(update_aggregate).delete(delete_aggregate),
        )
        .route("/os-aggregates/{id}/action", post(aggregate_action))
        .route("/os-simple-tenant-usage", get(list_tenant_usages))
        .route("/os-simple-tenant-usage/{tenant_id}", get(show_tenant_usage))
        .route("/extensions", get(list_extensions))
        .route("/extensions/{alias}", get(show_extension))
        .route("/os-services", get(list_services))
        .route("/os-services/{id}", axum::routing::put(update_service))
        .route("/os-availability-zone", get(availability_zones))
        .route("/os-availability-zone/detail", get(availability_zones_detail))
        .route("/limits", get(limits))
        .route(
            "/os-quota-sets/{project}",
            get(show_quota).put(update_quota).delete(delete_quota),
        )
        .route("/os-quota-sets/{project}/detail", get(show_quota_detail))
        .route("/os-quota-sets/{project}/defaults", get(default_quota))
        .route(
            "/os-quota-class-sets/{class}",
            get(show_quota_class).put(update_quota_class),
        )
        .merge(images::routes())
        .merge(server_security_groups::routes())
        .layer(axum::middleware::from_fn_with_state(
            auth,
            stratus_api::auth::middleware,
        ));
    let v21 = Router::new().route("/", get(version)).merge(protected);
    Router::new()
        .route("/", get(versions))
        .route("/v2", get(version_v20))
        .nest("/v2.1", v21)
        .fallback(stratus_api::error::not_found_fallback)
        .layer(axum::middleware::from_fn(|req, next| {
            stratus_api::microversion::layer(MICROVERSIONS, req, next)
        }))
        .layer(axum::middleware::from_fn(stratus_api::error::method_not_allowed))
        // Before authentication: a NUL reaches no store, not even the token lookup.
        .layer(axum::middleware::from_fn(stratus_api::nul::refuse_nul_in_uri))
        .layer(axum::middleware::from_fn(|req, next| {
            stratus_api::error::render_faults(FaultStyle::Compute, req, next)
        }))
        .layer(axum::middleware::from_fn(compute_request_id))
        .with_state(state)
}
