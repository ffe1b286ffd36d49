-- A workspace's (and a tenant's) runs newest first, without an index of all
-- of them (docs/BENCHMARKS.md, "Run throughput"). Such an index got a new
-- entry, under the same key, each time a run was claimed and each time it
-- completed. The newest runs are now read in three parts, each along an index
-- that holds it (`monitoring::newest_sql`): queued and running runs by the
-- status indexes of 0012, completed runs by these, which take a run once, when
-- it completes.
DROP INDEX operation_runs_workspace_idx;
DROP INDEX operation_runs_tenant_idx;
CREATE INDEX operation_runs_workspace_done_newest_idx ON operation_runs (workspace_id, id DESC)
    WHERE status = 'completed';
CREATE INDEX operation_runs_tenant_done_newest_idx ON operation_runs (tenant_id, id DESC)
    WHERE status = 'completed';
