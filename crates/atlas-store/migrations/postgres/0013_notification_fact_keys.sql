-- A notification's recipient and workspace are no longer foreign keys
-- (docs/BENCHMARKS.md, "Run throughput"). On PostgreSQL a foreign-key check is
-- a query per inserted row that share-locks the referenced row, and every run
-- that completes writes a notification: each batch of finishes locked its
-- initiators' user rows and their workspace's row, rows that the other
-- workers' batches lock at the same time. The two checks were a quarter of
-- the cost of writing a notification. Users and workspaces are never deleted
-- (they are disabled or archived), and notifications are written only by the
-- run service, from the run's own initiator and workspace. The key to the run
-- stays: its row is the one the same transaction has just updated.
-- SQLite keeps both keys: a check there is an index probe that locks nothing.
ALTER TABLE notifications DROP CONSTRAINT notifications_user_id_fkey;
ALTER TABLE notifications DROP CONSTRAINT notifications_workspace_id_fkey;
