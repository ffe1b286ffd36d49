-- The sandbox provider's simulated tenants (SPEC §5), kept in the product's own
-- database. Rows are keyed by the product tenant's id but carry no foreign key:
-- the sandbox stands in for a remote system, which knows nothing of our rows.

-- A tenant is seeded once; this marker makes seeding idempotent.
CREATE TABLE sandbox_tenants (
    tenant_id TEXT PRIMARY KEY,
    seeded_at INTEGER NOT NULL
);

CREATE TABLE sandbox_objects (
    tenant_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    object_id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    payload TEXT NOT NULL,
    assignments TEXT NOT NULL DEFAULT '[]',
    version INTEGER NOT NULL DEFAULT 1,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, kind, object_id)
);

CREATE TABLE sandbox_groups (
    tenant_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    PRIMARY KEY (tenant_id, group_id)
);

CREATE TABLE sandbox_compliance (
    tenant_id TEXT NOT NULL,
    policy_id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    compliant INTEGER NOT NULL,
    non_compliant INTEGER NOT NULL,
    error INTEGER NOT NULL,
    not_applicable INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, policy_id)
);

-- The next `remaining` provider calls of the tenant are slowed, throttled or failed.
CREATE TABLE sandbox_faults (
    tenant_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    remaining INTEGER NOT NULL,
    ms INTEGER NOT NULL
);

-- Every fenced write, append-only: how tests prove that a refused run wrote nothing.
CREATE TABLE sandbox_journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    lease_token TEXT NOT NULL,
    op TEXT NOT NULL,
    kind TEXT NOT NULL,
    object_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX sandbox_journal_tenant_idx ON sandbox_journal (tenant_id, seq);
