-- One row per project, written first by every transaction that creates a resource under a
-- quota, so that concurrent creates of one project are serialized and cannot all pass the
-- count (as the compute and volume services do).
CREATE TABLE quota_locks (
    project_id TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);
