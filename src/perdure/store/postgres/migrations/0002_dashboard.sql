-- perdure PostgreSQL task hub, version 2: what the dashboard's list and detail read.

-- The orchestrator-name filter: per status, in the list's (created_at,
-- instance_id) order, so that a page merges one ordered range per status and
-- a count per status reads its range of the index alone.
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
    instance_id   text COLLATE "C" NOT NULL,
    generation    integer NOT NULL,
    execution_id  text    NOT NULL,
    started_at    bigint  NOT NULL,
    ended_at      bigint  NOT NULL,
    input_preview text,
    PRIMARY KEY (instance_id, generation)
);
-- The functions keep the hub's search_path: they run in the sessions of the
-- store's statements, which name the schema instead of setting it.
CREATE FUNCTION generations_continue() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO generations (instance_id, generation, execution_id, started_at, ended_at,
                             input_preview)
    SELECT NEW.instance_id, coalesce(max(g.generation), 0) + 1, OLD.execution_id,
           coalesce(max(g.ended_at), OLD.created_at), NEW.updated_at, left(OLD.input, 200)
      FROM generations g WHERE g.instance_id = NEW.instance_id;
    DELETE FROM generations g WHERE g.instance_id = NEW.instance_id AND g.generation <=
        (SELECT max(m.generation) FROM generations m WHERE m.instance_id = NEW.instance_id) - 20;
    RETURN NULL;
END
$$;
CREATE TRIGGER generations_continue AFTER UPDATE OF execution_id ON instances
    FOR EACH ROW WHEN (OLD.execution_id IS DISTINCT FROM NEW.execution_id)
    EXECUTE FUNCTION generations_continue();
CREATE FUNCTION generations_purge() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    DELETE FROM generations WHERE instance_id = OLD.instance_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER generations_purge AFTER DELETE ON instances
    FOR EACH ROW EXECUTE FUNCTION generations_purge();
