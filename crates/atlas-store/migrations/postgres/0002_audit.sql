-- The sealer takes unsealed events in (xact, seq) order across all chains, one
-- batch at a time. An index in exactly that order lets each batch stop at its
-- LIMIT instead of sorting the whole backlog; it replaces the per-chain
-- unsealed index, which only the sealer used, so appends pay no extra index.
DROP INDEX audit_events_unsealed_idx;
CREATE INDEX audit_events_unsealed_idx ON audit_events (xact, seq) WHERE hash IS NULL;
