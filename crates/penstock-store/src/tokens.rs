//! API tokens for `penstock server --auth tokens`: created, listed and revoked by the CLI,
//! checked by the server on every request. Only the SHA-256 of a token is stored.

use crate::store::{err, Store};
use jiff::Timestamp;
use penstock_engine::StoreError;
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::collections::BTreeSet;

/// What every token starts with, so that a leaked one is recognisable (secret scanners).
pub const TOKEN_PREFIX: &str = "pst_";

/// A stored token (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Stable id.
    pub token_id: String,
    /// The name it was created with (unique).
    pub name: String,
    /// The namespaces it grants; `None` grants every namespace.
    pub namespaces: Option<BTreeSet<String>>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

/// Why a token operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// A token with this name exists already.
    #[error("a token named '{0}' already exists")]
    NameTaken(String),
    /// No token has this name or id.
    #[error("no token named '{0}'")]
    NotFound(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The SHA-256 of a token, hex.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random token: the prefix and 244 random bits (two v4 UUIDs) in hex.
fn new_token() -> String {
    format!(
        "{TOKEN_PREFIX}{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

fn from_ms(v: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_millisecond(v).map_err(err)
}

fn token_from_row(r: &sqlx::any::AnyRow) -> Result<ApiToken, StoreError> {
    let namespaces: Option<String> = r.get("namespaces");
    let namespaces = match namespaces {
        Some(text) => Some(serde_json::from_str::<BTreeSet<String>>(&text).map_err(err)?),
        None => None,
    };
    let revoked: Option<i64> = r.get("revoked_at_ms");
    Ok(ApiToken {
        token_id: r.get("token_id"),
        name: r.get("name"),
        namespaces,
        created_at: from_ms(r.get("created_at_ms"))?,
        revoked_at: revoked.map(from_ms).transpose()?,
    })
}

impl Store {
    /// Creates a token; returns its record and the token itself, which is shown once and
    /// never stored.
    pub async fn create_token(
        &self,
        name: &str,
        namespaces: Option<&BTreeSet<String>>,
    ) -> Result<(ApiToken, String), TokenError> {
        let token = new_token();
        let record = ApiToken {
            token_id: uuid::Uuid::new_v4().to_string(),
            name: name.to_string(),
            namespaces: namespaces.cloned(),
            created_at: Timestamp::now(),
            revoked_at: None,
        };
        let namespaces_json = match namespaces {
            Some(n) => Some(serde_json::to_string(n).map_err(err)?),
            None => None,
        };
        sqlx::query(
            "INSERT INTO api_tokens (token_id, name, token_sha256, namespaces, created_at_ms)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&record.token_id)
        .bind(&record.name)
        .bind(token_digest(&token))
        .bind(namespaces_json)
        .bind(ms(record.created_at))
        .execute(&self.writer)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                TokenError::NameTaken(name.to_string())
            }
            _ => TokenError::Store(err(e)),
        })?;
        Ok((record, token))
    }

    /// Every token, newest first, revoked ones included.
    pub async fn list_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        let rows = sqlx::query("SELECT * FROM api_tokens ORDER BY created_at_ms DESC, token_id")
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        rows.iter().map(token_from_row).collect()
    }

    /// Revokes the token with this name (or id); revoking twice is not an error.
    pub async fn revoke_token(&self, name_or_id: &str) -> Result<ApiToken, TokenError> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at_ms = COALESCE(revoked_at_ms, $1)
             WHERE name = $2 OR token_id = $3",
        )
        .bind(ms(Timestamp::now()))
        .bind(name_or_id)
        .bind(name_or_id)
        .execute(&self.writer)
        .await
        .map_err(|e| TokenError::Store(err(e)))?;
        if done.rows_affected() == 0 {
            return Err(TokenError::NotFound(name_or_id.to_string()));
        }
        let row = sqlx::query("SELECT * FROM api_tokens WHERE name = $1 OR token_id = $2")
            .bind(name_or_id)
            .bind(name_or_id)
            .fetch_one(&self.pool)
            .await
            .map_err(err)?;
        Ok(token_from_row(&row)?)
    }

    /// The live (not revoked) token this secret belongs to, if any.
    pub async fn authenticate_token(&self, token: &str) -> Result<Option<ApiToken>, StoreError> {
        let row = sqlx::query(
            "SELECT * FROM api_tokens WHERE token_sha256 = $1 AND revoked_at_ms IS NULL",
        )
        .bind(token_digest(token))
        .fetch_optional(&self.pool)
        .await
        .map_err(err)?;
        row.as_ref().map(token_from_row).transpose()
    }
}
