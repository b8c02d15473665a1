CREATE TABLE volumes (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    project_id TEXT NOT NULL,
    size BIGINT NOT NULL,
    status TEXT NOT NULL,
    volume_type TEXT,
    availability_zone TEXT NOT NULL,
    bootable INTEGER NOT NULL DEFAULT 0,
    multiattach INTEGER NOT NULL DEFAULT 0,
    source_volid TEXT,
    snapshot_id TEXT,
    image_id TEXT,
    -- JSON objects of strings.
    metadata TEXT NOT NULL DEFAULT '{}',
    image_metadata TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX volumes_project ON volumes (project_id, deleted);

CREATE TABLE attachments (
    id TEXT PRIMARY KEY,
    volume_id TEXT NOT NULL REFERENCES volumes(id),
    project_id TEXT NOT NULL,
    instance_uuid TEXT NOT NULL,
    -- reserved, attaching, attached, detached
    status TEXT NOT NULL,
    attach_mode TEXT NOT NULL,
    connector TEXT,
    connection_info TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX attachments_volume ON attachments (volume_id);

CREATE TABLE snapshots (
    id TEXT PRIMARY KEY,
    volume_id TEXT NOT NULL REFERENCES volumes(id),
    project_id TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    size BIGINT NOT NULL,
    -- creating, available, deleting, error, error_deleting
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX snapshots_volume ON snapshots (volume_id, deleted);
CREATE INDEX snapshots_project ON snapshots (project_id, deleted);

CREATE TABLE volume_types (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    is_public INTEGER NOT NULL DEFAULT 1,
    -- A JSON object of strings.
    extra_specs TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);
