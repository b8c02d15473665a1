-- Networks say whether the ports made on them get port security (Neutron's default: yes).
ALTER TABLE networks ADD COLUMN port_security_enabled INTEGER NOT NULL DEFAULT 1;

-- A rule keeps the prefix as it was given (host bits and all); the CIDR it means is kept
-- beside it, for filters and for telling duplicates apart. Rules made before this were stored
-- normalised already.
ALTER TABLE security_group_rules ADD COLUMN normalized_cidr TEXT;
UPDATE security_group_rules SET normalized_cidr = remote_ip_prefix;

-- Tags of the resources with standard attributes, by collection (`networks`, `ports`, ...).
-- Each resource's delete removes its rows in the same transaction.
CREATE TABLE tags (
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    tag TEXT NOT NULL,
    PRIMARY KEY (resource_type, resource_id, tag)
);
CREATE INDEX tags_by_tag ON tags (resource_type, tag);

-- The rules every new security group starts with: those marked used_in_default_sg go into
-- each project's `default` group, those marked used_in_non_default_sg into every other group.
-- remote_group_id 'PARENT' stands for the group being made.
CREATE TABLE default_security_group_rules (
    id TEXT PRIMARY KEY,
    direction TEXT NOT NULL,
    ethertype TEXT NOT NULL,
    protocol TEXT,
    port_range_min BIGINT,
    port_range_max BIGINT,
    remote_ip_prefix TEXT,
    normalized_cidr TEXT,
    remote_group_id TEXT,
    description TEXT NOT NULL DEFAULT '',
    used_in_default_sg INTEGER NOT NULL,
    used_in_non_default_sg INTEGER NOT NULL,
    created_at BIGINT NOT NULL
);

-- Neutron's legacy rules, which every cloud starts with: all egress, and ingress from members
-- of the `default` group itself.
INSERT INTO default_security_group_rules (id, direction, ethertype, description, remote_group_id,
    used_in_default_sg, used_in_non_default_sg, created_at) VALUES
    ('7c8e1f56-3c2a-4b7e-9a41-0d5f2b6e1a01', 'egress', 'IPv4', 'Legacy default SG rule for egress traffic', NULL, 1, 1, 0),
    ('7c8e1f56-3c2a-4b7e-9a41-0d5f2b6e1a02', 'egress', 'IPv6', 'Legacy default SG rule for egress traffic', NULL, 1, 1, 0),
    ('7c8e1f56-3c2a-4b7e-9a41-0d5f2b6e1a03', 'ingress', 'IPv4', 'Legacy default SG rule for ingress traffic', 'PARENT', 1, 0, 0),
    ('7c8e1f56-3c2a-4b7e-9a41-0d5f2b6e1a04', 'ingress', 'IPv6', 'Legacy default SG rule for ingress traffic', 'PARENT', 1, 0, 0);

-- One row, written first by each change of the rule templates, so that two requests cannot
-- both pass the duplicate check (as quota_locks does for a project's creates).
CREATE TABLE template_locks (
    name TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);
