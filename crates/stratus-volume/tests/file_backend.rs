//! The file backend with the real qemu-img: volumes are made, grown, copied, snapshotted and
//! filled from images, and interrupted work leaves no file that looks like a volume.

use std::path::Path;
use std::process::Command;

use stratus_volume::{BackendError, FileBackend, VolumeBackend, VolumeFormat};

fn info(path: &Path) -> serde_json::Value {
    let out = Command::new("qemu-img")
        .args(["info", "--output=json", "-U"])
        .arg(path)
        .output()
        .expect("qemu-img info");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("json")
}

/// The guest-visible bytes of a volume, read back through qemu-img.
fn contents(path: &Path, format: &str, dir: &Path) -> Vec<u8> {
    let raw = dir.join(format!("read-{}.raw", uuid_like()));
    let out = Command::new("qemu-img")
        .args(["convert", "-U", "-f", format, "-O", "raw"])
        .arg(path)
        .arg(&raw)
        .output()
        .expect("convert");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&raw).expect("read");
    let _ = std::fs::remove_file(&raw);
    bytes
}

fn uuid_like() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )
}

const A: &str = "0b7c1c8e-5d0a-4c8e-9a4e-2f1d3c4b5a69";
const B: &str = "1b7c1c8e-5d0a-4c8e-9a4e-2f1d3c4b5a69";
const C: &str = "2b7c1c8e-5d0a-4c8e-9a4e-2f1d3c4b5a69";
const S: &str = "3b7c1c8e-5d0a-4c8e-9a4e-2f1d3c4b5a69";

#[tokio::test]
async fn volumes_are_made_grown_copied_and_snapshotted() {
    let dir = tempfile::tempdir().expect("tmp");
    let be =
        FileBackend::new(&dir.path().join("volumes"), VolumeFormat::Qcow2, Path::new("qemu-img")).expect("backend");
    be.create(A, 1).await.expect("create");
    let a = be.volume_path(A);
    assert_eq!(info(&a)["virtual-size"], 1u64 << 30);
    assert_eq!(info(&a)["format"], "qcow2");
    be.extend(A, 2).await.expect("extend");
    assert_eq!(info(&a)["virtual-size"], 2u64 << 30);
    assert!(matches!(
        be.extend(A, 1).await,
        Err(BackendError::Shrink { have: 2, want: 1 })
    ));

    // From an image file: the volume holds the image's bytes, grown to the size asked.
    let image = dir.path().join("image.raw");
    let pattern: Vec<u8> = (0..(4u32 << 20)).map(|i| (i % 251) as u8).collect();
    std::fs::write(&image, &pattern).expect("image");
    be.create_from_file(B, &image, "raw", 1).await.expect("from image");
    let b = be.volume_path(B);
    assert_eq!(info(&b)["virtual-size"], 1u64 << 30);
    let got = contents(&b, "qcow2", dir.path());
    assert_eq!(
        &got[..pattern.len()],
        &pattern[..],
        "the volume starts with the image's bytes"
    );

    // Snapshot, then a volume from it, then a clone: same bytes each time.
    be.snapshot(S, B, false).await.expect("snapshot");
    be.create_from_snapshot(C, S, 2).await.expect("from snapshot");
    let c = be.volume_path(C);
    assert_eq!(info(&c)["virtual-size"], 2u64 << 30);
    assert_eq!(&contents(&c, "qcow2", dir.path())[..pattern.len()], &pattern[..]);
    be.delete(C).await.expect("delete");
    be.clone_volume(C, B, 1).await.expect("clone");
    assert_eq!(
        &contents(&be.volume_path(C), "qcow2", dir.path())[..pattern.len()],
        &pattern[..]
    );
    assert!(
        matches!(
            be.create_from_file(A, &image, "qcow2", 1).await,
            Err(BackendError::QemuImg { .. })
        ),
        "raw data read as qcow2 fails"
    );

    // connection_info names the file and its format.
    let ci = be.connection_info(B);
    assert_eq!(ci["driver_volume_type"], "file");
    assert_eq!(ci["data"]["format"], "qcow2");
    assert_eq!(ci["data"]["device_path"], b.to_string_lossy().as_ref());

    // Deletes are idempotent; nothing partial is left.
    for id in [A, B, C] {
        be.delete(id).await.expect("delete");
        be.delete(id).await.expect("delete twice");
    }
    be.delete_snapshot(S).await.expect("delete snapshot");
    let left: Vec<_> = std::fs::read_dir(dir.path().join("volumes")).expect("dir").collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(matches!(
        be.delete("../../etc/passwd").await,
        Err(BackendError::NotFound(_))
    ));
}

#[tokio::test]
async fn a_failed_copy_leaves_nothing_and_sweep_removes_leftovers() {
    let dir = tempfile::tempdir().expect("tmp");
    let vols = dir.path().join("volumes");
    let be = FileBackend::new(&vols, VolumeFormat::Raw, Path::new("qemu-img")).expect("backend");
    let image = dir.path().join("big.raw");
    std::fs::File::create(&image)
        .expect("image")
        .set_len(3 << 30)
        .expect("sparse 3 GiB");
    // A 3 GiB image does not fit a 1 GiB volume: refused, and no file remains.
    assert!(matches!(
        be.create_from_file(A, &image, "raw", 1).await,
        Err(BackendError::Shrink { have: 3, want: 1 })
    ));
    assert_eq!(std::fs::read_dir(&vols).expect("dir").count(), 0);
    // What a crash leaves (a partial file) is swept at start.
    std::fs::write(vols.join(".partial-volume-x-123"), b"half").expect("partial");
    assert_eq!(be.sweep().await.expect("sweep"), 1);
    assert_eq!(std::fs::read_dir(&vols).expect("dir").count(), 0);
}
