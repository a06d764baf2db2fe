-- The change feed of credentials between replicas. Every change of a
-- credential's shared state (a new, replaced, rotated or deleted credential; a
-- cooldown or a dead mark in credential_state), by any replica, the admin API or
-- the CLI, takes a new `revision` from one sequence and sends
-- NOTIFY switchyard_credentials '{"id": ..., "revision": ...}' at commit. A
-- replica re-reads the row by id and applies it only when its revision is newer
-- than the one it holds. The payload carries no secret.
--
-- A credential's revision is the larger of its row's and its state row's. Use
-- counts (written every few seconds) move neither: they are not shared.

ALTER TABLE credentials ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
ALTER TABLE credential_state ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;

CREATE SEQUENCE credential_revision;

-- Row locks order the revisions of one credential as its commits: an UPDATE of
-- credentials runs its BEFORE trigger with the row locked, and a state change
-- locks the credential's row first (below), so a later commit never carries a
-- smaller revision than an earlier one of the same credential.
CREATE FUNCTION credential_revise() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.revision := nextval('credential_revision');
    RETURN NEW;
END
$$;

CREATE TRIGGER credential_revise
    BEFORE INSERT OR UPDATE ON credentials
    FOR EACH ROW EXECUTE FUNCTION credential_revise();

CREATE FUNCTION credential_state_revise() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM credentials WHERE id = NEW.credential_id FOR NO KEY UPDATE;
    NEW.revision := nextval('credential_revision');
    RETURN NEW;
END
$$;

CREATE TRIGGER credential_state_revise_insert
    BEFORE INSERT ON credential_state
    FOR EACH ROW
    WHEN (NEW.cooldown_until IS NOT NULL OR NEW.dead_since IS NOT NULL)
    EXECUTE FUNCTION credential_state_revise();

CREATE TRIGGER credential_state_revise_update
    BEFORE UPDATE ON credential_state
    FOR EACH ROW
    WHEN (OLD.cooldown_until IS DISTINCT FROM NEW.cooldown_until
          OR OLD.dead_since IS DISTINCT FROM NEW.dead_since)
    EXECUTE FUNCTION credential_state_revise();

CREATE FUNCTION credential_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed TEXT;
    rev     BIGINT;
BEGIN
    IF TG_OP = 'DELETE' THEN
        -- A deletion is a change too: newer than anything the row carried.
        changed := OLD.id;
        rev := nextval('credential_revision');
    ELSE
        changed := NEW.id;
        rev := NEW.revision;
    END IF;
    PERFORM pg_notify('switchyard_credentials',
                      json_build_object('id', changed, 'revision', rev)::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER credential_notify
    AFTER INSERT OR UPDATE OR DELETE ON credentials
    FOR EACH ROW EXECUTE FUNCTION credential_notify();

CREATE FUNCTION credential_state_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('switchyard_credentials',
                      json_build_object('id', NEW.credential_id, 'revision', NEW.revision)::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER credential_state_notify_insert
    AFTER INSERT ON credential_state
    FOR EACH ROW
    WHEN (NEW.revision <> 0)
    EXECUTE FUNCTION credential_state_notify();

CREATE TRIGGER credential_state_notify_update
    AFTER UPDATE ON credential_state
    FOR EACH ROW
    WHEN (NEW.revision <> OLD.revision)
    EXECUTE FUNCTION credential_state_notify();
