CREATE TABLE server_groups (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    -- affinity, anti-affinity, soft-affinity or soft-anti-affinity
    policy TEXT NOT NULL,
    -- A JSON object: {"max_server_per_host": n} for anti-affinity.
    rules TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);
CREATE INDEX server_groups_project ON server_groups (project_id);

CREATE TABLE server_group_members (
    group_id TEXT NOT NULL REFERENCES server_groups(id) ON DELETE CASCADE,
    instance_id TEXT NOT NULL,
    PRIMARY KEY (group_id, instance_id)
);
CREATE INDEX server_group_members_instance ON server_group_members (instance_id);
