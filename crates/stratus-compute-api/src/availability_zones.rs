//! `os-availability-zone`: the zones servers can be asked into, as Nova lists them. A zone is
//! the default one of hosts in no zoned aggregate, or an aggregate's `availability_zone`; it is
//! available while an enabled host is in it. The detail (administrators) names the hosts.

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{json, Map, Value};
use stratus_api::time::micros_naive;
use stratus_api::Caller;

use crate::{fail, reply, ApiState, Out};

pub(crate) async fn availability_zones(State(s): State<ApiState>, c: Caller) -> Out {
    let zones = s.svc.availability_zones(&c, false).await.map_err(fail)?;
    let items: Vec<Value> = zones
        .iter()
        .map(|z| json!({"zoneName": z.name, "zoneState": {"available": z.available}, "hosts": null}))
        .collect();
    Ok(reply(StatusCode::OK, json!({ "availabilityZoneInfo": items })))
}

/// The zone list with the enabled hosts of each available zone and their compute service.
pub(crate) async fn availability_zones_detail(State(s): State<ApiState>, c: Caller) -> Out {
    let zones = s.svc.availability_zones(&c, true).await.map_err(fail)?;
    let items: Vec<Value> = zones
        .iter()
        .map(|z| {
            if !z.available {
                return json!({"zoneName": z.name, "zoneState": {"available": false}, "hosts": null});
            }
            let mut hosts = Map::new();
            for (n, up) in &z.hosts {
                hosts.insert(
                    n.host.clone(),
                    json!({"nova-compute": {"available": *up, "active": n.enabled,
                                            "updated_at": micros_naive(n.heartbeat_at)}}),
                );
            }
            json!({"zoneName": z.name, "zoneState": {"available": true}, "hosts": hosts})
        })
        .collect();
    Ok(reply(StatusCode::OK, json!({ "availabilityZoneInfo": items })))
}
