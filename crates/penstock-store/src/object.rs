//! Artifacts and logs in an object store (`s3://`, `minio://`, `gs://`, `az://`, `https://`)
//! through the `object_store` crate, the only blob client.
//!
//! Clients are built once per bucket from the standard environment variables
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`,
//! `AWS_ALLOW_HTTP`, `GOOGLE_SERVICE_ACCOUNT`, `AZURE_STORAGE_ACCOUNT_NAME`, …); an
//! `AWS_ENDPOINT_URL` starting with `http://` allows plain HTTP. Every request is retried with
//! exponential backoff ([`retry_config`]) before an error names the URI and the reason.
//!
//! Transfers stream: uploads of files larger than [`PART_BYTES`] are multipart with at most
//! [`PARTS_IN_FLIGHT`] parts in memory; downloads are written chunk by chunk to a temporary
//! file that is renamed into place only when complete, and a failed multipart upload is
//! aborted, so neither side is ever left half-written.

use crate::blob::{BlobError, ObjectUri};
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Size of one multipart upload part (larger for files over 70 GiB, which would need more than
/// S3's 10,000 parts).
pub const PART_BYTES: usize = 8 << 20;
/// Most parts of one upload in flight (and in memory) at once, unless
/// `PENSTOCK_OBJECT_UPLOAD_PARTS` says otherwise.
pub const PARTS_IN_FLIGHT: usize = 4;

fn parts_in_flight() -> usize {
    std::env::var("PENSTOCK_OBJECT_UPLOAD_PARTS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| (1..=64).contains(n))
        .unwrap_or(PARTS_IN_FLIGHT)
}

/// Retries for every object-store request: 100 ms doubling to 2 s between tries, at most 5
/// tries after the first and 15 s in all (`PENSTOCK_OBJECT_RETRY_SECS` changes the total).
pub fn retry_config() -> RetryConfig {
    let total = std::env::var("PENSTOCK_OBJECT_RETRY_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(15);
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            base: 2.0,
        },
        max_retries: 5,
        retry_timeout: Duration::from_secs(total),
    }
}

fn client_options() -> ClientOptions {
    ClientOptions::new()
        .with_connect_timeout(Duration::from_secs(5))
        // One request may carry a whole part or stream a large download.
        .with_timeout(Duration::from_secs(600))
}

type Clients = Mutex<HashMap<String, Arc<dyn ObjectStore>>>;

fn clients() -> &'static Clients {
    static CLIENTS: OnceLock<Clients> = OnceLock::new();
    CLIENTS.get_or_init(Default::default)
}

/// The error with its causes (`object_store` and the HTTP client keep the root cause, such as
/// "Connection refused", in the source chain).
fn remote(uri: &str, e: impl std::error::Error) -> BlobError {
    let mut reason = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !reason.contains(&text) {
            reason = format!("{reason}: {text}");
        }
        source = cause.source();
    }
    BlobError::Remote(uri.to_string(), reason)
}

fn from_store(uri: &str, e: object_store::Error) -> BlobError {
    match e {
        object_store::Error::NotFound { .. } => BlobError::NotFound(uri.to_string()),
        other => remote(uri, other),
    }
}

fn build(o: &ObjectUri) -> Result<Arc<dyn ObjectStore>, BlobError> {
    let uri = o.to_string();
    let store: Arc<dyn ObjectStore> = match o.scheme.as_str() {
        "s3" | "minio" => {
            let mut b = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(&o.bucket)
                .with_retry(retry_config());
            let endpoint = std::env::var("AWS_ENDPOINT_URL_S3")
                .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
                .ok()
                .filter(|e| !e.is_empty());
            let mut options = client_options();
            if let Some(endpoint) = endpoint {
                if endpoint.starts_with("http://") {
                    options = options.with_allow_http(true);
                }
                b = b.with_endpoint(endpoint);
            }
            if std::env::var("AWS_ALLOW_HTTP").is_ok_and(|v| v == "true" || v == "1") {
                options = options.with_allow_http(true);
            }
            Arc::new(
                b.with_client_options(options)
                    .build()
                    .map_err(|e| remote(&uri, e))?,
            )
        }
        "gs" => Arc::new(
            object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(&o.bucket)
                .with_retry(retry_config())
                .with_client_options(client_options())
                .build()
                .map_err(|e| remote(&uri, e))?,
        ),
        "az" => Arc::new(
            object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_container_name(&o.bucket)
                .with_retry(retry_config())
                .with_client_options(client_options())
                .build()
                .map_err(|e| remote(&uri, e))?,
        ),
        "http" | "https" => Arc::new(
            object_store::http::HttpBuilder::new()
                .with_url(format!("{}://{}", o.scheme, o.bucket))
                .with_retry(retry_config())
                .with_client_options(client_options().with_allow_http(o.scheme == "http"))
                .build()
                .map_err(|e| remote(&uri, e))?,
        ),
        other => return Err(BlobError::Unsupported(format!("{uri}: scheme '{other}'"))),
    };
    Ok(store)
}

/// The client of `o`'s bucket (built on first use) and the object's path in it.
fn client(o: &ObjectUri) -> Result<(Arc<dyn ObjectStore>, ObjectPath), BlobError> {
    let uri = o.to_string();
    let path = ObjectPath::parse(&o.key).map_err(|e| remote(&uri, e))?;
    let key = format!("{}://{}", o.scheme, o.bucket);
    let mut map = clients()
        .lock()
        .map_err(|_| BlobError::Remote(uri.clone(), "the client cache is poisoned".into()))?;
    if let Some(store) = map.get(&key) {
        return Ok((store.clone(), path));
    }
    let store = build(o)?;
    map.insert(key, store.clone());
    Ok((store, path))
}

fn parse(uri: &str) -> Result<ObjectUri, BlobError> {
    ObjectUri::parse(uri).ok_or_else(|| BlobError::Unsupported(uri.to_string()))
}

/// Whether an object exists at `uri`, or a folder artifact (objects under `uri/`).
pub async fn exists(uri: &str) -> Result<bool, BlobError> {
    let o = parse(uri)?;
    let (store, path) = client(&o)?;
    match store.head(&path).await {
        Ok(_) => return Ok(true),
        Err(object_store::Error::NotFound { .. }) => {}
        Err(e) => return Err(remote(uri, e)),
    }
    if o.scheme.starts_with("http") {
        return Ok(false);
    }
    match store.list(Some(&path)).next().await {
        Some(Ok(_)) => Ok(true),
        None => Ok(false),
        Some(Err(e)) => Err(from_store(uri, e)),
    }
}

/// The files of a folder artifact at `uri`, relative to it, sorted; empty when `uri` is one
/// object or nothing.
pub async fn list_files(uri: &str) -> Result<Vec<String>, BlobError> {
    let o = parse(uri)?;
    if o.scheme.starts_with("http") {
        return Ok(Vec::new());
    }
    let (store, path) = client(&o)?;
    let mut files: Vec<String> = store
        .list(Some(&path))
        .map_err(|e| from_store(uri, e))
        .try_filter_map(|meta| {
            let rel = meta.location.prefix_match(&path).map(|parts| {
                parts
                    .map(|p| p.as_ref().to_string())
                    .collect::<Vec<_>>()
                    .join("/")
            });
            async move { Ok(rel.filter(|r| !r.is_empty())) }
        })
        .try_collect()
        .await?;
    files.sort();
    Ok(files)
}

/// A stream of the object at `uri` and its size.
pub async fn open(
    uri: &str,
) -> Result<(u64, BoxStream<'static, Result<Bytes, std::io::Error>>), BlobError> {
    let o = parse(uri)?;
    let (store, path) = client(&o)?;
    let got = store.get(&path).await.map_err(|e| from_store(uri, e))?;
    let size = got.meta.size;
    let owned = uri.to_string();
    let stream = got
        .into_stream()
        .map_err(move |e| std::io::Error::other(format!("{owned}: {e}")))
        .boxed();
    Ok((size, stream))
}

async fn write_stream(
    uri: &str,
    mut stream: BoxStream<'static, Result<Bytes, std::io::Error>>,
    dest: &Path,
) -> Result<u64, BlobError> {
    let io = |e: std::io::Error| BlobError::Io(dest.display().to_string(), e);
    if let Some(parent) = dest.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(io)?;
    }
    let part = part_path(dest);
    let mut file = tokio::fs::File::create(&part).await.map_err(io)?;
    let mut written = 0u64;
    let result = async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| remote(uri, e))?;
            file.write_all(&chunk).await.map_err(io)?;
            written += chunk.len() as u64;
        }
        file.flush().await.map_err(io)?;
        file.sync_all().await.map_err(io)?;
        Ok::<_, BlobError>(())
    }
    .await;
    drop(file);
    if let Err(e) = result {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(e);
    }
    tokio::fs::rename(&part, dest).await.map_err(io)?;
    Ok(written)
}

fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".penstock-part");
    dest.with_file_name(name)
}

/// Fetches the artifact at `uri` to `dest`: one object becomes a file, objects under `uri/`
/// a folder. Whatever was at `dest` is replaced only once everything arrived. Returns the
/// bytes fetched.
pub async fn download(uri: &str, dest: &Path) -> Result<u64, BlobError> {
    let io = |e: std::io::Error| BlobError::Io(dest.display().to_string(), e);
    match open(uri).await {
        Ok((_, stream)) => {
            remove_any(dest).await.map_err(io)?;
            return write_stream(uri, stream, dest).await;
        }
        Err(BlobError::NotFound(_)) => {}
        Err(e) => return Err(e),
    }
    let files = list_files(uri).await?;
    if files.is_empty() {
        return Err(BlobError::NotFound(uri.to_string()));
    }
    let staging = part_path(dest);
    remove_any(&staging).await.map_err(io)?;
    let mut total = 0;
    for rel in &files {
        let (_, stream) = open(&format!("{}/{rel}", uri.trim_end_matches('/'))).await?;
        match write_stream(uri, stream, &staging.join(rel)).await {
            Ok(n) => total += n,
            Err(e) => {
                let _ = remove_any(&staging).await;
                return Err(e);
            }
        }
    }
    remove_any(dest).await.map_err(io)?;
    tokio::fs::rename(&staging, dest).await.map_err(io)?;
    Ok(total)
}

async fn remove_any(path: &Path) -> std::io::Result<()> {
    match tokio::fs::symlink_metadata(path).await {
        Ok(m) if m.is_dir() => tokio::fs::remove_dir_all(path).await,
        Ok(_) => tokio::fs::remove_file(path).await,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Stores the file or folder at `src` under `uri` (a folder's files as `uri/<relative path>`),
/// streaming. Returns the bytes sent.
pub async fn upload(src: &Path, uri: &str) -> Result<u64, BlobError> {
    let io = |p: &Path, e: std::io::Error| BlobError::Io(p.display().to_string(), e);
    let meta = tokio::fs::metadata(src).await.map_err(|e| io(src, e))?;
    if !meta.is_dir() {
        return upload_file(src, meta.len(), uri).await;
    }
    let mut files = Vec::new();
    let mut pending = vec![src.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let mut entries = tokio::fs::read_dir(&dir).await.map_err(|e| io(&dir, e))?;
        while let Some(entry) = entries.next_entry().await.map_err(|e| io(&dir, e))? {
            let path = entry.path();
            let meta = tokio::fs::metadata(&path).await.map_err(|e| io(&path, e))?;
            if meta.is_dir() {
                pending.push(path);
            } else {
                files.push((path, meta.len()));
            }
        }
    }
    let mut total = 0;
    for (path, size) in files {
        let Ok(rel) = path.strip_prefix(src) else {
            continue;
        };
        let rel = rel.to_string_lossy().replace('\\', "/");
        total += upload_file(&path, size, &format!("{}/{rel}", uri.trim_end_matches('/'))).await?;
    }
    Ok(total)
}

async fn read_full(file: &mut tokio::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = file.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

async fn upload_file(src: &Path, size: u64, uri: &str) -> Result<u64, BlobError> {
    let io = |e: std::io::Error| BlobError::Io(src.display().to_string(), e);
    let o = parse(uri)?;
    let (store, path) = client(&o)?;
    if size <= PART_BYTES as u64 {
        let bytes = tokio::fs::read(src).await.map_err(io)?;
        let n = bytes.len() as u64;
        store
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(|e| remote(uri, e))?;
        return Ok(n);
    }
    let mut upload = store
        .put_multipart(&path)
        .await
        .map_err(|e| remote(uri, e))?;
    // S3 takes at most 10,000 parts: very large files get larger parts.
    let part_bytes = PART_BYTES.max(usize::try_from(size.div_ceil(9_000)).unwrap_or(usize::MAX));
    let parallel = parts_in_flight();
    let mut file = tokio::fs::File::open(src).await.map_err(io)?;
    let mut in_flight: futures_util::stream::FuturesUnordered<object_store::UploadPart> =
        Default::default();
    let mut sent = 0u64;
    let result = async {
        loop {
            // At most PARTS_IN_FLIGHT buffers exist at once: wait before reading the next.
            while in_flight.len() >= parallel {
                if let Some(done) = in_flight.next().await {
                    done.map_err(|e| remote(uri, e))?;
                }
            }
            // Each part is read into its own buffer, handed to the client without a copy.
            let mut buf = vec![0u8; part_bytes];
            let n = read_full(&mut file, &mut buf).await.map_err(io)?;
            if n == 0 {
                break;
            }
            buf.truncate(n);
            in_flight.push(upload.put_part(PutPayload::from(buf)));
            sent += n as u64;
        }
        while let Some(done) = in_flight.next().await {
            done.map_err(|e| remote(uri, e))?;
        }
        Ok::<_, BlobError>(())
    }
    .await;
    match result {
        Ok(()) => {
            upload.complete().await.map_err(|e| remote(uri, e))?;
            Ok(sent)
        }
        Err(e) => {
            // Nothing half-written: the parts sent so far are discarded.
            drop(in_flight);
            let _ = upload.abort().await;
            Err(e)
        }
    }
}

/// Deletes the object at `uri` and every object under `uri/` (tests and cleanup).
pub async fn delete(uri: &str) -> Result<(), BlobError> {
    let o = parse(uri)?;
    let (store, path) = client(&o)?;
    match store.delete(&path).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
        Err(e) => return Err(remote(uri, e)),
    }
    for rel in list_files(uri).await? {
        let (store, path) = client(&parse(&format!("{}/{rel}", uri.trim_end_matches('/')))?)?;
        store.delete(&path).await.map_err(|e| remote(uri, e))?;
    }
    Ok(())
}
