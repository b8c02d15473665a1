//! The embedded default store: one file per image in a directory.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tokio::io::AsyncSeekExt;

use super::{ImageStore, PendingWrite, Reader};

/// Image data as files under a directory: `DIR/<image id>`, written first as
/// `DIR/.partial/<image id>.<random>` and renamed when complete.
pub struct FilesystemStore {
    dir: PathBuf,
    description: String,
}

impl FilesystemStore {
    pub fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir.join(".partial"))?;
        Ok(FilesystemStore {
            dir: dir.to_owned(),
            description: format!("Files under {}", dir.display()),
        })
    }

    /// Locations are image ids; refuse anything that could name a path outside the directory.
    fn file(&self, location: &str) -> io::Result<PathBuf> {
        if location.is_empty() || !location.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad location {location:?}"),
            ));
        }
        Ok(self.dir.join(location))
    }
}

#[async_trait::async_trait]
impl ImageStore for FilesystemStore {
    fn id(&self) -> &str {
        "file"
    }
    fn description(&self) -> &str {
        &self.description
    }

    fn begin(&self, image_id: &str) -> io::Result<Box<dyn PendingWrite>> {
        let final_path = self.file(image_id)?;
        let partial = self
            .dir
            .join(".partial")
            .join(format!("{image_id}.{}", uuid::Uuid::new_v4().simple()));
        let file = File::options().write(true).create_new(true).open(&partial)?;
        let flusher = Flusher::start(file.try_clone()?);
        Ok(Box::new(PartialFile {
            file: Some(file),
            partial,
            final_path,
            location: image_id.to_owned(),
            flusher: Some(flusher),
            unflushed: 0,
        }))
    }

    async fn open(&self, location: &str, offset: u64) -> io::Result<Reader> {
        let mut f = tokio::fs::File::open(self.file(location)?).await?;
        if offset > 0 {
            f.seek(io::SeekFrom::Start(offset)).await?;
        }
        Ok(Box::new(f))
    }

    async fn delete(&self, location: &str) -> io::Result<()> {
        match tokio::fs::remove_file(self.file(location)?).await {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            r => r,
        }
    }

    async fn sweep(&self) -> io::Result<usize> {
        let mut n = 0;
        let mut dir = tokio::fs::read_dir(self.dir.join(".partial")).await?;
        while let Some(e) = dir.next_entry().await? {
            tokio::fs::remove_file(e.path()).await?;
            n += 1;
        }
        Ok(n)
    }
}

/// Written bytes after which the flusher is asked to push data to disk.
const FLUSH_EVERY: u64 = 64 << 20;

/// Pushes written data to disk on a second descriptor while writing goes on, so that the disk
/// works during the upload instead of all at once in the final fsync.
struct Flusher {
    tx: std::sync::mpsc::SyncSender<()>,
    thread: std::thread::JoinHandle<io::Result<()>>,
}

impl Flusher {
    fn start(file: File) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::spawn(move || {
            while rx.recv().is_ok() {
                file.sync_data()?;
            }
            Ok(())
        });
        Flusher { tx, thread }
    }

    /// Asks for a flush unless one is already pending.
    fn kick(&self) {
        let _ = self.tx.try_send(());
    }

    fn finish(self) -> io::Result<()> {
        drop(self.tx);
        self.thread
            .join()
            .map_err(|_| io::Error::other("flusher thread panicked"))?
    }
}

struct PartialFile {
    file: Option<File>,
    partial: PathBuf,
    final_path: PathBuf,
    location: String,
    flusher: Option<Flusher>,
    unflushed: u64,
}

impl Write for PartialFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = match self.file.as_mut() {
            Some(f) => f.write(buf)?,
            None => return Err(io::Error::other("write after commit")),
        };
        self.unflushed += n as u64;
        if self.unflushed >= FLUSH_EVERY {
            self.unflushed = 0;
            if let Some(f) = &self.flusher {
                f.kick();
            }
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl PendingWrite for PartialFile {
    fn path(&self) -> &Path {
        &self.partial
    }

    fn commit(mut self: Box<Self>) -> io::Result<String> {
        if let Some(f) = self.flusher.take() {
            f.finish()?;
        }
        if let Some(f) = self.file.take() {
            f.sync_all()?;
        }
        std::fs::rename(&self.partial, &self.final_path)?;
        // The rename is durable only once the directory is.
        File::open(self.final_path.parent().unwrap_or(Path::new(".")))?.sync_all()?;
        Ok(std::mem::take(&mut self.location))
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if !self.location.is_empty() {
            self.file = None;
            if let Some(f) = self.flusher.take() {
                let _ = f.finish();
            }
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn nothing_is_visible_until_commit_and_drop_removes_partial_data() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FilesystemStore::open(dir.path()).expect("open");
        let id = "0b7c1c8e-5d0a-4c8e-9a4e-2f1d3c4b5a69";
        let mut w = store.begin(id).expect("begin");
        w.write_all(b"half").expect("write");
        let partial = w.path().to_owned();
        assert!(partial.exists());
        assert!(
            store.open(id, 0).await.is_err(),
            "uncommitted data must not be readable"
        );
        drop(w);
        assert!(!partial.exists(), "an abandoned write leaves nothing");

        let mut w = store.begin(id).expect("begin");
        w.write_all(b"whole image").expect("write");
        let loc = w.commit().expect("commit");
        let mut r = store.open(&loc, 6).await.expect("open");
        let mut s = String::new();
        r.read_to_string(&mut s).await.expect("read");
        assert_eq!(s, "image");
        store.delete(&loc).await.expect("delete");
        store.delete(&loc).await.expect("deleting twice is fine");
        assert!(store.file("../etc/passwd").is_err());
    }
}
