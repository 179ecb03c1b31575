-- MedLedger store, SQLite. Every health datum is in a `sealed` column (XChaCha20-Poly1305);
-- names are only in `name_index` as keyed hashes. Hashes, addresses and ids are BLOBs.

-- Where this hospital's contracts are: set once, when they are deployed or first connected to.
CREATE TABLE deployment (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    chain_id        INTEGER NOT NULL,
    ledger          BLOB NOT NULL,
    forwarder       BLOB NOT NULL,
    block_number    INTEGER NOT NULL
);

-- Keys that belong to no patient (the blind-index key), wrapped by the master key.
CREATE TABLE wrapped_keys (
    name        TEXT PRIMARY KEY,
    master_id   BLOB NOT NULL,
    sealed      BLOB NOT NULL
);

CREATE TABLE patients (
    id              BLOB PRIMARY KEY,
    wallet          BLOB NOT NULL UNIQUE,
    registered_by   BLOB NOT NULL,
    chain_id        INTEGER UNIQUE,
    key_master_id   BLOB NOT NULL,
    data_key        BLOB NOT NULL,
    created_at      INTEGER NOT NULL
);

CREATE TABLE name_index (
    tag         BLOB NOT NULL,
    patient_id  BLOB NOT NULL REFERENCES patients (id),
    PRIMARY KEY (tag, patient_id)
) WITHOUT ROWID;

-- The outbox: one chain request per user-signed call, stored in the same transaction as the
-- entries it anchors.
CREATE TABLE chain_requests (
    id              INTEGER PRIMARY KEY,
    purpose         TEXT NOT NULL,
    signer          BLOB NOT NULL,
    calldata        BLOB NOT NULL,
    gas             INTEGER NOT NULL,
    deadline        INTEGER NOT NULL,
    forward_nonce   INTEGER NOT NULL,
    signature       BLOB,
    status          TEXT NOT NULL,
    tx_nonce        INTEGER,
    tx_hash         BLOB,
    raw_tx          BLOB,
    block_number    INTEGER,
    reason          TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX chain_requests_status ON chain_requests (status, id);
CREATE INDEX chain_requests_tx ON chain_requests (tx_hash);

CREATE TABLE entries (
    seq             INTEGER PRIMARY KEY,
    patient_id      BLOB NOT NULL REFERENCES patients (id),
    record_id       BLOB NOT NULL,
    revision        INTEGER NOT NULL,
    kind            INTEGER NOT NULL,
    author          BLOB NOT NULL,
    recorded_at     INTEGER NOT NULL,
    sealed          BLOB NOT NULL,
    commitment      BLOB NOT NULL,
    request_id      INTEGER REFERENCES chain_requests (id),
    status          TEXT NOT NULL,
    chain_version   INTEGER,
    tx_hash         BLOB,
    block_number    INTEGER,
    reason          TEXT,
    UNIQUE (record_id, revision)
);
CREATE INDEX entries_patient ON entries (patient_id, seq);
CREATE INDEX entries_commitment ON entries (commitment);
CREATE INDEX entries_request ON entries (request_id);

-- The mirror of the contracts' events, only from blocks past the confirmation depth.
CREATE TABLE chain_cursor (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    block_number    INTEGER NOT NULL,
    block_hash      BLOB NOT NULL
);
CREATE TABLE chain_blocks (
    block_number    INTEGER PRIMARY KEY,
    block_hash      BLOB NOT NULL
);
CREATE TABLE chain_events (
    block_number    INTEGER NOT NULL,
    log_index       INTEGER NOT NULL,
    tx_hash         BLOB NOT NULL,
    event           TEXT NOT NULL,
    patient         INTEGER,
    account         BLOB,
    other           BLOB,
    version         INTEGER,
    kind            INTEGER,
    supersedes      INTEGER,
    commitment      BLOB,
    expires_at      INTEGER,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX chain_events_patient ON chain_events (patient, event);
CREATE TABLE doctors (
    address         BLOB PRIMARY KEY,
    active          INTEGER NOT NULL,
    block_number    INTEGER NOT NULL
);
CREATE TABLE chain_patients (
    chain_id        INTEGER PRIMARY KEY,
    wallet          BLOB NOT NULL,
    registered_by   BLOB NOT NULL,
    block_number    INTEGER NOT NULL
);
CREATE TABLE access (
    patient                 INTEGER NOT NULL,
    doctor                  BLOB NOT NULL,
    consent_expires_at      INTEGER NOT NULL,
    emergency_expires_at    INTEGER NOT NULL,
    PRIMARY KEY (patient, doctor)
);
CREATE TABLE history (
    patient         INTEGER NOT NULL,
    version         INTEGER NOT NULL,
    commitment      BLOB NOT NULL,
    kind            INTEGER NOT NULL,
    supersedes      INTEGER NOT NULL,
    author          BLOB NOT NULL,
    block_number    INTEGER NOT NULL,
    tx_hash         BLOB NOT NULL,
    PRIMARY KEY (patient, version)
);

CREATE TABLE audit_log (
    sequence        INTEGER PRIMARY KEY,
    at              INTEGER NOT NULL,
    actor           BLOB NOT NULL,
    action          TEXT NOT NULL,
    patient_id      BLOB,
    record_id       BLOB,
    outcome         TEXT NOT NULL,
    detail          TEXT NOT NULL,
    prev            BLOB NOT NULL,
    hash            BLOB NOT NULL
);
-- The audit heads this server anchored, and from which account (verify checks the chain's
-- anchors by these accounts by default).
CREATE TABLE audit_anchors (
    sequence        INTEGER PRIMARY KEY,
    head            BLOB NOT NULL,
    auditor         BLOB NOT NULL,
    tx_hash         BLOB NOT NULL
);
