-- Console sessions, server-side. The cookie carries a random id; only its
-- SHA-256 is stored, so a leaked database row cannot be replayed as a cookie.
CREATE TABLE web_sessions (
    id_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    csrf_token TEXT NOT NULL,
    workspace_id TEXT,
    flash TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX web_sessions_user_idx ON web_sessions (user_id);
CREATE INDEX web_sessions_expires_idx ON web_sessions (expires_at);

-- Failed sign-ins per (email, client address) in a sliding window.
CREATE TABLE login_throttle (
    email TEXT NOT NULL,
    ip TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    failures BIGINT NOT NULL,
    PRIMARY KEY (email, ip)
);

-- Monitoring filters by status and by outcome within a workspace, newest
-- first; these keep a filtered page and the tab counts index-bounded.
CREATE INDEX operation_runs_workspace_status_idx ON operation_runs (workspace_id, status, id DESC);
CREATE INDEX operation_runs_workspace_outcome_idx ON operation_runs (workspace_id, outcome, id DESC);
