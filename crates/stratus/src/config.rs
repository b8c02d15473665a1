//! The effective configuration: defaults, then the TOML file, then environment and flags.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

use crate::cli::UpArgs;

/// The TOML file's keys, all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    bind: Option<String>,
    public_url: Option<String>,
    database: Option<String>,
    admin_password: Option<String>,
    region: Option<String>,
    password_hash_rounds: Option<u32>,
    token_expiration: Option<u64>,
    lockout_failure_attempts: Option<u32>,
    lockout_duration: Option<u64>,
    password_expires_days: Option<u32>,
    unique_last_password_count: Option<u32>,
    minimum_password_age: Option<u32>,
    password_regex: Option<String>,
    password_regex_description: Option<String>,
    change_password_upon_first_use: Option<bool>,
    cache_ttl: Option<u64>,
    policy_file: Option<PathBuf>,
    max_request_body_size: Option<usize>,
    max_active_keys: Option<usize>,
    log_format: Option<String>,
    image_quota_images: Option<u64>,
    image_quota_bytes: Option<u64>,
    image_size_cap: Option<u64>,
    image_policy_file: Option<PathBuf>,
    qemu_img: Option<PathBuf>,
    network_policy_file: Option<PathBuf>,
    network_dataplane: Option<String>,
    dnsmasq: Option<PathBuf>,
    volume_policy_file: Option<PathBuf>,
    compute_policy_file: Option<PathBuf>,
    roles: Option<String>,
    service_password: Option<String>,
    transport: Option<String>,
    compute_driver: Option<String>,
    qemu: Option<PathBuf>,
    qemu_accel: Option<String>,
    force_config_drive: Option<bool>,
    compute_shutdown_timeout: Option<u64>,
    cpu_allocation_ratio: Option<f64>,
    ram_allocation_ratio: Option<f64>,
    disk_allocation_ratio: Option<f64>,
    compute_hosts: Option<String>,
    fake_spawn_delay: Option<f64>,
    fake_failure_rate: Option<f64>,
    compute_build_timeout: Option<u64>,
    volume_format: Option<String>,
    volume_quota_volumes: Option<i64>,
    volume_quota_snapshots: Option<i64>,
    volume_quota_gigabytes: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub bind: String,
    pub public_url: String,
    pub database: String,
    pub admin_password: Option<String>,
    pub region: String,
    pub password_hash_rounds: u32,
    pub token_expiration: u64,
    pub lockout_failure_attempts: Option<u32>,
    pub lockout_duration: u64,
    pub password_expires_days: Option<u32>,
    pub unique_last_password_count: u32,
    pub minimum_password_age: u32,
    pub password_regex: Option<String>,
    pub password_regex_description: Option<String>,
    pub change_password_upon_first_use: bool,
    pub cache_ttl: u64,
    pub policy_file: Option<PathBuf>,
    pub max_request_body_size: usize,
    pub max_active_keys: usize,
    pub json_logs: bool,
    /// Images per project; None for no limit.
    pub image_quota_images: Option<u64>,
    /// Bytes of image data per project; None for no limit.
    pub image_quota_bytes: Option<u64>,
    pub image_size_cap: u64,
    pub image_policy_file: Option<PathBuf>,
    pub qemu_img: PathBuf,
    pub network_policy_file: Option<PathBuf>,
    /// `linux` or `memory`, after `auto` is resolved.
    pub network_dataplane: String,
    pub dnsmasq: PathBuf,
    pub volume_policy_file: Option<PathBuf>,
    pub compute_policy_file: Option<PathBuf>,
    /// api, conductor, scheduler, compute.
    pub roles: Vec<String>,
    pub service_password: Option<String>,
    pub transport: String,
    /// `fake` or `qemu`, after `auto` is resolved.
    pub compute_driver: String,
    /// The driver and dataplane with what `auto` found missing.
    pub choice: crate::host::Choice,
    pub qemu: PathBuf,
    pub qemu_accel: stratus_virt::qemu::AccelChoice,
    pub force_config_drive: bool,
    pub compute_shutdown_timeout: std::time::Duration,
    pub ratios: stratus_compute::scheduler::Ratios,
    pub compute_hosts: Vec<String>,
    pub fake_spawn_delay: std::time::Duration,
    pub fake_failure_rate: f64,
    pub compute_build_timeout: std::time::Duration,
    pub volume_format: stratus_volume::VolumeFormat,
    pub volume_quota_volumes: i64,
    pub volume_quota_snapshots: i64,
    pub volume_quota_gigabytes: i64,
}

impl Config {
    pub fn load(args: &UpArgs) -> anyhow::Result<Self> {
        let file: FileConfig = match &args.common.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        // Absolute, because the paths under it go to programs that run elsewhere: dnsmasq
        // changes to / before writing its pid file, and qemu-img resolves a backing file
        // relative to the overlay.
        let data_dir = absolute(
            &args
                .common
                .data_dir
                .clone()
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("stratus-data")),
        );
        let bind = args
            .bind
            .clone()
            .or(file.bind)
            .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let public_url = args
            .public_url
            .clone()
            .or(file.public_url)
            .unwrap_or_else(|| format!("http://{bind}"));
        let database = args
            .database
            .clone()
            .or(file.database)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.display()));
        let rounds = args.password_hash_rounds.or(file.password_hash_rounds).unwrap_or(12);
        if !(4..=31).contains(&rounds) {
            anyhow::bail!("password_hash_rounds must be between 4 and 31, not {rounds}");
        }
        let log_format = args
            .log_format
            .clone()
            .or(file.log_format)
            .unwrap_or_else(|| "text".to_owned());
        if log_format != "text" && log_format != "json" {
            anyhow::bail!("log_format must be text or json, not {log_format}");
        }
        let max_active_keys = args.common.max_active_keys.or(file.max_active_keys).unwrap_or(3);
        if max_active_keys < 2 {
            anyhow::bail!("max_active_keys must be at least 2 (a staged and a primary key)");
        }
        let dnsmasq = args
            .dnsmasq
            .clone()
            .or(file.dnsmasq)
            .unwrap_or_else(|| PathBuf::from("/usr/sbin/dnsmasq"));
        let qemu = args
            .qemu
            .clone()
            .or(file.qemu)
            .unwrap_or_else(|| PathBuf::from("qemu-system-x86_64"));
        let qemu_img = args
            .qemu_img
            .clone()
            .or(file.qemu_img)
            .unwrap_or_else(|| PathBuf::from("qemu-img"));
        let roles: Vec<String> = {
            let roles: Vec<String> = args
                .roles
                .clone()
                .or(file.roles)
                .unwrap_or_else(|| "api,conductor,scheduler,compute".into())
                .split(',')
                .map(|r| r.trim().to_owned())
                .filter(|r| !r.is_empty())
                .collect();
            if let Some(bad) = roles
                .iter()
                .find(|r| !["api", "conductor", "scheduler", "compute"].contains(&r.as_str()))
            {
                anyhow::bail!("unknown role {bad:?}: roles are api, conductor, scheduler and compute");
            }
            if roles.is_empty() {
                anyhow::bail!("--roles names no role");
            }
            roles
        };
        // The dataplane runs with the API role; the qemu driver with the compute role. In one
        // process they must agree.
        let has = |r: &str| roles.iter().any(|x| x == r);
        let choice = crate::host::choose(
            args.compute_driver
                .clone()
                .or(file.compute_driver)
                .as_deref()
                .unwrap_or("auto"),
            args.network_dataplane
                .clone()
                .or(file.network_dataplane)
                .as_deref()
                .unwrap_or("auto"),
            &crate::host::Abilities::probe(&dnsmasq, &qemu, &qemu_img),
            has("api") && has("compute"),
        )?;
        let qemu_accel = match args.qemu_accel.clone().or(file.qemu_accel).as_deref().unwrap_or("auto") {
            "auto" => stratus_virt::qemu::AccelChoice::Auto,
            "kvm" => stratus_virt::qemu::AccelChoice::Kvm,
            "tcg" => stratus_virt::qemu::AccelChoice::Tcg,
            other => anyhow::bail!("qemu_accel must be auto, kvm or tcg, not {other:?}"),
        };
        Ok(Config {
            data_dir,
            public_url: public_url.trim_end_matches('/').to_owned(),
            bind,
            database,
            admin_password: args.admin_password.clone().or(file.admin_password),
            region: args
                .region
                .clone()
                .or(file.region)
                .unwrap_or_else(|| "RegionOne".to_owned()),
            password_hash_rounds: rounds,
            token_expiration: args.token_expiration.or(file.token_expiration).unwrap_or(3600),
            lockout_failure_attempts: args
                .lockout_failure_attempts
                .or(file.lockout_failure_attempts)
                .filter(|n| *n > 0),
            lockout_duration: args.lockout_duration.or(file.lockout_duration).unwrap_or(1800),
            password_expires_days: args.password_expires_days.or(file.password_expires_days).filter(|d| *d > 0),
            unique_last_password_count: args
                .unique_last_password_count
                .or(file.unique_last_password_count)
                .unwrap_or(0),
            minimum_password_age: args.minimum_password_age.or(file.minimum_password_age).unwrap_or(0),
            password_regex: args.password_regex.clone().or(file.password_regex),
            password_regex_description: args.password_regex_description.clone().or(file.password_regex_description),
            change_password_upon_first_use: args.change_password_upon_first_use
                || file.change_password_upon_first_use.unwrap_or(false),
            cache_ttl: args.cache_ttl.or(file.cache_ttl).unwrap_or(1),
            policy_file: args.policy_file.clone().or(file.policy_file),
            max_request_body_size: args
                .max_request_body_size
                .or(file.max_request_body_size)
                .unwrap_or(114_688),
            max_active_keys,
            json_logs: log_format == "json",
            image_quota_images: args.image_quota_images.or(file.image_quota_images).filter(|n| *n > 0),
            image_quota_bytes: args.image_quota_bytes.or(file.image_quota_bytes).filter(|n| *n > 0),
            image_size_cap: args.image_size_cap.or(file.image_size_cap).unwrap_or(1 << 40),
            image_policy_file: args.image_policy_file.clone().or(file.image_policy_file),
            qemu_img,
            network_policy_file: args.network_policy_file.clone().or(file.network_policy_file),
            network_dataplane: choice.dataplane.clone(),
            dnsmasq,
            volume_policy_file: args.volume_policy_file.clone().or(file.volume_policy_file),
            compute_policy_file: args.compute_policy_file.clone().or(file.compute_policy_file),
            roles,
            service_password: args.service_password.clone().or(file.service_password),
            transport: args
                .transport
                .clone()
                .or(file.transport)
                .unwrap_or_else(|| "memory://".into()),
            compute_driver: choice.driver.clone(),
            choice,
            qemu,
            qemu_accel,
            force_config_drive: args.force_config_drive.or(file.force_config_drive).unwrap_or(false),
            compute_shutdown_timeout: std::time::Duration::from_secs(
                args.compute_shutdown_timeout
                    .or(file.compute_shutdown_timeout)
                    .unwrap_or(60),
            ),
            ratios: {
                let d = stratus_compute::scheduler::Ratios::default();
                let r = stratus_compute::scheduler::Ratios {
                    cpu: args.cpu_allocation_ratio.or(file.cpu_allocation_ratio).unwrap_or(d.cpu),
                    ram: args.ram_allocation_ratio.or(file.ram_allocation_ratio).unwrap_or(d.ram),
                    disk: args
                        .disk_allocation_ratio
                        .or(file.disk_allocation_ratio)
                        .unwrap_or(d.disk),
                };
                if [r.cpu, r.ram, r.disk].iter().any(|x| !x.is_finite() || *x <= 0.0) {
                    anyhow::bail!("allocation ratios must be positive numbers");
                }
                r
            },
            compute_hosts: match args.compute_hosts.clone().or(file.compute_hosts) {
                Some(h) => h
                    .split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect(),
                None => vec![crate::up::host_name()],
            },
            fake_spawn_delay: std::time::Duration::from_secs_f64(
                args.fake_spawn_delay
                    .or(file.fake_spawn_delay)
                    .unwrap_or(0.0)
                    .clamp(0.0, 3600.0),
            ),
            compute_build_timeout: std::time::Duration::from_secs(
                args.compute_build_timeout
                    .or(file.compute_build_timeout)
                    .unwrap_or(600)
                    .max(1),
            ),
            fake_failure_rate: match args.fake_failure_rate.or(file.fake_failure_rate).unwrap_or(0.0) {
                r if (0.0..=1.0).contains(&r) => r,
                r => anyhow::bail!("fake_failure_rate is a share from 0 to 1, not {r}"),
            },
            volume_format: match args
                .volume_format
                .clone()
                .or(file.volume_format)
                .as_deref()
                .unwrap_or("qcow2")
            {
                "qcow2" => stratus_volume::VolumeFormat::Qcow2,
                "raw" => stratus_volume::VolumeFormat::Raw,
                other => anyhow::bail!("volume_format must be qcow2 or raw, not {other:?}"),
            },
            volume_quota_volumes: quota(args.volume_quota_volumes.or(file.volume_quota_volumes), 10)?,
            volume_quota_snapshots: quota(args.volume_quota_snapshots.or(file.volume_quota_snapshots), 10)?,
            volume_quota_gigabytes: quota(args.volume_quota_gigabytes.or(file.volume_quota_gigabytes), 1000)?,
        })
    }

    pub fn key_repository(&self) -> PathBuf {
        self.data_dir.join("fernet-keys")
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
}

/// A default quota: -1 (unlimited) or more.
fn quota(v: Option<i64>, default: i64) -> anyhow::Result<i64> {
    match v.unwrap_or(default) {
        n if n >= -1 => Ok(n),
        n => anyhow::bail!("a quota is -1 (unlimited) or more, not {n}"),
    }
}

/// `program` as a path: itself if it has a slash, else the first match on PATH.
pub fn find_program(program: &std::path::Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return program.is_file().then(|| program.to_owned());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Command};

    #[test]
    fn a_relative_data_dir_is_made_absolute() {
        let cli = Cli::try_parse_from([
            "stratus",
            "up",
            "--data-dir",
            "rel-data",
            "--network-dataplane",
            "memory",
        ])
        .expect("arguments");
        let Command::Up(args) = cli.command else {
            panic!("up");
        };
        let cfg = super::Config::load(&args).expect("config");
        assert!(cfg.data_dir.is_absolute(), "{}", cfg.data_dir.display());
        assert!(cfg.data_dir.ends_with("rel-data"));
        assert_eq!(cfg.database, format!("sqlite://{}", cfg.data_dir.display()));
    }
}
