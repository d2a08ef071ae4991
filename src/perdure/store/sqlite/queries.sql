-- The SQL of the SQLite task hub, as named queries.
--
-- Each query starts at a "-- name: <name>" line; the comment lines right
-- after it say what it does and are not sent. queries.py loads this file once
-- at import and fills in:
--   {columns}  the instance columns every instance row is decoded from
--   {ids}      a set of values bound as one JSON array parameter
--              (json_each), so a batch is one statement, not one per row; or, in
--              SQL_ONE, one value bound as itself (an equality: json_each
--              costs a single value three times as much); {ids4} binds ?4
-- so that every statement is one constant string, which sqlite3's statement
-- cache keeps prepared. The schema itself is created by the numbered scripts
-- in migrations/.

-- name: schema_version
SELECT coalesce(max(version), 0) FROM schema_version;

-- name: create_schema_version
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL);

-- name: record_migration
INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?);

-- name: select_instance
SELECT {columns} FROM instances WHERE instance_id = ?;

-- name: select_status
SELECT runtime_status FROM instances WHERE instance_id = ?;

-- name: select_history
SELECT events FROM history WHERE instance_id = ? ORDER BY seq;

-- name: select_generations
SELECT generation, execution_id, started_at, ended_at, input_preview FROM generations
 WHERE instance_id = ? ORDER BY generation;

-- name: select_histories
SELECT instance_id, events FROM history WHERE instance_id IN {ids}
 ORDER BY instance_id, seq;

-- name: insert_instance
-- A start handed over to a worker here (perdure.store.starts) is leased at once:
-- the last four values are its lease as a claim takes it, else NULL and 0.
INSERT INTO instances (instance_id, name, execution_id, runtime_status, created_at,
                       updated_at, input, parent_instance_id, version, version_fold,
                       version_num, locked_by, lock_token, lock_expires, attempts)
VALUES (?, ?, ?, 'Pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: insert_start
-- The message that starts a new instance: one no parent started is backlog.
INSERT INTO inbox (instance_id, execution_id, visible_at, event, backlog)
VALUES (?1, ?2, ?3, ?4, ?5 IS NULL);

-- name: insert_message
INSERT INTO inbox (instance_id, execution_id, visible_at, event) VALUES (?, ?, ?, ?);

-- name: insert_message_if_exists
-- A message to an instance that does not exist is dropped, not an error: its
-- sender (an orchestration step, an activity) cannot do anything about it.
INSERT INTO inbox (instance_id, execution_id, visible_at, event) SELECT ?1, ?2, ?3, ?4
 WHERE EXISTS (SELECT 1 FROM instances WHERE instance_id = ?1);

-- name: delete_histories
DELETE FROM history WHERE instance_id IN {ids};

-- name: delete_inboxes
DELETE FROM inbox WHERE instance_id IN {ids};

-- name: delete_instance_tasks
DELETE FROM tasks WHERE instance_id IN {ids};

-- name: delete_instance_rows
DELETE FROM instances WHERE instance_id IN {ids};

-- name: select_purgeable
-- The ids of up to ? finished instances in the given statuses; the creation
-- window conditions and the LIMIT are appended by purge_batch.
SELECT instance_id FROM instances WHERE runtime_status IN {ids};

-- name: register_function
INSERT INTO functions (kind, name, updated_at) VALUES (?, ?, ?)
    ON CONFLICT (kind, name) DO UPDATE SET updated_at = excluded.updated_at;

-- name: known_orchestrators
SELECT name FROM functions WHERE kind = 'orchestrator';

-- name: claim_outlook
-- Whether any instance has a visible message and no live lease: a read,
-- which lets a claim that would find nothing skip its write transaction.
-- (Versions are not checked: where the answer is yes, the claim decides.)
-- And when the earliest future message falls due (next_wakeup), which is
-- what a worker whose claim found nothing asks next.
-- Last, whether any message is visible at all, leased or not: where none is,
-- nothing becomes claimable until one is queued or falls due.
SELECT EXISTS (SELECT 1 FROM inbox AS m INDEXED BY inbox_visible
                 JOIN instances AS i ON i.instance_id = m.instance_id
                WHERE m.visible_at <= ?1 AND i.parked = 0
                  AND (i.lock_token IS NULL OR i.lock_expires < ?1)),
       (SELECT min(visible_at) FROM inbox WHERE visible_at > ?1),
       EXISTS (SELECT 1 FROM inbox INDEXED BY inbox_visible WHERE visible_at <= ?1);

-- name: claim_instances
-- Lease instances that have a visible message and no live lease: those
-- already started (their messages are in the partial index inbox_started);
-- claim_backlog then takes, with the room left, new instances clients
-- started, so a started instance runs to its end before the
-- backlog is opened further. Each scan runs over its covering index, oldest
-- first, and stops after `limit` distinct instances; the token is random per
-- row. The index is forced: without statistics the planner prefers
-- inbox_instance, a full scan that visits every future timer and favours low
-- instance ids. Parked instances, and instances of versions the worker may
-- not run ({version_ok}, on ?5..?8), are never leased, by either scan.
UPDATE instances
   SET locked_by = ?1, lock_token = lower(hex(randomblob(16))), lock_expires = ?2,
       attempts = attempts + 1
 WHERE instance_id IN (
       SELECT DISTINCT m.instance_id
         FROM inbox AS m INDEXED BY inbox_started
         JOIN instances AS i ON i.instance_id = m.instance_id
        WHERE m.backlog = 0 AND m.visible_at <= ?3
          AND (i.lock_token IS NULL OR i.lock_expires < ?3)
          AND i.parked = 0 AND {version_ok}
        LIMIT ?4)
RETURNING {columns}, lock_token, attempts;

-- name: claim_backlog
-- The second scan of claim_instances: instances clients started, oldest
-- first. The scan passes the visible messages of started instances (all
-- leased, or the first scan would have taken them) on its way.
UPDATE instances
   SET locked_by = ?1, lock_token = lower(hex(randomblob(16))), lock_expires = ?2,
       attempts = attempts + 1
 WHERE instance_id IN (
       SELECT DISTINCT m.instance_id
         FROM inbox AS m INDEXED BY inbox_visible
         JOIN instances AS i ON i.instance_id = m.instance_id
        WHERE m.backlog = 1 AND m.visible_at <= ?3
          AND (i.lock_token IS NULL OR i.lock_expires < ?3)
          AND i.parked = 0 AND {version_ok}
        LIMIT ?4)
RETURNING {columns}, lock_token, attempts;

-- name: claim_by_id
-- Lease the instances of the ids in ?4 that claim_instances could take: no
-- live lease, not parked, of a version the worker may run ({version_ok}).
UPDATE instances AS i
   SET locked_by = ?1, lock_token = lower(hex(randomblob(16))), lock_expires = ?2,
       attempts = attempts + 1
 WHERE i.instance_id IN {ids4}
   AND (i.lock_token IS NULL OR i.lock_expires < ?3)
   AND i.parked = 0 AND {version_ok}
RETURNING {columns}, lock_token, attempts;

-- name: select_claimed_messages
-- Every visible message of the claimed instances (the ids in ?1), at most ?3
-- per instance: each instance's first ones, read from inbox_instance in id
-- order. (A window function over all of them, cut at ?3, took 2.4 to 4.5
-- times as long.)
SELECT m.id, m.instance_id, m.execution_id, m.event
  FROM json_each(?1) AS j
  JOIN inbox AS m ON m.id IN (SELECT id FROM inbox
                               WHERE instance_id = j.value AND visible_at <= ?2
                               ORDER BY id LIMIT ?3)
 ORDER BY m.id;

-- name: select_leases
SELECT instance_id, lock_token, runtime_status, history_len FROM instances
 WHERE instance_id IN {ids};

-- name: select_unclaimed
-- The instances of the ids in ?1 a claim would take with nothing in their inboxes
-- (see commit_unclaimed_steps): no lease, not parked, no message visible at ?2.
SELECT i.instance_id, i.execution_id, i.runtime_status, i.history_len FROM instances AS i
 WHERE i.instance_id IN {ids} AND i.lock_token IS NULL AND i.parked = 0
   AND NOT EXISTS (SELECT 1 FROM inbox AS m
                    WHERE m.instance_id = i.instance_id AND m.visible_at <= ?2);

-- name: delete_history
DELETE FROM history WHERE instance_id = ?;

-- name: insert_history
INSERT INTO history (instance_id, seq, events) VALUES (?, ?, ?);

-- name: update_after_step
-- A step of the current execution (?1, the new execution id, and ?2 are NULL).
-- It does not set execution_id: the generations trigger then does not even
-- check its condition.
UPDATE instances
   SET runtime_status = ?3, custom_status = ?4, output = ?5, failure = ?6, updated_at = ?7,
       history_len = ?8, attempts = 0, locked_by = NULL, lock_token = NULL, lock_expires = NULL
 WHERE instance_id = ?9;

-- name: update_after_new_execution
-- A step that continued as new or rewound: execution ?1 with input ?2.
UPDATE instances
   SET execution_id = ?1, input = ?2,
       runtime_status = ?3, custom_status = ?4, output = ?5, failure = ?6, updated_at = ?7,
       history_len = ?8, attempts = 0, locked_by = NULL, lock_token = NULL, lock_expires = NULL
 WHERE instance_id = ?9;

-- name: delete_consumed
DELETE FROM inbox WHERE id = ? AND instance_id = ?;

-- name: insert_task
INSERT INTO tasks (instance_id, execution_id, task_id, name, input, created_at, visible_at,
                   trace_parent)
VALUES (?, ?, ?, ?, ?, ?, ?, ?);

-- name: insert_leased_task
-- A task leased to worker ?9 (token ?10) by the commit that creates it: its first
-- attempt, visible again at ?7, when the lease expires.
INSERT INTO tasks (instance_id, execution_id, task_id, name, input, created_at, visible_at,
                   trace_parent, locked_by, lock_token, attempts)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1);

-- name: any_claimable_task
SELECT EXISTS (SELECT 1 FROM tasks WHERE visible_at <= ?);

-- name: last_insert_rowid
SELECT last_insert_rowid();

-- name: park_instance
-- Leave an instance whose code no longer replays it: Running, its messages
-- kept, the error in failure, unclaimable until unpark_instances.
UPDATE instances
   SET runtime_status = 'Running', failure = ?1, updated_at = ?2, parked = 1, attempts = 0,
       locked_by = NULL, lock_token = NULL, lock_expires = NULL
 WHERE instance_id = ?3 AND lock_token = ?4;

-- name: unpark_instance
UPDATE instances SET parked = 0 WHERE instance_id = ? AND parked = 1;

-- name: unpark_instances
UPDATE instances SET parked = 0 WHERE parked = 1;

-- name: release_instance
UPDATE instances SET locked_by = NULL, lock_token = NULL, lock_expires = NULL
 WHERE instance_id = ? AND lock_token = ?;

-- name: claim_tasks
-- A task's visible_at doubles as its lease expiry (see the schema).
UPDATE tasks
   SET locked_by = ?1, lock_token = lower(hex(randomblob(16))), visible_at = ?2,
       attempts = attempts + 1
 WHERE id IN (SELECT id FROM tasks WHERE visible_at <= ?3 ORDER BY visible_at LIMIT ?4)
RETURNING id, lock_token, attempts, instance_id, execution_id, task_id, name, input,
          created_at, trace_parent;

-- name: select_task_tokens
SELECT id, lock_token FROM tasks WHERE id IN {ids};

-- name: delete_task
DELETE FROM tasks WHERE id = ?;

-- name: renew_task
UPDATE tasks SET visible_at = ? WHERE id = ? AND lock_token = ?;

-- name: next_wakeup
SELECT min(visible_at) FROM inbox WHERE visible_at > ?;

-- name: count_statuses
-- /metrics: the instances of one status by version, stopping at ?2 rows of
-- the status index, so a scrape stays cheap on a huge hub.
SELECT version, count(*) FROM (SELECT version FROM instances
                                WHERE runtime_status = ?1 LIMIT ?2)
 GROUP BY version;

-- name: backlog
-- /metrics: instances with visible messages and claimable tasks (each count
-- stopping at ?2 rows), and the oldest visible message and task (index ends).
SELECT (SELECT count(DISTINCT instance_id)
          FROM (SELECT instance_id FROM inbox WHERE visible_at <= ?1 LIMIT ?2)),
       (SELECT count(*) FROM (SELECT 1 FROM tasks WHERE visible_at <= ?1 LIMIT ?2)),
       (SELECT min(visible_at) FROM inbox WHERE visible_at <= ?1),
       (SELECT min(visible_at) FROM tasks WHERE visible_at <= ?1);
