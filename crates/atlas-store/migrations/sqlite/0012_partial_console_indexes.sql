-- The Monitoring indexes by status and by outcome, partial (docs/BENCHMARKS.md,
-- "Run throughput"). Every change of a run's status writes a new entry into
-- each of its indexes, and a run changes status twice on its way through the
-- queue. Each index below now holds a run only in one part of its life: the
-- status ones while it is queued or running (the small part that the
-- Queued and Running tabs show), the outcome ones once it has completed (when
-- it has an outcome to filter by). Monitoring's queries repeat each predicate
-- word for word (`monitoring::ACTIVE`, `monitoring::DONE`), which is how
-- SQLite, like PostgreSQL, knows it may use them.
DROP INDEX operation_runs_workspace_status_idx;
DROP INDEX operation_runs_workspace_outcome_idx;
DROP INDEX operation_runs_tenant_status_idx;
DROP INDEX operation_runs_tenant_outcome_idx;
CREATE INDEX operation_runs_workspace_active_idx ON operation_runs (workspace_id, status, id DESC)
    WHERE status <> 'completed';
CREATE INDEX operation_runs_tenant_active_idx ON operation_runs (tenant_id, status, id DESC)
    WHERE status <> 'completed';
CREATE INDEX operation_runs_workspace_done_idx ON operation_runs (workspace_id, outcome, id DESC)
    WHERE status = 'completed';
CREATE INDEX operation_runs_tenant_done_idx ON operation_runs (tenant_id, outcome, id DESC)
    WHERE status = 'completed';
