-- Unified limits: the default limit of a resource a service counts (registered limits), and
-- a project's or a domain's own limit of it. Quota enforcement stays in each service; these
-- are what services read (Keystone's flat model).
CREATE TABLE registered_limits (
    id TEXT PRIMARY KEY,
    service_id TEXT NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    region_id TEXT,
    resource_name TEXT NOT NULL,
    default_limit BIGINT NOT NULL,
    description TEXT,
    created_at BIGINT NOT NULL
);
-- (service, region, resource) is unique, a missing region counting as one value.
CREATE UNIQUE INDEX registered_limits_key ON registered_limits (service_id, COALESCE(region_id, ''), resource_name);
CREATE TABLE limits (
    id TEXT PRIMARY KEY,
    registered_limit_id TEXT NOT NULL REFERENCES registered_limits(id),
    project_id TEXT,
    domain_id TEXT,
    resource_limit BIGINT NOT NULL,
    description TEXT,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX limits_key ON limits (registered_limit_id, COALESCE(project_id, ''), COALESCE(domain_id, ''));
