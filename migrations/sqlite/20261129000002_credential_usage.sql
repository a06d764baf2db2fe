-- Attempts made with each credential, for `least_used` key pools. Secrets in
-- `credentials` are sealed (XChaCha20-Poly1305) from this version on; rows written
-- in the clear by 0.1 are sealed by the server at start.
ALTER TABLE credential_state ADD COLUMN use_count INTEGER NOT NULL DEFAULT 0;
