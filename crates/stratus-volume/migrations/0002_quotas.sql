-- Per-project quota limits that differ from the configured defaults.
CREATE TABLE quotas (
    project_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    hard_limit BIGINT NOT NULL,
    PRIMARY KEY (project_id, resource)
);

-- One row per project, written first by every transaction that checks a quota, so that two
-- concurrent requests of one project are serialized and cannot both pass the check.
CREATE TABLE quota_locks (
    project_id TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);

-- The size an extend in progress is growing the volume to: counted by the quota until the
-- extend ends.
ALTER TABLE volumes ADD COLUMN extend_to BIGINT;

-- The user who created a volume or snapshot, as Cinder shows it.
ALTER TABLE volumes ADD COLUMN user_id TEXT NOT NULL DEFAULT '';
ALTER TABLE snapshots ADD COLUMN user_id TEXT NOT NULL DEFAULT '';
