-- The revision columns of the PostgreSQL change feed (see the migration of the
-- same name there), so that both schemas read alike. SQLite serves one process:
-- nothing moves them here, and credentials changed by the CLI still reach the
-- server through the credential_changes count.
ALTER TABLE credentials ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE credential_state ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
