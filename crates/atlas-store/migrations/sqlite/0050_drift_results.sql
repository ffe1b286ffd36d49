-- Kept drift checks (SPEC §10.1): what differed between the live tenant and
-- its newest backup set when a drift.check run looked. The diff is the
-- setting-level SetDiff as JSON; the counts are kept apart for the fleet
-- overview, which reads only each tenant's newest row.
CREATE TABLE drift_results (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    run_id TEXT NOT NULL,
    backup_set_id TEXT NOT NULL REFERENCES backup_sets(id),
    backup_created_at INTEGER NOT NULL,
    added INTEGER NOT NULL,
    removed INTEGER NOT NULL,
    changed INTEGER NOT NULL,
    unchanged INTEGER NOT NULL,
    diff TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX drift_results_tenant_idx ON drift_results (tenant_id, id DESC);
CREATE INDEX drift_results_workspace_idx ON drift_results (workspace_id, tenant_id, id DESC);
