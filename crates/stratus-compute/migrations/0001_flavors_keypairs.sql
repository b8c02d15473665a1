CREATE TABLE flavors (
    -- Nova's flavor ids are strings chosen by the admin ("1", "m1.tiny-id") or uuids.
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    memory_mb BIGINT NOT NULL,
    vcpus BIGINT NOT NULL,
    root_gb BIGINT NOT NULL,
    ephemeral_gb BIGINT NOT NULL,
    swap BIGINT NOT NULL,
    rxtx_factor DOUBLE PRECISION NOT NULL,
    is_public INTEGER NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    -- A JSON object of strings.
    extra_specs TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    updated_at BIGINT
);

CREATE TABLE flavor_access (
    flavor_id TEXT NOT NULL REFERENCES flavors(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    PRIMARY KEY (flavor_id, project_id)
);

CREATE TABLE keypairs (
    id BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    key_type TEXT NOT NULL,
    public_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, name)
);

-- Things done once per deployment (the default flavors), so that deleting what they made
-- does not make it come back at the next start.
CREATE TABLE bootstrap (
    name TEXT PRIMARY KEY,
    done_at BIGINT NOT NULL
);

-- One row per project or user, written first by every transaction that checks a quota, so
-- that concurrent requests of one owner check and write one after another.
CREATE TABLE quota_locks (
    owner TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);
