-- Sign-in: single-use nonces, and sessions (only a hash of each session token is stored).
CREATE TABLE sign_in_nonces (
    nonce           TEXT PRIMARY KEY,
    expires_at      INTEGER NOT NULL
);
CREATE TABLE sessions (
    token_hash      BLOB PRIMARY KEY,
    address         BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    last_seen_at    INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
);
CREATE INDEX sessions_address ON sessions (address);
