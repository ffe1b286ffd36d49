-- Multi-admin approval (SPEC §10.2). A tenant may require approval of writing
-- runs; a run's approval is columns of its own row, not a table: it is one per
-- run, read wherever the run is (Monitoring, the gate's facts), and the claim
-- filters on its state in the same scan that picks runnable runs.
ALTER TABLE tenants ADD COLUMN approval_required BIGINT NOT NULL DEFAULT 0;
ALTER TABLE operation_runs ADD COLUMN approval_state TEXT;
ALTER TABLE operation_runs ADD COLUMN approval_by TEXT;
ALTER TABLE operation_runs ADD COLUMN approval_at BIGINT;
ALTER TABLE operation_runs ADD COLUMN approval_reason TEXT;
