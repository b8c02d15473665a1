-- A compute host: its agent's service record and its resources, reported by the agent and
-- claimed by the scheduler (the *_used columns move only in conditional UPDATEs).
CREATE TABLE compute_nodes (
    host TEXT PRIMARY KEY,
    service_id TEXT NOT NULL,
    availability_zone TEXT NOT NULL,
    hypervisor_type TEXT NOT NULL,
    hypervisor_version BIGINT NOT NULL,
    vcpus BIGINT NOT NULL,
    memory_mb BIGINT NOT NULL,
    disk_gb BIGINT NOT NULL,
    vcpus_used BIGINT NOT NULL DEFAULT 0,
    memory_mb_used BIGINT NOT NULL DEFAULT 0,
    disk_gb_used BIGINT NOT NULL DEFAULT 0,
    enabled INTEGER NOT NULL DEFAULT 1,
    disabled_reason TEXT,
    heartbeat_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    -- The flavor as it was at boot, as JSON (Nova embeds it from 2.47).
    flavor TEXT NOT NULL,
    vcpus BIGINT NOT NULL,
    memory_mb BIGINT NOT NULL,
    root_gb BIGINT NOT NULL,
    image_id TEXT,
    host TEXT,
    vm_state TEXT NOT NULL,
    task_state TEXT,
    power_state INTEGER NOT NULL,
    availability_zone TEXT,
    key_name TEXT,
    key_data TEXT,
    user_data TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    config_drive INTEGER NOT NULL DEFAULT 0,
    -- What the user asked for ("none", "auto" or a list), and what the agent made.
    requested_networks TEXT NOT NULL,
    addresses TEXT NOT NULL DEFAULT '{}',
    ports TEXT NOT NULL DEFAULT '[]',
    fault TEXT,
    locked INTEGER NOT NULL DEFAULT 0,
    -- Hosts tried so far, and the ones left to try after a failure.
    attempts TEXT NOT NULL DEFAULT '[]',
    alternates TEXT NOT NULL DEFAULT '[]',
    -- Whether the resources on `host` are claimed.
    claimed INTEGER NOT NULL DEFAULT 0,
    -- When the current task must be over; the reconciler errors what overruns it.
    task_deadline BIGINT,
    launched_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX instances_project ON instances (project_id, deleted);
CREATE INDEX instances_host ON instances (host, deleted);

CREATE TABLE instance_actions (
    instance_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    action TEXT NOT NULL,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    start_time BIGINT NOT NULL,
    finish_time BIGINT,
    message TEXT,
    PRIMARY KEY (instance_id, request_id)
);

CREATE TABLE instance_action_events (
    instance_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    event TEXT NOT NULL,
    seq BIGINT NOT NULL,
    start_time BIGINT NOT NULL,
    finish_time BIGINT,
    result TEXT,
    host TEXT,
    details TEXT,
    PRIMARY KEY (instance_id, request_id, seq)
);

CREATE TABLE compute_quotas (
    project_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    hard_limit BIGINT NOT NULL,
    PRIMARY KEY (project_id, resource)
);
