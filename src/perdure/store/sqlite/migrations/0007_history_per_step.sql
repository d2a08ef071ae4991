-- History as one row per step, as on PostgreSQL: events is the JSON array of
-- the events a step appended, and seq the position of its first event in the
-- execution. A step's commit writes one row instead of one per event (a hello
-- sequence: 4 rows, not 12), and a replay decodes one array per step. The rows
-- of older hubs become one-event arrays at their own positions.
CREATE TABLE history_steps (
    instance_id TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    events      TEXT    NOT NULL,
    PRIMARY KEY (instance_id, seq)
) WITHOUT ROWID;
INSERT INTO history_steps (instance_id, seq, events)
SELECT instance_id, seq, '[' || event || ']' FROM history;
DROP TABLE history;
ALTER TABLE history_steps RENAME TO history;
