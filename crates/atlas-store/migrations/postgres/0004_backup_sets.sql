-- Point-in-time copies of a tenant's policies (written by backup.run).
CREATE TABLE backup_sets (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    run_id TEXT REFERENCES operation_runs(id),
    item_count BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX backup_sets_tenant_idx ON backup_sets (tenant_id, id DESC);
