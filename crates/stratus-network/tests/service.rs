//! The Network service on both stores: addresses under concurrency (never one address for
//! two ports, always inside the pools), exhaustion, reuse after delete, reserved gateway and
//! DHCP addresses, and the plans the dataplane is given.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

use stratus_api::policy::Policy;
use stratus_api::testing::caller;
use stratus_network::inputs::{FixedIpInput, NetworkInput, PortInput, SubnetInput};
use stratus_network::{FakeDataplane, NetworkConfig, NetworkError, NetworkService};
use stratus_store::testing::TestLocation;
use stratus_store::Backend;

async fn open(loc: &TestLocation, dp: Arc<FakeDataplane>) -> NetworkService {
    let policy = Policy::load(stratus_network::DEFAULT_POLICY, None).expect("policy");
    let mut cfg = NetworkConfig::default();
    cfg.default_quotas = cfg.default_quotas.into_iter().map(|(r, _)| (r, -1)).collect();
    NetworkService::open(&loc.location, cfg, policy, dp)
        .await
        .expect("open network service")
}

fn kind(e: &NetworkError) -> &'static str {
    match e {
        NetworkError::Conflict { kind, .. }
        | NetworkError::Invalid { kind, .. }
        | NetworkError::NotFound { kind, .. } => kind,
        _ => "other",
    }
}

async fn addresses_are_unique_under_concurrency(backend: Backend) {
    let loc = TestLocation::new(backend).await;
    let dp = Arc::new(FakeDataplane::new());
    let svc = open(&loc, dp.clone()).await;
    let alice = Arc::new(caller("p-alice", &["member", "reader"]));
    let net = svc
        .create_network(
            &alice,
            NetworkInput {
                name: Some("n".into()),
                ..Default::default()
            },
        )
        .await
        .expect("network");
    let subnet = svc
        .create_subnet(
            &alice,
            SubnetInput {
                network_id: Some(net.id.clone()),
                cidr: Some("10.9.0.0/24".into()),
                ..Default::default()
            },
        )
        .await
        .expect("subnet");
    assert_eq!(subnet.gateway_ip, Some("10.9.0.1".parse().expect("ip")));
    let plan = dp.plan(&net.id).expect("the dataplane serves the network");
    let dhcp = plan.dhcp_port.expect("a DHCP port");
    let dhcp_ip = dhcp.fixed_ips[0].ip_address;

    let mut tasks = Vec::new();
    for n in 0..200 {
        let (svc, alice, net_id) = (svc.clone(), alice.clone(), net.id.clone());
        tasks.push(tokio::spawn(async move {
            svc.create_port(
                &alice,
                PortInput {
                    network_id: Some(net_id),
                    name: Some(format!("p{n}")),
                    ..Default::default()
                },
            )
            .await
        }));
    }
    let mut seen: HashSet<IpAddr> = HashSet::new();
    let mut macs = HashSet::new();
    let mut ids = Vec::new();
    for t in tasks {
        let port = t.await.expect("join").expect("port");
        assert_eq!(port.fixed_ips.len(), 1);
        let ip = port.fixed_ips[0].ip_address;
        assert!(seen.insert(ip), "{ip} given twice");
        assert!(
            subnet.allocation_pools.iter().any(|p| p.start <= ip && ip <= p.end),
            "{ip} outside the pools"
        );
        assert_ne!(Some(ip), subnet.gateway_ip);
        assert_ne!(ip, dhcp_ip);
        assert!(macs.insert(port.mac_address.clone()));
        ids.push(port.id);
    }
    assert_eq!(
        dp.plan(&net.id).expect("plan").ports.len(),
        200,
        "the DHCP server knows every port"
    );

    // 253 pool addresses: the DHCP port and 200 ports hold 201; fill the rest, then exhaustion.
    for _ in 0..52 {
        svc.create_port(
            &alice,
            PortInput {
                network_id: Some(net.id.clone()),
                ..Default::default()
            },
        )
        .await
        .expect("port");
    }
    let e = svc
        .create_port(
            &alice,
            PortInput {
                network_id: Some(net.id.clone()),
                ..Default::default()
            },
        )
        .await
        .expect_err("full");
    assert_eq!(kind(&e), "IpAddressGenerationFailure");

    // Deleting a port frees its address; asking for it by name then works.
    let freed = svc.get_port(&alice, &ids[0]).await.expect("port").fixed_ips[0].ip_address;
    svc.delete_port(&alice, &ids[0]).await.expect("delete");
    let again = PortInput {
        network_id: Some(net.id.clone()),
        fixed_ips: Some(vec![FixedIpInput {
            subnet_id: None,
            ip_address: Some(freed.to_string()),
        }]),
        ..Default::default()
    };
    let p = svc.create_port(&alice, again).await.expect("the freed address");
    assert_eq!(p.fixed_ips[0].ip_address, freed);
    let taken = PortInput {
        network_id: Some(net.id.clone()),
        fixed_ips: Some(vec![FixedIpInput {
            subnet_id: None,
            ip_address: Some(freed.to_string()),
        }]),
        ..Default::default()
    };
    assert_eq!(
        kind(&svc.create_port(&alice, taken).await.expect_err("taken")),
        "IpAddressAlreadyAllocated"
    );

    // A network with ports is in use; the other project cannot see it at all.
    assert_eq!(
        kind(&svc.delete_network(&alice, &net.id).await.expect_err("in use")),
        "NetworkInUse"
    );
    let bob = caller("p-bob", &["member", "reader"]);
    assert_eq!(
        kind(&svc.get_network(&bob, &net.id).await.expect_err("hidden")),
        "NetworkNotFound"
    );
    svc.close().await;
    loc.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn addresses_are_unique_under_concurrency_on_sqlite() {
    addresses_are_unique_under_concurrency(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn addresses_are_unique_under_concurrency_on_postgres() {
    addresses_are_unique_under_concurrency(Backend::Postgres).await;
}

/// Two service instances on one PostgreSQL database, as two API processes would be.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_never_share_an_address() {
    let loc = TestLocation::new(Backend::Postgres).await;
    let a = open(&loc, Arc::new(FakeDataplane::new())).await;
    let b = open(&loc, Arc::new(FakeDataplane::new())).await;
    let alice = Arc::new(caller("p-alice", &["member", "reader"]));
    let net = a
        .create_network(&alice, NetworkInput::default())
        .await
        .expect("network");
    a.create_subnet(
        &alice,
        SubnetInput {
            network_id: Some(net.id.clone()),
            cidr: Some("10.10.0.0/25".into()),
            ..Default::default()
        },
    )
    .await
    .expect("subnet");
    let mut tasks = Vec::new();
    for n in 0..100 {
        let svc = if n % 2 == 0 { a.clone() } else { b.clone() };
        let (alice, net_id) = (alice.clone(), net.id.clone());
        tasks.push(tokio::spawn(async move {
            svc.create_port(
                &alice,
                PortInput {
                    network_id: Some(net_id),
                    ..Default::default()
                },
            )
            .await
        }));
    }
    let mut seen = HashSet::new();
    for t in tasks {
        let p = t.await.expect("join").expect("port");
        assert!(seen.insert(p.fixed_ips[0].ip_address));
    }
    a.close().await;
    b.close().await;
    loc.cleanup().await;
}
