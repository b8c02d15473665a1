//! Real guests: a fresh `stratus up` with the QEMU driver and the Linux dataplane boots the
//! test image set (`scripts/build-guest-image`) through python-openstackclient. The guest's
//! init prints what it saw on the serial console (`STRATUS-GUEST ...` lines), and the tests
//! read it with `openstack console log show`: the address the Network service allocated, the
//! uuid from the config drive, volumes appearing and going, and another guest answering ping.
//! After delete, no QEMU process, TAP, instance directory or DHCP host entry is left.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::cli::Cli;
use common::Server;

/// The guest image set; the test command builds it.
fn guest_dir() -> PathBuf {
    let dir = std::env::var_os("STRATUS_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/stratus/guest"));
    for f in ["vmlinuz", "initrd.img", "disk.img"] {
        assert!(
            dir.join(f).is_file(),
            "{} is missing: build the guest images with `bash scripts/build-guest-image {}` (scripts/test does)",
            dir.join(f).display(),
            dir.display()
        );
    }
    dir
}

/// Kills what a failed test would leave: guests and DHCP servers started from the test's data
/// directory, and the kernel objects of its networks.
struct Leftovers {
    data_dir: PathBuf,
    networks: Vec<String>,
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        let _ = std::process::Command::new("pkill")
            .args(["-9", "-f", &self.data_dir.display().to_string()])
            .status();
        for n in &self.networks {
            let short: String = n.chars().take(11).collect();
            let _ = std::process::Command::new("ip")
                .args(["link", "del", &format!("brq{short}")])
                .status();
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", &format!("qdhcp-{n}")])
                .status();
        }
    }
}

fn qemu_running(uuid: &str) -> bool {
    std::process::Command::new("pgrep")
        .args(["-f", &format!("qemu-system-x86_64.*-uuid {uuid}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// Waits until the guest's console has `count` lines containing `needle`; returns the
/// console.
fn wait_console(cli: &Cli, id: &str, needle: &str, count: usize, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let out = cli.ok(&["console", "log", "show", id]);
        if out.lines().filter(|l| l.contains(needle)).count() >= count {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "the console of {id} did not show {count} × {needle:?} within {timeout:?}:\n{out}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// `key=value` from the guest's `STRATUS-GUEST up` line.
fn field(line: &str, key: &str) -> String {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .unwrap_or_default()
        .to_owned()
}

fn up_lines(console: &str) -> Vec<String> {
    console
        .lines()
        .filter(|l| l.contains("STRATUS-GUEST up "))
        .map(str::to_owned)
        .collect()
}

fn address(cli: &Cli, id: &str, network: &str) -> String {
    let s = cli.json(&["server", "show", id]);
    s["addresses"][network][0]
        .as_str()
        .unwrap_or_else(|| panic!("no address on {network}: {s}"))
        .to_owned()
}

fn mac_of(cli: &Cli, server_id: &str) -> String {
    let ports = cli.json(&["port", "list", "--device-id", server_id, "--long"]);
    ports[0]["MAC Address"].as_str().unwrap_or_default().to_owned()
}

/// What a deleted guest must not leave behind.
fn assert_gone(server: &Server, id: &str, port_id: &str, mac: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while qemu_running(id) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(!qemu_running(id), "QEMU of {id} still runs");
    let tap: String = format!("tap{}", port_id.chars().take(11).collect::<String>());
    assert!(!link_exists(&tap), "{tap} is left");
    let dir = server.dir.path().join("data/compute/instances").join(id);
    assert!(!dir.exists(), "{} is left", dir.display());
    let hosts = std::process::Command::new("grep")
        .args([
            "-rli",
            mac,
            &server.dir.path().join("data/network").display().to_string(),
        ])
        .output()
        .expect("grep");
    assert!(
        String::from_utf8_lossy(&hosts.stdout).trim().is_empty(),
        "a DHCP entry for {mac} is left: {}",
        String::from_utf8_lossy(&hosts.stdout)
    );
}

/// A network with one IPv4 subnet; its kernel objects are removed if the test fails.
fn make_network(admin: &Cli, leftovers: &mut Leftovers, name: &str, cidr: &str) {
    let net = admin.json(&["network", "create", name]);
    leftovers
        .networks
        .push(net["id"].as_str().expect("network id").to_owned());
    admin.ok(&[
        "subnet",
        "create",
        "--network",
        name,
        "--subnet-range",
        cidr,
        &format!("{name}-v4"),
    ]);
}

/// The kernel, the ramdisk and a machine image naming them (`guest`), and the same guest as a
/// whole disk SeaBIOS boots (`guest-disk`).
fn upload_guest_images(admin: &Cli, server: &Server, guest: &Path) {
    let path = |f: &str| guest.join(f).display().to_string();
    let kernel = admin.json(&[
        "image",
        "create",
        "--disk-format",
        "aki",
        "--container-format",
        "aki",
        "--file",
        &path("vmlinuz"),
        "guest-kernel",
    ]);
    let ramdisk = admin.json(&[
        "image",
        "create",
        "--disk-format",
        "ari",
        "--container-format",
        "ari",
        "--file",
        &path("initrd.img"),
        "guest-ramdisk",
    ]);
    let root = server.dir.path().join("root.img");
    std::fs::write(&root, vec![0u8; 1 << 20]).expect("root image");
    admin.ok(&[
        "image",
        "create",
        "--disk-format",
        "ami",
        "--container-format",
        "ami",
        "--file",
        root.to_str().expect("path"),
        "--property",
        &format!("kernel_id={}", kernel["id"].as_str().expect("kernel id")),
        "--property",
        &format!("ramdisk_id={}", ramdisk["id"].as_str().expect("ramdisk id")),
        "--property",
        "os_command_line=console=ttyS0 quiet",
        "guest",
    ]);
    admin.ok(&[
        "image",
        "create",
        "--disk-format",
        "raw",
        "--file",
        &path("disk.img"),
        "guest-disk",
    ]);
}

const QEMU_ARGS: [&str; 6] = [
    "--compute-driver",
    "qemu",
    "--network-dataplane",
    "linux",
    "--compute-shutdown-timeout",
    "10",
];

#[test]
fn guests_boot_get_their_address_see_volumes_and_leave_nothing() {
    let guest = guest_dir();
    let server = Server::start(&QEMU_ARGS);
    let mut leftovers = Leftovers {
        data_dir: server.dir.path().join("data"),
        networks: vec![],
    };
    let admin = Cli::admin(&server);
    let hv = admin.json(&["hypervisor", "list", "--long"]);
    let hv_type = hv[0]["Hypervisor Type"].as_str().unwrap_or_default().to_owned();
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    assert_eq!(hv[0]["vCPUs"], cpus, "the host's own CPUs: {hv}");
    assert!(hv_type == "QEMU" || hv_type == "KVM", "{hv}");
    assert!(
        server.log().contains("QEMU driver ready"),
        "the accelerator choice is logged:\n{}",
        server.log()
    );

    upload_guest_images(&admin, &server, &guest);

    make_network(&admin, &mut leftovers, "guests", "10.231.0.0/24");
    let vol = admin.json(&["volume", "create", "--size", "2", "data"]);
    let vol_id = vol["id"].as_str().expect("volume id").to_owned();
    admin.wait_status("volume", &vol_id, "available");

    // Boot from kernel and ramdisk, with a config drive.
    let s1 = admin.json(&[
        "server",
        "create",
        "--flavor",
        "m1.tiny",
        "--image",
        "guest",
        "--network",
        "guests",
        "--config-drive",
        "true",
        "--wait",
        "vm1",
    ]);
    assert_eq!(s1["status"], "ACTIVE", "{s1}");
    let id1 = s1["id"].as_str().expect("id").to_owned();
    let ip1 = address(&admin, &id1, "guests");
    let console = wait_console(&admin, &id1, "STRATUS-GUEST up ", 1, Duration::from_secs(120));
    let up = up_lines(&console)[0].clone();
    assert_eq!(
        field(&up, "ip"),
        ip1,
        "the guest got the address the Network service allocated: {up}"
    );
    assert_eq!(
        field(&up, "uuid"),
        id1,
        "the guest read its uuid from the config drive: {up}"
    );
    assert_eq!(field(&up, "hostname"), "vm1", "{up}");
    let port1 = admin.json(&["port", "list", "--device-id", &id1])[0]["ID"]
        .as_str()
        .expect("port")
        .to_owned();
    let mac1 = mac_of(&admin, &id1);
    assert!(
        link_exists(&format!("tap{}", &port1[..11])),
        "the guest's TAP is plugged"
    );
    assert_eq!(admin.json(&["port", "show", &port1])["status"], "ACTIVE");

    // A volume hot-plugged: the guest sees a 1 GiB disk appear, and go.
    // The 1 MiB machine image's overlay is the flavor's 1 GiB root disk.
    assert!(
        console.contains("STRATUS-GUEST disk vda sectors=2097152"),
        "the root disk has the flavor's size:\n{console}"
    );
    let disks_before = console.lines().filter(|l| l.contains("STRATUS-GUEST disk ")).count();
    admin.ok(&["server", "add", "volume", &id1, &vol_id]);
    admin.wait_status("volume", &vol_id, "in-use");
    let console = wait_console(
        &admin,
        &id1,
        "STRATUS-GUEST disk ",
        disks_before + 1,
        Duration::from_secs(60),
    );
    let new_disk: Vec<&str> = console
        .lines()
        .filter(|l| l.contains("STRATUS-GUEST disk "))
        .skip(disks_before)
        .collect();
    assert!(
        new_disk.iter().any(|l| l.contains("sectors=4194304")),
        "the guest sees the 2 GiB volume appear: {new_disk:?}\n{console}"
    );
    admin.ok(&["server", "remove", "volume", &id1, &vol_id]);
    admin.wait_status("volume", &vol_id, "available");
    wait_console(&admin, &id1, "STRATUS-GUEST disk-gone ", 1, Duration::from_secs(60));

    // Stop, start and a hard reboot: each start is a new boot on the console.
    admin.ok(&["server", "stop", &id1]);
    admin.wait_status("server", &id1, "SHUTOFF");
    assert!(!qemu_running(&id1), "a stopped guest has no QEMU process");
    admin.ok(&["server", "start", &id1]);
    admin.wait_status("server", &id1, "ACTIVE");
    wait_console(&admin, &id1, "STRATUS-GUEST up ", 2, Duration::from_secs(120));
    admin.ok(&["server", "reboot", "--hard", &id1]);
    admin.wait_status("server", &id1, "ACTIVE");
    let console = wait_console(&admin, &id1, "STRATUS-GUEST up ", 3, Duration::from_secs(120));
    for up in up_lines(&console) {
        assert_eq!(
            field(&up, "ip"),
            ip1,
            "every boot gets the same address: {up}\n{console}"
        );
    }

    // A second guest from the whole-disk image pings the first, as its user data asks.
    let ud = server.dir.path().join("user-data");
    std::fs::write(&ud, format!("ping={ip1}\n")).expect("user data");
    let s2 = admin.json(&[
        "server",
        "create",
        "--flavor",
        "m1.tiny",
        "--image",
        "guest-disk",
        "--network",
        "guests",
        "--config-drive",
        "true",
        "--user-data",
        ud.to_str().expect("path"),
        "--wait",
        "vm2",
    ]);
    let id2 = s2["id"].as_str().expect("id").to_owned();
    let ip2 = address(&admin, &id2, "guests");
    let console = wait_console(&admin, &id2, "STRATUS-GUEST ping ", 1, Duration::from_secs(240));
    let up2 = up_lines(&console);
    assert_eq!(field(&up2[0], "ip"), ip2, "{console}");
    assert!(
        console.contains(&format!("STRATUS-GUEST ping {ip1} ok")),
        "vm2 reaches vm1 on their network:\n{console}"
    );
    let port2 = admin.json(&["port", "list", "--device-id", &id2])[0]["ID"]
        .as_str()
        .expect("port")
        .to_owned();
    let mac2 = mac_of(&admin, &id2);

    // Delete: nothing of either guest is left on the host.
    admin.ok(&["server", "delete", "--wait", &id1, &id2]);
    assert_gone(&server, &id1, &port1, &mac1);
    assert_gone(&server, &id2, &port2, &mac2);
    admin.ok(&["network", "delete", "guests"]);
    let short: String = leftovers.networks[0].chars().take(11).collect();
    assert!(!link_exists(&format!("brq{short}")), "the network's bridge is gone");
}

fn qemu_pid(uuid: &str) -> String {
    let out = std::process::Command::new("pgrep")
        .args(["-f", &format!("qemu-system-x86_64.*-uuid {uuid}")])
        .output()
        .expect("pgrep");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Guests keep running while the cloud restarts, and the restarted agent drives them again; a
/// guest that dies on its own is seen as SHUTOFF. The second guest boots from a volume made
/// from the whole-disk image.
#[test]
fn guests_outlive_a_restart_and_a_dead_guest_is_shutoff() {
    let guest = guest_dir();
    let server = Server::start(&QEMU_ARGS);
    let mut leftovers = Leftovers {
        data_dir: server.dir.path().join("data"),
        networks: vec![],
    };
    let admin = Cli::admin(&server);
    upload_guest_images(&admin, &server, &guest);
    make_network(&admin, &mut leftovers, "again", "10.232.0.0/24");

    let s = admin.json(&[
        "server",
        "create",
        "--flavor",
        "m1.tiny",
        "--image",
        "guest",
        "--network",
        "again",
        "--wait",
        "survivor",
    ]);
    let id = s["id"].as_str().expect("id").to_owned();
    wait_console(&admin, &id, "STRATUS-GUEST up ", 1, Duration::from_secs(120));

    // Boot from volume: the volume holds the whole-disk image and is the guest's first disk.
    let v = admin.json(&[
        "volume",
        "create",
        "--image",
        "guest-disk",
        "--size",
        "1",
        "--bootable",
        "boot-vol",
    ]);
    let vid = v["id"].as_str().expect("volume id").to_owned();
    admin.wait_status("volume", &vid, "available");
    let b = admin.json(&[
        "server",
        "create",
        "--flavor",
        "m1.tiny",
        "--volume",
        &vid,
        "--network",
        "again",
        "--wait",
        "from-volume",
    ]);
    assert_eq!(b["status"], "ACTIVE", "{b}");
    let bid = b["id"].as_str().expect("id").to_owned();
    let console = wait_console(&admin, &bid, "STRATUS-GUEST up ", 1, Duration::from_secs(120));
    let ip = address(&admin, &bid, "again");
    assert_eq!(field(&up_lines(&console)[0], "ip"), ip, "{console}");
    assert_eq!(admin.wait_status("volume", &vid, "in-use")["status"], "in-use");

    // The cloud stops and starts again; the guests run on, as they were.
    let pid = qemu_pid(&id);
    assert!(!pid.is_empty(), "the guest runs");
    let dir = server.stop();
    assert_eq!(qemu_pid(&id), pid, "the guest runs while the cloud is down");
    let server = Server::start_in(dir, &QEMU_ARGS);
    let admin = Cli::admin(&server);
    assert_eq!(qemu_pid(&id), pid, "the restarted agent kept the guest");
    let shown = admin.json(&["server", "show", &id]);
    assert_eq!(shown["status"], "ACTIVE", "{shown}");
    assert_eq!(shown["OS-EXT-STS:power_state"], 1, "{shown}");
    // The restarted agent drives the guest over its QMP socket: an ACPI power-off it obeys.
    admin.ok(&["server", "stop", &id]);
    admin.wait_status("server", &id, "SHUTOFF");
    let console = wait_console(&admin, &id, "STRATUS-GUEST poweroff", 1, Duration::from_secs(30));
    assert!(qemu_pid(&id).is_empty(), "stopped: {console}");
    admin.ok(&["server", "start", &id]);
    admin.wait_status("server", &id, "ACTIVE");
    wait_console(&admin, &id, "STRATUS-GUEST up ", 2, Duration::from_secs(120));
    // A soft reboot: the guest powers off on ACPI and boots again.
    admin.ok(&["server", "reboot", &id]);
    admin.wait_status("server", &id, "ACTIVE");
    wait_console(&admin, &id, "STRATUS-GUEST up ", 3, Duration::from_secs(120));
    let last = admin.ok(&["console", "log", "show", "--lines", "1", &id]);
    assert_eq!(last.trim().lines().count(), 1, "the console's last line: {last:?}");

    // A guest that dies on its own is seen as stopped.
    let bpid = qemu_pid(&bid);
    assert!(!bpid.is_empty());
    std::process::Command::new("kill")
        .args(["-9", &bpid])
        .status()
        .expect("kill");
    admin.wait_status("server", &bid, "SHUTOFF");
    assert_eq!(admin.json(&["server", "show", &bid])["OS-EXT-STS:power_state"], 4);

    admin.ok(&["server", "delete", "--wait", &id, &bid]);
    assert!(qemu_pid(&id).is_empty() && qemu_pid(&bid).is_empty());
    admin.ok(&["network", "delete", "again"]);
}
