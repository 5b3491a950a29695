-- Bearer tokens for `penstock server --auth tokens`. Only a SHA-256 of each token is kept:
-- tokens are 256-bit random strings, so a fast hash is enough, and a stolen database does not
-- yield usable tokens.
CREATE TABLE api_tokens (
    token_id      TEXT PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL UNIQUE,
    token_sha256  TEXT NOT NULL UNIQUE,
    -- JSON array of granted namespaces; NULL grants every namespace.
    namespaces    TEXT,
    created_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER
);
