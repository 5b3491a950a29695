//! Built without the `object-store` cargo feature: every object-store URI is refused with a
//! message saying so.

use crate::blob::BlobError;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use std::path::Path;

fn off(uri: &str) -> BlobError {
    BlobError::Unsupported(format!(
        "{uri}: this penstock was built without object-store support (cargo feature `object-store`)"
    ))
}

/// Always refused.
pub async fn exists(uri: &str) -> Result<bool, BlobError> {
    Err(off(uri))
}

/// Always refused.
pub async fn list_files(uri: &str) -> Result<Vec<String>, BlobError> {
    Err(off(uri))
}

/// Always refused.
pub async fn open(
    uri: &str,
) -> Result<(u64, BoxStream<'static, Result<Bytes, std::io::Error>>), BlobError> {
    Err(off(uri))
}

/// Always refused.
pub async fn download(uri: &str, _dest: &Path) -> Result<u64, BlobError> {
    Err(off(uri))
}

/// Always refused.
pub async fn upload(_src: &Path, uri: &str) -> Result<u64, BlobError> {
    Err(off(uri))
}

/// Always refused.
pub async fn delete(uri: &str) -> Result<(), BlobError> {
    Err(off(uri))
}
