-- Seals beside the events, not in them (docs/BENCHMARKS.md, "Run throughput").
-- The sealer used to rewrite every event to add its chain position and hashes:
-- a second version of each row with an entry in each of its indexes. Now an
-- event row is written once and never changed, and sealing appends one narrow
-- row per event here. `audit_log` reads the two together as the log was read.

CREATE TABLE audit_seals (
    -- The sealed event's seq (no foreign key: a deleted event leaves its seal
    -- behind, and verification reports the hole).
    seq BIGINT PRIMARY KEY,
    chain TEXT NOT NULL,
    chain_index BIGINT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_seals (seq, chain, chain_index, prev_hash, hash)
    SELECT seq, chain, chain_index, prev_hash, hash FROM audit_events WHERE hash IS NOT NULL;
CREATE INDEX audit_seals_chain_idx ON audit_seals (chain, chain_index);

-- Everything up to this (xact, seq) is sealed and nothing after it is: the
-- sealer goes in (xact, seq) order below the oldest transaction in flight.
CREATE TABLE audit_seal_mark (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    xact BIGINT NOT NULL,
    seq BIGINT NOT NULL
);
INSERT INTO audit_seal_mark (id, xact, seq)
    SELECT 1, COALESCE(MAX(xact), 0), COALESCE(MAX(seq), 0) FROM (
        SELECT xact, seq FROM audit_events WHERE hash IS NOT NULL ORDER BY xact DESC, seq DESC LIMIT 1
    ) AS last;

DROP INDEX audit_events_unsealed_idx;
DROP INDEX audit_events_chain_idx;
ALTER TABLE audit_events DROP COLUMN chain_index, DROP COLUMN prev_hash, DROP COLUMN hash;
-- The sealer's order: each round continues after the mark.
CREATE INDEX audit_events_order_idx ON audit_events (xact, seq);

CREATE VIEW audit_log AS
    SELECT e.seq, e.id, e.chain, e.workspace_id, e.tenant_id, e.actor, e.action, e.subject, e.data, e.created_at,
           s.chain_index, s.prev_hash, s.hash
    FROM audit_events e LEFT JOIN audit_seals s ON s.seq = e.seq;
