-- Trails are pruned by rowid (the newest rowid minus the retention bounds what may
-- go), so the index on created_at serves no query: drop it, one b-tree less to
-- update per trail written and per trail pruned.
DROP INDEX IF EXISTS requests_by_time;

-- One row, rewritten by the write probe: at start and while the store is degraded,
-- proves that a write commits.
CREATE TABLE store_probe (
    id         INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    written_at INTEGER NOT NULL
) STRICT;
