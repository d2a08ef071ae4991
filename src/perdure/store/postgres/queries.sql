-- The SQL of the PostgreSQL task hub, as named queries.
--
-- Each query starts at a "-- name: <name>" line; the comment lines right
-- after it say what it does and are not sent. queries.py loads this file once
-- at import and fills in, per store:
--   {s}        the task hub's quoted schema
--   {now}      the server's clock in microseconds since the epoch (one value
--              per statement), so leases and visibility mean the same on every
--              machine sharing the hub
--   {columns}  the instance columns every instance row is decoded from
--   {relaxed}  a FROM item that makes the statement's transaction commit
--              without waiting for the WAL flush: for writes that only take or
--              give up leases (claims, releases, renewals) and for
--              bookkeeping; if a server crash loses one, the work is merely
--              unleased again, and the next durable commit flushes it anyway
-- so that every statement is one constant string, which psycopg prepares once
-- per connection. Batches travel as array parameters (%b: binary, which
-- psycopg dumps far faster than text) expanded with unnest. The schema itself
-- is created by the numbered scripts in migrations/.

-- name: select_instance
SELECT {columns} FROM {s}.instances WHERE instance_id = %s;

-- name: select_instances
SELECT {columns} FROM {s}.instances WHERE instance_id = ANY(%b::text[]);

-- name: select_history
SELECT events FROM {s}.history WHERE instance_id = %s ORDER BY seq;

-- name: select_generations
SELECT generation, execution_id, started_at, ended_at, input_preview FROM {s}.generations
 WHERE instance_id = %s ORDER BY generation;

-- name: select_histories
SELECT instance_id, events FROM {s}.history WHERE instance_id = ANY(%b::text[])
 ORDER BY instance_id, seq;

-- name: create_many
-- Starts, many at once (concurrent create_instance calls share one
-- statement and one commit). Ids that exist are not inserted: the caller
-- takes the locked path for those. Ids are distinct within one batch.
WITH r AS (
    SELECT * FROM unnest(%(ids)b::text[], %(names)b::text[], %(execs)b::text[],
                         %(created)b::bigint[], %(inputs)b::text[], %(parents)b::text[],
                         %(events)b::text[], %(versions)b::text[], %(folds)b::text[],
                         %(nums)b::text[]) WITH ORDINALITY
           AS r(instance_id, name, execution_id, created_at, input, parent, event, version,
                fold, num, ord)
), ins AS (
    INSERT INTO {s}.instances (instance_id, name, execution_id, runtime_status, created_at,
                               updated_at, input, parent_instance_id, version, version_fold,
                               version_num)
    SELECT instance_id, name, execution_id, 'Pending', created_at, {now}, input, parent,
           version, fold, num
      FROM r ORDER BY ord
    ON CONFLICT (instance_id) DO NOTHING
    RETURNING instance_id
), msg AS (
    INSERT INTO {s}.inbox (instance_id, execution_id, visible_at, event, backlog)
    SELECT r.instance_id, r.execution_id, {now}, r.event, r.parent IS NULL
      FROM r JOIN ins ON ins.instance_id = r.instance_id ORDER BY r.ord
), leftovers AS (
    -- Messages that raced the purge of an earlier instance of the id (this
    -- statement does not see its own ExecutionStarted rows).
    DELETE FROM {s}.inbox AS m USING ins WHERE m.instance_id = ins.instance_id
)
SELECT instance_id FROM ins;

-- name: lock_status
SELECT runtime_status, execution_id FROM {s}.instances WHERE instance_id = %s
   FOR UPDATE;

-- name: insert_instance
INSERT INTO {s}.instances (instance_id, name, execution_id, runtime_status, created_at,
                           updated_at, input, parent_instance_id, version, version_fold,
                           version_num)
VALUES (%s, %s, %s, 'Pending', %s::bigint, {now}, %s, %s, %s, %s, %s)
ON CONFLICT (instance_id) DO NOTHING
RETURNING instance_id;

-- name: insert_start
-- The message that starts a new instance: one no parent started is backlog.
INSERT INTO {s}.inbox (instance_id, execution_id, visible_at, event, backlog)
VALUES (%s, %s, {now}, %s, %s::text IS NULL);

-- name: insert_messages_if_exist
-- A message to an instance that does not exist is dropped, not an error:
-- its sender (a step, an activity) cannot do anything about it. The check
-- takes no lock (a row lock is a write): a message that races a purge of
-- its instance is left behind, never claimed (claims join instances), and
-- removed when an instance of that id is created again.
INSERT INTO {s}.inbox (instance_id, execution_id, visible_at, event)
SELECT r.instance_id, r.execution_id, coalesce(r.visible_at, {now}), r.event
  FROM unnest(%b::text[], %b::text[], %b::bigint[], %b::text[]) WITH ORDINALITY
       AS r(instance_id, execution_id, visible_at, event, ord)
 WHERE EXISTS (SELECT 1 FROM {s}.instances i WHERE i.instance_id = r.instance_id)
 ORDER BY r.ord;

-- name: delete_leftovers
DELETE FROM {s}.inbox WHERE instance_id = %s;

-- name: delete_instances
WITH h AS (DELETE FROM {s}.history WHERE instance_id = ANY(%(ids)b::text[])),
     m AS (DELETE FROM {s}.inbox WHERE instance_id = ANY(%(ids)b::text[])),
     t AS (DELETE FROM {s}.tasks WHERE instance_id = ANY(%(ids)b::text[]))
DELETE FROM {s}.instances WHERE instance_id = ANY(%(ids)b::text[]);

-- name: send_message
WITH cur AS (
    SELECT runtime_status, locked_by FROM {s}.instances WHERE instance_id = %(id)s
), ins AS (
    INSERT INTO {s}.inbox (instance_id, execution_id, visible_at, event)
    SELECT %(id)s, %(exec)s, coalesce(%(visible)s::bigint, {now}), %(event)s
      FROM cur WHERE cur.runtime_status = ANY(%(allowed)b::text[])
)
SELECT runtime_status, locked_by FROM cur;

-- name: purge_lock
-- Purges lock the victims in id order (as commit_steps locks its leases),
-- so two transactions locking several instances cannot deadlock; the
-- deletes are a second statement, which sees everything committed before
-- the locks were granted.
SELECT instance_id, runtime_status FROM {s}.instances
 WHERE {where} ORDER BY instance_id LIMIT %(limit)s FOR UPDATE;

-- name: register
INSERT INTO {s}.functions (kind, name, updated_at)
SELECT kind, name, {now} FROM unnest(%b::text[], %b::text[]) AS f(kind, name)
 ORDER BY kind, name
ON CONFLICT (kind, name) DO UPDATE SET updated_at = excluded.updated_at;

-- name: known_orchestrators
SELECT name FROM {s}.functions WHERE kind = 'orchestrator';

-- name: claim_orchestrations
-- Lease instances that have a visible message and no live lease: scan the
-- visible messages oldest first, skip instances another transaction holds
-- locked, stop after `limit` rows; then return each claimed instance (its
-- messages are read next, by claimed_messages).
-- Affinity: locked_by stays after a step, naming the worker that ran it
-- (and holds its executor in memory); others leave the instance to that
-- worker until its oldest visible message has waited `affinity` us. A
-- claim takes its own instances first, and at most `share` of the rest
-- (new instances first, then those it may take over), so that workers
-- started together divide new work between them instead of the first
-- taking all, and a busy worker does not take over instances (and replay
-- them) while new ones wait.
-- Started instances come first (their messages are in the partial index
-- inbox_started), and the backlog of new instances clients started only
-- fills the room left, so a started instance runs to its end before the
-- backlog is opened further (at most `backlog` new ones): the Append stops
-- pulling (and locking) once the limit is reached, and the backlog scan
-- runs only when it is not. Parked instances, and instances of versions the
-- worker may not run ({version_ok}), are never leased, by either scan.
WITH picked AS MATERIALIZED (
    SELECT * FROM (
        SELECT i.instance_id, m.visible_at,
               CASE WHEN i.locked_by = %(worker)s THEN 0 WHEN i.locked_by IS NULL THEN 1
                    ELSE 2 END AS kind
          FROM {s}.inbox AS m JOIN {s}.instances AS i ON i.instance_id = m.instance_id
         WHERE NOT m.backlog AND m.visible_at <= {now}
           AND (i.lock_token IS NULL OR i.lock_expires < {now})
           AND (i.locked_by IS NULL OR i.locked_by = %(worker)s
                OR m.visible_at <= {now} - %(affinity)s::bigint)
           AND NOT i.parked AND {version_ok}
         ORDER BY m.visible_at
         LIMIT %(limit)s
           FOR NO KEY UPDATE OF i SKIP LOCKED) AS started
    UNION ALL
    SELECT * FROM (
        SELECT i.instance_id, m.visible_at,
               CASE WHEN i.locked_by = %(worker)s THEN 0 WHEN i.locked_by IS NULL THEN 1
                    ELSE 2 END AS kind
          FROM {s}.inbox AS m JOIN {s}.instances AS i ON i.instance_id = m.instance_id
         WHERE m.backlog AND m.visible_at <= {now}
           AND (i.lock_token IS NULL OR i.lock_expires < {now})
           AND (i.locked_by IS NULL OR i.locked_by = %(worker)s
                OR m.visible_at <= {now} - %(affinity)s::bigint)
           AND NOT i.parked AND {version_ok}
         ORDER BY m.visible_at
         LIMIT %(backlog)s
           FOR NO KEY UPDATE OF i SKIP LOCKED) AS backlog
    LIMIT %(limit)s
), chosen AS (
    -- Its own instances (kind 0), and at most `share` of the others: new
    -- ones (1) before those it takes over from another worker (2), which
    -- would have to be replayed here (the other locked rows are let go when
    -- the statement ends).
    SELECT instance_id FROM (
        SELECT instance_id, kind,
               row_number() OVER (PARTITION BY kind = 0 ORDER BY kind, first) AS n
          FROM (SELECT instance_id, min(kind) AS kind, min(visible_at) AS first
                  FROM picked GROUP BY instance_id) AS g) AS w
     WHERE kind = 0 OR n <= %(share)s), claimed AS (
    UPDATE {s}.instances
       SET locked_by = %(worker)s, lock_token = gen_random_uuid()::text,
           lock_expires = {now} + %(lease)s::bigint, attempts = attempts + 1
     WHERE instance_id = ANY(ARRAY(SELECT instance_id FROM chosen))
    RETURNING {columns}, lock_token, attempts
)
SELECT c.* FROM claimed AS c CROSS JOIN {relaxed};

-- name: claimed_messages
-- The visible messages of the instances a claim just leased (the ids in
-- `ids`), at most `max_messages` each, in arrival order: found by each
-- instance_id alone (the OFFSET 0 fence keeps the visibility test out of the
-- index scan). A statement of its own, after the claim's: the claim's
-- snapshot predates the row locks it takes, and a step that committed in
-- between (its lease expired, its token still current) had consumed
-- messages that snapshot still showed, which ran again.
SELECT c.instance_id, msg.ids, msg.execs, msg.events
  FROM unnest(%(ids)b::text[]) AS c(instance_id)
 CROSS JOIN LATERAL (
       SELECT array_agg(x.id ORDER BY x.id) AS ids,
              array_agg(x.execution_id ORDER BY x.id) AS execs,
              array_agg(x.event ORDER BY x.id) AS events
         FROM (SELECT id, execution_id, event
                 FROM (SELECT id, execution_id, event, visible_at FROM {s}.inbox AS m
                        WHERE m.instance_id = c.instance_id ORDER BY id OFFSET 0) AS y
                WHERE y.visible_at <= {now} ORDER BY id LIMIT %(max_messages)s) AS x) AS msg;

-- name: lock_leases
-- Leases are locked in id order so that two committing transactions never
-- wait on each other in a cycle.
SELECT instance_id, lock_token, runtime_status, history_len FROM {s}.instances
 WHERE instance_id = ANY(%b::text[]) ORDER BY instance_id FOR NO KEY UPDATE;

-- name: lock_unclaimed
-- The instances of the ids a claim would take with nothing in their inboxes
-- (see commit_unclaimed_steps), locked until the commit: no lease, not
-- parked, no message visible now. In id order, as lock_leases.
SELECT i.instance_id, i.execution_id, i.runtime_status, i.history_len
  FROM {s}.instances AS i
 WHERE i.instance_id = ANY(%b::text[]) AND i.lock_token IS NULL AND NOT i.parked
   AND NOT EXISTS (SELECT 1 FROM {s}.inbox AS m
                    WHERE m.instance_id = i.instance_id AND m.visible_at <= {now})
 ORDER BY i.instance_id FOR NO KEY UPDATE OF i;

-- name: lock_task_tokens
-- The lease tokens of the tasks of these ids, locked until the commit.
SELECT id, lock_token FROM {s}.tasks WHERE id = ANY(%b::bigint[]) ORDER BY id FOR UPDATE;

-- name: delete_history
DELETE FROM {s}.history WHERE instance_id = ANY(%b::text[]);

-- name: insert_history
INSERT INTO {s}.history (instance_id, seq, events)
SELECT * FROM unnest(%b::text[], %b::int[], %b::text[]);

-- name: update_after_step
-- A NULL new execution id keeps the current execution and input. The lease
-- ends; locked_by stays, for affinity.
UPDATE {s}.instances AS i
   SET execution_id = coalesce(u.new_exec, i.execution_id),
       input = CASE WHEN u.new_exec IS NULL THEN i.input ELSE u.input END,
       runtime_status = u.status, custom_status = u.custom_status, output = u.output,
       failure = u.failure, updated_at = {now}, history_len = u.history_len, attempts = 0,
       lock_token = NULL, lock_expires = NULL
  FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[],
              %b::int[], %b::text[])
       AS u(new_exec, input, status, custom_status, output, failure, history_len, instance_id)
 WHERE i.instance_id = u.instance_id;

-- name: delete_consumed
DELETE FROM {s}.inbox AS m USING unnest(%b::bigint[], %b::text[]) AS c(id, instance_id)
 WHERE m.id = c.id AND m.instance_id = c.instance_id;

-- name: insert_tasks
INSERT INTO {s}.tasks (instance_id, execution_id, task_id, name, input, created_at, visible_at,
                       trace_parent)
SELECT t.instance_id, t.execution_id, t.task_id, t.name, t.input, {now}, {now}, t.trace_parent
  FROM unnest(%b::text[], %b::text[], %b::int[], %b::text[], %b::text[], %b::text[])
       WITH ORDINALITY AS t(instance_id, execution_id, task_id, name, input, trace_parent, ord)
 ORDER BY t.ord;

-- name: commit_steps
-- A batch of steps as one statement. `updated` applies each step whose
-- lease holds (re-checked on the latest row version, so a lease taken
-- over meanwhile does not match) and returns the row as it was; every
-- other write joins `updated`: a step whose lease is lost writes nothing.
-- The committing worker may take the tasks it creates (as a claim would),
-- sparing it a claim and a wake-up for work it is about to run.
-- History resets need their deletes to go first: batches with a reset (or
-- a sub-orchestration start) use the multi-statement path. A NULL token is a
-- step run without a claim, whose instance lock_unclaimed has just locked
-- unleased in this transaction.
WITH r AS (
    SELECT * FROM unnest(%(ids)b::text[], %(tokens)b::text[], %(statuses)b::text[],
                         %(customs)b::text[], %(outputs)b::text[], %(failures)b::text[],
                         %(added)b::int[])
           AS r(instance_id, token, status, custom_status, output, failure, added)
), updated AS (
    UPDATE {s}.instances AS i
       SET runtime_status = r.status, custom_status = r.custom_status, output = r.output,
           failure = r.failure, updated_at = {now}, history_len = o.history_len + r.added,
           attempts = 0, lock_token = NULL, lock_expires = NULL
      FROM r JOIN {s}.instances AS o ON o.instance_id = r.instance_id
     WHERE i.instance_id = r.instance_id AND i.lock_token IS NOT DISTINCT FROM r.token
    RETURNING i.instance_id, o.history_len, o.runtime_status
), hist AS (
    INSERT INTO {s}.history (instance_id, seq, events)
    SELECT h.instance_id, u.history_len, h.events
      FROM unnest(%(h_ids)b::text[], %(h_events)b::text[]) AS h(instance_id, events)
      JOIN updated AS u ON u.instance_id = h.instance_id
), consumed AS (
    DELETE FROM {s}.inbox AS m
     USING updated AS u, unnest(%(c_ids)b::text[], %(c_msgs)b::bigint[]) AS c(instance_id, id)
     WHERE u.instance_id = c.instance_id AND m.id = c.id AND m.instance_id = c.instance_id
), finished AS (
    -- The tasks of the activity results the steps consumed (steps run without a claim).
    DELETE FROM {s}.tasks AS t
     USING updated AS u, unnest(%(f_ids)b::text[], %(f_tasks)b::bigint[]) AS f(instance_id, id)
     WHERE u.instance_id = f.instance_id AND t.id = f.id
), tasks AS (
    -- The first `lease_count` tasks go out leased to the committing worker.
    INSERT INTO {s}.tasks (instance_id, execution_id, task_id, name, input, created_at,
                           visible_at, locked_by, lock_token, lock_expires, attempts,
                           trace_parent)
    SELECT t.instance_id, t.execution_id, t.task_id, t.name, t.input, {now}, {now},
           CASE WHEN t.leased THEN %(worker)s::text END,
           CASE WHEN t.leased THEN gen_random_uuid()::text END,
           CASE WHEN t.leased THEN {now} + %(lease)s::bigint END,
           CASE WHEN t.leased THEN 1 ELSE 0 END, t.trace_parent
      FROM (SELECT t.*, row_number() OVER (ORDER BY t.ord) <= %(lease_count)s AS leased
              FROM unnest(%(t_senders)b::text[], %(t_ids)b::text[], %(t_execs)b::text[],
                          %(t_tasks)b::int[], %(t_names)b::text[], %(t_inputs)b::text[],
                          %(t_traces)b::text[])
                   WITH ORDINALITY AS t(sender, instance_id, execution_id, task_id, name,
                                        input, trace_parent, ord)
              JOIN updated AS u ON u.instance_id = t.sender) AS t
     ORDER BY t.ord
    RETURNING id, lock_token, attempts, instance_id, execution_id, task_id, name, input,
              trace_parent
), messages AS (
    INSERT INTO {s}.inbox (instance_id, execution_id, visible_at, event)
    SELECT m.instance_id, m.execution_id, coalesce(m.visible_at, {now}), m.event
      FROM unnest(%(m_senders)b::text[], %(m_ids)b::text[], %(m_execs)b::text[],
                  %(m_visible)b::bigint[], %(m_events)b::text[])
           WITH ORDINALITY AS m(sender, instance_id, execution_id, visible_at, event, ord)
      JOIN updated AS u ON u.instance_id = m.sender
     WHERE EXISTS (SELECT 1 FROM {s}.instances t WHERE t.instance_id = m.instance_id)
     ORDER BY m.ord
)
-- The applied steps (with their status before), then the tasks leased here.
SELECT instance_id, runtime_status, NULL::bigint, NULL::text, NULL::int, NULL::text,
       NULL::int, NULL::text, NULL::text, NULL::text
  FROM updated
UNION ALL
SELECT instance_id, NULL, id, lock_token, attempts, execution_id, task_id, name, input,
       trace_parent
  FROM tasks WHERE lock_token IS NOT NULL;

-- name: notify
-- Wake-ups only: committed without waiting for the WAL flush (a lost
-- notification costs a poll, never data), so the notify lock is brief.
SELECT pg_notify(n.c, n.p) FROM {relaxed}, unnest(%b::text[], %b::text[]) AS n(c, p);

-- name: park_instance
-- Leave an instance whose code no longer replays it: Running, its messages
-- kept, the error in failure, unclaimable until unpark_instances. The lease
-- ends, and the affinity too: whichever worker starts next may take it at once.
UPDATE {s}.instances
   SET runtime_status = 'Running', failure = %s, updated_at = {now}, parked = true,
       attempts = 0, locked_by = NULL, lock_token = NULL, lock_expires = NULL
 WHERE instance_id = %s AND lock_token = %s
RETURNING 1;

-- name: unpark_instance
UPDATE {s}.instances SET parked = false WHERE instance_id = %s AND parked;

-- name: unpark_instances
UPDATE {s}.instances SET parked = false WHERE parked;

-- name: release
WITH released AS (
    UPDATE {s}.instances SET locked_by = NULL, lock_token = NULL, lock_expires = NULL
     WHERE instance_id = %s AND lock_token = %s
    RETURNING 1
)
SELECT 1 FROM released CROSS JOIN {relaxed};

-- name: claim_activities
-- Claimable: visible and not leased (or its lease expired).
WITH picked AS MATERIALIZED (
    SELECT id FROM {s}.tasks
     WHERE visible_at <= {now} AND (lock_token IS NULL OR lock_expires < {now})
     ORDER BY visible_at, id
     LIMIT %(limit)s FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE {s}.tasks AS t
       SET locked_by = %(worker)s, lock_token = gen_random_uuid()::text,
           lock_expires = {now} + %(lease)s::bigint, attempts = t.attempts + 1
     WHERE t.id = ANY(ARRAY(SELECT id FROM picked))
    RETURNING t.id, t.lock_token, t.attempts, t.instance_id, t.execution_id, t.task_id,
              t.name, t.input, t.created_at, t.trace_parent
)
SELECT claimed.* FROM claimed CROSS JOIN {relaxed};

-- name: complete_activities
-- Delete each task whose lease holds (a result twice in the batch counts
-- once) and deliver its message, in batch order; one statement. Returns
-- the completed ids with the worker their instance has affinity to.
WITH r AS (
    SELECT * FROM unnest(%(ids)b::bigint[], %(tokens)b::text[], %(instances)b::text[],
                         %(execs)b::text[], %(events)b::text[]) WITH ORDINALITY
           AS r(id, token, instance_id, execution_id, event, ord)
), done AS (
    DELETE FROM {s}.tasks AS t USING r WHERE t.id = r.id AND t.lock_token = r.token
    RETURNING t.id
), firsts AS (
    SELECT DISTINCT ON (r.id) r.* FROM r JOIN done ON done.id = r.id ORDER BY r.id, r.ord
), sent AS (
    INSERT INTO {s}.inbox (instance_id, execution_id, visible_at, event)
    SELECT f.instance_id, f.execution_id, {now}, f.event FROM firsts AS f
     WHERE EXISTS (SELECT 1 FROM {s}.instances i WHERE i.instance_id = f.instance_id)
     ORDER BY f.ord
)
SELECT f.id, i.locked_by
  FROM firsts AS f LEFT JOIN {s}.instances AS i ON i.instance_id = f.instance_id;

-- name: renew
UPDATE {s}.tasks AS t SET lock_expires = {now} + %s::bigint
  FROM unnest(%b::bigint[], %b::text[]) AS r(id, token), {relaxed}
 WHERE t.id = r.id AND t.lock_token = r.token;

-- name: changed_instances
-- Awaited instances that finished since the previous check (see
-- wakeups.InstanceCheck); a row of NULL when none did, so that the
-- server time always comes back. updated_at is taken when the committing
-- statement starts, before it becomes visible: `slack` looks back over
-- commits that were in flight during the previous check.
WITH now AS (SELECT {now} AS t)
SELECT c.instance_id, now.t FROM now LEFT JOIN (
       SELECT instance_id FROM {s}.instances
        WHERE instance_id = ANY(%(ids)b::text[])
          AND updated_at >= %(since)s::bigint - %(slack)s::bigint
          AND runtime_status = ANY(%(finished)b::text[])) AS c
    ON true;

-- name: next_wakeup
SELECT min(visible_at) FROM {s}.inbox WHERE visible_at > {now};

-- name: register_workers
INSERT INTO {s}.workers (worker_id, origin, seen_at)
SELECT w, %s, {now} FROM unnest(%b::text[]) AS w, {relaxed} ORDER BY w
ON CONFLICT (worker_id) DO UPDATE SET origin = excluded.origin, seen_at = excluded.seen_at;

-- name: forget_workers
DELETE FROM {s}.workers WHERE seen_at < {now} - 86400000000;

-- name: unregister_workers
DELETE FROM {s}.workers WHERE worker_id = ANY(%b::text[]);

-- name: live_workers
SELECT worker_id, origin FROM {s}.workers WHERE seen_at > {now} - %s::bigint;

-- name: orchestration_horizon
-- Measured with each claim: how long until a claim could find something
-- no wake-up announces (a lease expiring, a timer falling due, another
-- worker's affinity running out), by the server's clock. Instances the
-- claim would skip anyway (parked, or of a version it may not run) never
-- come due: counting them would have an old worker poll newer work.
-- The backlog's start messages are looked at only at its head, where the
-- instances a worker opened wait out their first step's lease: the rest were
-- never opened, are claimable as soon as a worker has room (which its own
-- commits announce), and one scan over all of them, each filtered out after a
-- look at its instance, took a 200,000-instance backlog's drain to a third.
WITH started AS (
    SELECT CASE WHEN i.lock_token IS NULL THEN m.visible_at + %(affinity)s::bigint
                ELSE i.lock_expires END AS at
      FROM {s}.inbox AS m
     CROSS JOIN LATERAL (SELECT instance_id, lock_token, lock_expires, locked_by, parked,
                                version_fold, version_num FROM {s}.instances
                          WHERE instance_id = m.instance_id OFFSET 0) AS i
     WHERE m.visible_at <= {now} AND NOT m.backlog
       AND (i.lock_token IS NOT NULL OR i.locked_by <> %(worker)s)
       AND NOT i.parked AND {version_ok}
     ORDER BY m.visible_at
     LIMIT %(scan)s
), opened AS (
    SELECT CASE WHEN i.lock_token IS NULL THEN m.visible_at + %(affinity)s::bigint
                ELSE i.lock_expires END AS at
      FROM (SELECT instance_id, visible_at FROM {s}.inbox
             WHERE visible_at <= {now} AND backlog
             ORDER BY visible_at
             LIMIT %(scan)s) AS m
     CROSS JOIN LATERAL (SELECT instance_id, lock_token, lock_expires, locked_by, parked,
                                version_fold, version_num FROM {s}.instances
                          WHERE instance_id = m.instance_id OFFSET 0) AS i
     WHERE (i.lock_token IS NOT NULL OR i.locked_by <> %(worker)s)
       AND NOT i.parked AND {version_ok}
)
SELECT least((SELECT min(at) FROM started), (SELECT min(at) FROM opened),
             (SELECT min(visible_at) FROM {s}.inbox WHERE visible_at > {now})) - {now},
       (SELECT count(*) FROM started) = %(scan)s;

-- name: activity_horizon
WITH c AS (
    SELECT lock_expires FROM {s}.tasks
     WHERE visible_at <= {now} AND lock_token IS NOT NULL
     ORDER BY visible_at, id
     LIMIT %(scan)s
)
SELECT least((SELECT min(lock_expires) FROM c),
             (SELECT min(visible_at) FROM {s}.tasks WHERE visible_at > {now})) - {now},
       (SELECT count(*) FROM c) = %(scan)s;

-- name: count_statuses
-- /metrics: instances per status and version, each status's count stopping at
-- `cap` rows of the status index, so a scrape stays cheap on a huge hub.
SELECT s.status, c.version, c.instances
  FROM unnest(%(statuses)s::text[]) AS s(status)
 CROSS JOIN LATERAL (
       SELECT l.version, count(*) AS instances
         FROM (SELECT version FROM {s}.instances
                WHERE runtime_status = s.status LIMIT %(cap)s) AS l
        GROUP BY l.version) AS c;

-- name: backlog
-- /metrics: instances with visible messages and claimable tasks (each count
-- stopping at `cap` rows), and the oldest visible message and claimable task.
SELECT (SELECT count(DISTINCT instance_id)
          FROM (SELECT instance_id FROM {s}.inbox WHERE visible_at <= {now}
                 LIMIT %(cap)s) AS m),
       (SELECT count(*) FROM (SELECT 1 FROM {s}.tasks
                               WHERE visible_at <= {now}
                                 AND (lock_token IS NULL OR lock_expires < {now})
                               LIMIT %(cap)s) AS t),
       (SELECT min(visible_at) FROM {s}.inbox WHERE visible_at <= {now}),
       (SELECT min(visible_at) FROM {s}.tasks
         WHERE visible_at <= {now} AND (lock_token IS NULL OR lock_expires < {now})),
       {now};
