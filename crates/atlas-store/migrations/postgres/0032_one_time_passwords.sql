-- A generated password (`users add` without --password, `users set-password`
-- without --password) is one-time: the console asks for a new one at once.
ALTER TABLE users ADD COLUMN password_change_required BIGINT NOT NULL DEFAULT 0;
