-- Results of the read, backup and restore families.

-- Every stored version of a policy object; a new one only when its content hash changed.
CREATE TABLE policy_versions (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL,
    object_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    display_name TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    payload TEXT NOT NULL,
    run_id TEXT,
    created_at INTEGER NOT NULL,
    CONSTRAINT policy_versions_key UNIQUE (tenant_id, kind, object_id, version)
);

-- The latest known state per object, and when a sync last saw it gone.
CREATE TABLE policy_heads (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL,
    object_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    removed_at INTEGER,
    PRIMARY KEY (tenant_id, kind, object_id)
);

CREATE TABLE compliance_snapshots (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    run_id TEXT,
    compliant INTEGER NOT NULL,
    non_compliant INTEGER NOT NULL,
    error INTEGER NOT NULL,
    not_applicable INTEGER NOT NULL,
    policies TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX compliance_snapshots_tenant_idx ON compliance_snapshots (tenant_id, id DESC);

-- Content-addressed payloads: an item identical to an earlier set's is stored once.
CREATE TABLE backup_blobs (
    content_hash TEXT PRIMARY KEY,
    payload TEXT NOT NULL,
    assignments TEXT NOT NULL
);

CREATE TABLE backup_items (
    id TEXT PRIMARY KEY,
    backup_set_id TEXT NOT NULL REFERENCES backup_sets(id),
    kind TEXT NOT NULL,
    object_id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    content_hash TEXT NOT NULL REFERENCES backup_blobs(content_hash),
    CONSTRAINT backup_items_key UNIQUE (backup_set_id, kind, object_id)
);

-- Restore's memory of objects it had to re-create: the backed-up id and the
-- id the tenant gave the new object, so a second restore updates, never duplicates.
CREATE TABLE restore_object_map (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL,
    source_object_id TEXT NOT NULL,
    target_object_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, kind, source_object_id)
);
