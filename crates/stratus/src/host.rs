//! What this machine can run, and the compute driver and network dataplane chosen from it.
//!
//! The two must agree: the qemu driver plugs each guest's TAP into the bridge the Linux
//! dataplane made for its network, and the dataplane's dnsmasq gives the guest its address. A
//! qemu driver beside the memory dataplane starts, and then every boot fails; so a pair that
//! cannot boot a guest is refused at start, with the one command that fixes it, and `auto`
//! picks a pair that works and says what a guest gets.
//!
//! This must not start anything: it only looks at the machine (programs, root) and decides.

use std::path::Path;

use anyhow::bail;

/// What the machine offers the driver and the dataplane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Abilities {
    pub root: bool,
    /// iproute2's `ip`.
    pub iproute2: bool,
    pub dnsmasq: bool,
    pub qemu: bool,
    pub qemu_img: bool,
}

impl Abilities {
    pub fn probe(dnsmasq: &Path, qemu: &Path, qemu_img: &Path) -> Self {
        Abilities {
            root: is_root(),
            iproute2: ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
                .iter()
                .any(|p| Path::new(p).exists()),
            dnsmasq: crate::config::find_program(dnsmasq).is_some(),
            qemu: crate::config::find_program(qemu).is_some(),
            qemu_img: crate::config::find_program(qemu_img).is_some(),
        }
    }

    fn linux_dataplane(&self) -> bool {
        self.root && self.iproute2 && self.dnsmasq
    }

    fn qemu_driver(&self) -> bool {
        self.root && self.qemu && self.qemu_img
    }

    /// The Debian packages real guests need that are missing here, as one install line
    /// (QEMU and qemu-utils together: Debian's qemu-system-x86 needs the qemu-utils of its
    /// own release).
    fn install_line(&self, want_qemu: bool, want_linux: bool) -> Option<String> {
        let mut pkgs = Vec::new();
        if want_qemu && !(self.qemu && self.qemu_img) {
            pkgs.extend(["qemu-system-x86", "qemu-utils"]);
        }
        if want_linux && !self.dnsmasq {
            pkgs.push("dnsmasq-base");
        }
        if want_linux && !self.iproute2 {
            pkgs.push("iproute2");
        }
        (!pkgs.is_empty()).then(|| format!("apt-get install --no-install-recommends {}", pkgs.join(" ")))
    }

    /// What to do so that the qemu driver and/or the Linux dataplane can run here.
    fn fix(&self, want_qemu: bool, want_linux: bool) -> String {
        let mut steps = Vec::new();
        if let Some(line) = self.install_line(want_qemu, want_linux) {
            steps.push(line);
        }
        if !self.root {
            steps.push("run stratus as root (it makes bridges, namespaces and TAP devices)".to_owned());
        }
        steps.join(", then ")
    }
}

/// The driver and the dataplane this process runs, and what a guest gets from them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// `qemu` or `fake`.
    pub driver: String,
    /// `linux` or `memory`.
    pub dataplane: String,
    /// Why `auto` chose as it did, when something real guests need is missing.
    pub missing: Option<String>,
}

impl Choice {
    /// One line for the operator: what a guest of this cloud gets.
    pub fn guests_get(&self, accel: Option<&str>) -> String {
        let guests = match (self.driver.as_str(), accel) {
            ("qemu", Some(a)) => format!("real QEMU virtual machines ({a})"),
            ("qemu", None) => "real QEMU virtual machines".to_owned(),
            _ => "records only (the fake driver: nothing boots)".to_owned(),
        };
        let network = match self.dataplane.as_str() {
            "linux" => "a port on the network's bridge, its address from the network's DHCP server",
            _ => "an address in the records only (the memory dataplane: no bridge, no DHCP)",
        };
        let mut line = format!(
            "compute driver {}, network dataplane {}: guests are {guests}, each with {network}",
            self.driver, self.dataplane
        );
        if let Some(m) = &self.missing {
            line.push_str(&format!(". For real guests: {m}"));
        }
        line
    }
}

/// Resolves `auto` and refuses what cannot work. `together` says the dataplane and the
/// compute agent run in this process (`stratus up`, or `serve` with the api and compute
/// roles), where the qemu driver needs this process's Linux dataplane; a compute agent alone
/// cannot see the network node's dataplane, so only its own needs are checked.
pub fn choose(driver: &str, dataplane: &str, host: &Abilities, together: bool) -> anyhow::Result<Choice> {
    if !["auto", "qemu", "fake"].contains(&driver) {
        bail!("compute_driver must be qemu, fake or auto, not {driver:?}");
    }
    if !["auto", "linux", "memory"].contains(&dataplane) {
        bail!("network_dataplane must be auto, linux or memory, not {dataplane:?}");
    }
    if dataplane == "linux" && !host.linux_dataplane() {
        bail!(
            "network_dataplane linux needs root, iproute2 and dnsmasq; to fix: {}",
            host.fix(false, true)
        );
    }
    if driver == "qemu" && !host.qemu_driver() {
        bail!(
            "compute_driver qemu needs qemu-system-x86_64 and qemu-img, and root for the guests' TAP devices; to fix: {}",
            host.fix(true, together)
        );
    }
    if together && driver == "qemu" && dataplane == "memory" {
        bail!(
            "compute_driver qemu needs network_dataplane linux on the same host: its guests join the networks' \
             bridges and get their addresses from the networks' dnsmasq, which the memory dataplane does not make \
             (use --network-dataplane linux, or --compute-driver fake)"
        );
    }
    if together && driver == "qemu" && !host.linux_dataplane() {
        bail!(
            "compute_driver qemu needs the Linux dataplane on the same host (bridges and DHCP for its guests); to fix: {}",
            host.fix(true, true)
        );
    }
    let real = host.qemu_driver() && (!together || host.linux_dataplane());
    let dataplane = match dataplane {
        "auto" => pick(host.linux_dataplane()),
        d => d.to_owned(),
    };
    let driver = match driver {
        // With the memory dataplane a real guest would have no network: fake is the one that
        // works.
        "auto" if together && dataplane == "memory" => "fake".to_owned(),
        "auto" => if real { "qemu" } else { "fake" }.to_owned(),
        d => d.to_owned(),
    };
    let missing = (driver == "fake")
        .then(|| host.fix(true, together))
        .filter(|f| !f.is_empty());
    Ok(Choice {
        driver,
        dataplane,
        missing,
    })
}

fn pick(linux: bool) -> String {
    if linux { "linux" } else { "memory" }.to_owned()
}

pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Abilities = Abilities {
        root: true,
        iproute2: true,
        dnsmasq: true,
        qemu: true,
        qemu_img: true,
    };

    fn without(f: impl Fn(&mut Abilities)) -> Abilities {
        let mut a = ALL;
        f(&mut a);
        a
    }

    #[test]
    fn auto_picks_real_guests_where_everything_is_there() {
        let c = choose("auto", "auto", &ALL, true).expect("choice");
        assert_eq!((c.driver.as_str(), c.dataplane.as_str()), ("qemu", "linux"));
        assert_eq!(c.missing, None);
    }

    #[test]
    fn auto_without_dnsmasq_is_a_consistent_fake_pair_and_says_what_to_install() {
        let host = without(|a| a.dnsmasq = false);
        let c = choose("auto", "auto", &host, true).expect("choice");
        assert_eq!((c.driver.as_str(), c.dataplane.as_str()), ("fake", "memory"));
        let line = c.guests_get(None);
        assert!(
            line.contains("apt-get install --no-install-recommends dnsmasq-base"),
            "{line}"
        );
    }

    #[test]
    fn auto_without_root_says_to_run_as_root() {
        let host = without(|a| a.root = false);
        let c = choose("auto", "auto", &host, true).expect("choice");
        assert_eq!((c.driver.as_str(), c.dataplane.as_str()), ("fake", "memory"));
        assert!(c.missing.as_deref().is_some_and(|m| m.contains("root")), "{c:?}");
    }

    #[test]
    fn auto_with_the_memory_dataplane_uses_the_fake_driver() {
        let c = choose("auto", "memory", &ALL, true).expect("choice");
        assert_eq!(c.driver, "fake");
    }

    #[test]
    fn a_pair_that_cannot_boot_is_refused_with_its_fix() {
        let e = choose("qemu", "memory", &ALL, true).expect_err("refused").to_string();
        assert!(e.contains("network_dataplane linux"), "{e}");
        let e = choose("qemu", "auto", &without(|a| a.dnsmasq = false), true)
            .expect_err("refused")
            .to_string();
        assert!(
            e.contains("apt-get install --no-install-recommends dnsmasq-base"),
            "{e}"
        );
        let e = choose("qemu", "auto", &without(|a| a.qemu_img = false), true)
            .expect_err("refused")
            .to_string();
        assert!(e.contains("qemu-system-x86 qemu-utils"), "{e}");
        let e = choose("auto", "linux", &without(|a| a.root = false), true)
            .expect_err("refused")
            .to_string();
        assert!(e.contains("root"), "{e}");
    }

    #[test]
    fn an_agent_alone_checks_only_its_own_needs() {
        // The network node runs the dataplane elsewhere.
        let host = without(|a| a.dnsmasq = false);
        let c = choose("qemu", "memory", &host, false).expect("choice");
        assert_eq!(c.driver, "qemu");
        let c = choose("auto", "auto", &host, false).expect("choice");
        assert_eq!(c.driver, "qemu");
    }

    #[test]
    fn unknown_names_are_refused() {
        assert!(choose("xen", "auto", &ALL, true).is_err());
        assert!(choose("auto", "ovs", &ALL, true).is_err());
    }
}
