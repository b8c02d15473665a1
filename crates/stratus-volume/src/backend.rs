//! Where volume data lives. The file backend keeps each volume as a qcow2 (or raw) file made
//! with `qemu-img`, writes every new file under a temporary name and renames it only when
//! complete, so a crash leaves no half-made volume that looks whole; temporary files are
//! swept at start.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::process::Command;

const GIB: u64 = 1 << 30;

/// The largest size Cinder's schema takes for a volume (its database's largest integer).
pub const MAX_API_GIB: u64 = 0x7FFF_FFFF;

/// The largest qcow2 image QEMU makes with its default 64 KiB clusters (2 PiB): its L1 table
/// cannot map more.
const MAX_QCOW2_GIB: u64 = 2 << 20;

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("volume data for {0} not found")]
    NotFound(String),
    #[error("qemu-img {args}: {detail}")]
    QemuImg { args: String, detail: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("a volume cannot shrink: it has {have} GiB and {want} GiB was asked")]
    Shrink { have: u64, want: u64 },
}

/// The format of volume files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeFormat {
    Qcow2,
    Raw,
}

impl VolumeFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            VolumeFormat::Qcow2 => "qcow2",
            VolumeFormat::Raw => "raw",
        }
    }
}

/// A backend for volume data. Ids are volume and snapshot ids (UUIDs).
#[async_trait::async_trait]
pub trait VolumeBackend: Send + Sync + 'static {
    /// An empty volume of `size_gib`.
    async fn create(&self, id: &str, size_gib: u64) -> Result<(), BackendError>;
    /// A volume holding the disk image in `source` (in `source_format`), grown to `size_gib`.
    async fn create_from_file(
        &self,
        id: &str,
        source: &Path,
        source_format: &str,
        size_gib: u64,
    ) -> Result<(), BackendError>;
    /// A volume copied from another volume or from a snapshot, grown to `size_gib`.
    async fn clone_volume(&self, id: &str, from_volume: &str, size_gib: u64) -> Result<(), BackendError>;
    async fn create_from_snapshot(&self, id: &str, snapshot_id: &str, size_gib: u64) -> Result<(), BackendError>;
    /// A point-in-time copy of a volume; `in_use` reads it while a guest may be writing
    /// (crash-consistent, as Cinder's `force`).
    async fn snapshot(&self, snapshot_id: &str, volume_id: &str, in_use: bool) -> Result<(), BackendError>;
    async fn delete_snapshot(&self, snapshot_id: &str) -> Result<(), BackendError>;
    async fn extend(&self, id: &str, new_size_gib: u64) -> Result<(), BackendError>;
    /// Removes a volume; removing one that is gone is not an error.
    async fn delete(&self, id: &str) -> Result<(), BackendError>;
    /// What a compute host needs to attach the volume (Cinder's `connection_info`).
    fn connection_info(&self, id: &str) -> Value;
    /// Removes temporary files of interrupted work; called once at start.
    async fn sweep(&self) -> Result<usize, BackendError>;
    /// The largest volume this backend can hold, in GiB. A larger request is refused before
    /// anything is written, rather than ending in `error` or in quota sums that overflow.
    fn max_size_gib(&self) -> u64 {
        MAX_API_GIB
    }
}

/// Volumes as files in a directory, made and changed with `qemu-img`.
pub struct FileBackend {
    dir: PathBuf,
    format: VolumeFormat,
    qemu_img: PathBuf,
    timeout: Duration,
    max_gib: u64,
}

impl FileBackend {
    pub fn new(dir: &Path, format: VolumeFormat, qemu_img: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let max_gib = match format {
            VolumeFormat::Qcow2 => MAX_QCOW2_GIB,
            VolumeFormat::Raw => largest_sparse_file_gib(dir, MAX_QCOW2_GIB)?,
        };
        Ok(FileBackend {
            dir: dir.to_owned(),
            format,
            qemu_img: qemu_img.to_owned(),
            timeout: Duration::from_secs(3600),
            max_gib,
        })
    }

    /// Ids become file names; anything but a UUID's characters is refused.
    fn checked(id: &str) -> Result<&str, BackendError> {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            return Err(BackendError::NotFound(id.to_owned()));
        }
        Ok(id)
    }

    pub fn volume_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("volume-{id}"))
    }
    fn snapshot_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("snapshot-{id}"))
    }
    fn partial(&self, final_path: &Path) -> PathBuf {
        let name = final_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.dir
            .join(format!(".partial-{name}-{}", uuid::Uuid::new_v4().simple()))
    }

    async fn qemu_img(&self, args: &[&str]) -> Result<String, BackendError> {
        let mut cmd = Command::new(&self.qemu_img);
        cmd.args(args).stdin(std::process::Stdio::null()).kill_on_drop(true);
        let fail = |detail: String| BackendError::QemuImg {
            args: args.join(" "),
            detail,
        };
        let out = match tokio::time::timeout(self.timeout, cmd.output()).await {
            Ok(r) => r?,
            Err(_) => return Err(fail("timed out".into())),
        };
        if !out.status.success() {
            return Err(fail(String::from_utf8_lossy(&out.stderr).trim().to_owned()));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    async fn virtual_size(&self, path: &Path, format: &str) -> Result<u64, BackendError> {
        let out = self
            .qemu_img(&["info", "--output=json", "-U", "-f", format, &path.to_string_lossy()])
            .await?;
        let v: Value = serde_json::from_str(&out).map_err(|e| BackendError::QemuImg {
            args: "info".into(),
            detail: e.to_string(),
        })?;
        Ok(v["virtual-size"].as_u64().unwrap_or(0))
    }

    /// Copies `source` into a new volume or snapshot file at `dest`, grown to `size_gib`
    /// (never shrunk), through a temporary file.
    async fn convert_into(
        &self,
        source: &Path,
        source_format: &str,
        dest: &Path,
        size_gib: Option<u64>,
        share: bool,
    ) -> Result<(), BackendError> {
        let tmp = self.partial(dest);
        let (src, out) = (
            source.to_string_lossy().into_owned(),
            tmp.to_string_lossy().into_owned(),
        );
        let mut args = vec!["convert", "-f", source_format, "-O", self.format.as_str()];
        if share {
            args.push("-U");
        }
        args.extend([src.as_str(), out.as_str()]);
        let result = async {
            self.qemu_img(&args).await?;
            if let Some(size) = size_gib {
                let have = self.virtual_size(&tmp, self.format.as_str()).await?;
                if have > size * GIB {
                    return Err(BackendError::Shrink {
                        have: have.div_ceil(GIB),
                        want: size,
                    });
                }
                if have < size * GIB {
                    self.qemu_img(&["resize", "-f", self.format.as_str(), &out, &format!("{size}G")])
                        .await?;
                }
            }
            tokio::fs::rename(&tmp, dest).await?;
            Ok(())
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result
    }
}

impl FileBackend {
    /// Copies one of this backend's own files (`src`, the data of `src_id`) to `dest`.
    async fn copy(
        &self,
        src: &Path,
        src_id: &str,
        dest: PathBuf,
        size_gib: Option<u64>,
        share: bool,
    ) -> Result<(), BackendError> {
        if !src.exists() {
            return Err(BackendError::NotFound(src_id.to_owned()));
        }
        self.convert_into(src, self.format.as_str(), &dest, size_gib, share)
            .await
    }
}

/// The format qemu-img opens an image's data as, for its Image service `disk_format`: ISO and
/// the AMI family are raw data to qemu-img (it has no `iso` format), VHD is its `vpc`, ploop
/// its `parallels`.
pub fn qemu_format(disk_format: &str) -> &str {
    match disk_format {
        "iso" | "ami" | "aki" | "ari" => "raw",
        "vhd" => "vpc",
        "ploop" => "parallels",
        other => other,
    }
}

/// The largest whole number of GiB (up to `cap`) a sparse file in `dir` can be set to: a raw
/// volume is such a file, and the filesystem decides its largest size (16 TiB less a block on
/// ext4 with 4 KiB blocks). Found once by setting the length of an empty scratch file, which
/// writes no data.
fn largest_sparse_file_gib(dir: &Path, cap: u64) -> std::io::Result<u64> {
    let probe = dir.join(format!(".partial-size-probe-{}", uuid::Uuid::new_v4().simple()));
    let file = std::fs::File::create(&probe)?;
    let fits = |gib: u64| file.set_len(gib * GIB).is_ok();
    let (mut lo, mut hi) = (0u64, cap + 1);
    // lo fits (nothing), hi does not (or is past the cap)
    if fits(cap) {
        lo = cap;
    } else {
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if fits(mid) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
    }
    drop(file);
    std::fs::remove_file(&probe)?;
    Ok(lo)
}

async fn remove_if_present(path: &Path) -> Result<(), BackendError> {
    match tokio::fs::remove_file(path).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

#[async_trait::async_trait]
impl VolumeBackend for FileBackend {
    async fn create(&self, id: &str, size_gib: u64) -> Result<(), BackendError> {
        let dest = self.volume_path(Self::checked(id)?);
        let tmp = self.partial(&dest);
        let out = tmp.to_string_lossy().into_owned();
        let r = self
            .qemu_img(&["create", "-f", self.format.as_str(), &out, &format!("{size_gib}G")])
            .await;
        match r {
            Ok(_) => Ok(tokio::fs::rename(&tmp, &dest).await?),
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                Err(e)
            }
        }
    }

    async fn create_from_file(
        &self,
        id: &str,
        source: &Path,
        source_format: &str,
        size_gib: u64,
    ) -> Result<(), BackendError> {
        let dest = self.volume_path(Self::checked(id)?);
        self.convert_into(source, qemu_format(source_format), &dest, Some(size_gib), false)
            .await
    }

    async fn clone_volume(&self, id: &str, from_volume: &str, size_gib: u64) -> Result<(), BackendError> {
        let src = self.volume_path(Self::checked(from_volume)?);
        self.copy(
            &src,
            from_volume,
            self.volume_path(Self::checked(id)?),
            Some(size_gib),
            true,
        )
        .await
    }

    async fn create_from_snapshot(&self, id: &str, snapshot_id: &str, size_gib: u64) -> Result<(), BackendError> {
        let src = self.snapshot_path(Self::checked(snapshot_id)?);
        self.copy(
            &src,
            snapshot_id,
            self.volume_path(Self::checked(id)?),
            Some(size_gib),
            false,
        )
        .await
    }

    async fn snapshot(&self, snapshot_id: &str, volume_id: &str, in_use: bool) -> Result<(), BackendError> {
        let src = self.volume_path(Self::checked(volume_id)?);
        self.copy(
            &src,
            volume_id,
            self.snapshot_path(Self::checked(snapshot_id)?),
            None,
            in_use,
        )
        .await
    }

    async fn delete_snapshot(&self, snapshot_id: &str) -> Result<(), BackendError> {
        remove_if_present(&self.snapshot_path(Self::checked(snapshot_id)?)).await
    }

    async fn extend(&self, id: &str, new_size_gib: u64) -> Result<(), BackendError> {
        let path = self.volume_path(Self::checked(id)?);
        if !path.exists() {
            return Err(BackendError::NotFound(id.to_owned()));
        }
        let have = self.virtual_size(&path, self.format.as_str()).await?;
        if have > new_size_gib * GIB {
            return Err(BackendError::Shrink {
                have: have.div_ceil(GIB),
                want: new_size_gib,
            });
        }
        self.qemu_img(&[
            "resize",
            "-f",
            self.format.as_str(),
            &path.to_string_lossy(),
            &format!("{new_size_gib}G"),
        ])
        .await?;
        Ok(())
    }

    async fn delete(&self, id: &str) -> Result<(), BackendError> {
        remove_if_present(&self.volume_path(Self::checked(id)?)).await
    }

    fn connection_info(&self, id: &str) -> Value {
        json!({
            "driver_volume_type": "file",
            "data": {
                "name": format!("volume-{id}"),
                "device_path": self.volume_path(id),
                "format": self.format.as_str(),
                "access_mode": "rw",
            },
        })
    }

    fn max_size_gib(&self) -> u64 {
        self.max_gib
    }

    async fn sweep(&self) -> Result<usize, BackendError> {
        let mut n = 0;
        let mut rd = tokio::fs::read_dir(&self.dir).await?;
        while let Some(e) = rd.next_entry().await? {
            if e.file_name().to_string_lossy().starts_with(".partial-") {
                tokio::fs::remove_file(e.path()).await?;
                n += 1;
            }
        }
        Ok(n)
    }
}
