//! Blobs: task logs and artifact contents, addressed by URI. Today a local folder; S3 and other
//! object stores implement the same trait later.

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
