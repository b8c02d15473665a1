//! The Linux dataplane, as Neutron's linuxbridge and DHCP agents build it: per network a
//! bridge `brq<net>`, a namespace `qdhcp-<net>` holding one end of a veth pair whose other end
//! (`tap<dhcp port>`) is in the bridge, the DHCP port's addresses on the namespace end, and a
//! dnsmasq in the namespace that answers only the network's ports (a hosts file of MAC,
//! name and address; options for router, DNS, routes and MTU).
//!
//! Everything is named after the object it serves, so a restart finds what exists,
//! completes what is missing and removes what serves no network. Kernel objects are made with
//! iproute2's `ip`, as the agents do; it must run as root.

use std::collections::BTreeSet;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

use crate::dataplane::{bridge_name, namespace_name, tap_name, Dataplane, NetworkPlan};
use crate::model::Port;

/// A dataplane on this host's kernel.
pub struct LinuxDataplane {
    /// `--user` for dnsmasq, when its default (`nobody`) cannot read the state directory.
    dnsmasq_user: Option<&'static str>,
    /// Where dnsmasq's files live: one directory per network.
    state_dir: PathBuf,
    dnsmasq: PathBuf,
    /// The last plan applied to each network, kept so that a port's change rewrites the
    /// hosts file without the service reading every port of the network again.
    plans: tokio::sync::Mutex<std::collections::HashMap<String, NetworkPlan>>,
    /// Networks whose DHCP entries changed since the writer last ran.
    dirty: std::sync::Mutex<BTreeSet<String>>,
    wake: std::sync::Arc<tokio::sync::Notify>,
}

/// Port changes are written to dnsmasq at most this often: a burst of port creates costs one
/// rewrite and one reload, not one per port (Neutron's DHCP agent batches the same way).
const COALESCE: Duration = Duration::from_millis(50);

impl LinuxDataplane {
    /// Must be called inside a Tokio runtime: it starts the task that writes port changes.
    pub fn new(state_dir: &Path, dnsmasq: &Path) -> io::Result<std::sync::Arc<Self>> {
        std::fs::create_dir_all(state_dir)?;
        // dnsmasq drops to `nobody` and reads its hosts file again on every change; under a
        // private data directory (mode 0700, as `mktemp -d` makes) it could not, and would
        // answer no one. There it keeps root, which it has only in its namespace.
        let dnsmasq_user = if others_can_reach(state_dir) {
            None
        } else {
            tracing::info!(dir = %state_dir.display(), "the DHCP servers run as root: `nobody` cannot reach their files");
            Some("root")
        };
        let dp = std::sync::Arc::new(LinuxDataplane {
            dnsmasq_user,
            state_dir: state_dir.to_owned(),
            dnsmasq: dnsmasq.to_owned(),
            plans: Default::default(),
            dirty: Default::default(),
            wake: std::sync::Arc::new(tokio::sync::Notify::new()),
        });
        let (weak, wake) = (std::sync::Arc::downgrade(&dp), dp.wake.clone());
        tokio::spawn(async move {
            loop {
                wake.notified().await;
                tokio::time::sleep(COALESCE).await;
                let Some(dp) = weak.upgrade() else { return };
                dp.write_dirty().await;
            }
        });
        Ok(dp)
    }

    async fn write_dirty(&self) {
        let networks: Vec<String> = match self.dirty.lock() {
            Ok(mut d) => std::mem::take(&mut *d).into_iter().collect(),
            Err(_) => return,
        };
        for id in networks {
            let plans = self.plans.lock().await;
            if let Some(plan) = plans.get(&id) {
                if let Err(e) = self.ensure_dnsmasq(plan).await {
                    tracing::error!(network = %id, error = %e, "updating the DHCP server failed");
                }
            }
        }
    }

    fn mark(&self, network_id: &str) {
        if let Ok(mut d) = self.dirty.lock() {
            d.insert(network_id.to_owned());
        }
        self.wake.notify_one();
    }

    fn dir(&self, network_id: &str) -> PathBuf {
        self.state_dir.join(network_id)
    }
}

/// The name of the namespace end of the DHCP port's veth pair.
fn ns_dev(port_id: &str) -> String {
    format!("ns-{}", port_id.chars().take(11).collect::<String>())
}

async fn ip(args: &[&str]) -> io::Result<String> {
    let out = Command::new("ip").args(args).output().await?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn link_exists(name: &str, netns: Option<&str>) -> bool {
    let mut args = Vec::new();
    if let Some(ns) = netns {
        args.extend(["-n", ns]);
    }
    args.extend(["link", "show", name]);
    Command::new("ip")
        .args(&args)
        .output()
        .await
        .map(|o| o.status.success())
        .unwrap_or(false)
}

async fn namespaces() -> io::Result<BTreeSet<String>> {
    let out = ip(&["netns", "list"]).await?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect())
}

async fn bridges() -> io::Result<BTreeSet<String>> {
    let out = ip(&["-o", "link", "show", "type", "bridge"]).await?;
    Ok(out
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|n| n.trim().split('@').next().unwrap_or("").to_owned())
        .collect())
}

/// Whether every directory from `/` down to `dir` lets other users through.
fn others_can_reach(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Ok(dir) = std::fs::canonicalize(dir) else {
        return false;
    };
    dir.ancestors()
        .all(|d| std::fs::metadata(d).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
}

fn pid_alive(pid_file: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(pid_file).ok()?.trim().parse().ok()?;
    // A live dnsmasq of ours has this pid file open in its command line.
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let needle = pid_file.to_string_lossy();
    String::from_utf8_lossy(&cmdline)
        .contains(needle.as_ref())
        .then_some(pid)
}

async fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").args([sig, &pid.to_string()]).output().await;
}

/// Writes a file only if its content changed; true when it did.
fn write_if_changed(path: &Path, content: &str) -> io::Result<bool> {
    if std::fs::read_to_string(path).ok().as_deref() == Some(content) {
        return Ok(false);
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, content)?;
    std::fs::rename(&tmp, path)?;
    Ok(true)
}

/// dnsmasq's hosts file: `mac,host-a-b-c-d,address` per port address on a DHCP subnet.
fn hosts_file(plan: &NetworkPlan) -> String {
    let dhcp_subnets: BTreeSet<&str> = plan
        .subnets
        .iter()
        .filter(|s| s.enable_dhcp)
        .map(|s| s.id.as_str())
        .collect();
    let mut out = String::new();
    for p in &plan.ports {
        for f in p
            .fixed_ips
            .iter()
            .filter(|f| dhcp_subnets.contains(f.subnet_id.as_str()))
        {
            let host = format!("host-{}", f.ip_address.to_string().replace(['.', ':'], "-"));
            match f.ip_address {
                IpAddr::V4(a) => out.push_str(&format!("{},{host},{a}\n", p.mac_address)),
                IpAddr::V6(a) => out.push_str(&format!("{},{host},[{a}]\n", p.mac_address)),
            }
        }
    }
    out
}

/// dnsmasq's options file: router, DNS servers and classless routes per subnet tag, and MTU.
fn opts_file(plan: &NetworkPlan) -> String {
    let mut out = String::new();
    for (n, s) in plan
        .subnets
        .iter()
        .enumerate()
        .filter(|(_, s)| s.enable_dhcp && s.ip_version == 4)
    {
        let tag = format!("tag:subnet{n}");
        match s.gateway_ip {
            Some(g) => out.push_str(&format!("{tag},option:router,{g}\n")),
            None => out.push_str(&format!("{tag},option:router\n")),
        }
        if !s.dns_nameservers.is_empty() {
            out.push_str(&format!("{tag},option:dns-server,{}\n", s.dns_nameservers.join(",")));
        }
        if !s.host_routes.is_empty() {
            let mut routes: Vec<String> = s
                .host_routes
                .iter()
                .map(|r| format!("{},{}", r.destination, r.nexthop))
                .collect();
            // With classless routes a client ignores the router option; the default route
            // goes in the list too (RFC 3442).
            if let Some(g) = s.gateway_ip {
                routes.push(format!("0.0.0.0/0,{g}"));
            }
            out.push_str(&format!("{tag},option:classless-static-route,{}\n", routes.join(",")));
        }
        out.push_str(&format!("{tag},option:mtu,{}\n", plan.mtu));
    }
    out
}

impl LinuxDataplane {
    async fn ensure_plumbing(&self, plan: &NetworkPlan) -> io::Result<()> {
        let br = bridge_name(&plan.network_id);
        let ns = namespace_name(&plan.network_id);
        let mtu = plan.mtu.to_string();
        if !link_exists(&br, None).await {
            ip(&["link", "add", "name", &br, "type", "bridge"]).await?;
        }
        ip(&["link", "set", &br, "mtu", &mtu, "up"]).await?;
        if !namespaces().await?.contains(&ns) {
            ip(&["netns", "add", &ns]).await?;
        }
        ip(&["-n", &ns, "link", "set", "lo", "up"]).await?;
        let Some(dhcp) = &plan.dhcp_port else { return Ok(()) };
        let (tap, inner) = (tap_name(&dhcp.id), ns_dev(&dhcp.id));
        if !link_exists(&inner, Some(&ns)).await {
            if link_exists(&tap, None).await {
                ip(&["link", "del", &tap]).await?;
            }
            ip(&["link", "add", &tap, "type", "veth", "peer", "name", &inner]).await?;
            ip(&["link", "set", &inner, "netns", &ns]).await?;
        }
        ip(&["link", "set", &tap, "master", &br, "mtu", &mtu, "up"]).await?;
        ip(&[
            "-n",
            &ns,
            "link",
            "set",
            &inner,
            "address",
            &dhcp.mac_address,
            "mtu",
            &mtu,
            "up",
        ])
        .await?;
        // The namespace end carries exactly the DHCP port's addresses.
        let want: BTreeSet<String> = dhcp
            .fixed_ips
            .iter()
            .filter_map(|f| {
                let s = plan.subnets.iter().find(|s| s.id == f.subnet_id)?;
                Some(format!("{}/{}", f.ip_address, s.cidr.prefix_len()))
            })
            .collect();
        let have_out = ip(&["-n", &ns, "-o", "addr", "show", "dev", &inner, "scope", "global"]).await?;
        let have: BTreeSet<String> = have_out
            .lines()
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                it.position(|w| w == "inet" || w == "inet6")?;
                it.next().map(str::to_owned)
            })
            .collect();
        for a in want.difference(&have) {
            ip(&["-n", &ns, "addr", "add", a, "dev", &inner]).await?;
        }
        for a in have.difference(&want) {
            ip(&["-n", &ns, "addr", "del", a, "dev", &inner]).await?;
        }
        Ok(())
    }

    async fn ensure_dnsmasq(&self, plan: &NetworkPlan) -> io::Result<()> {
        let dir = self.dir(&plan.network_id);
        std::fs::create_dir_all(&dir)?;
        let pid_file = dir.join("pid");
        // IPv6 subnets in SLAAC or stateless mode get their addresses from router
        // advertisements, not from this server.
        let dhcp_subnets: Vec<_> = plan
            .subnets
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                s.enable_dhcp && (s.ip_version == 4 || s.ipv6_address_mode.as_deref() == Some("dhcpv6-stateful"))
            })
            .collect();
        let (Some(dhcp), false) = (&plan.dhcp_port, dhcp_subnets.is_empty()) else {
            if let Some(pid) = pid_alive(&pid_file) {
                signal(pid, "-TERM").await;
            }
            return Ok(());
        };
        let hosts_changed = write_if_changed(&dir.join("host"), &hosts_file(plan))?;
        let opts_changed = write_if_changed(&dir.join("opts"), &opts_file(plan))?;
        let mut args = vec![
            "--no-hosts".to_owned(),
            "--no-resolv".to_owned(),
            "--port=0".to_owned(),
            "--bind-interfaces".to_owned(),
            format!("--interface={}", ns_dev(&dhcp.id)),
            "--except-interface=lo".to_owned(),
            format!("--pid-file={}", pid_file.display()),
            format!("--dhcp-hostsfile={}", dir.join("host").display()),
            format!("--dhcp-optsfile={}", dir.join("opts").display()),
            "--leasefile-ro".to_owned(),
            format!("--user={}", self.dnsmasq_user.unwrap_or("nobody")),
            "--dhcp-authoritative".to_owned(),
        ];
        for (n, s) in &dhcp_subnets {
            let mode = if s.ip_version == 4 {
                "static".to_owned()
            } else {
                format!("static,{}", s.cidr.prefix_len())
            };
            let mask = if s.ip_version == 4 {
                format!(",{}", s.cidr.netmask())
            } else {
                String::new()
            };
            args.push(format!(
                "--dhcp-range=set:subnet{n},{},{mode}{mask},86400s",
                s.cidr.network()
            ));
        }
        let args_line = args.join(" ");
        let args_changed = write_if_changed(&dir.join("args"), &args_line)?;
        match pid_alive(&pid_file) {
            Some(pid) if !args_changed => {
                if hosts_changed || opts_changed {
                    // dnsmasq re-reads its hosts and options files on SIGHUP.
                    signal(pid, "-HUP").await;
                }
                Ok(())
            }
            running => {
                if let Some(pid) = running {
                    signal(pid, "-TERM").await;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                let ns = namespace_name(&plan.network_id);
                let out = Command::new("ip")
                    .args(["netns", "exec", &ns])
                    .arg(&self.dnsmasq)
                    .args(&args)
                    .output()
                    .await?;
                if !out.status.success() {
                    return Err(io::Error::other(format!(
                        "dnsmasq in {ns}: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    )));
                }
                Ok(())
            }
        }
    }
}

#[async_trait::async_trait]
impl Dataplane for LinuxDataplane {
    async fn apply(&self, plan: &NetworkPlan) -> io::Result<()> {
        let mut plans = self.plans.lock().await;
        self.ensure_plumbing(plan).await?;
        self.ensure_dnsmasq(plan).await?;
        plans.insert(plan.network_id.clone(), plan.clone());
        Ok(())
    }

    async fn port_changed(&self, network_id: &str, port: &Port) -> io::Result<()> {
        let mut plans = self.plans.lock().await;
        let Some(plan) = plans.get_mut(network_id) else {
            return Ok(());
        };
        plan.ports.retain(|p| p.id != port.id);
        plan.ports.push(port.clone());
        self.mark(network_id);
        Ok(())
    }

    async fn port_removed(&self, network_id: &str, port_id: &str) -> io::Result<()> {
        let mut plans = self.plans.lock().await;
        let Some(plan) = plans.get_mut(network_id) else {
            return Ok(());
        };
        plan.ports.retain(|p| p.id != port_id);
        self.mark(network_id);
        Ok(())
    }

    async fn plug(&self, network_id: &str, port: &Port, mtu: i64) -> io::Result<String> {
        let (tap, br) = (tap_name(&port.id), bridge_name(network_id));
        if !link_exists(&br, None).await {
            return Err(io::Error::other(format!(
                "bridge {br} of network {network_id} does not exist"
            )));
        }
        if !link_exists(&tap, None).await {
            // A persistent TAP: the hypervisor opens it by name later.
            ip(&["tuntap", "add", "dev", &tap, "mode", "tap"]).await?;
        }
        ip(&["link", "set", &tap, "master", &br, "mtu", &mtu.to_string(), "up"]).await?;
        Ok(tap)
    }

    async fn unplug(&self, port_id: &str) -> io::Result<()> {
        let tap = tap_name(port_id);
        if link_exists(&tap, None).await {
            ip(&["link", "del", &tap]).await?;
        }
        Ok(())
    }

    async fn remove(&self, network_id: &str) -> io::Result<()> {
        self.plans.lock().await.remove(network_id);
        let dir = self.dir(network_id);
        if let Some(pid) = pid_alive(&dir.join("pid")) {
            signal(pid, "-TERM").await;
            for _ in 0..50 {
                if pid_alive(&dir.join("pid")).is_none() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let ns = namespace_name(network_id);
        if namespaces().await?.contains(&ns) {
            // Deleting the namespace deletes the veth pair with it.
            ip(&["netns", "del", &ns]).await?;
        }
        let br = bridge_name(network_id);
        if link_exists(&br, None).await {
            ip(&["link", "del", &br]).await?;
        }
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    async fn reconcile(&self, plans: &[NetworkPlan]) -> io::Result<()> {
        let known: BTreeSet<String> = plans.iter().map(|p| p.network_id.clone()).collect();
        // Namespaces carry the whole network id; bridges only its first 11 characters.
        for ns in namespaces().await? {
            if let Some(id) = ns.strip_prefix("qdhcp-") {
                if !known.contains(id) {
                    tracing::info!(network = %id, "removing the dataplane of a network that no longer exists");
                    self.remove(id).await?;
                }
            }
        }
        let known_bridges: BTreeSet<String> = known.iter().map(|id| bridge_name(id)).collect();
        for br in bridges().await? {
            if br.starts_with("brq") && !known_bridges.contains(&br) {
                ip(&["link", "del", &br]).await?;
            }
        }
        if let Ok(rd) = std::fs::read_dir(&self.state_dir) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !known.contains(&name) {
                    if let Some(pid) = pid_alive(&e.path().join("pid")) {
                        signal(pid, "-TERM").await;
                    }
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        for p in plans {
            self.apply(p).await?;
            // TAPs in the bridge whose ports were deleted while this process was down.
            let known: BTreeSet<String> = p
                .ports
                .iter()
                .chain(p.dhcp_port.iter())
                .map(|port| tap_name(&port.id))
                .collect();
            let members = ip(&["-o", "link", "show", "master", &bridge_name(&p.network_id)]).await?;
            for dev in members
                .lines()
                .filter_map(|l| l.split(':').nth(1))
                .map(|n| n.trim().split('@').next().unwrap_or(""))
            {
                if dev.starts_with("tap") && !known.contains(dev) {
                    tracing::info!(device = %dev, network = %p.network_id, "removing the TAP of a deleted port");
                    ip(&["link", "del", dev]).await?;
                }
            }
        }
        Ok(())
    }
}
