//! The fake driver keeps the driver contract: spawn, power, volumes, console, idempotent
//! destroy, its failure rate and its configured resources.

use std::time::Duration;

use stratus_virt::fake::{FakeConfig, FakeDriver};
use stratus_virt::{Driver, DriverError, GuestSpec, Nic, PowerState, VolumeAttach};

fn spec(uuid: &str) -> GuestSpec {
    GuestSpec {
        uuid: uuid.into(),
        name: "vm".into(),
        vcpus: 2,
        memory_mb: 512,
        root_gb: 1,
        image_path: None,
        nics: vec![Nic {
            port_id: "p1".into(),
            mac: "fa:16:3e:00:00:01".into(),
            network_id: "n1".into(),
            ..Default::default()
        }],
        volumes: vec![],
        user_data: None,
        metadata: Default::default(),
        config_drive: false,
        ..Default::default()
    }
}

#[tokio::test]
async fn a_fake_guest_lives_its_life() {
    let mut cfg = FakeConfig::new("host-a");
    cfg.vcpus = 4;
    cfg.spawn_delay = Duration::from_millis(20);
    let d = FakeDriver::new(cfg);
    let r = d.host_resources().await.expect("resources");
    assert_eq!(
        (r.hostname.as_str(), r.vcpus, r.hypervisor_type.as_str()),
        ("host-a", 4, "fake")
    );

    let t = std::time::Instant::now();
    d.spawn(&spec("g1")).await.expect("spawn");
    assert!(t.elapsed() >= Duration::from_millis(20), "the configured delay");
    assert!(matches!(d.spawn(&spec("g1")).await, Err(DriverError::InvalidState(_))));
    assert_eq!(d.info("g1").await.expect("info").power_state, PowerState::Running);

    d.pause("g1").await.expect("pause");
    assert_eq!(d.info("g1").await.expect("info").power_state, PowerState::Paused);
    d.unpause("g1").await.expect("unpause");
    d.power_off("g1", Duration::from_secs(1)).await.expect("off");
    d.power_off("g1", Duration::from_secs(1))
        .await
        .expect("off again is fine");
    assert!(matches!(d.reboot("g1", false).await, Err(DriverError::InvalidState(_))));
    assert!(matches!(d.pause("g1").await, Err(DriverError::InvalidState(_))));
    d.reboot("g1", true).await.expect("hard reboot starts it");
    assert_eq!(d.info("g1").await.expect("info").power_state, PowerState::Running);

    let vol = VolumeAttach {
        volume_id: "v1".into(),
        connection_info: serde_json::json!({"driver_volume_type": "file"}),
        device: Some("/dev/vdb".into()),
    };
    d.attach_volume("g1", &vol).await.expect("attach");
    assert_eq!(d.info("g1").await.expect("info").volumes, ["v1"]);
    d.detach_volume("g1", "v1").await.expect("detach");
    assert!(d.info("g1").await.expect("info").volumes.is_empty());

    let log = d.console_output("g1", None).await.expect("console");
    assert!(
        log.contains("started on host-a") && log.contains("volume v1 detached"),
        "{log}"
    );
    assert_eq!(
        d.console_output("g1", Some(1)).await.expect("tail"),
        "volume v1 detached\n"
    );
    assert_eq!(d.list().await.expect("list"), [("g1".to_owned(), PowerState::Running)]);

    d.destroy("g1").await.expect("destroy");
    d.destroy("g1").await.expect("destroying what is gone is fine");
    assert!(matches!(d.info("g1").await, Err(DriverError::NotFound(_))));
    assert!(d.list().await.expect("list").is_empty());
}

#[tokio::test]
async fn the_failure_rate_decides_spawns() {
    let mut cfg = FakeConfig::new("host-b");
    cfg.failure_rate = 1.0;
    let d = FakeDriver::new(cfg);
    assert!(matches!(d.spawn(&spec("g2")).await, Err(DriverError::Failed(_))));
    assert!(
        d.list().await.expect("list").is_empty(),
        "a failed spawn leaves nothing"
    );
}
