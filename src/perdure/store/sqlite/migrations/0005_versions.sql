-- perdure SQLite task hub, version 5: orchestration versions and parking.
--
-- version is the version an instance was started with ('' when none);
-- version_fold and version_num are its comparison key (perdure.core.versions:
-- the case-folded text, '' for no version, and the fixed-width numeric parse,
-- NULL when it does not parse), which the claim compares in SQL so that a
-- worker never leases an instance of a version it may not run.
-- parked = 1: a worker found the instance's code no longer replays its history
-- and left it (Running, its messages kept) until a worker starts again.
ALTER TABLE instances ADD COLUMN version TEXT NOT NULL DEFAULT '';
ALTER TABLE instances ADD COLUMN version_fold TEXT NOT NULL DEFAULT '';
ALTER TABLE instances ADD COLUMN version_num TEXT;
ALTER TABLE instances ADD COLUMN parked INTEGER NOT NULL DEFAULT 0;
-- Queries by version (has an old version drained?), paged like the others.
CREATE INDEX instances_version ON instances (version, created_at, instance_id);
-- Parked instances are few: a worker starting finds them without a scan.
CREATE INDEX instances_parked ON instances (instance_id) WHERE parked = 1;
