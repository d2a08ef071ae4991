-- perdure SQLite task hub, version 2: what the dashboard's list and detail read.

-- The orchestrator-name filter: per status, in the list's (created_at,
-- instance_id) order, so that a page merges one ordered range per status and
-- a count per status reads its range of the index alone.
DROP INDEX instances_name;
CREATE INDEX instances_name ON instances (name, runtime_status, created_at, instance_id);
-- The id-prefix filter: the prefix's key range with each row's position and
-- status, read from the index alone (pages and counts of a prefix need nothing
-- else; the status costs this index a write at each status change).
CREATE INDEX instances_id_created ON instances (instance_id, created_at, runtime_status);

-- The last generations of instances that continued as new (at most 20 per
-- instance; generation counts from 1). A trigger keeps them, so every path
-- that continues an instance as new records it: started_at is when the
-- generation began, ended_at when it continued; input_preview the first 200
-- characters of the input it ran with. Purging or replacing the instance
-- (both delete its row) drops them.
CREATE TABLE generations (
    instance_id   TEXT    NOT NULL,
    generation    INTEGER NOT NULL,
    execution_id  TEXT    NOT NULL,
    started_at    INTEGER NOT NULL,
    ended_at      INTEGER NOT NULL,
    input_preview TEXT,
    PRIMARY KEY (instance_id, generation)
) WITHOUT ROWID;
CREATE TRIGGER generations_continue AFTER UPDATE OF execution_id ON instances
    WHEN OLD.execution_id <> NEW.execution_id
BEGIN
    INSERT INTO generations (instance_id, generation, execution_id, started_at, ended_at,
                             input_preview)
    SELECT NEW.instance_id, coalesce(max(generation), 0) + 1, OLD.execution_id,
           coalesce(max(ended_at), OLD.created_at), NEW.updated_at, substr(OLD.input, 1, 200)
      FROM generations WHERE instance_id = NEW.instance_id;
    DELETE FROM generations WHERE instance_id = NEW.instance_id AND generation <=
        (SELECT max(generation) FROM generations WHERE instance_id = NEW.instance_id) - 20;
END;
CREATE TRIGGER generations_purge AFTER DELETE ON instances
BEGIN
    DELETE FROM generations WHERE instance_id = OLD.instance_id;
END;
