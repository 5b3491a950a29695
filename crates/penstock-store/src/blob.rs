//! Blobs: task logs and artifact contents, addressed by URI: a path under the home
//! ([`LocalBlobStore`]) or an object-store URI ([`ObjectUri`], read and written by
//! [`crate::object`]).

use std::path::{Path, PathBuf};

/// A failure reading a blob.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// No blob at that URI.
    #[error("{0}: no such file")]
    NotFound(String),
    /// The URI is outside the store or of a kind this store does not serve.
    #[error("{0}: outside the artifact store")]
    Forbidden(String),
    /// Reading failed.
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    /// The object store failed or could not be reached (after retries): the URI and the reason.
    #[error("{0}: {1}")]
    Remote(String, String),
    /// A URI of a kind this build cannot read or write.
    #[error("{0}: not a supported artifact location")]
    Unsupported(String),
}

/// The URI schemes served by an object store: `s3://bucket/key` (and KFP's `minio://`, the
/// same S3 client), `gs://bucket/key`, `az://container/key`, `http(s)://host/path` (read only).
pub const OBJECT_SCHEMES: &[&str] = &["s3", "minio", "gs", "az", "http", "https"];

/// An object-store URI split into scheme, bucket (or container, or host) and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectUri {
    /// `s3`, `minio`, `gs`, `az`, `http` or `https`.
    pub scheme: String,
    /// The bucket, container or host.
    pub bucket: String,
    /// The object's key (no leading or trailing `/`); empty for the bucket itself.
    pub key: String,
}

impl ObjectUri {
    /// Splits `uri`; `None` when it is not an object-store URI (a local path, `file://`).
    pub fn parse(uri: &str) -> Option<ObjectUri> {
        let (scheme, rest) = uri.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        if !OBJECT_SCHEMES.contains(&scheme.as_str()) {
            return None;
        }
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return None;
        }
        Some(ObjectUri {
            scheme,
            bucket: bucket.to_string(),
            key: key.trim_matches('/').to_string(),
        })
    }

    /// This URI with `/child` appended to its key.
    pub fn join(&self, child: &str) -> ObjectUri {
        let child = child.trim_matches('/');
        ObjectUri {
            key: match (self.key.is_empty(), child.is_empty()) {
                (true, _) => child.to_string(),
                (false, true) => self.key.clone(),
                (false, false) => format!("{}/{child}", self.key),
            },
            ..self.clone()
        }
    }

    /// Where a copy of this object lives on a machine under `base`: `base/<scheme>/<bucket>/<key>`
    /// (with `base` = `/`, KFP's `/s3/<bucket>/<key>`, `/gcs/…` and `/minio/…` container
    /// paths). `None` when a part of the key would leave `base` (`..`, `.`, empty parts).
    pub fn local_path(&self, base: &Path) -> Option<PathBuf> {
        let top = match self.scheme.as_str() {
            "gs" => "gcs",
            other => other,
        };
        let mut path = base.join(top);
        for part in std::iter::once(self.bucket.as_str()).chain(self.key.split('/')) {
            if part.is_empty() && self.key.is_empty() {
                continue;
            }
            if part.is_empty() || part == "." || part == ".." || part.contains('\\') {
                return None;
            }
            path.push(part);
        }
        Some(path)
    }
}

impl std::fmt::Display for ObjectUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}://{}", self.scheme, self.bucket)
        } else {
            write!(f, "{}://{}/{}", self.scheme, self.bucket, self.key)
        }
    }
}

/// Whether `uri` names an object in an object store rather than a local file.
pub fn is_object_uri(uri: &str) -> bool {
    ObjectUri::parse(uri).is_some()
}

/// Removes the file, link or folder at `path` (a link itself, never what it points to);
/// nothing there is fine.
pub async fn remove_any(path: &Path) -> std::io::Result<()> {
    match tokio::fs::symlink_metadata(path).await {
        Ok(m) if m.is_dir() => tokio::fs::remove_dir_all(path).await,
        Ok(_) => tokio::fs::remove_file(path).await,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Read access to logs and artifacts.
pub trait BlobStore: Send + Sync {
    /// The whole content of a blob.
    fn read(&self, uri: &str) -> Result<Vec<u8>, BlobError>;
    /// Whether the blob exists.
    fn exists(&self, uri: &str) -> bool;
}

/// Blobs as files under one root folder (`PENSTOCK_HOME`). URIs are absolute paths; anything
/// that resolves outside the root is refused.
#[derive(Debug, Clone)]
pub struct LocalBlobStore {
    root: PathBuf,
}

impl LocalBlobStore {
    /// A store rooted at `root`.
    pub fn new(root: &Path) -> Self {
        LocalBlobStore {
            root: root.to_path_buf(),
        }
    }

    /// The file behind `uri`, canonicalised; refused when it resolves outside the root
    /// (through `..` or symbolic links).
    pub fn local_path(&self, uri: &str) -> Result<PathBuf, BlobError> {
        let path = Path::new(uri.strip_prefix("file://").unwrap_or(uri));
        let canonical = path
            .canonicalize()
            .map_err(|_| BlobError::NotFound(uri.to_string()))?;
        let root = self
            .root
            .canonicalize()
            .map_err(|e| BlobError::Io(self.root.display().to_string(), e))?;
        if canonical.starts_with(&root) {
            Ok(canonical)
        } else {
            Err(BlobError::Forbidden(uri.to_string()))
        }
    }
}

impl BlobStore for LocalBlobStore {
    fn read(&self, uri: &str) -> Result<Vec<u8>, BlobError> {
        let path = self.local_path(uri)?;
        std::fs::read(&path).map_err(|e| BlobError::Io(uri.to_string(), e))
    }

    fn exists(&self, uri: &str) -> bool {
        self.local_path(uri).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_uris_split_and_map_to_kfp_paths() {
        let o = ObjectUri::parse("s3://bucket/pre/fix/").unwrap();
        assert_eq!((o.bucket.as_str(), o.key.as_str()), ("bucket", "pre/fix"));
        assert_eq!(o.join("run/a").to_string(), "s3://bucket/pre/fix/run/a");
        assert_eq!(
            o.join("x").local_path(Path::new("/")).unwrap(),
            Path::new("/s3/bucket/pre/fix/x")
        );
        let g = ObjectUri::parse("gs://b/k").unwrap();
        assert_eq!(g.local_path(Path::new("/")).unwrap(), Path::new("/gcs/b/k"));
        assert!(ObjectUri::parse("s3://b/a/../../etc")
            .unwrap()
            .local_path(Path::new("/h"))
            .is_none());
        assert!(ObjectUri::parse("/local/path").is_none());
        assert!(ObjectUri::parse("file:///x").is_none());
        assert!(ObjectUri::parse("s3:///nobucket").is_none());
        assert_eq!(ObjectUri::parse("s3://b").unwrap().to_string(), "s3://b");
    }

    #[test]
    fn paths_cannot_escape_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("home");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("a.txt"), "hi").unwrap();
        std::fs::write(dir.path().join("secret"), "no").unwrap();
        let store = LocalBlobStore::new(&root);
        assert_eq!(
            store.read(root.join("a.txt").to_str().unwrap()).unwrap(),
            b"hi"
        );
        let escape = format!("{}/../secret", root.display());
        assert!(matches!(store.read(&escape), Err(BlobError::Forbidden(_))));
        assert!(matches!(
            store.read("/nonexistent/x"),
            Err(BlobError::NotFound(_))
        ));
    }
}
