-- A count of the changes to the credentials table, by any process (the SQLite
-- migration of the same name explains why). One statement-level trigger bumps it.
CREATE TABLE credential_changes (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL
);

INSERT INTO credential_changes (id, generation) VALUES (1, 0);

CREATE FUNCTION credential_changes_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE credential_changes SET generation = generation + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER credential_changes_bump
    AFTER INSERT OR UPDATE OR DELETE ON credentials
    FOR EACH STATEMENT EXECUTE FUNCTION credential_changes_bump();
