//! The config drive: a small VFAT disk labelled `config-2` holding `openstack/latest/`
//! (`meta_data.json`, `network_data.json`, `user_data`, `vendor_data.json`) as Nova writes it
//! and cloud-init reads it. Nova defaults to ISO 9660; VFAT (its `config_drive_format=vfat`)
//! is written here with the `fatfs` crate, so the host needs no mkisofs.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use serde_json::{json, Value};

use crate::GuestSpec;

/// Big enough for any user data Nova accepts (64 KiB) with room to spare; sparse on disk.
const SIZE: u64 = 64 << 20;

/// The files of the drive, by path.
pub fn files(spec: &GuestSpec) -> Vec<(String, Vec<u8>)> {
    let keys: Vec<Value> = spec
        .public_keys
        .iter()
        .map(|(name, data)| json!({"name": name, "type": "ssh", "data": data}))
        .collect();
    let meta = json!({
        "uuid": spec.uuid,
        "name": spec.name,
        "hostname": spec.hostname,
        "launch_index": 0,
        "availability_zone": spec.availability_zone,
        "project_id": spec.project_id,
        "public_keys": spec.public_keys,
        "keys": keys,
        "meta": spec.metadata,
        "devices": [],
    });
    let mut meta = meta;
    if let Some(pass) = &spec.admin_pass {
        meta["admin_pass"] = json!(pass);
    }
    let mut links = Vec::new();
    let mut networks = Vec::new();
    for (i, nic) in spec.nics.iter().enumerate() {
        let link = crate::tap_name(&nic.port_id);
        links.push(json!({
            "id": link,
            "vif_id": nic.port_id,
            "type": "bridge",
            "mtu": nic.mtu,
            "ethernet_mac_address": nic.mac,
        }));
        // The Network service answers DHCP on every subnet it serves.
        if nic.ips.iter().any(|ip| !ip.contains(':')) {
            networks.push(json!({
                "id": format!("network{i}"),
                "link": link,
                "type": "ipv4_dhcp",
                "network_id": nic.network_id,
            }));
        }
    }
    let network = json!({"links": links, "networks": networks, "services": []});
    let mut out = vec![
        (
            "openstack/latest/meta_data.json".to_owned(),
            meta.to_string().into_bytes(),
        ),
        (
            "openstack/latest/network_data.json".to_owned(),
            network.to_string().into_bytes(),
        ),
        ("openstack/latest/vendor_data.json".to_owned(), b"{}".to_vec()),
    ];
    if let Some(ud) = &spec.user_data {
        // The API stores user data base64-encoded, as Nova does; the guest reads the bytes.
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(ud.trim())
            .unwrap_or_else(|_| ud.clone().into_bytes());
        out.push(("openstack/latest/user_data".to_owned(), bytes));
    }
    out
}

/// Writes the drive for `spec` to `path` (a raw image).
pub fn write(path: &Path, spec: &GuestSpec) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    file.set_len(SIZE)?;
    fatfs::format_volume(
        &mut file,
        fatfs::FormatVolumeOptions::new().volume_label(*b"config-2   "),
    )?;
    {
        let fs = fatfs::FileSystem::new(&mut file, fatfs::FsOptions::new())?;
        write_files(&fs, spec)?;
        fs.unmount()?;
    }
    file.sync_all()
}

fn write_files<T: fatfs::ReadWriteSeek>(fs: &fatfs::FileSystem<T>, spec: &GuestSpec) -> std::io::Result<()> {
    let root = fs.root_dir();
    for (name, content) in files(spec) {
        let mut dir = root.clone();
        let mut parts: Vec<&str> = name.split('/').collect();
        let leaf = parts.pop().unwrap_or_default();
        for p in parts {
            dir = match dir.open_dir(p) {
                Ok(d) => d,
                Err(_) => dir.create_dir(p)?,
            };
        }
        let mut f = dir.create_file(leaf)?;
        f.truncate()?;
        f.write_all(&content)?;
        f.flush()?;
    }
    Ok(())
}
