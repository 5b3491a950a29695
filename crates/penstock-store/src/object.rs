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

use crate::blob::{remove_any, BlobError, ObjectUri};
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
        "http" | "https" => {
            let mut options = client_options().with_allow_http(o.scheme == "http");
            if !private_http_allowed() {
                check_http_literal(o)?;
                options = options.with_dns_resolver(Arc::new(PublicOnly));
            }
            Arc::new(
                object_store::http::HttpBuilder::new()
                    .with_url(format!("{}://{}", o.scheme, o.bucket))
                    .with_retry(retry_config())
                    .with_client_options(options)
                    .build()
                    .map_err(|e| remote(&uri, e))?,
            )
        }
        other => return Err(BlobError::Unsupported(format!("{uri}: scheme '{other}'"))),
    };
    Ok(store)
}

/// Whether `http(s)://` artifacts may be fetched from loopback, link-local, private and
/// unspecified addresses (`PENSTOCK_ALLOW_PRIVATE_HTTP=1`); refused by default, so that
/// whoever can create a run cannot make the server fetch internal services or the cloud
/// metadata endpoint.
pub fn private_http_allowed() -> bool {
    std::env::var("PENSTOCK_ALLOW_PRIVATE_HTTP")
        .is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes"))
}

/// Why `ip` may not be fetched from over http(s), if it may not.
pub fn non_public(ip: std::net::IpAddr) -> Option<&'static str> {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(a) => {
            if a.is_loopback() {
                Some("a loopback address")
            } else if a.is_link_local() {
                Some("a link-local address")
            } else if a.is_private() {
                Some("a private address")
            } else if a.is_unspecified() || a.octets()[0] == 0 {
                Some("an unspecified address")
            } else if a.is_broadcast() || a.is_multicast() {
                Some("a broadcast or multicast address")
            } else {
                None
            }
        }
        IpAddr::V6(a) => {
            if let Some(v4) = a.to_ipv4_mapped() {
                return non_public(IpAddr::V4(v4));
            }
            let first = a.segments()[0];
            if a.is_loopback() {
                Some("a loopback address")
            } else if a.is_unspecified() {
                Some("an unspecified address")
            } else if first & 0xffc0 == 0xfe80 {
                Some("a link-local address")
            } else if first & 0xfe00 == 0xfc00 {
                Some("a private address")
            } else if a.is_multicast() {
                Some("a broadcast or multicast address")
            } else {
                None
            }
        }
    }
}

fn refused_http(uri: &str, host: &str, ip: std::net::IpAddr, why: &str) -> BlobError {
    let what = if host == ip.to_string() {
        format!("{host} is {why}")
    } else {
        format!("{host} resolves to {why} ({ip})")
    };
    BlobError::Remote(
        uri.to_string(),
        format!(
            "refused: {what}; http(s) artifacts are not fetched from loopback, link-local, \
             private or unspecified addresses unless PENSTOCK_ALLOW_PRIVATE_HTTP=1"
        ),
    )
}

/// Refuses an `http(s)://` URI whose host is a literal non-public address (names are checked
/// when resolved, by [`PublicOnly`], so that a name cannot change between check and connect).
fn check_http_literal(o: &ObjectUri) -> Result<(), BlobError> {
    let uri = o.to_string();
    let parsed = url::Url::parse(&format!("{}://{}/", o.scheme, o.bucket))
        .map_err(|e| BlobError::Unsupported(format!("{uri}: {e}")))?;
    let ip = match parsed.host() {
        Some(url::Host::Ipv4(a)) => std::net::IpAddr::V4(a),
        Some(url::Host::Ipv6(a)) => std::net::IpAddr::V6(a),
        Some(url::Host::Domain(_)) => return Ok(()),
        None => return Err(BlobError::Unsupported(format!("{uri}: no host"))),
    };
    match non_public(ip) {
        Some(why) => Err(refused_http(&uri, &ip.to_string(), ip, why)),
        None => Ok(()),
    }
}

/// Refuses an `http(s)://` URI whose host is, or resolves to, a non-public address, before any
/// request (the connection itself resolves through [`PublicOnly`] again, so a name cannot
/// switch to an internal address in between).
async fn check_http(o: &ObjectUri) -> Result<(), BlobError> {
    if !o.scheme.starts_with("http") || private_http_allowed() {
        return Ok(());
    }
    check_http_literal(o)?;
    let uri = o.to_string();
    let parsed = url::Url::parse(&format!("{}://{}/", o.scheme, o.bucket))
        .map_err(|e| BlobError::Unsupported(format!("{uri}: {e}")))?;
    let Some(url::Host::Domain(host)) = parsed.host() else {
        return Ok(());
    };
    let port = parsed.port_or_known_default().unwrap_or(80);
    let addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| BlobError::Remote(uri.clone(), format!("cannot resolve {host}: {e}")))?;
    for addr in addrs {
        if let Some(why) = non_public(addr.ip()) {
            return Err(refused_http(&uri, host, addr.ip(), why));
        }
    }
    Ok(())
}

/// Resolves host names for `http(s)://` artifacts and refuses any name with a non-public
/// address among its addresses.
#[derive(Debug)]
struct PublicOnly;

impl object_store::client::DnsResolver for PublicOnly {
    fn resolve(&self, host: &str) -> object_store::client::DnsFuture {
        let host = host.to_string();
        Box::pin(async move {
            let addrs: Vec<std::net::IpAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|a| a.ip())
                .collect();
            if let Some((ip, why)) = addrs
                .iter()
                .find_map(|ip| non_public(*ip).map(|why| (*ip, why)))
            {
                return Err(format!(
                    "{host} resolves to {why} ({ip}); fetching http(s) artifacts from \
                     loopback, link-local, private or unspecified addresses is refused unless \
                     PENSTOCK_ALLOW_PRIVATE_HTTP=1"
                )
                .into());
            }
            Ok(addrs)
        })
    }
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
    check_http(&o).await?;
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
    check_http(&o).await?;
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

/// A temporary name next to `dest`, unique to this transfer: concurrent downloads to the
/// same place never write or rename each other's part files.
fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.penstock-part", uuid::Uuid::new_v4().simple()));
    dest.with_file_name(name)
}

/// `rel`, a key under a folder artifact, as a relative path that stays inside the folder.
fn relative_path(uri: &str, rel: &str) -> Result<PathBuf, BlobError> {
    let path = Path::new(rel);
    if rel.is_empty()
        || !path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
    {
        return Err(BlobError::Forbidden(format!("{uri}/{rel}")));
    }
    Ok(path.to_path_buf())
}

/// Fetches the artifact at `uri` to `dest`: one object becomes a file, objects under `uri/`
/// a folder. Whatever was at `dest` is replaced only once everything arrived. Returns the
/// bytes fetched.
pub async fn download(uri: &str, dest: &Path) -> Result<u64, BlobError> {
    let io = |e: std::io::Error| BlobError::Io(dest.display().to_string(), e);
    match open(uri).await {
        Ok((_, stream)) => {
            let part = part_path(dest);
            let n = write_stream(uri, stream, &part).await?;
            let placed = async {
                remove_any(dest).await?;
                tokio::fs::rename(&part, dest).await
            }
            .await;
            if let Err(e) = placed {
                let _ = tokio::fs::remove_file(&part).await;
                return Err(io(e));
            }
            return Ok(n);
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
        let file_uri = format!("{}/{rel}", uri.trim_end_matches('/'));
        let fetched = async {
            let target = staging.join(relative_path(uri.trim_end_matches('/'), rel)?);
            let (_, stream) = open(&file_uri).await?;
            write_stream(&file_uri, stream, &target).await
        }
        .await;
        match fetched {
            Ok(n) => total += n,
            Err(e) => {
                let _ = remove_any(&staging).await;
                return Err(e);
            }
        }
    }
    let placed = async {
        remove_any(dest).await?;
        tokio::fs::rename(&staging, dest).await
    }
    .await;
    if let Err(e) = placed {
        let _ = remove_any(&staging).await;
        return Err(io(e));
    }
    Ok(total)
}

/// A file to upload, with its identity (device, inode) when the folder was walked.
struct Walked {
    path: PathBuf,
    size: u64,
    id: (u64, u64),
}

fn symlink_refused(path: &Path) -> BlobError {
    BlobError::Io(
        path.display().to_string(),
        std::io::Error::other(
            "a symbolic link; outputs are uploaded without following links, so that a task \
             cannot publish files outside its outputs",
        ),
    )
}

/// What is at `path`, without following a link: a file (with its identity) or a folder;
/// anything else (a link, a pipe, a device) is refused.
async fn walked(path: &Path) -> Result<Option<Walked>, BlobError> {
    use std::os::unix::fs::MetadataExt;
    let meta = tokio::fs::symlink_metadata(path)
        .await
        .map_err(|e| BlobError::Io(path.display().to_string(), e))?;
    let kind = meta.file_type();
    if kind.is_symlink() {
        return Err(symlink_refused(path));
    }
    if kind.is_dir() {
        return Ok(None);
    }
    if !kind.is_file() {
        return Err(BlobError::Io(
            path.display().to_string(),
            std::io::Error::other("not a regular file or folder"),
        ));
    }
    Ok(Some(Walked {
        path: path.to_path_buf(),
        size: meta.len(),
        id: (meta.dev(), meta.ino()),
    }))
}

/// Stores the file or folder at `src` under `uri` (a folder's files as `uri/<relative path>`),
/// streaming. Returns the bytes sent. Symbolic links are never followed: `src` or anything in
/// it being a link (or a pipe, socket or device) fails the upload naming it, and a file
/// replaced by a link after the walk is detected when it is opened.
pub async fn upload(src: &Path, uri: &str) -> Result<u64, BlobError> {
    let io = |p: &Path, e: std::io::Error| BlobError::Io(p.display().to_string(), e);
    if let Some(file) = walked(src).await? {
        return upload_file(&file, uri).await;
    }
    let mut files = Vec::new();
    let mut pending = vec![src.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let mut entries = tokio::fs::read_dir(&dir).await.map_err(|e| io(&dir, e))?;
        while let Some(entry) = entries.next_entry().await.map_err(|e| io(&dir, e))? {
            let path = entry.path();
            match walked(&path).await? {
                Some(file) => files.push(file),
                None => pending.push(path),
            }
        }
    }
    let mut total = 0;
    for file in files {
        let Ok(rel) = file.path.strip_prefix(src) else {
            continue;
        };
        let rel = rel.to_string_lossy().replace('\\', "/");
        total += upload_file(&file, &format!("{}/{rel}", uri.trim_end_matches('/'))).await?;
    }
    Ok(total)
}

/// Opens a walked file; refused when it is no longer the file that was walked (replaced by a
/// link, say).
async fn open_walked(file: &Walked) -> Result<tokio::fs::File, BlobError> {
    use std::os::unix::fs::MetadataExt;
    let io = |e: std::io::Error| BlobError::Io(file.path.display().to_string(), e);
    let opened = tokio::fs::File::open(&file.path).await.map_err(io)?;
    let meta = opened.metadata().await.map_err(io)?;
    if (meta.dev(), meta.ino()) != file.id || !meta.is_file() {
        return Err(symlink_refused(&file.path));
    }
    Ok(opened)
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

async fn upload_file(walked: &Walked, uri: &str) -> Result<u64, BlobError> {
    let (src, size) = (walked.path.as_path(), walked.size);
    let io = |e: std::io::Error| BlobError::Io(src.display().to_string(), e);
    let o = parse(uri)?;
    let (store, path) = client(&o)?;
    let mut file = open_walked(walked).await?;
    if size <= PART_BYTES as u64 {
        let mut bytes = Vec::with_capacity(size as usize);
        file.read_to_end(&mut bytes).await.map_err(io)?;
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
        let file_uri = format!("{}/{rel}", uri.trim_end_matches('/'));
        let (store, path) = client(&parse(&file_uri)?)?;
        match store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(remote(&file_uri, e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    #[tokio::test]
    async fn uploads_refuse_symbolic_links_without_following_them() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret"), "credentials").unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir_all(out.join("sub")).unwrap();
        std::fs::write(out.join("a.txt"), "a").unwrap();
        let link = out.join("sub").join("leak");
        std::os::unix::fs::symlink(dir.path().join("secret"), &link).unwrap();
        // Refused during the walk, before anything is sent (no store is reachable here).
        let err = upload(&out, "s3://penstock-no-such-bucket/k")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(&link.display().to_string()), "{err}");
        assert!(err.contains("symbolic link"), "{err}");

        // Links to folders (`.`) are not walked either.
        std::fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink(".", out.join("sub").join("loop")).unwrap();
        let err = upload(&out, "s3://penstock-no-such-bucket/k")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("loop") && err.contains("symbolic link"),
            "{err}"
        );

        // The output itself being a link.
        let top = dir.path().join("top");
        std::os::unix::fs::symlink(dir.path().join("secret"), &top).unwrap();
        let err = upload(&top, "s3://penstock-no-such-bucket/k")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("symbolic link"), "{err}");
    }

    #[tokio::test]
    async fn a_file_swapped_for_a_link_after_the_walk_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret"), "credentials").unwrap();
        let file = dir.path().join("out");
        std::fs::write(&file, "mine").unwrap();
        let w = walked(&file).await.unwrap().unwrap();
        std::fs::remove_file(&file).unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), &file).unwrap();
        let err = open_walked(&w).await.unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
    }

    #[test]
    fn part_files_are_unique_and_folder_keys_stay_inside() {
        let dest = Path::new("/h/in/data");
        let (a, b) = (part_path(dest), part_path(dest));
        assert_ne!(a, b);
        assert_eq!(a.parent(), dest.parent());
        assert!(relative_path("s3://b/k", "sub/x.txt").is_ok());
        for bad in ["../x", "a/../../x", "/abs", "", "./x"] {
            assert!(relative_path("s3://b/k", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_public_addresses_are_fetched_over_http() {
        for ip in [
            "127.0.0.1",
            "169.254.169.254",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "0.0.0.0",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(non_public(ip.parse::<IpAddr>().unwrap()).is_some(), "{ip}");
        }
        for ip in ["8.8.8.8", "172.32.0.1", "2001:4860::8888"] {
            assert!(non_public(ip.parse::<IpAddr>().unwrap()).is_none(), "{ip}");
        }
        let literal = ObjectUri::parse("http://169.254.169.254/latest/meta-data").unwrap();
        let err = check_http_literal(&literal).unwrap_err().to_string();
        assert!(
            err.contains("http://169.254.169.254/latest/meta-data")
                && err.contains("link-local")
                && err.contains("PENSTOCK_ALLOW_PRIVATE_HTTP"),
            "{err}"
        );
        let v6 = ObjectUri::parse("http://[::1]:8080/x").unwrap();
        assert!(check_http_literal(&v6).is_err());
        let name = ObjectUri::parse("https://example.com/x").unwrap();
        assert!(check_http_literal(&name).is_ok());
    }

    #[tokio::test]
    async fn names_resolving_to_loopback_are_refused() {
        use object_store::client::DnsResolver;
        let err = PublicOnly
            .resolve("localhost")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("localhost") && err.contains("loopback"),
            "{err}"
        );
        let err = open("http://localhost:9/x")
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("http://localhost:9/x") && err.contains("loopback"),
            "{err}"
        );
    }
}
