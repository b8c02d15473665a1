//! Volumes made from images: the image is fetched from the Image API with the caller's token,
//! as the seed's flow has services call each other over REST, checked against the image's
//! SHA-512, and converted into the volume by the backend.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha512};
use tokio::io::AsyncWriteExt;

/// What the volume needs to know of an image.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInfo {
    pub id: String,
    pub name: String,
    pub disk_format: String,
    pub size: u64,
    pub virtual_size: Option<u64>,
    /// Core attributes and properties worth recording as `volume_image_metadata`.
    pub metadata: BTreeMap<String, String>,
    pub os_hash_value: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImageFetchError {
    /// The image does not exist, cannot be seen with this token, or has no data.
    #[error("{0}")]
    Unusable(String),
    #[error("the Image API failed: {0}")]
    Transport(String),
    #[error("writing the image data: {0}")]
    Io(#[from] std::io::Error),
}

/// Where images come from.
#[async_trait::async_trait]
pub trait ImageSource: Send + Sync + 'static {
    async fn describe(&self, token: &str, image_id: &str) -> Result<ImageInfo, ImageFetchError>;
    /// Writes the image's data to `dest`, verified against its hash.
    async fn download(&self, token: &str, image: &ImageInfo, dest: &Path) -> Result<(), ImageFetchError>;
}

/// The Image API over HTTP, at `<url>/v2` (for example `http://host/image`).
pub struct RestImageSource {
    client: reqwest::Client,
    url: String,
}

impl RestImageSource {
    pub fn new(image_url: &str) -> Self {
        RestImageSource {
            client: reqwest::Client::new(),
            url: image_url.trim_end_matches('/').to_owned(),
        }
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[async_trait::async_trait]
impl ImageSource for RestImageSource {
    async fn describe(&self, token: &str, image_id: &str) -> Result<ImageInfo, ImageFetchError> {
        let url = format!("{}/v2/images/{image_id}", self.url);
        let r = self
            .client
            .get(&url)
            .header("x-auth-token", token)
            .send()
            .await
            .map_err(|e| ImageFetchError::Transport(e.to_string()))?;
        if r.status() == reqwest::StatusCode::NOT_FOUND {
            return Err(ImageFetchError::Unusable(format!(
                "Image {image_id} could not be found."
            )));
        }
        if !r.status().is_success() {
            return Err(ImageFetchError::Transport(format!("GET {url}: {}", r.status())));
        }
        let v: Value = r.json().await.map_err(|e| ImageFetchError::Transport(e.to_string()))?;
        if v["status"] != "active" {
            return Err(ImageFetchError::Unusable(format!(
                "Image {image_id} is not active (status {}).",
                v["status"]
            )));
        }
        let skip = [
            "self",
            "file",
            "schema",
            "tags",
            "locations",
            "direct_url",
            "os_hash_value",
            "os_hash_algo",
            "stores",
            // The image's own bookkeeping, which Cinder does not copy to the volume.
            "created_at",
            "updated_at",
            "status",
            "visibility",
            "owner",
            "protected",
            "os_hidden",
            "virtual_size",
        ];
        let metadata: BTreeMap<String, String> = v
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| !skip.contains(&k.as_str()))
                    .filter_map(|(k, v)| Some((k.clone(), text(v)?)))
                    .collect()
            })
            .unwrap_or_default();
        let mut metadata = metadata;
        if let Some(id) = metadata.remove("id") {
            metadata.insert("image_id".into(), id);
        }
        if let Some(name) = metadata.remove("name") {
            metadata.insert("image_name".into(), name);
        }
        Ok(ImageInfo {
            id: image_id.to_owned(),
            name: v["name"].as_str().unwrap_or_default().to_owned(),
            disk_format: v["disk_format"].as_str().unwrap_or("raw").to_owned(),
            size: v["size"].as_u64().unwrap_or(0),
            virtual_size: v["virtual_size"].as_u64(),
            os_hash_value: if v["os_hash_algo"] == "sha512" {
                v["os_hash_value"].as_str().map(str::to_owned)
            } else {
                None
            },
            metadata,
        })
    }

    async fn download(&self, token: &str, image: &ImageInfo, dest: &Path) -> Result<(), ImageFetchError> {
        let url = format!("{}/v2/images/{}/file", self.url, image.id);
        let mut r = self
            .client
            .get(&url)
            .header("x-auth-token", token)
            .send()
            .await
            .map_err(|e| ImageFetchError::Transport(e.to_string()))?;
        if !r.status().is_success() || r.status() == reqwest::StatusCode::NO_CONTENT {
            return Err(ImageFetchError::Unusable(format!(
                "Image {} has no data to download ({}).",
                image.id,
                r.status()
            )));
        }
        // The hash runs on its own thread beside the download, so checking costs no time when
        // the network or the disk is the slower one; writes go out in 1 MiB pieces.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(64);
        let hasher = tokio::task::spawn_blocking(move || {
            let mut hash = Sha512::new();
            while let Some(chunk) = rx.blocking_recv() {
                hash.update(&chunk);
            }
            hash.finalize()
        });
        let mut file = tokio::io::BufWriter::with_capacity(1 << 20, tokio::fs::File::create(dest).await?);
        let mut size = 0u64;
        while let Some(chunk) = r.chunk().await.map_err(|e| ImageFetchError::Transport(e.to_string()))? {
            size += chunk.len() as u64;
            file.write_all(&chunk).await?;
            if tx.send(chunk).await.is_err() {
                break;
            }
        }
        drop(tx);
        // No fsync: the download is scratch, removed after conversion and swept after a crash.
        file.flush().await?;
        let hash = hasher
            .await
            .map_err(|e| ImageFetchError::Transport(format!("the hashing thread failed: {e}")))?;
        let got = format!("{hash:x}");
        if size != image.size || image.os_hash_value.as_deref().is_some_and(|want| want != got) {
            return Err(ImageFetchError::Unusable(format!(
                "Image {} arrived damaged: {size} bytes with SHA-512 {got}, expected {} bytes.",
                image.id, image.size
            )));
        }
        Ok(())
    }
}
