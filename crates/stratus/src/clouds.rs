//! `DIR/clouds.yaml`, so that `OS_CLOUD=stratus openstack ...` works at once.

use std::path::Path;

use anyhow::Context;
use serde::Serialize;

#[derive(Serialize)]
struct Clouds<'a> {
    clouds: std::collections::BTreeMap<&'a str, Cloud<'a>>,
}

#[derive(Serialize)]
struct Cloud<'a> {
    auth: Auth<'a>,
    region_name: &'a str,
    identity_api_version: u32,
    interface: &'a str,
}

#[derive(Serialize)]
struct Auth<'a> {
    auth_url: String,
    username: &'a str,
    password: &'a str,
    project_name: &'a str,
    user_domain_name: &'a str,
    project_domain_name: &'a str,
}

pub fn write(path: &Path, public_url: &str, password: &str, region: &str) -> anyhow::Result<()> {
    let mut clouds = std::collections::BTreeMap::new();
    clouds.insert(
        "stratus",
        Cloud {
            auth: Auth {
                auth_url: format!("{public_url}/identity/v3"),
                username: "admin",
                password,
                project_name: "admin",
                user_domain_name: "Default",
                project_domain_name: "Default",
            },
            region_name: region,
            identity_api_version: 3,
            interface: "public",
        },
    );
    let text = serde_yaml::to_string(&Clouds { clouds })?;
    let tmp = path.with_extension("yaml.tmp");
    write_private(&tmp, &text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("installing {}", path.display()))?;
    Ok(())
}

/// The admin password recorded in an existing clouds.yaml, to keep it when only the URL changes.
pub fn read_password(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_yaml::Value = serde_yaml::from_str(&text).ok()?;
    v.get("clouds")?
        .get("stratus")?
        .get("auth")?
        .get("password")?
        .as_str()
        .map(str::to_owned)
}

#[cfg(unix)]
/// The compute services' password: the one given, or the one kept in `DATA_DIR/service-password`,
/// or (where this process bootstraps the user, `create`) a new one kept there.
pub fn service_password(data_dir: &Path, given: Option<&str>, create: bool) -> anyhow::Result<String> {
    if let Some(p) = given {
        return Ok(p.to_owned());
    }
    let path = data_dir.join("service-password");
    match std::fs::read_to_string(&path) {
        Ok(p) if !p.trim().is_empty() => return Ok(p.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    if !create {
        anyhow::bail!(
            "the compute role needs the compute service user's password: give --service-password \
             (the API process keeps it in its DATA_DIR/service-password)"
        );
    }
    use base64::Engine;
    let p = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 18]>());
    write_private(&path, &p).with_context(|| format!("writing {}", path.display()))?;
    Ok(p)
}

fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(content.as_bytes())
}
