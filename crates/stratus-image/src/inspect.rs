//! What uploaded data really is, before it becomes an active image.
//!
//! A disk image names other files in its header (a qcow2 backing file or external data file, a
//! VMDK descriptor's extents); an image service that hands such data to `qemu-img` or a
//! hypervisor lets the uploader read files on the host. So the format is recognised from its
//! magic numbers first, dangerous headers are refused, and only then is `qemu-img info` run,
//! with the format given explicitly (never probed), to read the virtual size and confirm the
//! header checks.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Bytes read from the start of the data: enough for the ISO 9660 volume descriptor at 32 KiB.
const HEAD: usize = 64 * 1024;

/// A format as recognised from the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    /// No known header: a raw disk, a kernel, a ramdisk.
    Raw,
    Iso,
    Qcow2 {
        backing_file: bool,
        data_file: bool,
    },
    Vmdk,
    /// A VMDK text descriptor: all of its data lives in other files.
    VmdkDescriptor,
    /// A sparse VMDK whose embedded descriptor names an extent that is not a sparse extent of
    /// the image itself (a FLAT or other extent on another file), or that cannot be read.
    VmdkForeignExtent,
    Vdi,
    Vhd,
    Vhdx,
    Ploop,
    /// Formats no disk_format accepts: QED and LUKS containers.
    Other(&'static str),
}

impl Detected {
    fn name(self) -> &'static str {
        match self {
            Detected::Raw => "raw",
            Detected::Iso => "iso",
            Detected::Qcow2 { .. } => "qcow2",
            Detected::Vmdk | Detected::VmdkDescriptor | Detected::VmdkForeignExtent => "vmdk",
            Detected::Vdi => "vdi",
            Detected::Vhd => "vhd",
            Detected::Vhdx => "vhdx",
            Detected::Ploop => "ploop",
            Detected::Other(n) => n,
        }
    }
}

fn le_u64(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_le_bytes)
}

/// A sparse VMDK's embedded descriptor lists its extents; the only safe one is the image's own
/// SPARSE extent. Any other type (FLAT, VMFS, ZERO on another file...) makes QEMU read what
/// the line names, and a descriptor past the bytes read is refused rather than trusted.
/// Header fields by VMware's specification: descriptorOffset at 28 and descriptorSize at 36,
/// in sectors, little-endian.
fn vmdk_extents_safe(head: &[u8]) -> bool {
    let (Some(offset), Some(size)) = (le_u64(head, 28), le_u64(head, 36)) else {
        return false;
    };
    if offset == 0 {
        return true;
    }
    let Some(start) = offset.checked_mul(512).and_then(|s| usize::try_from(s).ok()) else {
        return false;
    };
    let Some(end) = size
        .checked_mul(512)
        .and_then(|n| usize::try_from(n).ok())
        .and_then(|n| start.checked_add(n))
    else {
        return false;
    };
    let Some(desc) = head.get(start..end.min(head.len())).filter(|_| start < head.len()) else {
        return false;
    };
    let text = String::from_utf8_lossy(desc);
    text.split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| l.starts_with("RW ") || l.starts_with("RDONLY ") || l.starts_with("NOACCESS "))
        .all(|l| l.split_whitespace().nth(2) == Some("SPARSE"))
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_be_bytes)
}
fn be_u64(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_be_bytes)
}

/// Recognises the format from the first bytes and the last 512 (a fixed VHD's footer).
pub fn detect(head: &[u8], tail: &[u8]) -> Detected {
    if head.starts_with(b"QFI\xfb") {
        // Header fields by the qcow2 specification: backing_file_offset at 8; version 3 adds
        // incompatible_features at 72, whose bit 2 is "external data file".
        let backing_file = be_u64(head, 8).unwrap_or(0) != 0;
        let version = be_u32(head, 4).unwrap_or(0);
        let data_file = version >= 3 && be_u64(head, 72).unwrap_or(0) & 0b100 != 0;
        return Detected::Qcow2 {
            backing_file,
            data_file,
        };
    }
    if head.starts_with(b"KDMV") {
        if !vmdk_extents_safe(head) {
            return Detected::VmdkForeignExtent;
        }
        return Detected::Vmdk;
    }
    if head.starts_with(b"# Disk DescriptorFile") {
        return Detected::VmdkDescriptor;
    }
    if head.starts_with(b"vhdxfile") {
        return Detected::Vhdx;
    }
    if head.starts_with(b"conectix") || tail.starts_with(b"conectix") {
        return Detected::Vhd;
    }
    if head.get(64..68) == Some(&[0x7f, 0x10, 0xda, 0xbe][..]) {
        return Detected::Vdi;
    }
    if head.starts_with(b"WithoutFreeSpace") || head.starts_with(b"WithouFreSpacExt") {
        return Detected::Ploop;
    }
    if head.starts_with(b"QED\0") {
        return Detected::Other("qed");
    }
    if head.starts_with(b"LUKS\xba\xbe") {
        return Detected::Other("luks");
    }
    if head.get(0x8001..0x8006) == Some(&b"CD001"[..]) {
        return Detected::Iso;
    }
    Detected::Raw
}

/// Why data was refused; each message is for the uploader.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("Image data is in {found} format, not the {declared} format the image's disk_format declares.")]
    FormatMismatch { declared: String, found: &'static str },
    #[error("Image data is a qcow2 image with a backing file; images that refer to other files are not accepted.")]
    BackingFile,
    #[error(
        "Image data is a qcow2 image with an external data file; images that refer to other files are not accepted."
    )]
    DataFile,
    #[error("Image data is a VMDK descriptor that refers to other files; upload a monolithicSparse or streamOptimized VMDK.")]
    VmdkDescriptor,
    #[error("Image data is a VMDK whose descriptor names an extent other than its own sparse data (such as a FLAT extent on another file); images that refer to other files are not accepted.")]
    VmdkForeignExtent,
    #[error("Image data is not a valid {format} image: {detail}")]
    Invalid { format: String, detail: String },
}

/// What inspection learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    pub virtual_size: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error("{0}")]
    Refused(#[from] Refusal),
    #[error("qemu-img is needed to check {0} images and could not be run")]
    NoQemuImg(String, #[source] std::io::Error),
    #[error("reading the image data")]
    Io(#[from] std::io::Error),
}

/// Checks uploaded data in `path` against the declared formats.
#[derive(Debug, Clone)]
pub struct Inspector {
    pub qemu_img: PathBuf,
    pub timeout: Duration,
}

impl Inspector {
    pub async fn inspect(
        &self,
        path: &Path,
        disk_format: &str,
        container_format: &str,
    ) -> Result<Inspection, InspectError> {
        let size = tokio::fs::metadata(path).await?.len() as i64;
        // Only bare containers hold a disk as it is; ova, docker and compressed hold archives.
        if !matches!(container_format, "bare" | "ami" | "aki" | "ari") {
            return Ok(Inspection { virtual_size: None });
        }
        let p = path.to_owned();
        let (head, tail) = tokio::task::spawn_blocking(move || read_ends(&p))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))??;
        let found = detect(&head, &tail);
        match found {
            Detected::Qcow2 { backing_file: true, .. } => return Err(Refusal::BackingFile.into()),
            Detected::Qcow2 { data_file: true, .. } => return Err(Refusal::DataFile.into()),
            Detected::VmdkDescriptor => return Err(Refusal::VmdkDescriptor.into()),
            Detected::VmdkForeignExtent => return Err(Refusal::VmdkForeignExtent.into()),
            _ => {}
        }
        let declared_ok = match disk_format {
            // Kernels, ramdisks and raw disks have no header of their own; an ISO is also a
            // valid raw disk. Any other recognised header is a disguise.
            "raw" | "ami" | "aki" | "ari" => matches!(found, Detected::Raw | Detected::Iso),
            other => found.name() == other,
        };
        if !declared_ok {
            return Err(Refusal::FormatMismatch {
                declared: disk_format.to_owned(),
                found: found.name(),
            }
            .into());
        }
        match found {
            Detected::Raw | Detected::Iso => Ok(Inspection {
                virtual_size: Some(size),
            }),
            _ => self.qemu_img_info(path, found.name()).await,
        }
    }

    async fn qemu_img_info(&self, path: &Path, format: &str) -> Result<Inspection, InspectError> {
        let qemu_format = if format == "vhd" { "vpc" } else { format };
        let mut cmd = tokio::process::Command::new(&self.qemu_img);
        cmd.args(["info", "--output=json", "--force-share", "-f", qemu_format])
            .arg(path)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let out = match tokio::time::timeout(self.timeout, cmd.output()).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => return Err(InspectError::NoQemuImg(format.to_owned(), e)),
            Err(_) => {
                return Err(Refusal::Invalid {
                    format: format.to_owned(),
                    detail: "qemu-img took too long to read it".into(),
                }
                .into())
            }
        };
        if !out.status.success() {
            let detail = String::from_utf8_lossy(&out.stderr)
                .trim()
                .replace(&*path.to_string_lossy(), "<image>");
            return Err(Refusal::Invalid {
                format: format.to_owned(),
                detail,
            }
            .into());
        }
        let info: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| Refusal::Invalid {
            format: format.to_owned(),
            detail: format!("unreadable qemu-img output: {e}"),
        })?;
        if info.get("backing-filename").is_some() || info.get("full-backing-filename").is_some() {
            return Err(Refusal::BackingFile.into());
        }
        let specific = &info["format-specific"]["data"];
        if specific.get("data-file").is_some() {
            return Err(Refusal::DataFile.into());
        }
        if format == "vmdk" {
            let create_type = specific["create-type"].as_str().unwrap_or("");
            if !matches!(create_type, "monolithicSparse" | "streamOptimized") {
                return Err(Refusal::VmdkDescriptor.into());
            }
            // What QEMU itself opened: every extent must be this file.
            let own = path.to_string_lossy();
            let foreign = specific["extents"]
                .as_array()
                .is_some_and(|e| e.iter().any(|x| x["filename"].as_str() != Some(own.as_ref())));
            if foreign {
                return Err(Refusal::VmdkForeignExtent.into());
            }
        }
        Ok(Inspection {
            virtual_size: info["virtual-size"].as_i64(),
        })
    }
}

fn read_ends(path: &Path) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let mut head = Vec::with_capacity(HEAD);
    (&mut f).take(HEAD as u64).read_to_end(&mut head)?;
    let mut tail = Vec::new();
    if len >= 512 {
        f.seek(SeekFrom::Start(len - 512))?;
        f.take(512).read_to_end(&mut tail)?;
    }
    Ok((head, tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sparse VMDK header with an embedded descriptor at sector 1 holding `extent`.
    fn vmdk_with_extent(extent: Option<&str>) -> Vec<u8> {
        let mut b = vec![0u8; 512 * 21];
        b[..4].copy_from_slice(b"KDMV");
        b[4..8].copy_from_slice(&1u32.to_le_bytes());
        if let Some(extent) = extent {
            b[28..36].copy_from_slice(&1u64.to_le_bytes());
            b[36..44].copy_from_slice(&20u64.to_le_bytes());
            let desc = format!("# Disk DescriptorFile\nversion=1\ncreateType=\"monolithicSparse\"\n{extent}\n");
            b[512..512 + desc.len()].copy_from_slice(desc.as_bytes());
        }
        b
    }

    fn qcow2_header(version: u32, backing: u64, incompatible: u64) -> Vec<u8> {
        let mut h = vec![0u8; 512];
        h[..4].copy_from_slice(b"QFI\xfb");
        h[4..8].copy_from_slice(&version.to_be_bytes());
        h[8..16].copy_from_slice(&backing.to_be_bytes());
        h[72..80].copy_from_slice(&incompatible.to_be_bytes());
        h
    }

    #[test]
    fn recognises_formats_by_their_headers() {
        assert_eq!(
            detect(&qcow2_header(3, 0, 0), &[]),
            Detected::Qcow2 {
                backing_file: false,
                data_file: false
            }
        );
        assert_eq!(
            detect(&qcow2_header(3, 512, 0), &[]),
            Detected::Qcow2 {
                backing_file: true,
                data_file: false
            }
        );
        assert_eq!(
            detect(&qcow2_header(3, 0, 4), &[]),
            Detected::Qcow2 {
                backing_file: false,
                data_file: true
            }
        );
        // Version 2 has no incompatible_features field: those bytes belong to other data.
        assert_eq!(
            detect(&qcow2_header(2, 0, 4), &[]),
            Detected::Qcow2 {
                backing_file: false,
                data_file: false
            }
        );
        assert_eq!(detect(&vmdk_with_extent(None), &[]), Detected::Vmdk);
        assert_eq!(
            detect(&vmdk_with_extent(Some("RW 2048 SPARSE \"disk.vmdk\"")), &[]),
            Detected::Vmdk
        );
        assert_eq!(
            detect(&vmdk_with_extent(Some("RW 8 FLAT \"/etc/hostname\" 0")), &[]),
            Detected::VmdkForeignExtent
        );
        assert_eq!(
            detect(
                &vmdk_with_extent(Some("RW 2048 SPARSE \"disk.vmdk\"\nRDONLY 8 VMFS \"/dev/sda\"")),
                &[]
            ),
            Detected::VmdkForeignExtent
        );
        // A descriptor said to lie past the data read is not trusted.
        let mut far = vmdk_with_extent(None);
        far[28..36].copy_from_slice(&100_000u64.to_le_bytes());
        far[36..44].copy_from_slice(&20u64.to_le_bytes());
        assert_eq!(detect(&far, &[]), Detected::VmdkForeignExtent);
        assert_eq!(
            detect(b"# Disk DescriptorFile\nversion=1", &[]),
            Detected::VmdkDescriptor
        );
        assert_eq!(detect(b"plain bytes", b"conectix"), Detected::Vhd);
        let mut iso = vec![0u8; 0x8010];
        iso[0x8001..0x8006].copy_from_slice(b"CD001");
        assert_eq!(detect(&iso, &[]), Detected::Iso);
        assert_eq!(detect(&[0u8; 4096], &[]), Detected::Raw);
    }
}
