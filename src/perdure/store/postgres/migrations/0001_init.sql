-- perdure PostgreSQL task hub, version 1.
-- Runs with search_path set to the task hub's schema (created by the migrator).
-- Timestamps are bigint microseconds since the Unix epoch (UTC), as in the
-- SQLite task hub; leases and visibility are compared with the server's clock.
-- Text that is ordered or range-filtered uses COLLATE "C": code-point order,
-- the same as SQLite's and the same on every server whatever its locale.

-- One row per orchestration instance. A lease is (locked_by, lock_token,
-- lock_expires); lock_token is NULL when nobody holds the instance. Without a
-- lease, locked_by names the worker the instance has affinity to (the one that
-- ran its last step, or was given the new instance).
-- fillfactor leaves room for HOT updates: claims and steps rewrite the row
-- several times per step, and an update that finds room on its page touches
-- no index.
CREATE TABLE instances (
    instance_id        text COLLATE "C" NOT NULL PRIMARY KEY,
    name               text    NOT NULL,
    execution_id       text    NOT NULL,
    runtime_status     text COLLATE "C" NOT NULL,
    created_at         bigint  NOT NULL,
    updated_at         bigint  NOT NULL,
    input              text,
    output             text,
    custom_status      text,
    failure            text,
    parent_instance_id text,
    history_len        integer NOT NULL DEFAULT 0,
    locked_by          text,
    lock_token         text,
    lock_expires       bigint,
    attempts           integer NOT NULL DEFAULT 0
) WITH (fillfactor = 50);
-- Keyset paging of queries, and created_at range filters.
CREATE INDEX instances_created ON instances (created_at, instance_id);
-- Status filters (and purge), paged in the same order within one status.
-- (Every index costs each start and each status change a write: no query
-- filters on name, so name has none.)
CREATE INDEX instances_status ON instances (runtime_status, created_at, instance_id);

-- The current execution's history, one row per step: events is a JSON array
-- of the events the step appended, seq the position of its first event
-- (counting from 0 per execution). A step writes one row, not one per event.
CREATE TABLE history (
    instance_id text COLLATE "C" NOT NULL,
    seq         integer NOT NULL,
    events      text    NOT NULL,
    PRIMARY KEY (instance_id, seq)
);

-- Per-instance inbox. Ids come from a sequence: they order arrival per
-- sender, and a step consumes its instance's messages in id order. Messages
-- are found by (instance_id, id) only, so that index is the only one beside
-- the claim scan's.
CREATE TABLE inbox (
    id           bigint GENERATED ALWAYS AS IDENTITY,
    instance_id  text COLLATE "C" NOT NULL,
    execution_id text,
    visible_at   bigint NOT NULL,
    event        text   NOT NULL
);
CREATE INDEX inbox_instance ON inbox (instance_id, id);
-- The claim scan (oldest visible message first) and next_wakeup.
CREATE INDEX inbox_visible ON inbox (visible_at, instance_id);

-- Activity tasks, claimed in (visible_at, id) order. A lease (lock_token,
-- lock_expires) lives in columns no index covers, so taking, renewing and
-- ending one rewrites the row in place (a HOT update, no index write); the
-- claim scan steps over the tasks in flight, which are few.
CREATE TABLE tasks (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance_id  text COLLATE "C" NOT NULL,
    execution_id text    NOT NULL,
    task_id      integer NOT NULL,
    name         text    NOT NULL,
    input        text,
    created_at   bigint  NOT NULL,
    visible_at   bigint  NOT NULL,
    locked_by    text,
    lock_token   text,
    lock_expires bigint,
    attempts     integer NOT NULL DEFAULT 0
) WITH (fillfactor = 50);
CREATE INDEX tasks_visible ON tasks (visible_at, id);
CREATE INDEX tasks_instance ON tasks (instance_id);

-- Function names registered by workers (kind: 'orchestrator' or 'activity').
CREATE TABLE functions (
    kind       text   NOT NULL,
    name       text   NOT NULL,
    updated_at bigint NOT NULL,
    PRIMARY KEY (kind, name)
);

-- Live workers, for targeted wake-ups: each process registers the workers it
-- runs (origin tags its LISTEN connection) and refreshes seen_at while alive.
CREATE TABLE workers (
    worker_id text   NOT NULL PRIMARY KEY,
    origin    text   NOT NULL,
    seen_at   bigint NOT NULL
);
