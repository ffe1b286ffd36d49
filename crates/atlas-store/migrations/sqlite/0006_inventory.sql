-- The tenant inventory as of the last inventory.sync.
CREATE TABLE inventory_items (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL,
    object_id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    first_seen_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    last_run_id TEXT,
    PRIMARY KEY (tenant_id, kind, object_id)
);
