-- Roles owned by a domain (Keystone's domain-specific roles); NULL is a global role.
ALTER TABLE roles ADD COLUMN domain_id TEXT;

-- Grants inherited by the projects under a domain or a project (OS-INHERIT). Kept apart from
-- the direct grants: they give a role on the projects below their target, not on it.
CREATE TABLE inherited_assignments (
    actor_kind TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    role_id TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    PRIMARY KEY (actor_kind, actor_id, target_kind, target_id, role_id)
);
CREATE INDEX inherited_assignments_target ON inherited_assignments (target_kind, target_id);

-- Credentials (/v3/credentials, and OS-EC2's, whose id is the SHA-256 of their access key).
-- The blob is encrypted with the credential key repository.
CREATE TABLE credentials (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    project_id TEXT,
    type TEXT NOT NULL,
    encrypted_blob TEXT NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);
CREATE INDEX credentials_user ON credentials (user_id);

-- Trusts (OS-TRUST): a trustor delegates roles on a project to a trustee.
CREATE TABLE trusts (
    id TEXT PRIMARY KEY,
    trustor_user_id TEXT NOT NULL,
    trustee_user_id TEXT NOT NULL,
    project_id TEXT,
    impersonation INTEGER NOT NULL,
    expires_at BIGINT,
    remaining_uses BIGINT,
    redelegated_trust_id TEXT,
    redelegation_count BIGINT NOT NULL DEFAULT 0,
    extra TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);
CREATE TABLE trust_roles (
    trust_id TEXT NOT NULL REFERENCES trusts(id) ON DELETE CASCADE,
    role_id TEXT NOT NULL,
    PRIMARY KEY (trust_id, role_id)
);

-- OAuth 1.0a (OS-OAUTH1): consumers, request tokens on their way to authorization, and the
-- access tokens they become. Secrets are encrypted with the credential key repository,
-- since signatures are checked with them.
CREATE TABLE oauth_consumers (
    id TEXT PRIMARY KEY,
    description TEXT,
    encrypted_secret TEXT NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);
CREATE TABLE oauth_request_tokens (
    id TEXT PRIMARY KEY,
    encrypted_secret TEXT NOT NULL,
    consumer_id TEXT NOT NULL REFERENCES oauth_consumers(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    role_ids TEXT,
    authorizing_user_id TEXT,
    verifier TEXT,
    expires_at BIGINT NOT NULL
);
CREATE TABLE oauth_access_tokens (
    id TEXT PRIMARY KEY,
    encrypted_secret TEXT NOT NULL,
    consumer_id TEXT NOT NULL REFERENCES oauth_consumers(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    authorizing_user_id TEXT NOT NULL,
    role_ids TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Access rules of application credentials, shared by the credentials of one user.
CREATE TABLE access_rules (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    service TEXT NOT NULL,
    path TEXT NOT NULL,
    method TEXT NOT NULL,
    UNIQUE (user_id, service, path, method)
);
CREATE TABLE application_credential_access_rules (
    application_credential_id TEXT NOT NULL REFERENCES application_credentials(id) ON DELETE CASCADE,
    access_rule_id TEXT NOT NULL REFERENCES access_rules(id),
    PRIMARY KEY (application_credential_id, access_rule_id)
);

-- Domain-specific configuration: one row per option, its value as JSON.
CREATE TABLE domain_configs (
    domain_id TEXT NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    grp TEXT NOT NULL,
    option_name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (domain_id, grp, option_name)
);

-- Policy blobs (/v3/policies), stored for services that fetch them.
CREATE TABLE policies (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    blob TEXT NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);

-- Endpoint groups and the endpoints a project sees (OS-EP-FILTER).
CREATE TABLE endpoint_groups (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    filters TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE project_endpoint_groups (
    endpoint_group_id TEXT NOT NULL REFERENCES endpoint_groups(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    PRIMARY KEY (endpoint_group_id, project_id)
);
CREATE TABLE project_endpoints (
    endpoint_id TEXT NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, project_id)
);

-- Revocations by trust and by OAuth access token.
ALTER TABLE revocation_events ADD COLUMN trust_id TEXT;
ALTER TABLE revocation_events ADD COLUMN access_token_id TEXT;
