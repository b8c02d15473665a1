//! The Linux dataplane on this host's kernel: a guest on the network's bridge gets its port's
//! address, gateway and MTU from the network's dnsmasq over real DHCP; a restart finds and
//! keeps what exists; deleting the network removes it all. Needs root, iproute2, dnsmasq and
//! busybox (scripts/test installs the last two).

use std::process::Command;

use stratus_api::policy::Policy;
use stratus_api::testing::caller;
use stratus_network::dataplane::{bridge_name, namespace_name};
use stratus_network::inputs::{NetworkInput, PortInput, SubnetInput};
use stratus_network::{LinuxDataplane, NetworkConfig, NetworkService};
use stratus_store::testing::TestLocation;
use stratus_store::Backend;

fn sh(cmd: &str) -> (bool, String) {
    let out = Command::new("sh").arg("-c").arg(cmd).output().expect("sh");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn must(cmd: &str) -> String {
    let (ok, out) = sh(cmd);
    assert!(ok, "{cmd}: {out}");
    out
}

fn dnsmasq() -> std::path::PathBuf {
    ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
        .expect("dnsmasq is required by this test: scripts/test installs dnsmasq-base")
}

async fn open(loc: &TestLocation, state: &std::path::Path) -> NetworkService {
    let dp = LinuxDataplane::new(state, &dnsmasq()).expect("dataplane");
    let policy = Policy::load(stratus_network::DEFAULT_POLICY, None).expect("policy");
    let svc = NetworkService::open(&loc.location, NetworkConfig::default(), policy, dp)
        .await
        .expect("open");
    svc.reconcile_dataplane().await.expect("reconcile");
    svc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_on_the_bridge_gets_its_address_by_dhcp() {
    assert!(sh("id -u").1.trim() == "0", "the Linux dataplane test runs as root");
    assert!(
        sh("command -v busybox").0,
        "busybox (udhcpc) is required by this test: scripts/test installs it"
    );
    let loc = TestLocation::new(Backend::Sqlite).await;
    let state = tempfile::tempdir().expect("tmp");
    let svc = open(&loc, state.path()).await;
    let me = caller("p-admin", &["admin", "member", "reader"]);
    let net = svc
        .create_network(
            &me,
            NetworkInput {
                mtu: Some(1400),
                ..Default::default()
            },
        )
        .await
        .expect("network");
    let subnet = svc
        .create_subnet(
            &me,
            SubnetInput {
                network_id: Some(net.id.clone()),
                cidr: Some("10.201.0.0/24".into()),
                dns_nameservers: Some(vec!["192.0.2.53".into()]),
                ..Default::default()
            },
        )
        .await
        .expect("subnet");
    let port = svc
        .create_port(
            &me,
            PortInput {
                network_id: Some(net.id.clone()),
                ..Default::default()
            },
        )
        .await
        .expect("port");
    let (br, ns) = (bridge_name(&net.id), namespace_name(&net.id));
    assert!(must("ip -o link show type bridge").contains(&br));
    assert!(must("ip netns list").contains(&ns));
    let pid = std::fs::read_to_string(state.path().join(&net.id).join("pid"))
        .expect("dnsmasq pid")
        .trim()
        .to_owned();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists(), "dnsmasq runs");

    // A guest: a namespace with a veth into the bridge carrying the port's MAC.
    let guest = format!("guest-{}", &port.id[..8]);
    let (host_end, guest_end) = (format!("vg{}", &port.id[..8]), format!("vh{}", &port.id[..8]));
    must(&format!("ip netns add {guest}"));
    must(&format!("ip link add {host_end} type veth peer name {guest_end}"));
    must(&format!("ip link set {guest_end} netns {guest}"));
    must(&format!("ip link set {host_end} master {br} up"));
    must(&format!(
        "ip -n {guest} link set {guest_end} address {} up",
        port.mac_address
    ));
    let script = state.path().join("udhcpc.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\n[ \"$1\" = bound ] && echo \"LEASE ip=$ip router=$router dns=$dns mtu=$mtu\"\nexit 0\n",
    )
    .expect("script");
    must(&format!("chmod +x {}", script.display()));
    let (ok, out) = sh(&format!(
        "ip netns exec {guest} busybox udhcpc -i {guest_end} -n -q -f -t 10 -T 1 -O mtu -s {}",
        script.display()
    ));
    must(&format!("ip netns del {guest}"));
    assert!(ok, "udhcpc: {out}");
    let want = port.fixed_ips[0].ip_address.to_string();
    assert!(out.contains(&format!("ip={want} ")), "the guest got {want}: {out}");
    assert!(
        out.contains(&format!("router={}", subnet.gateway_ip.expect("gateway"))),
        "{out}"
    );
    assert!(out.contains("dns=192.0.2.53") && out.contains("mtu=1400"), "{out}");

    // The compute agent's step: the port's TAP goes into the bridge and the port is ACTIVE.
    assert_eq!(port.status, "DOWN");
    let (plugged, tap) = svc.plug_port(&me, &port.id).await.expect("plug");
    assert_eq!(plugged.status, "ACTIVE");
    assert!(
        must(&format!("ip -o link show master {br}")).contains(&tap),
        "{tap} is in {br}"
    );
    svc.plug_port(&me, &port.id).await.expect("plugging twice is fine");

    // A restart finds everything and duplicates nothing; the same dnsmasq keeps serving.
    svc.close().await;
    let svc = open(&loc, state.path()).await;
    let pid_after = std::fs::read_to_string(state.path().join(&net.id).join("pid"))
        .expect("pid")
        .trim()
        .to_owned();
    assert_eq!(pid, pid_after, "a restart keeps the running dnsmasq");
    assert_eq!(must("ip -o link show type bridge").matches(&br).count(), 1);

    // Deleting the port removes its TAP; deleting the network removes the bridge, the
    // namespace and the server.
    svc.delete_port(&me, &port.id).await.expect("delete port");
    assert!(!sh(&format!("ip link show {tap}")).0, "{tap} removed with its port");
    svc.delete_network(&me, &net.id).await.expect("delete network");
    assert!(!must("ip -o link show type bridge").contains(&br));
    assert!(!must("ip netns list").contains(&ns));
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || !std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .unwrap_or_default()
                .contains("dnsmasq")
    );
    svc.close().await;
    loc.cleanup().await;
}
