//! `stratus up`: every service of the cloud in one process, on one listener.

use std::time::Duration;

use anyhow::Context;
use axum::Router;
use base64::Engine;
use std::sync::Arc;
use stratus_api::policy::Policy;
use stratus_compute::{ComputeConfig, ComputeService};
use stratus_identity::{Bootstrap, CatalogService, IdentityConfig, IdentityService};
use stratus_image::{ImageConfig, ImageService};
use stratus_network::{NetworkConfig, NetworkService};
use stratus_store::Location;
use stratus_volume::{VolumeConfig, VolumeService};
use tracing_subscriber::EnvFilter;

use crate::config::Config;

/// The compute services' own user, as devstack names Nova's `nova`.
const SERVICE_USER: &str = "compute";

fn service_credentials(password: &str) -> stratus_compute_agent::clients::ServiceCredentials {
    stratus_compute_agent::clients::ServiceCredentials {
        user: SERVICE_USER.into(),
        password: password.into(),
        project: "service".into(),
    }
}

fn init_logging(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// The services this binary provides, as the catalog lists them.
fn catalog(public_url: &str) -> Vec<CatalogService> {
    vec![
        CatalogService {
            service_type: "identity".into(),
            name: "keystone".into(),
            url: format!("{public_url}/identity"),
        },
        CatalogService {
            service_type: "image".into(),
            name: "glance".into(),
            url: format!("{public_url}/image"),
        },
        CatalogService {
            service_type: "network".into(),
            name: "neutron".into(),
            url: format!("{public_url}/network"),
        },
        CatalogService {
            service_type: "compute".into(),
            name: "nova".into(),
            url: format!("{public_url}/compute/v2.1"),
        },
        // Cinder's current type and the older one clients still look for.
        CatalogService {
            service_type: "block-storage".into(),
            name: "cinder".into(),
            url: format!("{public_url}/volume/v3/$(project_id)s"),
        },
        CatalogService {
            service_type: "volumev3".into(),
            name: "cinderv3".into(),
            url: format!("{public_url}/volume/v3/$(project_id)s"),
        },
    ]
}

pub async fn open_identity(cfg: &Config) -> anyhow::Result<IdentityService> {
    let location = Location::parse(&cfg.database)?;
    let policy = Policy::load(stratus_identity::DEFAULT_POLICY, cfg.policy_file.as_deref())
        .context("loading the identity policy")?;
    let mut icfg = IdentityConfig::new(cfg.key_repository(), cfg.public_url.clone());
    icfg.password_hash_rounds = cfg.password_hash_rounds;
    icfg.token_expiration = Duration::from_secs(cfg.token_expiration);
    icfg.lockout_failure_attempts = cfg.lockout_failure_attempts;
    icfg.lockout_duration = Duration::from_secs(cfg.lockout_duration);
    icfg.password_expires_days = cfg.password_expires_days;
    icfg.unique_last_password_count = cfg.unique_last_password_count;
    icfg.minimum_password_age_days = cfg.minimum_password_age;
    icfg.change_password_upon_first_use = cfg.change_password_upon_first_use;
    if let Some(pattern) = &cfg.password_regex {
        // Keystone matches with Python's re.match: from the start of the password.
        let re = fancy_regex::Regex::new(&format!("^(?:{pattern})"))
            .with_context(|| format!("--password-regex {pattern:?} is not a regular expression"))?;
        let description = cfg
            .password_regex_description
            .clone()
            .unwrap_or_else(|| format!("it must match {pattern}"));
        icfg.password_regex = Some((re, description));
    }
    icfg.cache_ttl = Duration::from_secs(cfg.cache_ttl);
    icfg.max_active_keys = cfg.max_active_keys;
    IdentityService::open(&location, icfg, policy)
        .await
        .context("opening the identity service")
}

pub async fn open_image(cfg: &Config) -> anyhow::Result<ImageService> {
    let location = Location::parse(&cfg.database)?;
    let policy = Policy::load(stratus_image::DEFAULT_POLICY, cfg.image_policy_file.as_deref())
        .context("loading the image policy")?;
    let mut icfg = ImageConfig::new(cfg.data_dir.join("images"));
    icfg.quota_images = cfg.image_quota_images;
    icfg.quota_bytes = cfg.image_quota_bytes;
    icfg.max_image_size = cfg.image_size_cap;
    icfg.qemu_img = cfg.qemu_img.clone();
    ImageService::open(&location, icfg, policy)
        .await
        .context("opening the image service")
}

pub async fn open_network(cfg: &Config) -> anyhow::Result<NetworkService> {
    let location = Location::parse(&cfg.database)?;
    let policy = Policy::load(stratus_network::DEFAULT_POLICY, cfg.network_policy_file.as_deref())
        .context("loading the network policy")?;
    let dataplane: Arc<dyn stratus_network::Dataplane> = match cfg.network_dataplane.as_str() {
        "linux" => stratus_network::LinuxDataplane::new(&cfg.data_dir.join("network"), &cfg.dnsmasq)
            .context("preparing the Linux dataplane")?,
        _ => {
            tracing::warn!("network dataplane: memory; no bridge or DHCP server is made on this host");
            Arc::new(stratus_network::FakeDataplane::new())
        }
    };
    tracing::info!(dataplane = %cfg.network_dataplane, "network dataplane");
    let svc = NetworkService::open(&location, NetworkConfig::default(), policy, dataplane)
        .await
        .context("opening the network service")?;
    svc.reconcile_dataplane()
        .await
        .context("reconciling the network dataplane")?;
    Ok(svc)
}

pub async fn open_volume(cfg: &Config) -> anyhow::Result<VolumeService> {
    let location = Location::parse(&cfg.database)?;
    let policy = Policy::load(stratus_volume::DEFAULT_POLICY, cfg.volume_policy_file.as_deref())
        .context("loading the volume policy")?;
    let dir = cfg.data_dir.join("volumes");
    let backend = stratus_volume::FileBackend::new(&dir.join("files"), cfg.volume_format, &cfg.qemu_img)
        .with_context(|| format!("preparing {}", dir.display()))?;
    let scratch = dir.join("downloads");
    std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let vcfg = VolumeConfig {
        quota_volumes: cfg.volume_quota_volumes,
        quota_snapshots: cfg.volume_quota_snapshots,
        quota_gigabytes: cfg.volume_quota_gigabytes,
        scratch_dir: scratch,
        ..Default::default()
    };
    let svc = VolumeService::open(&location, vcfg, policy, Arc::new(backend))
        .await
        .context("opening the volume service")?;
    svc.set_image_source(Arc::new(stratus_volume::images::RestImageSource::new(&format!(
        "{}/image",
        cfg.public_url
    ))));
    Ok(svc)
}

pub async fn open_compute(cfg: &Config) -> anyhow::Result<ComputeService> {
    let location = Location::parse(&cfg.database)?;
    let policy = Policy::load(stratus_compute::DEFAULT_POLICY, cfg.compute_policy_file.as_deref())
        .context("loading the compute policy")?;
    let ccfg = ComputeConfig {
        build_timeout: cfg.compute_build_timeout,
        ratios: cfg.ratios,
        ..Default::default()
    };
    ComputeService::open(&location, ccfg, policy)
        .await
        .context("opening the compute service")
}

/// The services of one process.
#[derive(Clone)]
pub struct Services {
    pub identity: IdentityService,
    pub image: ImageService,
    pub network: NetworkService,
    pub volume: VolumeService,
    pub compute: ComputeService,
}

/// The whole HTTP surface, with the conventions every service shares.
pub fn app(services: Services, cfg: &Config) -> Router {
    let validator: Arc<dyn stratus_api::TokenValidator> = Arc::new(services.identity.clone());
    Router::new()
        .nest(
            "/identity",
            stratus_identity_api::router(services.identity, &cfg.public_url),
        )
        .nest(
            "/image",
            stratus_image_api::router(services.image, validator.clone(), &cfg.public_url),
        )
        .nest(
            "/network",
            stratus_network_api::router(services.network, validator.clone(), &cfg.public_url),
        )
        .nest(
            "/volume",
            stratus_volume_api::router(services.volume, validator.clone(), &cfg.public_url, &host_name()),
        )
        .nest(
            "/compute",
            stratus_compute_api::router(services.compute, validator, &cfg.public_url),
        )
        .fallback(stratus_api::error::not_found_fallback)
        .layer(axum::extract::DefaultBodyLimit::max(cfg.max_request_body_size))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(stratus_api::ApiError::new(
                stratus_api::ErrorKind::Internal,
                "An unexpected error prevented the server from fulfilling your request.",
            ))
        }))
        .layer(axum::middleware::from_fn(stratus_api::request_id::layer))
}

/// Drops a trailing slash where the service itself would: everywhere under Identity (Keystone
/// answers `/v3/projects/` as `/v3/projects`, and clients write both) and on the version
/// documents (`/compute/`, `/volume/v3/`). Elsewhere it is kept, as Nova, Cinder, Glance and
/// Neutron keep it: `GET /image/v2/images/` names no image and is a 404, not the list.
pub fn trim_slash(mut req: axum::extract::Request) -> axum::extract::Request {
    let path = req.uri().path();
    if path.len() <= 1 || !path.ends_with('/') {
        return req;
    }
    let trimmed = path.trim_end_matches('/');
    let segments = trimmed.split('/').filter(|s| !s.is_empty()).count();
    if !(trimmed.starts_with("/identity") || segments <= 2) {
        return req;
    }
    let new = match req.uri().query() {
        Some(q) => format!("{trimmed}?{q}"),
        None => trimmed.to_owned(),
    };
    let mut parts = req.uri().clone().into_parts();
    if let Ok(pq) = new.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
}

pub async fn run(cfg: Config) -> anyhow::Result<()> {
    init_logging(cfg.json_logs);
    std::fs::create_dir_all(&cfg.data_dir).with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    let has = |r: &str| cfg.roles.iter().any(|x| x == r);
    let bus = stratus_bus::Bus::connect(&cfg.transport)
        .await
        .with_context(|| format!("connecting to the message bus {}", stratus_bus::redact(&cfg.transport)))?;
    let compute = if has("api") || has("conductor") || has("scheduler") {
        Some(open_compute(&cfg).await?)
    } else {
        None
    };
    let mut listeners = Vec::new();
    if let Some(c) = &compute {
        if has("conductor") {
            listeners.extend(c.serve_conductor(&bus).await.context("serving the conductor")?);
        }
        if has("scheduler") {
            listeners.push(c.serve_scheduler(&bus).await.context("serving the scheduler")?);
        }
    }
    // The agents open no database: only the bus, the APIs at the public URL and the driver.
    let mut agents = Vec::new();
    // KVM or TCG, once the qemu driver has decided: for the operator's line at the end.
    let mut accel: Option<&'static str> = None;
    let service_password = crate::clouds::service_password(&cfg.data_dir, cfg.service_password.as_deref(), has("api"))?;
    if has("compute") {
        if cfg.compute_driver == "qemu" && cfg.compute_hosts.len() != 1 {
            anyhow::bail!(
                "the qemu driver runs the guests of this machine: give one compute host, not {:?}",
                cfg.compute_hosts
            );
        }
        for host in &cfg.compute_hosts {
            let mut agent_cfg = stratus_compute_agent::AgentConfig::new(
                host,
                &cfg.public_url,
                &cfg.data_dir.join("compute").join("images"),
            );
            agent_cfg.service = Some(service_credentials(&service_password));
            agent_cfg.shutdown_timeout = cfg.compute_shutdown_timeout;
            let driver: Arc<dyn stratus_virt::Driver> = match cfg.compute_driver.as_str() {
                "qemu" => {
                    let mut q = stratus_virt::qemu::QemuConfig::new(&cfg.data_dir.join("compute"));
                    q.qemu = cfg.qemu.clone();
                    q.qemu_img = cfg.qemu_img.clone();
                    q.force_config_drive = cfg.force_config_drive;
                    q.reboot_timeout = cfg.compute_shutdown_timeout;
                    q.accel = cfg.qemu_accel;
                    let d = stratus_virt::qemu::QemuDriver::new(q)
                        .await
                        .context("starting the QEMU driver")?;
                    accel = Some(match d.accel() {
                        stratus_virt::qemu::Accel::Kvm => "KVM",
                        stratus_virt::qemu::Accel::Tcg => "TCG, emulated",
                    });
                    Arc::new(d)
                }
                _ => {
                    let mut fake = stratus_virt::fake::FakeConfig::new(host);
                    fake.spawn_delay = cfg.fake_spawn_delay;
                    fake.failure_rate = cfg.fake_failure_rate;
                    Arc::new(stratus_virt::fake::FakeDriver::new(fake))
                }
            };
            agents.push(
                stratus_compute_agent::Agent::start(agent_cfg, bus.clone(), driver)
                    .await
                    .with_context(|| format!("starting the compute agent of {host}"))?,
            );
        }
    }
    tracing::info!(roles = ?cfg.roles, driver = %cfg.compute_driver, hosts = ?cfg.compute_hosts,
                   transport = %stratus_bus::redact(&cfg.transport), "compute roles ready");
    let compute = match (has("api"), compute) {
        (true, Some(c)) => c,
        (_, compute) => {
            tracing::info!("running without the API role; stop with SIGINT or SIGTERM");
            shutdown_signal().await;
            drop(agents);
            drop(listeners);
            if let Some(c) = compute {
                c.close().await;
            }
            tracing::info!("stopped");
            return Ok(());
        }
    };
    let identity = open_identity(&cfg).await?;
    let image = open_image(&cfg).await?;
    let network = open_network(&cfg).await?;
    let volume = open_volume(&cfg).await?;
    let service_rest =
        stratus_compute_agent::clients::Rest::new(&cfg.public_url).with_service(service_credentials(&service_password));
    compute.connect_pipeline(bus.clone(), service_rest);
    check_qemu_img(&cfg.qemu_img).await;

    let clouds_path = std::path::absolute(cfg.data_dir.join("clouds.yaml"))?;
    let first_start = !identity.is_bootstrapped().await?;
    let password = if first_start {
        cfg.admin_password
            .clone()
            .unwrap_or_else(|| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 18]>()))
    } else {
        crate::clouds::read_password(&clouds_path).unwrap_or_default()
    };
    identity
        .bootstrap(&Bootstrap {
            admin_password: password.clone(),
            region: cfg.region.clone(),
            services: catalog(&cfg.public_url),
            service_user: Some(stratus_identity::ServiceUser {
                name: SERVICE_USER.into(),
                password: service_password.clone(),
            }),
        })
        .await
        .context("bootstrapping identity")?;
    if first_start || !password.is_empty() {
        crate::clouds::write(&clouds_path, &cfg.public_url, &password, &cfg.region)?;
    } else {
        tracing::warn!(path = %clouds_path.display(), "no clouds.yaml with the admin password to update; the admin password is unchanged");
    }

    let listener = tokio::net::TcpListener::bind(&cfg.bind)
        .await
        .with_context(|| format!("listening on {}", cfg.bind))?;
    tracing::info!(bind = %cfg.bind, public_url = %cfg.public_url, database = %stratus_bus::redact(&cfg.database), first_start, "stratus is up");
    // Comment lines, so that pasting everything printed into a shell still works.
    println!("# {}", cfg.choice.guests_get(accel));
    println!("export OS_CLIENT_CONFIG_FILE={}", clouds_path.display());
    println!("export OS_CLOUD=stratus");

    spawn_key_reloader(identity.clone());
    // Routes are declared without a trailing slash; see `trim_slash` for where one is dropped.
    let app = tower::Layer::layer(
        &tower::util::MapRequestLayer::new(trim_slash),
        app(
            Services {
                identity: identity.clone(),
                image: image.clone(),
                network: network.clone(),
                volume: volume.clone(),
                compute: compute.clone(),
            },
            &cfg,
        ),
    );
    axum::serve(
        listener,
        axum::ServiceExt::<axum::extract::Request>::into_make_service(app),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("serving")?;
    identity.close().await;
    image.close().await;
    network.close().await;
    volume.close().await;
    compute.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Uploads of formats other than raw and ISO are refused without qemu-img; say so at start.
async fn check_qemu_img(path: &std::path::Path) {
    match tokio::process::Command::new(path).arg("--version").output().await {
        Ok(out) if out.status.success() => {
            let version = String::from_utf8_lossy(&out.stdout);
            tracing::info!(qemu_img = %version.lines().next().unwrap_or(""), "image inspection ready");
        }
        _ => tracing::warn!(
            path = %path.display(),
            "qemu-img not found: uploads of qcow2, vmdk, vhd, vhdx, vdi and ploop images will be refused \
             (install Debian's qemu-utils)"
        ),
    }
}

/// Database URLs may carry passwords; logs must not.
/// Picks up keys rotated by `stratus identity rotate-keys` (or copied from another node).
fn spawn_key_reloader(identity: IdentityService) {
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        loop {
            #[cfg(unix)]
            {
                let hup_recv = async {
                    match hup.as_mut() {
                        Some(h) => {
                            h.recv().await;
                        }
                        None => std::future::pending::<()>().await,
                    }
                };
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(30)) => {}
                    _ = hup_recv => tracing::info!("SIGHUP: reloading Fernet keys"),
                }
            }
            #[cfg(not(unix))]
            tokio::time::sleep(Duration::from_secs(30)).await;
            if let Err(e) = identity.reload_keys().await {
                tracing::error!(error = %e, "reloading Fernet keys failed; keeping the loaded ones");
            }
        }
    });
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// This machine's name, as `os-services` reports the hosts of its services.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod slash_tests {
    fn trimmed(path: &str) -> String {
        let req = axum::extract::Request::builder()
            .uri(path)
            .body(axum::body::Body::empty())
            .expect("request");
        super::trim_slash(req).uri().to_string()
    }

    #[test]
    fn a_trailing_slash_is_dropped_only_where_the_services_drop_it() {
        assert_eq!(trimmed("/identity/v3/projects/?name=x"), "/identity/v3/projects?name=x");
        assert_eq!(trimmed("/identity/"), "/identity");
        assert_eq!(trimmed("/compute/v2.1/"), "/compute/v2.1");
        assert_eq!(trimmed("/image/v2/images/"), "/image/v2/images/");
        assert_eq!(trimmed("/volume/v3/p/volumes/"), "/volume/v3/p/volumes/");
        assert_eq!(trimmed("/"), "/");
    }
}
