-- Host aggregates (Nova's os-aggregates): named groups of compute hosts with metadata. The
-- `availability_zone` key of an aggregate's metadata is the zone of its hosts; the scheduler
-- matches the other keys against flavors' `aggregate_instance_extra_specs:` extra specs.
-- Ids are Nova's integers, taken from the sequence row `seq:aggregates` of quota_locks, so
-- a deleted aggregate's id is never given again.
CREATE TABLE aggregates (
    id BIGINT PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT
);

CREATE TABLE aggregate_hosts (
    aggregate_id BIGINT NOT NULL REFERENCES aggregates(id) ON DELETE CASCADE,
    host TEXT NOT NULL,
    PRIMARY KEY (aggregate_id, host)
);
CREATE INDEX aggregate_hosts_host ON aggregate_hosts (host);

CREATE TABLE aggregate_metadata (
    aggregate_id BIGINT NOT NULL REFERENCES aggregates(id) ON DELETE CASCADE,
    meta_key TEXT NOT NULL,
    meta_value TEXT NOT NULL,
    PRIMARY KEY (aggregate_id, meta_key)
);

-- When an instance stopped counting (Nova's terminated_at, what os-simple-tenant-usage bills
-- up to) and when it was deleted. Instances deleted before this migration ended at their
-- last update.
ALTER TABLE instances ADD COLUMN terminated_at BIGINT;
ALTER TABLE instances ADD COLUMN deleted_at BIGINT;
UPDATE instances SET terminated_at = updated_at, deleted_at = updated_at WHERE deleted = 1;
CREATE INDEX instances_usage ON instances (launched_at, terminated_at);

-- Whether the server's zone was taken from its host rather than asked for (a reschedule is
-- then free to go to any zone).
ALTER TABLE instances ADD COLUMN zone_from_host INTEGER NOT NULL DEFAULT 0;

-- A compute host's integer id (Nova's hypervisor and service ids before microversion 2.53;
-- its uuid, `service_id`, from 2.53), in the order the hosts registered. New hosts take the
-- next value of the sequence row `seq:compute_nodes` of quota_locks.
ALTER TABLE compute_nodes ADD COLUMN id BIGINT;
UPDATE compute_nodes SET id = (
    SELECT COUNT(*) FROM compute_nodes c
    WHERE c.created_at < compute_nodes.created_at
       OR (c.created_at = compute_nodes.created_at AND c.host <= compute_nodes.host)
);
CREATE UNIQUE INDEX compute_nodes_id ON compute_nodes (id);
-- The address the host's agent reaches the control plane from (Nova's host_ip).
ALTER TABLE compute_nodes ADD COLUMN host_ip TEXT;
-- The sequence row holds the last id given minus one (its first use counts it up).
INSERT INTO quota_locks (owner, version)
    SELECT 'seq:compute_nodes', (SELECT MAX(id) FROM compute_nodes) - 1
    WHERE EXISTS (SELECT 1 FROM compute_nodes);
