//! Volumes made from images over the real Image API: an Image service is served on a local
//! port, the volume service fetches the image with the caller's token, checks it, and the
//! volume holds the image's bytes.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use stratus_api::policy::Policy;
use stratus_api::testing::caller;
use stratus_api::{ApiError, AuthContext, TokenValidator};
use stratus_image::{ImageConfig, ImageService, Upload};
use stratus_store::testing::TestLocation;
use stratus_store::Backend;
use stratus_volume::images::RestImageSource;
use stratus_volume::model::NewVolume;
use stratus_volume::{FileBackend, Status, VolumeConfig, VolumeError, VolumeFormat, VolumeService};

/// Tokens of this test: "alice" is alice's.
struct Tokens;

fn alice() -> AuthContext {
    let mut c = caller("p-alice", &["member", "reader"]);
    c.token = "alice".into();
    c
}

#[async_trait::async_trait]
impl TokenValidator for Tokens {
    async fn validate(&self, token: &str) -> Result<Arc<AuthContext>, ApiError> {
        match token {
            "alice" => Ok(Arc::new(alice())),
            _ => Err(ApiError::unauthorized("unknown token")),
        }
    }
}

async fn upload(images: &ImageService, name: &str, disk_format: &str, data: Vec<u8>) -> String {
    let body = serde_json::json!({"name": name, "disk_format": disk_format, "container_format": "bare"});
    let img = images
        .create_image(&alice(), body.as_object().expect("object").clone())
        .await
        .expect("image");
    let size = data.len() as u64;
    let up = Upload {
        body: Box::pin(futures::stream::iter(vec![Ok(Bytes::from(data))])),
        declared_size: Some(size),
        content_md5: None,
    };
    images.upload(&alice(), &img.id, up).await.expect("upload");
    img.id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volume_from_an_image_holds_its_bytes() {
    let dir = tempfile::tempdir().expect("tmp");
    let image_loc = TestLocation::new(Backend::Sqlite).await;
    let images = ImageService::open(
        &image_loc.location,
        ImageConfig::new(dir.path().join("images")),
        Policy::load(stratus_image::DEFAULT_POLICY, None).expect("policy"),
    )
    .await
    .expect("image service");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let app = axum::Router::new().nest(
        "/image",
        stratus_image_api::router(images.clone(), Arc::new(Tokens), &base),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });

    let pattern: Vec<u8> = (0..(3u32 << 20)).map(|i| (i % 239) as u8).collect();
    let raw_id = upload(&images, "raw", "raw", pattern.clone()).await;
    let big = dir.path().join("big.qcow2");
    let out = std::process::Command::new("qemu-img")
        .args(["create", "-f", "qcow2"])
        .arg(&big)
        .arg("2G")
        .output()
        .expect("qemu-img");
    assert!(out.status.success());
    let big_id = upload(&images, "big", "qcow2", std::fs::read(&big).expect("read")).await;

    let vol_loc = TestLocation::new(Backend::Sqlite).await;
    let files = Arc::new(
        FileBackend::new(&dir.path().join("volumes"), VolumeFormat::Qcow2, Path::new("qemu-img")).expect("backend"),
    );
    let cfg = VolumeConfig {
        scratch_dir: dir.path().to_owned(),
        ..Default::default()
    };
    let policy = Policy::load(stratus_volume::DEFAULT_POLICY, None).expect("policy");
    let volumes = VolumeService::open(&vol_loc.location, cfg, policy, files.clone())
        .await
        .expect("volume service");
    volumes.set_image_source(Arc::new(RestImageSource::new(&format!("{base}/image"))));

    let v = volumes
        .create_volume(
            &alice(),
            NewVolume {
                image_ref: Some(raw_id.clone()),
                ..Default::default()
            },
        )
        .await
        .expect("create");
    assert_eq!(v.size, 1, "the image's size, rounded up to a GiB");
    let mut v = v;
    for _ in 0..400 {
        v = volumes.get_volume(&alice(), &v.id).await.expect("get");
        if v.status != Status::Creating {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(v.status, Status::Available);
    assert!(v.bootable);
    assert_eq!(v.image_id.as_deref(), Some(raw_id.as_str()));
    assert_eq!(v.image_metadata.get("image_id"), Some(&raw_id));
    assert_eq!(v.image_metadata.get("disk_format").map(String::as_str), Some("raw"));
    let raw = dir.path().join("back.raw");
    let out = std::process::Command::new("qemu-img")
        .args(["convert", "-f", "qcow2", "-O", "raw"])
        .arg(files.volume_path(&v.id))
        .arg(&raw)
        .output()
        .expect("convert");
    assert!(out.status.success());
    assert_eq!(
        &std::fs::read(&raw).expect("read")[..pattern.len()],
        &pattern[..],
        "the volume holds the image's bytes"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("stratus-image-download-"))
        .collect();
    assert!(leftovers.is_empty(), "the download is removed: {leftovers:?}");

    // A missing image, and an image bigger than the volume asked.
    let missing = NewVolume {
        image_ref: Some("0b7c1c8e-5d0a-4c8e-9a4e-2f1d3c4b5a69".into()),
        size: Some(1),
        ..Default::default()
    };
    assert!(
        matches!(volumes.create_volume(&alice(), missing).await, Err(VolumeError::Invalid(m)) if m.contains("Invalid image identifier"))
    );
    let small = NewVolume {
        image_ref: Some(big_id),
        size: Some(1),
        ..Default::default()
    };
    assert!(
        matches!(volumes.create_volume(&alice(), small).await, Err(VolumeError::Invalid(m)) if m.contains("does not fit"))
    );

    // An ISO image: qemu-img has no "iso" format, its data is read as raw.
    let mut iso: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 251) as u8).collect();
    iso[0x8000] = 1;
    iso[0x8001..0x8006].copy_from_slice(b"CD001");
    let iso_id = upload(&images, "installer", "iso", iso.clone()).await;
    let mut v = volumes
        .create_volume(
            &alice(),
            NewVolume {
                image_ref: Some(iso_id),
                ..Default::default()
            },
        )
        .await
        .expect("create from an ISO");
    for _ in 0..400 {
        v = volumes.get_volume(&alice(), &v.id).await.expect("get");
        if v.status != Status::Creating {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(v.status, Status::Available, "a volume from an ISO image is made");
    let raw = dir.path().join("iso-back.raw");
    let out = std::process::Command::new("qemu-img")
        .args(["convert", "-f", "qcow2", "-O", "raw"])
        .arg(files.volume_path(&v.id))
        .arg(&raw)
        .output()
        .expect("convert");
    assert!(out.status.success());
    assert_eq!(
        &std::fs::read(&raw).expect("read")[..iso.len()],
        &iso[..],
        "the volume holds the ISO's bytes"
    );

    volumes.close().await;
    images.close().await;
}
