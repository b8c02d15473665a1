//! Image data: direct upload, download, the `glance-direct` import (stage, then import), and
//! the repair at start of what a crash interrupted.
//!
//! Every write of data runs in a task of its own: if the client goes away and its request is
//! dropped, the image still leaves `saving` (for `killed`, or `queued` when the data was
//! refused), and the partial data is removed.

use std::io;

use base64::Engine;
use bytes::Bytes;
use futures::stream::BoxStream;
use stratus_api::AuthContext;

use crate::db::{self, DataRecord};
use crate::error::{ImageError, Result};
use crate::ingest::{ingest, IngestError};
use crate::inspect::InspectError;
use crate::model::{Image, Status};
use crate::stores::{ImageStore, Reader};
use crate::{is_admin, target, ImageService};

/// Image data as it arrives.
pub type ByteStream = BoxStream<'static, std::result::Result<Bytes, io::Error>>;

/// An upload: the data and what the client said about it.
pub struct Upload {
    pub body: ByteStream,
    /// The size the client announced (`Content-Length`, `X-OpenStack-Image-Size`).
    pub declared_size: Option<u64>,
    /// `Content-MD5`, as base64 (RFC 1864) or hex.
    pub content_md5: Option<String>,
}

/// A byte range of `Range: bytes=...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `start-` or `start-end` (inclusive).
    Span(u64, Option<u64>),
    /// `-n`: the last n bytes.
    Last(u64),
}

/// What a download returns.
pub struct Download {
    pub image: Image,
    /// None when the image has no data (yet).
    pub data: Option<DownloadData>,
}

pub struct DownloadData {
    /// Positioned at `start`; read `length` bytes.
    pub reader: Reader,
    pub start: u64,
    pub length: u64,
    pub total: u64,
    pub partial: bool,
}

/// What a failed write of data leaves the image as.
#[derive(Debug, Clone, Copy)]
enum Revert {
    /// The data was refused: the image can take another upload.
    Queued,
    /// The transfer broke: Glance's `killed`.
    Killed,
}

fn md5_matches(expected: &str, hex_md5: &str) -> bool {
    let expected = expected.trim();
    if expected.eq_ignore_ascii_case(hex_md5) {
        return true;
    }
    match base64::engine::general_purpose::STANDARD.decode(expected) {
        Ok(raw) => raw.iter().map(|b| format!("{b:02x}")).collect::<String>() == hex_md5,
        Err(_) => false,
    }
}

impl ImageService {
    fn check_ready_for_data(&self, image: &Image) -> Result<()> {
        if image.disk_format.is_none() || image.container_format.is_none() {
            return Err(ImageError::Validation(
                "Properties disk_format and container_format must be set before data is uploaded.".into(),
            ));
        }
        Ok(())
    }

    /// Bytes the owner may still upload, and whether the limit is its quota (not the size cap).
    async fn upload_limit(&self, image: &Image) -> Result<(u64, bool)> {
        let cap = self.config().max_image_size;
        match (self.config().quota_bytes, image.owner.as_deref()) {
            (Some(quota), Some(owner)) => {
                let (_, used) = db::usage(self.db(), owner).await?;
                let left = quota.saturating_sub(used.max(0) as u64);
                Ok(if left < cap { (left, true) } else { (cap, false) })
            }
            _ => Ok((cap, false)),
        }
    }

    fn too_large(&self, image: &Image, limit: u64, by_quota: bool) -> ImageError {
        if by_quota {
            ImageError::OverLimit(format!(
                "Quota exceeded: project {} may upload only {limit} more bytes of image data.",
                image.owner.as_deref().unwrap_or("")
            ))
        } else {
            ImageError::OverLimit(format!(
                "Image data is larger than the {limit} bytes this cloud accepts."
            ))
        }
    }

    /// Checks a queued image can take `declared_size` bytes within its owner's quota and moves it to `to`
    /// atomically, so that one upload at a time wins; returns the byte limit for the data.
    async fn claim_for_data(
        &self,
        image: &Image,
        declared_size: Option<u64>,
        to: Status,
        verb: &str,
    ) -> Result<(u64, bool)> {
        let id = &image.id;
        if image.status != Status::Queued {
            return Err(ImageError::Conflict(format!(
                "Image {id} is {}; data can only be {verb} a queued image.",
                image.status.as_str()
            )));
        }
        let (limit, by_quota) = self.upload_limit(image).await?;
        if declared_size.is_some_and(|n| n > limit) {
            return Err(self.too_large(image, limit, by_quota));
        }
        if !db::transition(self.db(), id, &[Status::Queued], to).await? {
            return Err(ImageError::Conflict(format!("Image {id} is already receiving data.")));
        }
        Ok((limit, by_quota))
    }

    /// `PUT /v2/images/{id}/file`.
    pub async fn upload(&self, caller: &AuthContext, id: &str, up: Upload) -> Result<Image> {
        let image = self.visible(caller, id).await?;
        self.enforce("upload_image", caller, &target(&image))?;
        self.check_ready_for_data(&image)?;
        let (limit, by_quota) = self
            .claim_for_data(&image, up.declared_size, Status::Saving, "uploaded to")
            .await?;
        let svc = self.clone();
        tokio::spawn(async move {
            let store = svc.inner.store.clone();
            svc.receive(image, up, store, limit, by_quota, Status::Saving).await
        })
        .await
        .map_err(|e| ImageError::internal("upload task", e))?
    }

    /// Takes `up` into `store` and makes the image active from `from`; on failure, moves it
    /// back as [`Revert`] says.
    async fn receive(
        &self,
        image: Image,
        up: Upload,
        store: std::sync::Arc<dyn ImageStore>,
        limit: u64,
        by_quota: bool,
        from: Status,
    ) -> Result<Image> {
        match self.take_data(&image, up, store.as_ref(), limit, by_quota, true).await {
            Ok(record) => {
                if db::activate(self.db(), &image.id, from, &record).await? {
                    tracing::info!(image = %image.id, size = record.size, "image active");
                    return db::get_image(self.db(), &image.id)
                        .await?
                        .ok_or_else(|| ImageError::NotFound(image.id.clone()));
                }
                let _ = store.delete(&record.location).await;
                Err(ImageError::Conflict(format!(
                    "Image {} was deleted while its data was being received.",
                    image.id
                )))
            }
            Err((revert, e)) => {
                let to = match revert {
                    Revert::Queued => Status::Queued,
                    Revert::Killed => Status::Killed,
                };
                tracing::warn!(image = %image.id, error = %e, to = to.as_str(), "image data refused or lost");
                db::transition(self.db(), &image.id, &[from], to).await?;
                Err(e)
            }
        }
    }

    /// Streams the data into a pending write, checks it, and commits it.
    async fn take_data(
        &self,
        image: &Image,
        up: Upload,
        store: &dyn ImageStore,
        limit: u64,
        by_quota: bool,
        inspect: bool,
    ) -> std::result::Result<DataRecord, (Revert, ImageError)> {
        let killed = |e: ImageError| (Revert::Killed, e);
        let refused = |e: ImageError| (Revert::Queued, e);
        let writer = store
            .begin(&image.id)
            .map_err(|e| killed(ImageError::internal("starting to write image data", e)))?;
        let want_sha256 = image
            .properties
            .get("owner_specified.openstack.sha256")
            .is_some_and(|v| !v.is_empty());
        let got = match ingest(up.body, writer, limit, want_sha256).await {
            Ok(g) => g,
            Err(IngestError::TooLarge { .. }) => return Err(refused(self.too_large(image, limit, by_quota))),
            Err(IngestError::Source(m)) => {
                return Err(killed(ImageError::Validation(format!(
                    "The upload was interrupted: {m}."
                ))))
            }
            Err(e @ IngestError::Store(_)) => return Err(killed(ImageError::internal("writing image data", e))),
        };
        if let Some(n) = up.declared_size.filter(|&n| n != got.size) {
            return Err(killed(ImageError::Validation(format!(
                "Received {} bytes of image data, but the request announced {n}.",
                got.size
            ))));
        }
        if let Some(md5) = up.content_md5.as_deref().filter(|m| !md5_matches(m, &got.md5)) {
            return Err(refused(ImageError::Validation(format!(
                "Checksum verification failed: the data's MD5 is {}, Content-MD5 says {md5}.",
                got.md5
            ))));
        }
        let owner_said = |k: &str| {
            image
                .properties
                .get(k)
                .filter(|v| !v.is_empty())
                .map(|v| v.to_ascii_lowercase())
        };
        if let Some(md5) = owner_said("owner_specified.openstack.md5").filter(|m| *m != got.md5) {
            return Err(refused(ImageError::Validation(format!(
                "Checksum verification failed: the data's MD5 is {}, the image's owner_specified.openstack.md5 says {md5}.",
                got.md5
            ))));
        }
        if let (Some(sha), Some(actual)) = (owner_said("owner_specified.openstack.sha256"), got.sha256.as_deref()) {
            if sha != actual {
                return Err(refused(ImageError::Validation(format!(
                    "Checksum verification failed: the data's SHA-256 is {actual}, the image's owner_specified.openstack.sha256 says {sha}."
                ))));
            }
        }
        let mut virtual_size = None;
        if inspect {
            let (disk, container) = (
                image.disk_format.as_deref().unwrap_or("raw"),
                image.container_format.as_deref().unwrap_or("bare"),
            );
            match self.inner.inspector.inspect(got.writer.path(), disk, container).await {
                Ok(i) => virtual_size = i.virtual_size,
                Err(InspectError::Refused(r)) => return Err(refused(ImageError::Validation(r.to_string()))),
                Err(e @ InspectError::NoQemuImg(..)) => return Err(refused(ImageError::Unavailable(e.to_string()))),
                Err(e @ InspectError::Io(_)) => return Err(killed(ImageError::internal("inspecting image data", e))),
            }
        }
        let writer = got.writer;
        let location = tokio::task::spawn_blocking(move || writer.commit())
            .await
            .map_err(|e| killed(ImageError::internal("committing image data", e)))?
            .map_err(|e| killed(ImageError::internal("committing image data", e)))?;
        Ok(DataRecord {
            size: got.size as i64,
            virtual_size,
            checksum: got.md5,
            os_hash_value: got.sha512,
            store: store.id().to_owned(),
            location,
        })
    }

    /// `GET /v2/images/{id}/file`.
    pub async fn download(&self, caller: &AuthContext, id: &str, range: Option<ByteRange>) -> Result<Download> {
        let image = self.visible(caller, id).await?;
        self.enforce("download_image", caller, &target(&image))?;
        if image.status == Status::Deactivated && !is_admin(caller) {
            return Err(ImageError::Denied(
                "The requested image has been deactivated. Image data download is prohibited.".into(),
            ));
        }
        let (Some(location), Some(total), Status::Active | Status::Deactivated) =
            (image.location.clone(), image.size, image.status)
        else {
            return Ok(Download { image, data: None });
        };
        let total = total as u64;
        let (start, end) = match range {
            None => (0, total.saturating_sub(1)),
            Some(ByteRange::Span(s, e)) => (s, e.unwrap_or(u64::MAX).min(total.saturating_sub(1))),
            Some(ByteRange::Last(n)) => (total.saturating_sub(n), total.saturating_sub(1)),
        };
        if range.is_some() && (start >= total || start > end || matches!(range, Some(ByteRange::Last(0)))) {
            return Err(ImageError::RangeNotSatisfiable(total));
        }
        let length = if total == 0 { 0 } else { end - start + 1 };
        let reader = self
            .inner
            .store
            .open(&location, start)
            .await
            .map_err(|e| ImageError::internal("opening image data", e))?;
        Ok(Download {
            image,
            data: Some(DownloadData {
                reader,
                start,
                length,
                total,
                partial: range.is_some(),
            }),
        })
    }

    /// `PUT /v2/images/{id}/stage`: the first half of `glance-direct`.
    pub async fn stage(&self, caller: &AuthContext, id: &str, up: Upload) -> Result<()> {
        let image = self.visible(caller, id).await?;
        self.enforce("stage_image", caller, &target(&image))?;
        let (limit, by_quota) = self
            .claim_for_data(&image, up.declared_size, Status::Uploading, "staged for")
            .await?;
        let svc = self.clone();
        tokio::spawn(async move {
            let staged = svc
                .take_data(&image, up, &svc.inner.staging, limit, by_quota, false)
                .await;
            match staged {
                Ok(record) => {
                    db::set_size(svc.db(), &image.id, record.size).await?;
                    Ok(())
                }
                Err((_, e)) => {
                    db::transition(svc.db(), &image.id, &[Status::Uploading], Status::Queued).await?;
                    Err(e)
                }
            }
        })
        .await
        .map_err(|e| ImageError::internal("staging task", e))?
    }

    /// `POST /v2/images/{id}/import`: moves staged data into the store in the background.
    pub async fn import(&self, caller: &AuthContext, id: &str, method: &str) -> Result<()> {
        let image = self.visible(caller, id).await?;
        self.enforce("import_image", caller, &target(&image))?;
        if !self.import_methods().contains(&method) {
            return Err(ImageError::Validation(format!(
                "Import method '{method}' is not supported here; supported: {}.",
                self.import_methods().join(", ")
            )));
        }
        self.check_ready_for_data(&image)?;
        if image.status != Status::Uploading {
            return Err(ImageError::Conflict(format!(
                "Image {id} is {}; glance-direct imports staged data, so stage it first.",
                image.status.as_str()
            )));
        }
        if !db::transition(self.db(), id, &[Status::Uploading], Status::Importing).await? {
            return Err(ImageError::Conflict(format!("Image {id} is already being imported.")));
        }
        let svc = self.clone();
        tokio::spawn(async move {
            let result = svc.import_staged(image.clone()).await;
            if let Err(e) = &result {
                tracing::warn!(image = %image.id, error = %e, "import failed");
            }
            let _ = svc.inner.staging.delete(&image.id).await;
        });
        Ok(())
    }

    async fn import_staged(&self, image: Image) -> Result<Image> {
        let file = self.inner.staging.open(&image.id, 0).await;
        let reader = match file {
            Ok(r) => r,
            Err(e) => {
                db::transition(self.db(), &image.id, &[Status::Importing], Status::Queued).await?;
                return Err(ImageError::internal("opening staged data", e));
            }
        };
        let body: ByteStream = Box::pin(tokio_util::io::ReaderStream::with_capacity(reader, 1 << 20));
        let declared = image.size.map(|s| s as u64);
        let up = Upload {
            body,
            declared_size: declared,
            content_md5: None,
        };
        // The quota was applied when the data was staged.
        let limit = self.config().max_image_size;
        let store = self.inner.store.clone();
        let result = self
            .receive(image.clone(), up, store, limit, false, Status::Importing)
            .await;
        if result.is_err() {
            // A failed import leaves the image queued, as Glance does; Killed is for uploads.
            db::transition(self.db(), &image.id, &[Status::Killed], Status::Queued).await?;
        }
        result
    }

    /// Repairs what a crash left: partial data, images stuck mid-upload, deletes not finished.
    pub(crate) async fn recover(&self) -> Result<()> {
        let swept = self
            .inner
            .store
            .sweep()
            .await
            .map_err(|e| ImageError::internal("sweeping partial image data", e))?
            + self
                .inner
                .staging
                .sweep()
                .await
                .map_err(|e| ImageError::internal("sweeping partial staged data", e))?;
        if swept > 0 {
            tracing::warn!(files = swept, "removed partial image data left by an interrupted write");
        }
        for (id, _) in db::in_status(self.db(), Status::Saving).await? {
            tracing::warn!(image = %id, "upload interrupted by a restart; image killed");
            db::transition(self.db(), &id, &[Status::Saving], Status::Killed).await?;
        }
        for status in [Status::Importing, Status::Uploading] {
            for (id, _) in db::in_status(self.db(), status).await? {
                let staged = self.inner.staging.open(&id, 0).await.is_ok();
                let to = if staged { Status::Uploading } else { Status::Queued };
                if to != status {
                    tracing::warn!(image = %id, to = to.as_str(), "import interrupted by a restart");
                    db::transition(self.db(), &id, &[status], to).await?;
                }
            }
        }
        for (id, location) in db::in_status(self.db(), Status::PendingDelete).await? {
            tracing::warn!(image = %id, "finishing a delete interrupted by a restart");
            self.purge(&id, location.as_deref()).await?;
        }
        Ok(())
    }
}
