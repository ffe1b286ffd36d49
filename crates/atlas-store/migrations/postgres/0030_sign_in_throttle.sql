-- Sign-in throttling by (account, client address) with growing delays, and
-- per client address: an attacker's failures no longer lock the real user out
-- from another address (issue 15, item 3). In the database, so that every
-- serve node on one PostgreSQL sees the same counts and a restart forgets none.
-- `scope` is 'pair' (subject: email, then a space, then the address) or 'address'.
DROP TABLE login_throttle;

CREATE TABLE sign_in_failures (
    scope TEXT NOT NULL,
    subject TEXT NOT NULL,
    failures BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL,
    blocked_until BIGINT NOT NULL,
    PRIMARY KEY (scope, subject)
);
