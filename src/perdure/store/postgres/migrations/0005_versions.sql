-- perdure PostgreSQL task hub, version 5: orchestration versions and parking.
--
-- version is the version an instance was started with ('' when none);
-- version_fold and version_num are its comparison key (perdure.core.versions:
-- the case-folded text, '' for no version, and the fixed-width numeric parse,
-- NULL when it does not parse), which the claim compares in SQL (COLLATE "C":
-- code-point order, as SQLite) so that a worker never leases an instance of a
-- version it may not run. None of them changes after the instance is created,
-- so steps stay HOT updates.
-- parked: a worker found the instance's code no longer replays its history
-- and left it (Running, its messages kept) until a worker starts again.
ALTER TABLE instances
    ADD COLUMN version      text COLLATE "C" NOT NULL DEFAULT '',
    ADD COLUMN version_fold text COLLATE "C" NOT NULL DEFAULT '',
    ADD COLUMN version_num  text COLLATE "C",
    ADD COLUMN parked       boolean NOT NULL DEFAULT false;
-- Queries by version (has an old version drained?), paged like the others.
CREATE INDEX instances_version ON instances (version, created_at, instance_id);
-- Parked instances are few: a worker starting finds them without a scan.
CREATE INDEX instances_parked ON instances (instance_id) WHERE parked;
