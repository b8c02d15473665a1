//! The config drive as cloud-init reads it: a VFAT filesystem labelled `config-2` with
//! `openstack/latest/` files, read back here with the same FAT implementation.

use std::io::Read;

use stratus_virt::{configdrive, GuestSpec, Nic};

fn spec() -> GuestSpec {
    GuestSpec {
        uuid: "5f3c1c1e-0000-4000-8000-000000000001".into(),
        name: "Web 1".into(),
        hostname: "web-1".into(),
        project_id: "p1".into(),
        availability_zone: "nova".into(),
        public_keys: [("k1".to_owned(), "ssh-ed25519 AAAA test".to_owned())].into(),
        metadata: [("role".to_owned(), "web".to_owned())].into(),
        // "ping=10.0.0.5\n", base64-encoded as the API stores it.
        user_data: Some("cGluZz0xMC4wLjAuNQo=".into()),
        nics: vec![Nic {
            port_id: "0123456789abcdef".into(),
            mac: "fa:16:3e:00:00:01".into(),
            network_id: "n1".into(),
            ips: vec!["10.0.0.7".into()],
            mtu: 1450,
            ..Default::default()
        }],
        config_drive: true,
        admin_pass: Some("Xy7kPq2mNb4w".into()),
        ..Default::default()
    }
}

fn read(fs: &fatfs::FileSystem<std::fs::File>, path: &str) -> Vec<u8> {
    let mut out = Vec::new();
    fs.root_dir()
        .open_file(path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .read_to_end(&mut out)
        .expect("read");
    out
}

#[test]
fn the_config_drive_holds_what_cloud_init_reads() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("config.img");
    configdrive::write(&path, &spec()).expect("write");

    let fs = fatfs::FileSystem::new(std::fs::File::open(&path).expect("open"), fatfs::FsOptions::new()).expect("fat");
    assert_eq!(fs.volume_label().trim(), "config-2");
    let meta: serde_json::Value =
        serde_json::from_slice(&read(&fs, "openstack/latest/meta_data.json")).expect("meta json");
    assert_eq!(meta["uuid"], "5f3c1c1e-0000-4000-8000-000000000001");
    assert_eq!(meta["hostname"], "web-1");
    assert_eq!(meta["name"], "Web 1");
    assert_eq!(meta["public_keys"]["k1"], "ssh-ed25519 AAAA test");
    assert_eq!(meta["keys"][0]["type"], "ssh");
    assert_eq!(meta["meta"]["role"], "web", "Nova puts metadata under meta: {meta}");
    assert_eq!(meta["admin_pass"], "Xy7kPq2mNb4w", "cloud-init sets the password from admin_pass");
    let net: serde_json::Value =
        serde_json::from_slice(&read(&fs, "openstack/latest/network_data.json")).expect("network json");
    assert_eq!(net["links"][0]["id"], "tap0123456789a");
    assert_eq!(net["links"][0]["ethernet_mac_address"], "fa:16:3e:00:00:01");
    assert_eq!(net["links"][0]["mtu"], 1450);
    assert_eq!(net["networks"][0]["type"], "ipv4_dhcp");
    assert_eq!(
        read(&fs, "openstack/latest/user_data"),
        b"ping=10.0.0.5\n",
        "user data is decoded"
    );
    assert_eq!(read(&fs, "openstack/latest/vendor_data.json"), b"{}");
}

#[test]
fn without_user_data_there_is_no_user_data_file() {
    let mut s = spec();
    s.user_data = None;
    let files = configdrive::files(&s);
    assert!(files.iter().all(|(p, _)| !p.ends_with("user_data")));
    assert_eq!(files.len(), 3);
}

#[test]
fn the_admin_password_is_on_the_drive_but_never_in_the_saved_spec() {
    let s = spec();
    let saved = serde_json::to_string(&s).expect("spec json");
    assert!(!saved.contains("Xy7kPq2mNb4w"), "{saved}");
    let mut without = spec();
    without.admin_pass = None;
    let meta = &configdrive::files(&without)[0].1;
    let meta: serde_json::Value = serde_json::from_slice(meta).expect("json");
    assert!(meta.get("admin_pass").is_none(), "{meta}");
}
