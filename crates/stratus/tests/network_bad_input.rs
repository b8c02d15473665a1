//! Bad input to the Network service gets the 4xx and the `NeutronError` type Neutron gives,
//! with a message, and changes nothing.

mod common;

use common::{password_auth, Server, ADMIN_PASSWORD};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

struct Api {
    c: Client,
    base: String,
    token: String,
}

impl Api {
    async fn login(s: &Server) -> Api {
        let c = Client::new();
        let r = c
            .post(format!("{}/auth/tokens", s.identity()))
            .json(&password_auth("admin", ADMIN_PASSWORD, Some("admin")))
            .send()
            .await
            .expect("auth");
        let token = r.headers()["x-subject-token"].to_str().expect("token").to_owned();
        Api {
            c,
            base: format!("{}/network/v2.0", s.url),
            token,
        }
    }
    async fn call(&self, m: Method, path: &str, body: Option<Value>) -> reqwest::Response {
        let mut r = self
            .c
            .request(m, format!("{}{path}", self.base))
            .header("x-auth-token", &self.token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().await.expect("request")
    }
    async fn create(&self, path: &str, key: &str, body: Value) -> Value {
        let r = self.call(Method::POST, path, Some(json!({ key: body }))).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{path}");
        r.json::<Value>().await.expect("json")[key].clone()
    }
}

/// Asserts the status, Neutron's error type and a message containing `needle`.
async fn expect(r: reqwest::Response, status: StatusCode, kind: &str, needle: &str) {
    assert_eq!(r.status(), status, "expected {status} {kind}");
    assert!(r.headers().contains_key("x-openstack-request-id"));
    let body: Value = r.json().await.expect("json error body");
    assert_eq!(body["NeutronError"]["type"], kind, "{body}");
    let msg = body["NeutronError"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains(needle), "message {msg:?} should contain {needle:?}");
}

#[tokio::test]
async fn bad_network_requests_get_neutron_errors() {
    let s = Server::start(&[]);
    let api = Api::login(&s).await;
    let net = api.create("/networks", "network", json!({"name": "n"})).await;
    let net_id = net["id"].as_str().expect("id").to_owned();
    let subnet = |body: Value| {
        let mut b = body;
        b["network_id"] = json!(net_id);
        json!({ "subnet": b })
    };

    // bodies
    let r = api
        .c
        .post(format!("{}/networks", api.base))
        .header("x-auth-token", &api.token)
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .expect("req");
    expect(r, StatusCode::BAD_REQUEST, "HTTPBadRequest", "Malformed").await;
    expect(
        api.call(Method::POST, "/networks", Some(json!({"network": {"colour": "red"}})))
            .await,
        StatusCode::BAD_REQUEST,
        "HTTPBadRequest",
        "Unrecognized attribute(s) 'colour'",
    )
    .await;
    expect(
        api.call(Method::POST, "/networks", Some(json!({"net": {}}))).await,
        StatusCode::BAD_REQUEST,
        "HTTPBadRequest",
        "Resource body required",
    )
    .await;
    expect(
        api.call(Method::POST, "/networks", Some(json!({"network": {"mtu": 20}})))
            .await,
        StatusCode::BAD_REQUEST,
        "InvalidInput",
        "MTU",
    )
    .await;
    expect(
        api.call(Method::GET, "/networks?colour=red", None).await,
        StatusCode::BAD_REQUEST,
        "InvalidInput",
        "colour",
    )
    .await;
    expect(
        api.call(Method::GET, "/networks/nope", None).await,
        StatusCode::NOT_FOUND,
        "NetworkNotFound",
        "nope",
    )
    .await;

    // invalid and overlapping CIDRs, the wrong IP version, gateways outside the subnet, pools
    expect(
        api.call(Method::POST, "/subnets", Some(subnet(json!({"cidr": "10.0.0.0/33"}))))
            .await,
        StatusCode::BAD_REQUEST,
        "InvalidInput",
        "10.0.0.0/33",
    )
    .await;
    // Neutron takes a CIDR with host bits and clears them; without a mask it recommends one.
    let r = api
        .call(Method::POST, "/subnets", Some(subnet(json!({"cidr": "10.0.0.5/24"}))))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let made: Value = r.json().await.expect("json");
    assert_eq!(made["subnet"]["cidr"], "10.0.0.0/24", "{made}");
    let made_id = made["subnet"]["id"].as_str().expect("id").to_owned();
    assert_eq!(
        api.call(Method::DELETE, &format!("/subnets/{made_id}"), None).await.status(),
        StatusCode::NO_CONTENT
    );
    expect(
        api.call(Method::POST, "/subnets", Some(subnet(json!({"cidr": "10.0.0.5"}))))
            .await,
        StatusCode::BAD_REQUEST,
        "InvalidInput",
        "10.0.0.5/32",
    )
    .await;
    expect(
        api.call(
            Method::POST,
            "/subnets",
            Some(subnet(json!({"cidr": "10.0.0.0/24", "ip_version": 6}))),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "InvalidInput",
        "ip_version",
    )
    .await;
    expect(
        api.call(
            Method::POST,
            "/subnets",
            Some(subnet(json!({"cidr": "fd00::/64", "ip_version": 4}))),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "InvalidInput",
        "ip_version",
    )
    .await;
    expect(
        api.call(
            Method::POST,
            "/subnets",
            Some(subnet(json!({"cidr": "10.0.0.0/24", "gateway_ip": "10.0.1.1"}))),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "InvalidInput",
        "Gateway IP 10.0.1.1",
    )
    .await;
    expect(
        api.call(
            Method::POST,
            "/subnets",
            Some(subnet(
                json!({"cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.0.1", "end": "10.0.0.9"}]}),
            )),
        )
        .await,
        StatusCode::CONFLICT,
        "GatewayConflictWithAllocationPools",
        "10.0.0.1",
    )
    .await;
    expect(
        api.call(
            Method::POST,
            "/subnets",
            Some(subnet(
                json!({"cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.5.1", "end": "10.0.5.9"}]}),
            )),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "OutOfBoundsAllocationPool",
        "10.0.5.1",
    )
    .await;
    let v4 = api.create("/subnets", "subnet", json!({"network_id": net_id, "cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.0.10", "end": "10.0.0.12"}]})).await;
    let v4_id = v4["id"].as_str().expect("id").to_owned();
    expect(
        api.call(Method::POST, "/subnets", Some(subnet(json!({"cidr": "10.0.0.128/25"}))))
            .await,
        StatusCode::BAD_REQUEST,
        "InvalidInput",
        "overlaps",
    )
    .await;

    // fixed IPs outside the subnet, outside any subnet, already used; MACs in use
    let port = |fixed: Value, mac: Option<&str>| {
        let mut p = json!({"network_id": net_id, "fixed_ips": fixed});
        if let Some(m) = mac {
            p["mac_address"] = json!(m);
        }
        json!({ "port": p })
    };
    expect(
        api.call(
            Method::POST,
            "/ports",
            Some(port(json!([{"subnet_id": v4_id, "ip_address": "10.0.1.5"}]), None)),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "InvalidIpForSubnet",
        "10.0.1.5",
    )
    .await;
    expect(
        api.call(
            Method::POST,
            "/ports",
            Some(port(json!([{"ip_address": "192.168.1.5"}]), None)),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "InvalidIpForNetwork",
        "192.168.1.5",
    )
    .await;
    expect(
        api.call(
            Method::POST,
            "/ports",
            Some(port(json!([{"ip_address": "10.0.0.1"}]), None)),
        )
        .await,
        StatusCode::CONFLICT,
        "IpAddressAlreadyAllocated",
        "10.0.0.1",
    )
    .await;
    let first = api.create("/ports", "port", json!({"network_id": net_id, "fixed_ips": [{"ip_address": "10.0.0.50"}], "mac_address": "fa:16:3e:00:00:01"})).await;
    expect(
        api.call(
            Method::POST,
            "/ports",
            Some(port(json!([{"ip_address": "10.0.0.50"}]), None)),
        )
        .await,
        StatusCode::CONFLICT,
        "IpAddressAlreadyAllocated",
        "10.0.0.50",
    )
    .await;
    expect(
        api.call(
            Method::POST,
            "/ports",
            Some(port(json!([{"subnet_id": v4_id}]), Some("fa:16:3e:00:00:01"))),
        )
        .await,
        StatusCode::CONFLICT,
        "MacAddressInUse",
        "fa:16:3e:00:00:01",
    )
    .await;
    expect(
        api.call(
            Method::POST,
            "/ports",
            Some(port(json!([{"subnet_id": v4_id}]), Some("01:00:5e:00:00:01"))),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "InvalidInput",
        "MAC",
    )
    .await;
    // The pool has three addresses; the DHCP port holds one.
    api.create("/ports", "port", json!({"network_id": net_id})).await;
    api.create("/ports", "port", json!({"network_id": net_id})).await;
    expect(
        api.call(Method::POST, "/ports", Some(json!({"port": {"network_id": net_id}})))
            .await,
        StatusCode::CONFLICT,
        "IpAddressGenerationFailure",
        "No more IP addresses",
    )
    .await;

    // in use: networks with ports, subnets with addresses, groups on ports
    expect(
        api.call(Method::DELETE, &format!("/networks/{net_id}"), None).await,
        StatusCode::CONFLICT,
        "NetworkInUse",
        "ports still in use",
    )
    .await;
    expect(
        api.call(Method::DELETE, &format!("/subnets/{v4_id}"), None).await,
        StatusCode::CONFLICT,
        "SubnetInUse",
        "IP allocation",
    )
    .await;
    let sg = api
        .create("/security-groups", "security_group", json!({"name": "web"}))
        .await;
    let sg_id = sg["id"].as_str().expect("id").to_owned();
    let first_id = first["id"].as_str().expect("id").to_owned();
    let r = api
        .call(
            Method::PUT,
            &format!("/ports/{first_id}"),
            Some(json!({"port": {"security_groups": [sg_id]}})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    expect(
        api.call(Method::DELETE, &format!("/security-groups/{sg_id}"), None)
            .await,
        StatusCode::CONFLICT,
        "SecurityGroupInUse",
        "in use",
    )
    .await;

    // security group rules
    let rule = |b: Value| {
        let mut b = b;
        b["security_group_id"] = json!(sg_id);
        json!({ "security_group_rule": b })
    };
    expect(
        api.call(
            Method::POST,
            "/security-group-rules",
            Some(rule(json!({"direction": "sideways"}))),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "InvalidInput",
        "direction",
    )
    .await;
    expect(
        api.call(
            Method::POST,
            "/security-group-rules",
            Some(rule(json!({"direction": "ingress", "protocol": "bogus"}))),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "SecurityGroupRuleInvalidProtocol",
        "bogus",
    )
    .await;
    expect(
        api.call(
            Method::POST,
            "/security-group-rules",
            Some(rule(
                json!({"direction": "ingress", "protocol": "tcp", "port_range_min": 90, "port_range_max": 80}),
            )),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "SecurityGroupInvalidPortRange",
        "port_range_min",
    )
    .await;
    expect(
        api.call(
            Method::POST,
            "/security-group-rules",
            Some(rule(
                json!({"direction": "ingress", "ethertype": "IPv6", "remote_ip_prefix": "10.0.0.0/8"}),
            )),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "SecurityGroupRuleParameterConflict",
        "10.0.0.0/8",
    )
    .await;
    let ok = rule(json!({"direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22}));
    assert_eq!(
        api.call(Method::POST, "/security-group-rules", Some(ok.clone()))
            .await
            .status(),
        StatusCode::CREATED
    );
    expect(
        api.call(Method::POST, "/security-group-rules", Some(ok)).await,
        StatusCode::CONFLICT,
        "SecurityGroupRuleExists",
        "already exists",
    )
    .await;

    // nothing was half-written: one subnet, three ports and the DHCP port
    let ports: Value = api
        .call(Method::GET, &format!("/ports?network_id={net_id}"), None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(ports["ports"].as_array().map(Vec::len), Some(4), "{ports}");
    let subnets: Value = api
        .call(Method::GET, &format!("/subnets?network_id={net_id}"), None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(subnets["subnets"].as_array().map(Vec::len), Some(1));
    assert!(!s.log().contains("panicked"));
}

#[tokio::test]
async fn lists_filter_select_sort_and_page() {
    let s = Server::start(&[]);
    let api = Api::login(&s).await;
    for name in ["delta", "alpha", "charlie", "bravo", "echo"] {
        api.create("/networks", "network", json!({"name": name})).await;
    }
    // sorting and field selection
    let r: Value = api
        .call(
            Method::GET,
            "/networks?sort_key=name&sort_dir=asc&fields=name&fields=id",
            None,
        )
        .await
        .json()
        .await
        .expect("json");
    let names: Vec<&str> = r["networks"]
        .as_array()
        .expect("list")
        .iter()
        .map(|n| n["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, vec!["alpha", "bravo", "charlie", "delta", "echo"]);
    let keys: Vec<&String> = r["networks"][0].as_object().expect("object").keys().collect();
    assert_eq!(keys.len(), 2, "only the selected fields: {keys:?}");
    // pages of two, following the next links to the end
    let mut url = format!("{}/networks?sort_key=name&sort_dir=desc&limit=2", api.base);
    let mut seen = Vec::new();
    loop {
        let page: Value = api
            .c
            .get(&url)
            .header("x-auth-token", &api.token)
            .send()
            .await
            .expect("req")
            .json()
            .await
            .expect("json");
        seen.extend(
            page["networks"]
                .as_array()
                .expect("list")
                .iter()
                .map(|n| n["name"].as_str().unwrap_or("").to_owned()),
        );
        match page["networks_links"]
            .as_array()
            .and_then(|l| l.iter().find(|l| l["rel"] == "next"))
        {
            Some(next) => url = next["href"].as_str().expect("href").to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, vec!["echo", "delta", "charlie", "bravo", "alpha"]);
    // filters
    let r: Value = api
        .call(Method::GET, "/networks?name=charlie", None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(r["networks"].as_array().map(Vec::len), Some(1));
    expect(
        api.call(Method::GET, "/networks?sort_key=colour", None).await,
        StatusCode::BAD_REQUEST,
        "Bad Request",
        "sort_key",
    )
    .await;
    expect(
        api.call(Method::GET, "/networks?shared=maybe", None).await,
        StatusCode::BAD_REQUEST,
        "InvalidInput",
        "maybe",
    )
    .await;
    // the extensions clients look for
    let ext: Value = api
        .call(Method::GET, "/extensions", None)
        .await
        .json()
        .await
        .expect("json");
    let aliases: Vec<&str> = ext["extensions"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|e| e["alias"].as_str())
        .collect();
    for a in [
        "binding",
        "security-group",
        "quotas",
        "port-security",
        "allowed-address-pairs",
        "provider",
        "external-net",
    ] {
        assert!(aliases.contains(&a), "{a} in {aliases:?}");
    }
    expect(
        api.call(Method::GET, "/extensions/tag-ports-during-bulk-creation", None)
            .await,
        StatusCode::NOT_FOUND,
        "ExtensionNotFound",
        "does not exist",
    )
    .await;
}
