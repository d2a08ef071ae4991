-- perdure SQLite task hub, version 1.
-- Timestamps are integer microseconds since the Unix epoch (UTC).

-- One row per orchestration instance. A lease is (locked_by, lock_token,
-- lock_expires); lock_token is NULL when nobody holds the instance.
CREATE TABLE instances (
    instance_id        TEXT    NOT NULL PRIMARY KEY,
    name               TEXT    NOT NULL,
    execution_id       TEXT    NOT NULL,
    runtime_status     TEXT    NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    input              TEXT,
    output             TEXT,
    custom_status      TEXT,
    failure            TEXT,
    parent_instance_id TEXT,
    history_len        INTEGER NOT NULL DEFAULT 0,
    locked_by          TEXT,
    lock_token         TEXT,
    lock_expires       INTEGER,
    attempts           INTEGER NOT NULL DEFAULT 0
);
-- Keyset paging of queries, and created_at range filters.
CREATE INDEX instances_created ON instances (created_at, instance_id);
-- Status filters (and purge), paged in the same order within one status.
CREATE INDEX instances_status ON instances (runtime_status, created_at, instance_id);
CREATE INDEX instances_name ON instances (name);

-- The current execution's history; seq counts from 0 per execution.
CREATE TABLE history (
    instance_id TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    event       TEXT    NOT NULL,
    PRIMARY KEY (instance_id, seq)
) WITHOUT ROWID;

-- Per-instance inbox. AUTOINCREMENT: ids are never reused, so they order
-- arrival even after the table was emptied.
CREATE TABLE inbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id  TEXT    NOT NULL,
    execution_id TEXT,
    visible_at   INTEGER NOT NULL,
    event        TEXT    NOT NULL
);
CREATE INDEX inbox_instance ON inbox (instance_id, id);
-- Covering index for the claim scan and next_wakeup.
CREATE INDEX inbox_visible ON inbox (visible_at, instance_id);

-- Activity tasks. visible_at is when the task may next be claimed: its
-- creation time, then the expiry of each lease taken on it, so one indexed
-- range answers "claimable now".
CREATE TABLE tasks (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id  TEXT    NOT NULL,
    execution_id TEXT    NOT NULL,
    task_id      INTEGER NOT NULL,
    name         TEXT    NOT NULL,
    input        TEXT,
    created_at   INTEGER NOT NULL,
    visible_at   INTEGER NOT NULL,
    locked_by    TEXT,
    lock_token   TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX tasks_visible ON tasks (visible_at);
CREATE INDEX tasks_instance ON tasks (instance_id);

-- Function names registered by workers (kind: 'orchestrator' or 'activity').
CREATE TABLE functions (
    kind       TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (kind, name)
) WITHOUT ROWID;
