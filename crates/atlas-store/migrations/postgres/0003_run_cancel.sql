-- A cancel asked of a running run is honored by the engine between items.
ALTER TABLE operation_runs ADD COLUMN cancel_requested_by TEXT;
