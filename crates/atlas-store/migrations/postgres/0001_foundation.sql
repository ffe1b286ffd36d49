-- TenantAtlas schema, PostgreSQL dialect. Timestamps are integer microseconds (UTC),
-- ids are UUID text, JSON is text, booleans are 0/1: the same in both dialects,
-- so that most queries are written once.

CREATE TABLE workspaces (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT,
    disabled_at BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE custom_roles (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    name TEXT NOT NULL,
    capabilities TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT custom_roles_name_key UNIQUE (workspace_id, name)
);

CREATE TABLE memberships (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    builtin_role TEXT,
    custom_role_id TEXT REFERENCES custom_roles(id),
    tenant_scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT memberships_user_key UNIQUE (workspace_id, user_id),
    CHECK ((builtin_role IS NULL) <> (custom_role_id IS NULL))
);
CREATE INDEX memberships_user_idx ON memberships (user_id);

CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    name TEXT NOT NULL,
    external_tenant_id TEXT,
    status TEXT NOT NULL,
    writes_enabled BIGINT NOT NULL DEFAULT 0,
    writes_changed_by TEXT,
    writes_changed_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT tenants_name_key UNIQUE (workspace_id, name)
);

CREATE TABLE provider_connections (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    config TEXT NOT NULL DEFAULT '{}',
    secret_ciphertext TEXT,
    health TEXT,
    checked_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT provider_connections_tenant_key UNIQUE (tenant_id)
);

CREATE TABLE backup_schedules (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    cron TEXT NOT NULL,
    timezone TEXT NOT NULL,
    enabled BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    last_changed_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE operation_runs (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    tenant_id TEXT REFERENCES tenants(id),
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    outcome TEXT NOT NULL,
    initiator_user_id TEXT REFERENCES users(id),
    authority_mode TEXT NOT NULL,
    source TEXT,
    params TEXT NOT NULL,
    context TEXT NOT NULL,
    dedupe_key TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    max_attempts BIGINT NOT NULL,
    run_after BIGINT NOT NULL,
    lease_owner TEXT,
    lease_token TEXT,
    lease_expires_at BIGINT,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    completed_at BIGINT,
    decision TEXT,
    failures TEXT NOT NULL,
    retry_of_run_id TEXT REFERENCES operation_runs(id),
    summary_counts TEXT NOT NULL,
    result TEXT NOT NULL
);
-- At most one active run per dedupe key (SPEC §4).
CREATE UNIQUE INDEX operation_runs_active_dedupe_key ON operation_runs (dedupe_key)
    WHERE status IN ('queued', 'running');
CREATE INDEX operation_runs_runnable_idx ON operation_runs (run_after) WHERE status = 'queued';
CREATE INDEX operation_runs_lease_idx ON operation_runs (lease_expires_at) WHERE status = 'running';
CREATE INDEX operation_runs_workspace_idx ON operation_runs (workspace_id, id DESC);
CREATE INDEX operation_runs_tenant_idx ON operation_runs (tenant_id, id DESC);

CREATE TABLE schedule_fires (
    schedule_id TEXT NOT NULL REFERENCES backup_schedules(id),
    slot BIGINT NOT NULL,
    run_id TEXT REFERENCES operation_runs(id),
    fired_at BIGINT NOT NULL,
    PRIMARY KEY (schedule_id, slot)
);

CREATE TABLE run_items (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES operation_runs(id),
    item_key TEXT NOT NULL,
    target TEXT NOT NULL,
    status TEXT NOT NULL,
    outcome TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    reason_code TEXT,
    detail TEXT NOT NULL DEFAULT '{}',
    updated_at BIGINT NOT NULL,
    CONSTRAINT run_items_key UNIQUE (run_id, item_key)
);

CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    run_id TEXT NOT NULL REFERENCES operation_runs(id),
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    outcome TEXT NOT NULL,
    read_at BIGINT,
    created_at BIGINT NOT NULL,
    CONSTRAINT notifications_once_key UNIQUE (user_id, run_id, kind)
);
CREATE INDEX notifications_user_idx ON notifications (user_id, id DESC);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);

-- Append-only. Transactions insert with hash NULL; the sealer links each
-- chain (a workspace id, or 'global') in (xact, seq) order.
CREATE TABLE audit_events (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    chain TEXT NOT NULL,
    xact BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    workspace_id TEXT,
    tenant_id TEXT,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    chain_index BIGINT,
    prev_hash TEXT,
    hash TEXT
);
CREATE INDEX audit_events_unsealed_idx ON audit_events (chain, xact, seq) WHERE hash IS NULL;
CREATE INDEX audit_events_chain_idx ON audit_events (chain, chain_index);
CREATE INDEX audit_events_subject_idx ON audit_events (subject, seq);
CREATE INDEX audit_events_workspace_idx ON audit_events (workspace_id, seq DESC);

CREATE TABLE audit_chain_heads (
    chain TEXT PRIMARY KEY,
    last_index BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    last_hash TEXT NOT NULL,
    sealed_at BIGINT NOT NULL
);
