//! The host's cache of base images: each image is fetched once from the Image API, checked
//! against the hash the Image service recorded (`os_hash_value`, else `checksum`), and kept as
//! `CACHE/<image id>` for every guest made from it (the guests' disks are overlays on it).
//! Images are immutable once active, so a cached file never goes stale.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use md5::Md5;
use serde_json::Value;
use sha2::{Digest, Sha512};
use tokio::io::AsyncWriteExt;

use crate::clients::Rest;

pub struct ImageCache {
    dir: PathBuf,
    /// Two builds of one image wait for one download.
    locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

enum Hasher {
    Sha512(Sha512),
    Md5(Md5),
}

impl ImageCache {
    pub fn new(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(ImageCache {
            dir: dir.to_owned(),
            locks: Default::default(),
        })
    }

    /// The local file of `image` (its Image API record), fetched if not cached yet.
    pub async fn fetch(&self, rest: &Rest, token: &str, image: &Value) -> Result<PathBuf, String> {
        let id = image["id"].as_str().unwrap_or_default();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!("image id {id:?} cannot name a file"));
        }
        if image["status"].as_str() != Some("active") {
            return Err(format!("image {id} is {}, not active", image["status"]));
        }
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(id.to_owned()).or_default().clone()
        };
        let _g = lock.lock().await;
        let path = self.dir.join(id);
        if path.exists() {
            return Ok(path);
        }
        let (mut hasher, want) = match (image["os_hash_algo"].as_str(), image["os_hash_value"].as_str()) {
            (Some("sha512"), Some(v)) => (Hasher::Sha512(Sha512::new()), v.to_owned()),
            _ => match image["checksum"].as_str() {
                Some(c) => (Hasher::Md5(Md5::new()), c.to_owned()),
                None => return Err(format!("image {id} has no hash to check its data against")),
            },
        };
        let part = self.dir.join(format!("{id}.part"));
        let result = async {
            let mut resp = rest.image_data(token, id).await.map_err(|e| e.to_string())?;
            let mut file = tokio::fs::File::create(&part)
                .await
                .map_err(|e| format!("creating {}: {e}", part.display()))?;
            while let Some(chunk) = resp.chunk().await.map_err(|e| format!("downloading image {id}: {e}"))? {
                match &mut hasher {
                    Hasher::Sha512(h) => h.update(&chunk),
                    Hasher::Md5(h) => h.update(&chunk),
                }
                file.write_all(&chunk)
                    .await
                    .map_err(|e| format!("writing {}: {e}", part.display()))?;
            }
            file.sync_all()
                .await
                .map_err(|e| format!("writing {}: {e}", part.display()))?;
            let got = match hasher {
                Hasher::Sha512(h) => hex(&h.finalize()),
                Hasher::Md5(h) => hex(&h.finalize()),
            };
            if !got.eq_ignore_ascii_case(&want) {
                return Err(format!(
                    "image {id} downloaded with hash {got}, not the {want} the Image service recorded"
                ));
            }
            tokio::fs::rename(&part, &path)
                .await
                .map_err(|e| format!("installing {}: {e}", path.display()))
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&part).await;
        }
        result.map(|_| path)
    }
}

impl ImageCache {
    /// Removes cached images no guest uses and none has used for `min_age`, as Nova's image
    /// cache manager does: files in use are touched, so a file's age is the time since a
    /// guest last used it (or since it was fetched). Returns how many were removed.
    pub fn sweep(&self, in_use: &[String], min_age: std::time::Duration) -> std::io::Result<usize> {
        let now = std::time::SystemTime::now();
        let mut removed = 0;
        for e in std::fs::read_dir(&self.dir)?.flatten() {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".part") {
                continue;
            }
            if in_use.iter().any(|p| Path::new(p) == path) {
                std::fs::File::options().write(true).open(&path)?.set_modified(now)?;
                continue;
            }
            let age = e
                .metadata()?
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .unwrap_or_default();
            // A build holding the image's lock may be about to use it.
            let busy = self
                .locks
                .lock()
                .map(|l| l.get(&name).is_some_and(|m| m.try_lock().is_err()))
                .unwrap_or(true);
            if age >= min_age && !busy {
                std::fs::remove_file(&path)?;
                tracing::info!(image = %name, ?age, "removed an unused base image from the cache");
                removed += 1;
            }
        }
        Ok(removed)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
