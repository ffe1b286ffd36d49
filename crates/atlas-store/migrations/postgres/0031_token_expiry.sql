-- API tokens may expire (`tokens create --expires-in 30d`); NULL never expires.
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id, created_at);
