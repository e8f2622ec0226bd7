-- Signed-in sessions and sign-ins in progress (SQLite; mirrors migrations/postgres/0002).
--
-- A session row is found by the SHA-256 of the cookie value, never by the value itself: a copy
-- of this table does not let anyone ride a live session. Roles are read at sign-in and kept
-- here (JSON), so a role change takes effect at the next sign-in.
CREATE TABLE sessions (
    id_hash       TEXT    NOT NULL,
    subject       TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    email         TEXT,
    roles         TEXT    NOT NULL,
    csrf_token    TEXT    NOT NULL,
    -- Kept for the provider's end-session call (`id_token_hint`); NULL for dev sign-ins.
    id_token      TEXT,
    via           TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    CONSTRAINT sessions_pkey PRIMARY KEY (id_hash)
) STRICT;

CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- One row per sign-in started at /auth/login and not yet finished: the `state` the provider
-- echoes back, the nonce the ID token must carry, the PKCE verifier, and where to go after.
CREATE TABLE login_flows (
    state          TEXT    NOT NULL,
    nonce          TEXT    NOT NULL,
    pkce_verifier  TEXT    NOT NULL,
    next_path      TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    CONSTRAINT login_flows_pkey PRIMARY KEY (state)
) STRICT;
