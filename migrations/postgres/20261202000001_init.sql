-- Switchyard schema on PostgreSQL: the schema the SQLite migrations arrive at
-- (migrations/sqlite/), in one step. Times are Unix milliseconds. Identifiers
-- compare byte-wise (COLLATE "C"), as in SQLite, so listings sort the same.
-- Differences from SQLite: BYTEA for sealed secrets; BIGINT for integers;
-- requests.seq (an identity column) stands for SQLite's rowid in pruning; no
-- `attempts` table (steps are stored with their request since 0.2).

CREATE TABLE credentials (
    id            TEXT COLLATE "C" PRIMARY KEY,
    provider      TEXT COLLATE "C" NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('api_key', 'oauth')),
    label         TEXT    NOT NULL DEFAULT '',
    priority      BIGINT  NOT NULL DEFAULT 0,
    secret        BYTEA   NOT NULL,
    refresh_token BYTEA,
    expires_at    BIGINT,
    token_url     TEXT,
    client_id     TEXT,
    client_secret BYTEA,
    scope         TEXT,
    generation    BIGINT  NOT NULL DEFAULT 0,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    incarnation   BIGINT  NOT NULL DEFAULT 0
);

CREATE INDEX credentials_by_provider ON credentials (provider, priority, id);

CREATE TABLE credential_state (
    credential_id    TEXT COLLATE "C" PRIMARY KEY REFERENCES credentials (id) ON DELETE CASCADE,
    cooldown_until   BIGINT,
    cooldown_class   TEXT,
    dead_since       BIGINT,
    dead_reason      TEXT,
    last_error_class TEXT,
    last_error_at    BIGINT,
    last_refresh_at  BIGINT,
    updated_at       BIGINT NOT NULL,
    use_count        BIGINT NOT NULL DEFAULT 0
);

-- One row per call, kept for ExplainFallback. Pruned by `seq`: rows are only
-- appended, so the newest seq minus the retention bounds what may go.
CREATE TABLE requests (
    seq            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id             TEXT COLLATE "C" NOT NULL UNIQUE,
    caller_kind    TEXT    NOT NULL CHECK (caller_kind IN ('primary', 'aux')),
    task           TEXT,
    created_at     BIGINT  NOT NULL,
    outcome        TEXT    NOT NULL CHECK (outcome IN ('succeeded', 'failed')),
    failure_reason TEXT,
    candidates     TEXT    NOT NULL,
    steps          TEXT    NOT NULL
);

-- See migrations/sqlite/20261201000001_refresh_journal.sql.
CREATE TABLE refresh_journal (
    credential_id     TEXT COLLATE "C" PRIMARY KEY REFERENCES credentials (id) ON DELETE CASCADE,
    generation        BIGINT NOT NULL,
    token_fingerprint TEXT   NOT NULL,
    started_at        BIGINT NOT NULL,
    outcome           TEXT   CHECK (outcome IN ('unknown'))
);

-- One row, rewritten by the write probe.
CREATE TABLE store_probe (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    written_at BIGINT NOT NULL
);
