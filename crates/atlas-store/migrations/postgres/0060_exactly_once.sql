-- Side effects exactly once across a rescue (issue 15 item 17).
--
-- A restore's create and its restore_object_map entry cannot share a
-- transaction (the create happens in the tenant), so the create is announced
-- first: an intent left behind means "a create of this backed-up object may
-- have landed", and the next attempt looks for it before creating again.
CREATE TABLE restore_create_intents (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL,
    source_object_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, kind, source_object_id)
);

-- A backup run's set is found again by its run (and, for a bulk run, its
-- tenant): an attempt after a rescue keeps the set the first one wrote.
CREATE INDEX backup_sets_run_idx ON backup_sets (run_id, tenant_id);
