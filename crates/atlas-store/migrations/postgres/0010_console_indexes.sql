-- The console and /metrics at a million runs (docs/BENCHMARKS.md, "Console
-- latency at one million runs").

-- The notification bell's unread count is on every page: only unread
-- notifications are indexed, so it no longer reads all of a person's
-- notifications (one per run they ever started).
CREATE INDEX notifications_unread_idx ON notifications (user_id) WHERE read_at IS NULL;

-- Monitoring filtered by tenant with a status tab or an outcome chip: the page
-- and its capped tab counts stop after their LIMIT instead of filtering the
-- workspace's runs of that status or outcome one by one.
CREATE INDEX operation_runs_tenant_status_idx ON operation_runs (tenant_id, status, id DESC);
CREATE INDEX operation_runs_tenant_outcome_idx ON operation_runs (tenant_id, outcome, id DESC);

-- /metrics counts runs without scanning them all (monitoring.rs, "Run counts"):
-- runs with an id below the watermark are all completed, and counted here once.
CREATE TABLE run_count_rollup (
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    outcome TEXT NOT NULL,
    -- A blocked run's reason code ('unknown' without one); '' for other runs.
    reason_code TEXT NOT NULL,
    runs BIGINT NOT NULL,
    PRIMARY KEY (type, status, outcome, reason_code)
);
CREATE TABLE run_count_watermark (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    below TEXT NOT NULL,
    advanced_at BIGINT NOT NULL
);
INSERT INTO run_count_watermark (id, below, advanced_at) VALUES (1, '', 0);
