-- A count of the changes to the credentials table, by any process. A running server
-- polls it (every second) to pick up credentials that the CLI added, removed or
-- replaced in the same file, and reloads only then. Health lives in
-- credential_state and does not move it.
CREATE TABLE credential_changes (
    id         INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    generation INTEGER NOT NULL
) STRICT;

INSERT INTO credential_changes (id, generation) VALUES (1, 0);

CREATE TRIGGER credential_changes_insert AFTER INSERT ON credentials
BEGIN
    UPDATE credential_changes SET generation = generation + 1 WHERE id = 1;
END;

CREATE TRIGGER credential_changes_update AFTER UPDATE ON credentials
BEGIN
    UPDATE credential_changes SET generation = generation + 1 WHERE id = 1;
END;

CREATE TRIGGER credential_changes_delete AFTER DELETE ON credentials
BEGIN
    UPDATE credential_changes SET generation = generation + 1 WHERE id = 1;
END;
