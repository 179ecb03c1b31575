-- Sign-in: single-use nonces, and sessions (only a hash of each session token is stored).
CREATE TABLE sign_in_nonces (
    nonce           TEXT PRIMARY KEY,
    expires_at      BIGINT NOT NULL
);
CREATE TABLE sessions (
    token_hash      BYTEA PRIMARY KEY,
    address         BYTEA NOT NULL,
    created_at      BIGINT NOT NULL,
    last_seen_at    BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL
);
CREATE INDEX sessions_address ON sessions (address);
