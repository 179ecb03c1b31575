-- Bulk Data export jobs, kept in the database so that any server of the hospital answers a job's
-- status and serves its files, whichever server ran it. The files are health data: each is sealed
-- under a key of its job's own, wrapped by the master key, as entries are. A running job beats
-- (beat_ms) while it reads; one that stopped beating ran on a server that went away.
CREATE TABLE export_jobs (
    id          TEXT PRIMARY KEY,
    owner       BLOB NOT NULL,
    request     TEXT NOT NULL,
    started_ms  INTEGER NOT NULL,
    beat_ms     INTEGER NOT NULL,
    status      TEXT NOT NULL,
    finished_at TEXT,
    reason      TEXT,
    key_master_id BLOB NOT NULL,
    sealed_key  BLOB NOT NULL
);

CREATE TABLE export_files (
    job    TEXT NOT NULL,
    name   TEXT NOT NULL,
    count  INTEGER NOT NULL,
    sealed BLOB NOT NULL,
    PRIMARY KEY (job, name)
);
