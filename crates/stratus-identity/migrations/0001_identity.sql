CREATE TABLE domains (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    enabled INTEGER NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    domain_id TEXT NOT NULL REFERENCES domains(id),
    parent_id TEXT REFERENCES projects(id),
    description TEXT NOT NULL DEFAULT '',
    enabled INTEGER NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL,
    UNIQUE (domain_id, name)
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    domain_id TEXT NOT NULL REFERENCES domains(id),
    enabled INTEGER NOT NULL,
    password_hash TEXT,
    default_project_id TEXT,
    description TEXT,
    email TEXT,
    failed_auth_count BIGINT NOT NULL DEFAULT 0,
    failed_auth_at BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (domain_id, name)
);

CREATE TABLE user_groups (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    domain_id TEXT NOT NULL REFERENCES domains(id),
    description TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    UNIQUE (domain_id, name)
);

CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES user_groups(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

CREATE TABLE roles (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

CREATE TABLE implied_roles (
    prior_role_id TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    implied_role_id TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    PRIMARY KEY (prior_role_id, implied_role_id)
);

-- actor_kind: 'user' | 'group'; target_kind: 'project' | 'domain' | 'system' (target_id 'all').
-- Actors and targets are not foreign keys because one column holds several kinds; deletes of
-- users, groups, projects and domains remove their assignments in the same transaction.
CREATE TABLE assignments (
    actor_kind TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    role_id TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    PRIMARY KEY (actor_kind, actor_id, target_kind, target_id, role_id)
);
CREATE INDEX assignments_target ON assignments (target_kind, target_id);

CREATE TABLE regions (
    id TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    parent_region_id TEXT REFERENCES regions(id),
    created_at BIGINT NOT NULL
);

CREATE TABLE services (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    enabled INTEGER NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE endpoints (
    id TEXT PRIMARY KEY,
    service_id TEXT NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    interface TEXT NOT NULL,
    region_id TEXT REFERENCES regions(id),
    url TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE application_credentials (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    description TEXT,
    expires_at BIGINT,
    unrestricted INTEGER NOT NULL,
    roles TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, name)
);

-- A token is revoked when it was issued at or before issued_before and every non-null
-- attribute of an event matches it.
CREATE TABLE revocation_events (
    id TEXT PRIMARY KEY,
    user_id TEXT,
    project_id TEXT,
    domain_id TEXT,
    audit_id TEXT,
    issued_before BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL
);
