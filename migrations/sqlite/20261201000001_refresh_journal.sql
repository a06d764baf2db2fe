-- The refresh journal: one row per credential whose refresh grant is in flight.
-- Written (and synced) before the token endpoint is called; deleted in the same
-- transaction that stores the rotated pair, or that marks the credential dead. A
-- row found at start is a refresh interrupted by a crash: the server finishes it
-- (retries once with the spent refresh token) before it reports SERVING.
-- `token_fingerprint` identifies the refresh token spent (a truncated SHA-256),
-- never the token itself, which stays sealed in `credentials`.
-- `outcome` is NULL while the call is in flight, 'unknown' once it timed out or
-- broke off after the request was sent.
CREATE TABLE refresh_journal (
    credential_id     TEXT    PRIMARY KEY NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    generation        INTEGER NOT NULL,
    token_fingerprint TEXT    NOT NULL,
    started_at        INTEGER NOT NULL,
    outcome           TEXT    CHECK (outcome IN ('unknown'))
) STRICT;
