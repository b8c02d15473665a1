//! The host's image cache against a small Image API: an image is fetched once, and data whose
//! hash is not the one the Image service recorded is refused and leaves nothing behind.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::routing::get;
use serde_json::json;
use sha2::{Digest, Sha512};
use stratus_compute_agent::clients::Rest;
use stratus_compute_agent::images::ImageCache;

const DATA: &[u8] = b"a tiny disk image";

/// Serves DATA as every image's data; counts the downloads.
async fn image_api() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let app = axum::Router::new().route(
        "/image/v2/images/{id}/file",
        get(move || {
            let h = h.clone();
            async move {
                h.fetch_add(1, Ordering::SeqCst);
                DATA
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, hits)
}

fn sha512(b: &[u8]) -> String {
    Sha512::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test]
async fn images_are_fetched_once_and_checked_against_their_hash() {
    let (url, hits) = image_api().await;
    let rest = Rest::new(&url);
    let dir = tempfile::tempdir().expect("tmp");
    let cache = ImageCache::new(dir.path()).expect("cache");

    let good = json!({"id": "img-1", "status": "active", "os_hash_algo": "sha512", "os_hash_value": sha512(DATA)});
    let path = cache.fetch(&rest, "t", &good).await.expect("fetched");
    assert_eq!(std::fs::read(&path).expect("read"), DATA);
    let again = cache.fetch(&rest, "t", &good).await.expect("cached");
    assert_eq!(again, path);
    assert_eq!(hits.load(Ordering::SeqCst), 1, "the second build uses the cached copy");

    let bad = json!({"id": "img-2", "status": "active", "os_hash_algo": "sha512", "os_hash_value": sha512(b"other")});
    let err = cache
        .fetch(&rest, "t", &bad)
        .await
        .expect_err("a wrong hash is refused");
    assert!(err.contains("not the") && err.contains("img-2"), "{err}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["img-1"], "nothing of the refused download is left");

    let md5 = json!({"id": "img-3", "status": "active", "checksum": "0000"});
    assert!(
        cache.fetch(&rest, "t", &md5).await.is_err(),
        "the MD5 checksum is checked too"
    );
    let queued = json!({"id": "img-4", "status": "queued"});
    let err = cache.fetch(&rest, "t", &queued).await.expect_err("not active");
    assert!(err.contains("not active"), "{err}");
    let evil = json!({"id": "../etc", "status": "active", "checksum": "0000"});
    assert!(
        cache.fetch(&rest, "t", &evil).await.is_err(),
        "an id cannot name a path"
    );
}

#[tokio::test]
async fn unused_images_leave_the_cache_after_their_minimum_age() {
    let (url, _) = image_api().await;
    let rest = Rest::new(&url);
    let dir = tempfile::tempdir().expect("tmp");
    let cache = ImageCache::new(dir.path()).expect("cache");
    let image =
        |id: &str| json!({"id": id, "status": "active", "os_hash_algo": "sha512", "os_hash_value": sha512(DATA)});
    let used = cache.fetch(&rest, "t", &image("used")).await.expect("used");
    let old = cache.fetch(&rest, "t", &image("old")).await.expect("old");
    let fresh = cache.fetch(&rest, "t", &image("fresh")).await.expect("fresh");
    let two_days_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(48 * 3600);
    for p in [&used, &old] {
        std::fs::File::options()
            .write(true)
            .open(p)
            .expect("open")
            .set_modified(two_days_ago)
            .expect("age it");
    }
    let day = std::time::Duration::from_secs(24 * 3600);
    let in_use = vec![used.display().to_string()];
    assert_eq!(cache.sweep(&in_use, day).expect("sweep"), 1);
    assert!(used.exists(), "an image a guest uses stays");
    assert!(!old.exists(), "an image unused for two days goes");
    assert!(fresh.exists(), "an image fetched just now stays");
    // The image in use was touched: once unused, it stays a day more.
    assert_eq!(cache.sweep(&[], day).expect("sweep"), 0);
    assert!(used.exists());
}
