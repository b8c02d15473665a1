//! Command-line interface.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Config;

#[derive(Debug, Parser)]
#[command(name = "stratus", version, about = "A lightweight IaaS cloud that speaks OpenStack.")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole cloud on this machine: every API on one listener, on SQLite files in the
    /// data directory. The first start bootstraps an admin and writes DIR/clouds.yaml.
    Up(UpArgs),
    /// Run some of the cloud's roles in this process, for clouds spread over machines:
    /// `--roles api,conductor,scheduler,compute` (any of them). Processes of one cloud share the
    /// database (PostgreSQL), the message bus (`--transport amqp://...`) and the Fernet keys.
    Serve(UpArgs),
    /// Identity operator commands.
    Identity {
        #[command(subcommand)]
        command: IdentityCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Rotate the Fernet keys: the staged key becomes primary and a new staged key is made.
    /// Running servers pick up the new keys on SIGHUP or within 30 seconds.
    RotateKeys(CommonArgs),
}

#[derive(Debug, Args, Clone)]
pub struct CommonArgs {
    /// TOML configuration file; its keys are the long option names with '_' for '-'.
    #[arg(long, env = "STRATUS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where the cloud keeps its state (SQLite files, Fernet keys, clouds.yaml). [default: ./stratus-data]
    #[arg(long, env = "STRATUS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Maximum number of Fernet keys kept by rotation (Keystone's max_active_keys). [default: 3]
    #[arg(long, env = "STRATUS_MAX_ACTIVE_KEYS")]
    pub max_active_keys: Option<usize>,
}

#[derive(Debug, Args, Clone)]
pub struct UpArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Address to listen on. [default: 127.0.0.1:8080]
    #[arg(long, env = "STRATUS_BIND")]
    pub bind: Option<String>,
    /// The URL clients reach this cloud at, used in the catalog and links. [default: http://BIND]
    #[arg(long, env = "STRATUS_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Where the services store their data: sqlite://DIR (one file per service) or
    /// postgres://USER@HOST/DB (one schema per service). [default: sqlite://DATA_DIR]
    #[arg(long, env = "STRATUS_DATABASE")]
    pub database: Option<String>,
    /// Password for the admin user created at the first start. [default: generated]
    #[arg(long, env = "STRATUS_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// Region of the bootstrap catalog. [default: RegionOne]
    #[arg(long, env = "STRATUS_REGION")]
    pub region: Option<String>,
    /// bcrypt cost of stored passwords (Keystone's password_hash_rounds). [default: 12]
    #[arg(long, env = "STRATUS_PASSWORD_HASH_ROUNDS")]
    pub password_hash_rounds: Option<u32>,
    /// Token lifetime in seconds. [default: 3600]
    #[arg(long, env = "STRATUS_TOKEN_EXPIRATION")]
    pub token_expiration: Option<u64>,
    /// Failed logins after which a user is locked out; 0 disables lockout. [default: 0]
    #[arg(long, env = "STRATUS_LOCKOUT_FAILURE_ATTEMPTS")]
    pub lockout_failure_attempts: Option<u32>,
    /// Seconds a locked-out user stays locked. [default: 1800]
    #[arg(long, env = "STRATUS_LOCKOUT_DURATION")]
    pub lockout_duration: Option<u64>,
    /// Days after which a password expires and must be changed (Keystone's
    /// password_expires_days). [default: never]
    #[arg(long, env = "STRATUS_PASSWORD_EXPIRES_DAYS")]
    pub password_expires_days: Option<u32>,
    /// How many of their last passwords a user may not reuse when changing it
    /// (unique_last_password_count); 0 or 1 checks nothing. [default: 0]
    #[arg(long, env = "STRATUS_UNIQUE_LAST_PASSWORD_COUNT")]
    pub unique_last_password_count: Option<u32>,
    /// Days a user must keep a password before changing it themselves
    /// (minimum_password_age). [default: 0]
    #[arg(long, env = "STRATUS_MINIMUM_PASSWORD_AGE")]
    pub minimum_password_age: Option<u32>,
    /// A regular expression every new password must match from its start (password_regex).
    #[arg(long, env = "STRATUS_PASSWORD_REGEX")]
    pub password_regex: Option<String>,
    /// What the password regex asks for, told to users whose password does not match it.
    #[arg(long, env = "STRATUS_PASSWORD_REGEX_DESCRIPTION")]
    pub password_regex_description: Option<String>,
    /// Passwords an administrator sets expire at once, so users must change them on first
    /// use (change_password_upon_first_use).
    #[arg(long, env = "STRATUS_CHANGE_PASSWORD_UPON_FIRST_USE")]
    pub change_password_upon_first_use: bool,
    /// Seconds another node's identity changes may take to be seen here. [default: 1]
    #[arg(long, env = "STRATUS_CACHE_TTL")]
    pub cache_ttl: Option<u64>,
    /// A policy file (YAML or JSON) whose rules replace the defaults of the same name.
    #[arg(long, env = "STRATUS_POLICY_FILE")]
    pub policy_file: Option<PathBuf>,
    /// Largest request body accepted, in bytes. [default: 114688]
    #[arg(long, env = "STRATUS_MAX_REQUEST_BODY_SIZE")]
    pub max_request_body_size: Option<usize>,
    /// Log format: text or json. [default: text]
    #[arg(long, env = "STRATUS_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Images a project may hold; 0 for no limit. [default: 0]
    #[arg(long, env = "STRATUS_IMAGE_QUOTA_IMAGES")]
    pub image_quota_images: Option<u64>,
    /// Bytes of image data a project may hold; 0 for no limit. [default: 0]
    #[arg(long, env = "STRATUS_IMAGE_QUOTA_BYTES")]
    pub image_quota_bytes: Option<u64>,
    /// Largest image accepted, in bytes (Glance's image_size_cap). [default: 1 TiB]
    #[arg(long, env = "STRATUS_IMAGE_SIZE_CAP")]
    pub image_size_cap: Option<u64>,
    /// A policy file whose rules replace the Image service's defaults of the same name.
    #[arg(long, env = "STRATUS_IMAGE_POLICY_FILE")]
    pub image_policy_file: Option<PathBuf>,
    /// The qemu-img that inspects uploaded disk images. [default: qemu-img on PATH]
    #[arg(long, env = "STRATUS_QEMU_IMG")]
    pub qemu_img: Option<PathBuf>,
    /// A policy file whose rules replace the Network service's defaults of the same name.
    #[arg(long, env = "STRATUS_NETWORK_POLICY_FILE")]
    pub network_policy_file: Option<PathBuf>,
    /// What serves networks: linux (a bridge, a namespace and dnsmasq per network; needs
    /// root), memory (records only, nothing on the host), or auto (linux where possible).
    /// [default: auto]
    #[arg(long, env = "STRATUS_NETWORK_DATAPLANE")]
    pub network_dataplane: Option<String>,
    /// The dnsmasq the Linux dataplane runs. [default: /usr/sbin/dnsmasq]
    #[arg(long, env = "STRATUS_DNSMASQ")]
    pub dnsmasq: Option<PathBuf>,
    /// The message bus: memory:// (in this process) or amqp://user:password@host:port/vhost
    /// (RabbitMQ). [default: memory://]
    #[arg(long, env = "STRATUS_TRANSPORT")]
    pub transport: Option<String>,
    /// The hypervisor driver of this host's compute agent: qemu (real guests), fake (guests in
    /// memory) or auto (qemu where qemu-system-x86_64 is installed and Stratus runs as root,
    /// fake otherwise).
    /// [default: auto]
    #[arg(long, env = "STRATUS_COMPUTE_DRIVER")]
    pub compute_driver: Option<String>,
    /// The QEMU the qemu driver runs. [default: qemu-system-x86_64]
    #[arg(long, env = "STRATUS_QEMU")]
    pub qemu: Option<PathBuf>,
    /// How the qemu driver runs guests: kvm, tcg (emulation), or auto (KVM where the CPU has
    /// hardware virtualisation and a vCPU runs, TCG otherwise). [default: auto]
    #[arg(long, env = "STRATUS_QEMU_ACCEL")]
    pub qemu_accel: Option<String>,
    /// Give every guest a config drive, asked for or not (Nova's force_config_drive).
    #[arg(long, env = "STRATUS_FORCE_CONFIG_DRIVE")]
    pub force_config_drive: Option<bool>,
    /// Seconds a stop waits for the guest to power off before forcing it. [default: 60]
    #[arg(long, env = "STRATUS_COMPUTE_SHUTDOWN_TIMEOUT")]
    pub compute_shutdown_timeout: Option<u64>,
    /// Allocation ratios the scheduler applies to what hosts report (Nova's initial ones).
    /// [defaults: 16, 1.5, 1]
    #[arg(long, env = "STRATUS_CPU_ALLOCATION_RATIO")]
    pub cpu_allocation_ratio: Option<f64>,
    #[arg(long, env = "STRATUS_RAM_ALLOCATION_RATIO")]
    pub ram_allocation_ratio: Option<f64>,
    #[arg(long, env = "STRATUS_DISK_ALLOCATION_RATIO")]
    pub disk_allocation_ratio: Option<f64>,
    /// The names of the compute hosts this process runs agents for (comma-separated; the fake
    /// driver lets one process pose as many hosts). [default: this machine's name]
    #[arg(long, env = "STRATUS_COMPUTE_HOSTS")]
    pub compute_hosts: Option<String>,
    /// Seconds a fake guest takes to spawn, and the share of fake spawns that fail (0 to 1).
    #[arg(long, env = "STRATUS_FAKE_SPAWN_DELAY")]
    pub fake_spawn_delay: Option<f64>,
    #[arg(long, env = "STRATUS_FAKE_FAILURE_RATE")]
    pub fake_failure_rate: Option<f64>,
    /// Seconds a server build may take before it goes to ERROR. [default: 600]
    #[arg(long, env = "STRATUS_COMPUTE_BUILD_TIMEOUT")]
    pub compute_build_timeout: Option<u64>,
    /// Password of the compute services' own user (`compute` in the `service` project), which
    /// binds ports and cleans up where a user's token cannot. The API process creates the user
    /// at its first start; compute agents in other processes must be given it.
    /// [default: generated and kept in DATA_DIR/service-password]
    #[arg(long, env = "STRATUS_SERVICE_PASSWORD", hide_env_values = true)]
    pub service_password: Option<String>,
    /// What this process runs: api (every REST API), conductor, scheduler, compute (the agents
    /// of --compute-hosts; it opens no database). [default: all of them]
    #[arg(long, env = "STRATUS_ROLES")]
    pub roles: Option<String>,
    /// A policy file whose rules replace the Compute service's defaults of the same name.
    #[arg(long, env = "STRATUS_COMPUTE_POLICY_FILE")]
    pub compute_policy_file: Option<PathBuf>,
    /// A policy file whose rules replace the Block Storage service's defaults of the same name.
    #[arg(long, env = "STRATUS_VOLUME_POLICY_FILE")]
    pub volume_policy_file: Option<PathBuf>,
    /// The format of volume files: qcow2 (thin, snapshots share data) or raw. [default: qcow2]
    #[arg(long, env = "STRATUS_VOLUME_FORMAT")]
    pub volume_format: Option<String>,
    /// Default quota of volumes per project (-1: unlimited). [default: 10]
    #[arg(long, env = "STRATUS_VOLUME_QUOTA_VOLUMES", allow_negative_numbers = true)]
    pub volume_quota_volumes: Option<i64>,
    /// Default quota of snapshots per project (-1: unlimited). [default: 10]
    #[arg(long, env = "STRATUS_VOLUME_QUOTA_SNAPSHOTS", allow_negative_numbers = true)]
    pub volume_quota_snapshots: Option<i64>,
    /// Default quota of GiB of volumes and snapshots per project (-1: unlimited). [default: 1000]
    #[arg(long, env = "STRATUS_VOLUME_QUOTA_GIGABYTES", allow_negative_numbers = true)]
    pub volume_quota_gigabytes: Option<i64>,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Up(args) => {
            let cfg = Config::load(&args)?;
            crate::up::run(cfg).await
        }
        Command::Serve(args) => {
            if args.roles.is_none() {
                anyhow::bail!("stratus serve needs --roles (api, conductor, scheduler, compute)");
            }
            let cfg = Config::load(&args)?;
            crate::up::run(cfg).await
        }
        Command::Identity {
            command: IdentityCommand::RotateKeys(common),
        } => {
            let cfg = Config::load(&UpArgs::from_common(common))?;
            let repo = stratus_identity::KeyRepository::new(&cfg.key_repository());
            repo.setup()?;
            repo.rotate(cfg.max_active_keys)?;
            println!(
                "rotated the Fernet keys in {} ({} keys)",
                cfg.key_repository().display(),
                repo.key_count()?
            );
            Ok(())
        }
    }
}

impl UpArgs {
    fn from_common(common: CommonArgs) -> Self {
        UpArgs {
            common,
            bind: None,
            public_url: None,
            database: None,
            admin_password: None,
            region: None,
            password_hash_rounds: None,
            token_expiration: None,
            lockout_failure_attempts: None,
            lockout_duration: None,
            password_expires_days: None,
            unique_last_password_count: None,
            minimum_password_age: None,
            password_regex: None,
            password_regex_description: None,
            change_password_upon_first_use: false,
            cache_ttl: None,
            policy_file: None,
            max_request_body_size: None,
            log_format: None,
            image_quota_images: None,
            image_quota_bytes: None,
            image_size_cap: None,
            image_policy_file: None,
            qemu_img: None,
            network_policy_file: None,
            network_dataplane: None,
            dnsmasq: None,
            volume_policy_file: None,
            compute_policy_file: None,
            roles: None,
            service_password: None,
            transport: None,
            compute_driver: None,
            qemu: None,
            qemu_accel: None,
            force_config_drive: None,
            compute_shutdown_timeout: None,
            cpu_allocation_ratio: None,
            ram_allocation_ratio: None,
            disk_allocation_ratio: None,
            compute_hosts: None,
            fake_spawn_delay: None,
            fake_failure_rate: None,
            compute_build_timeout: None,
            volume_format: None,
            volume_quota_volumes: None,
            volume_quota_snapshots: None,
            volume_quota_gigabytes: None,
        }
    }
}
