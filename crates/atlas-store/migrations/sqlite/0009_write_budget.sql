-- Provider write pacing: one row per write reserved against a tenant's budget
-- (a sliding window shared by every worker), and a per-tenant row that
-- serializes reservations.
CREATE TABLE write_budget_tenants (
    tenant_id TEXT PRIMARY KEY,
    updated_at INTEGER NOT NULL
);

CREATE TABLE write_budget_log (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX write_budget_log_tenant_idx ON write_budget_log (tenant_id, at);
