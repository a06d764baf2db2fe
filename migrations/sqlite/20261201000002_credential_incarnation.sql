-- Which row of a credential id a health change applies to. A credential replaced by
-- PutCredential (deleted and inserted again) gets a new random incarnation, so a
-- change queued for the row it replaced (a dead mark, a cooldown) is ignored instead
-- of landing on the new one. Rows from before keep 0 until they are replaced.
ALTER TABLE credentials ADD COLUMN incarnation INTEGER NOT NULL DEFAULT 0;
