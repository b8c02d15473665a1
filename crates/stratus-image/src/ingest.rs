//! Moving a byte stream into a store: written, MD5- and SHA-512-hashed (and SHA-256 when the
//! owner gave one to check) on separate blocking threads, so hashing runs beside the network
//! and the disk instead of after them. Channels are bounded: memory holds a few chunks per
//! worker whatever the image size.

use std::io::{self, Write};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use md5::Md5;
use sha2::{Digest, Sha256, Sha512};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::stores::PendingWrite;

/// Batches in flight per worker.
const DEPTH: usize = 4;
/// Network reads are small (tens of KiB); the workers get them gathered into batches of this
/// size, so that each wakes once per MiB instead of once per read.
const BATCH: usize = 1 << 20;

pub(crate) struct Ingested {
    pub writer: Box<dyn PendingWrite>,
    pub size: u64,
    pub md5: String,
    pub sha512: String,
    pub sha256: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum IngestError {
    /// The data source failed: most often the client went away mid-upload.
    #[error("reading the image data failed: {0}")]
    Source(String),
    #[error("the image data is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    /// Writing into the store failed.
    #[error("writing the image data failed")]
    Store(#[source] io::Error),
}

fn hasher<D: Digest + Send + 'static>(mut rx: mpsc::Receiver<Bytes>) -> JoinHandle<String>
where
    sha2::digest::Output<D>: std::fmt::LowerHex,
{
    tokio::task::spawn_blocking(move || {
        let mut d = D::new();
        while let Some(b) = rx.blocking_recv() {
            d.update(&b);
        }
        format!("{:x}", d.finalize())
    })
}

/// Hands one batch to every worker; false when the writer has stopped (it failed, and says
/// why when joined).
async fn dispatch(
    b: Bytes,
    wtx: &mpsc::Sender<Bytes>,
    mtx: &mpsc::Sender<Bytes>,
    stx: &mpsc::Sender<Bytes>,
    s256tx: Option<&mpsc::Sender<Bytes>>,
) -> bool {
    if wtx.send(b.clone()).await.is_err() {
        return false;
    }
    let _ = mtx.send(b.clone()).await;
    if let Some(tx) = s256tx {
        let _ = tx.send(b.clone()).await;
    }
    let _ = stx.send(b).await;
    true
}

/// Reads `source` to its end into `writer`; more than `limit` bytes is an error. The writer
/// comes back uncommitted: the caller inspects the data before committing it.
pub(crate) async fn ingest<S, E>(
    mut source: S,
    writer: Box<dyn PendingWrite>,
    limit: u64,
    want_sha256: bool,
) -> Result<Ingested, IngestError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let (wtx, mut wrx) = mpsc::channel::<Bytes>(DEPTH);
    let write_task = tokio::task::spawn_blocking(move || -> io::Result<Box<dyn PendingWrite>> {
        let mut w = writer;
        while let Some(b) = wrx.blocking_recv() {
            w.write_all(&b)?;
        }
        w.flush()?;
        Ok(w)
    });
    let (mtx, mrx) = mpsc::channel::<Bytes>(DEPTH);
    let (stx, srx) = mpsc::channel::<Bytes>(DEPTH);
    let md5 = hasher::<Md5>(mrx);
    let sha512 = hasher::<Sha512>(srx);
    let (s256tx, sha256) = if want_sha256 {
        let (tx, rx) = mpsc::channel::<Bytes>(DEPTH);
        (Some(tx), Some(hasher::<Sha256>(rx)))
    } else {
        (None, None)
    };

    let mut size: u64 = 0;
    let mut failure = None;
    let mut batch = bytes::BytesMut::new();
    let mut done = false;
    while !done {
        let next = source.next().await;
        match next {
            Some(Ok(chunk)) => {
                size += chunk.len() as u64;
                if size > limit {
                    failure = Some(IngestError::TooLarge { limit });
                    break;
                }
                if batch.is_empty() && chunk.len() >= BATCH {
                    // Already big enough: passed on without a copy.
                    batch = bytes::BytesMut::new();
                    if !dispatch(chunk, &wtx, &mtx, &stx, s256tx.as_ref()).await {
                        break;
                    }
                    continue;
                }
                if batch.capacity() == 0 {
                    batch.reserve(BATCH);
                }
                batch.extend_from_slice(&chunk);
                if batch.len() < BATCH {
                    continue;
                }
            }
            Some(Err(e)) => {
                failure = Some(IngestError::Source(e.to_string()));
                break;
            }
            None => done = true,
        }
        if !batch.is_empty() && !dispatch(batch.split().freeze(), &wtx, &mtx, &stx, s256tx.as_ref()).await {
            break;
        }
    }
    drop((wtx, mtx, stx, s256tx));
    let joined = |e: tokio::task::JoinError| IngestError::Store(io::Error::other(e.to_string()));
    let written = write_task.await.map_err(joined)?;
    let md5 = md5.await.map_err(joined)?;
    let sha512 = sha512.await.map_err(joined)?;
    let sha256 = match sha256 {
        Some(h) => Some(h.await.map_err(joined)?),
        None => None,
    };
    // Dropping an uncommitted writer removes what it wrote.
    if let Some(f) = failure {
        return Err(f);
    }
    let writer = written.map_err(IngestError::Store)?;
    Ok(Ingested {
        writer,
        size,
        md5,
        sha512,
        sha256,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::{FilesystemStore, ImageStore};

    fn chunks(data: &'static [u8], n: usize) -> impl Stream<Item = Result<Bytes, String>> + Unpin {
        futures::stream::iter(data.chunks(n).map(|c| Ok(Bytes::from_static(c))).collect::<Vec<_>>())
    }

    #[tokio::test]
    async fn hashes_and_size_match_the_data() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FilesystemStore::open(dir.path()).expect("store");
        let w = store.begin("abc").expect("begin");
        let got = ingest(chunks(b"hello world", 3), w, 100, true).await.expect("ingest");
        assert_eq!(got.size, 11);
        assert_eq!(got.md5, "5eb63bbbe01eeed093cb22bb8f5acdc3");
        assert_eq!(
            got.sha256.as_deref(),
            Some("b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9")
        );
        assert!(got
            .sha512
            .starts_with("309ecc489c12d6eb4cc40f50c902f2b4d0ed77ee511a7c7a9bcd3ca86d4cd86f"));
        assert_eq!(std::fs::read(got.writer.path()).expect("read"), b"hello world");
    }

    #[tokio::test]
    async fn over_the_limit_or_a_broken_source_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FilesystemStore::open(dir.path()).expect("store");
        let w = store.begin("abc").expect("begin");
        let err = ingest(chunks(b"hello world", 4), w, 5, false)
            .await
            .err()
            .expect("too large");
        assert!(matches!(err, IngestError::TooLarge { limit: 5 }));
        let broken = futures::stream::iter(vec![
            Ok(Bytes::from_static(b"abc")),
            Err("connection reset".to_string()),
        ]);
        let w = store.begin("abc").expect("begin");
        let err = ingest(broken, w, 100, false).await.err().expect("broken");
        assert!(matches!(err, IngestError::Source(_)));
        assert_eq!(std::fs::read_dir(dir.path().join(".partial")).expect("dir").count(), 0);
    }
}
