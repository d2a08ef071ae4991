-- perdure SQLite task hub, version 3: started instances before the backlog.
-- backlog = 1 marks the start message of an instance a client created (not
-- a sub-orchestration's): claims take the work of started instances first
-- (through inbox_started) and open the backlog only with the room left, so
-- a started instance runs to its end before new ones are opened, and what a
-- worker holds in memory does not grow with the backlog.
ALTER TABLE inbox ADD COLUMN backlog INTEGER NOT NULL DEFAULT 0;
CREATE INDEX inbox_started ON inbox (visible_at, instance_id) WHERE backlog = 0;
