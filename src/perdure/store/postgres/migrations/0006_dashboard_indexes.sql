-- The dashboard's name and id-prefix indexes without the status (version 2
-- gave them one): the status changes at every step, and each index holding
-- it cost every status change one more index write (about 1.7 times the
-- index work of an instance's start and two status changes). A status filter
-- with a name or a prefix now reads the rows of the index's range instead,
-- and counts under a name or a prefix are one bounded pass.
DROP INDEX instances_name;
CREATE INDEX instances_name ON instances (name, created_at, instance_id);
DROP INDEX instances_id_created;
CREATE INDEX instances_id_created ON instances (instance_id, created_at);
