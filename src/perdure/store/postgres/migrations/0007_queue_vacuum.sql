-- The queue tables are vacuumed after every few thousand changes, not after
-- a fifth of the table: a claim walks the inbox and task indexes from their
-- heads, where every consumed message and finished task leaves a dead entry
-- until a vacuum, and during a drain of a large backlog (the default waits for
-- 20% of the table to change) the claims walked ever more of them.
ALTER TABLE inbox SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000,
                       autovacuum_vacuum_insert_scale_factor = 0,
                       autovacuum_vacuum_insert_threshold = 5000);
ALTER TABLE tasks SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000,
                       autovacuum_vacuum_insert_scale_factor = 0,
                       autovacuum_vacuum_insert_threshold = 5000);
ALTER TABLE instances SET (autovacuum_vacuum_scale_factor = 0.02,
                           autovacuum_analyze_scale_factor = 0.02);
