//! Where image data lives. A store takes data only through a [`PendingWrite`], which shows
//! nothing until it is committed, so no reader ever sees half an image.

mod filesystem;

use std::io;
use std::path::Path;

pub use filesystem::FilesystemStore;

/// Stored data, readable from an offset.
pub type Reader = Box<dyn tokio::io::AsyncRead + Send + Unpin>;

/// A backend for image data.
#[async_trait::async_trait]
pub trait ImageStore: Send + Sync + 'static {
    /// The store's id, as `GET /v2/info/stores` and the image's `stores` show it.
    fn id(&self) -> &str;
    fn description(&self) -> &str;
    /// Starts writing the data of image `image_id`. It may block, briefly (creating a file).
    fn begin(&self, image_id: &str) -> io::Result<Box<dyn PendingWrite>>;
    /// Reads stored data from `offset` on.
    async fn open(&self, location: &str, offset: u64) -> io::Result<Reader>;
    /// Removes stored data; removing what is already gone is not an error.
    async fn delete(&self, location: &str) -> io::Result<()>;
    /// Removes what interrupted writes left behind; called once at start.
    async fn sweep(&self) -> io::Result<usize>;
}

/// Data being written. Dropping it without committing removes what was written.
pub trait PendingWrite: io::Write + Send {
    /// A local file holding what was written so far, so that it can be inspected before it
    /// becomes visible.
    fn path(&self) -> &Path;
    /// Makes the data durable and visible; returns its location in the store.
    fn commit(self: Box<Self>) -> io::Result<String>;
}
