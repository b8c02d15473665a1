CREATE TABLE networks (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    project_id TEXT NOT NULL,
    admin_state_up INTEGER NOT NULL,
    shared INTEGER NOT NULL,
    external INTEGER NOT NULL,
    mtu BIGINT NOT NULL,
    network_type TEXT,
    physical_network TEXT,
    segmentation_id BIGINT,
    status TEXT NOT NULL,
    revision_number BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX networks_project ON networks (project_id);

CREATE TABLE subnets (
    id TEXT PRIMARY KEY,
    network_id TEXT NOT NULL REFERENCES networks(id),
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    project_id TEXT NOT NULL,
    ip_version INTEGER NOT NULL,
    cidr TEXT NOT NULL,
    gateway_ip TEXT,
    enable_dhcp INTEGER NOT NULL,
    -- JSON lists: name servers, host routes and allocation pools.
    dns_nameservers TEXT NOT NULL,
    host_routes TEXT NOT NULL,
    allocation_pools TEXT NOT NULL,
    ipv6_ra_mode TEXT,
    ipv6_address_mode TEXT,
    revision_number BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX subnets_network ON subnets (network_id);
CREATE INDEX subnets_project ON subnets (project_id);

CREATE TABLE ports (
    id TEXT PRIMARY KEY,
    network_id TEXT NOT NULL REFERENCES networks(id),
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    project_id TEXT NOT NULL,
    mac_address TEXT NOT NULL,
    admin_state_up INTEGER NOT NULL,
    status TEXT NOT NULL,
    device_id TEXT NOT NULL DEFAULT '',
    device_owner TEXT NOT NULL DEFAULT '',
    binding_host_id TEXT NOT NULL DEFAULT '',
    binding_vif_type TEXT NOT NULL,
    binding_vnic_type TEXT NOT NULL,
    binding_vif_details TEXT NOT NULL,
    binding_profile TEXT NOT NULL,
    port_security_enabled INTEGER NOT NULL,
    allowed_address_pairs TEXT NOT NULL,
    revision_number BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (network_id, mac_address)
);
CREATE INDEX ports_network ON ports (network_id);
CREATE INDEX ports_device ON ports (device_id);
CREATE INDEX ports_project ON ports (project_id);

-- One row per address in use: the primary key is what makes an address go to one port only,
-- whichever API process allocates it.
CREATE TABLE ip_allocations (
    subnet_id TEXT NOT NULL REFERENCES subnets(id),
    ip_address TEXT NOT NULL,
    port_id TEXT REFERENCES ports(id),
    network_id TEXT NOT NULL,
    PRIMARY KEY (subnet_id, ip_address)
);
CREATE INDEX ip_allocations_port ON ip_allocations (port_id);

CREATE TABLE security_groups (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    project_id TEXT NOT NULL,
    stateful INTEGER NOT NULL DEFAULT 1,
    -- 1 for the project's `default` group; at most one per project.
    is_default INTEGER NOT NULL DEFAULT 0,
    revision_number BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX security_groups_project ON security_groups (project_id);
CREATE TABLE default_security_groups (
    project_id TEXT PRIMARY KEY,
    security_group_id TEXT NOT NULL REFERENCES security_groups(id)
);

CREATE TABLE security_group_rules (
    id TEXT PRIMARY KEY,
    security_group_id TEXT NOT NULL REFERENCES security_groups(id),
    project_id TEXT NOT NULL,
    direction TEXT NOT NULL,
    ethertype TEXT NOT NULL,
    protocol TEXT,
    port_range_min BIGINT,
    port_range_max BIGINT,
    remote_ip_prefix TEXT,
    remote_group_id TEXT,
    description TEXT NOT NULL DEFAULT '',
    revision_number BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX security_group_rules_group ON security_group_rules (security_group_id);
CREATE INDEX security_group_rules_project ON security_group_rules (project_id);

CREATE TABLE port_security_groups (
    port_id TEXT NOT NULL REFERENCES ports(id),
    security_group_id TEXT NOT NULL REFERENCES security_groups(id),
    PRIMARY KEY (port_id, security_group_id)
);

CREATE TABLE quotas (
    project_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    hard_limit BIGINT NOT NULL,
    PRIMARY KEY (project_id, resource)
);
