-- Switchyard schema v1: provider credentials, their state, and request trails.
-- Times are Unix milliseconds.

-- One row per provider credential. A static API key uses `secret` only; an OAuth
-- credential keeps its access token in `secret` and its refresh state in the other
-- columns. `generation` increases at every change of the secret material, so a
-- writer can detect that another one rotated the tokens first.
CREATE TABLE credentials (
    id            TEXT    PRIMARY KEY NOT NULL,
    provider      TEXT    NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('api_key', 'oauth')),
    label         TEXT    NOT NULL DEFAULT '',
    priority      INTEGER NOT NULL DEFAULT 0,
    secret        BLOB    NOT NULL,
    refresh_token BLOB,
    expires_at    INTEGER,
    token_url     TEXT,
    client_id     TEXT,
    client_secret BLOB,
    scope         TEXT,
    generation    INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

CREATE INDEX credentials_by_provider ON credentials (provider, priority, id);

-- Health of a credential, written through from memory by the server.
CREATE TABLE credential_state (
    credential_id    TEXT    PRIMARY KEY NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    cooldown_until   INTEGER,
    cooldown_class   TEXT,
    dead_since       INTEGER,
    dead_reason      TEXT,
    last_error_class TEXT,
    last_error_at    INTEGER,
    last_refresh_at  INTEGER,
    updated_at       INTEGER NOT NULL
) STRICT;

-- One row per Complete / AuxComplete call, kept for ExplainFallback (bounded retention).
CREATE TABLE requests (
    id             TEXT    PRIMARY KEY NOT NULL,
    caller_kind    TEXT    NOT NULL CHECK (caller_kind IN ('primary', 'aux')),
    task           TEXT,
    created_at     INTEGER NOT NULL,
    outcome        TEXT    NOT NULL CHECK (outcome IN ('succeeded', 'failed')),
    failure_reason TEXT,
    candidates     TEXT    NOT NULL
) STRICT;

CREATE INDEX requests_by_time ON requests (created_at);

-- The ordered steps of a request.
CREATE TABLE attempts (
    request_id      TEXT    NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    candidate_index INTEGER NOT NULL,
    provider        TEXT    NOT NULL,
    model           TEXT    NOT NULL,
    credential_id   TEXT,
    error_class     TEXT    NOT NULL,
    http_status     INTEGER NOT NULL,
    action          TEXT    NOT NULL,
    reason          TEXT    NOT NULL,
    duration_ms     INTEGER NOT NULL,
    PRIMARY KEY (request_id, seq)
) STRICT, WITHOUT ROWID;
