-- Releases, their repos, their history and API tokens (SQLite).
--
-- This schema mirrors migrations/postgres/0001_releases.sql column for column, so that the store
-- writes each query once and runs it on either backend. The conventions, shared by both:
--
-- * Timestamps are unix seconds in a 64-bit integer, not a date type: the domain counts in
--   seconds, comparisons stay plain integer comparisons, and neither dialect's time zone rules
--   get involved.
-- * Lists (contributors, summary lines, infra paths, dependencies, roles) and history details are
--   JSON held in TEXT. They are always read and written whole, never queried inside, so neither
--   JSONB nor a child table would pay for itself, and TEXT means the same thing on both sides.
-- * Booleans are INTEGER 0/1 here (SQLite has no boolean type) and BOOLEAN on PostgreSQL; sqlx
--   decodes a Rust bool from both.
-- * Constraints are named so the store can turn a violation into an error a person can read.
--   SQLite reports UNIQUE failures by column list rather than by name, so the store matches both.
-- * Status, action and role names carry no CHECK: the domain types validate them on every read
--   and write, and SQLite can only change a CHECK by rebuilding the table.
--
-- Tables are STRICT so that a value of the wrong type is an error instead of being stored as
-- whatever SQLite's type affinity makes of it.

CREATE TABLE releases (
    id                        TEXT    NOT NULL,
    org                       TEXT    NOT NULL,
    source_branch             TEXT    NOT NULL,
    dest_branch               TEXT    NOT NULL,
    status                    TEXT    NOT NULL,
    notes                     TEXT    NOT NULL DEFAULT '',
    breaking_changes          TEXT    NOT NULL DEFAULT '',
    created_by_subject        TEXT    NOT NULL,
    created_by_name           TEXT    NOT NULL,
    created_at                INTEGER NOT NULL,
    last_refreshed_at         INTEGER NOT NULL,
    content_fingerprint       TEXT    NOT NULL,
    -- A sign-off is four columns that are either all set or all NULL.
    dev_approved_by_subject   TEXT,
    dev_approved_by_name      TEXT,
    dev_approved_at           INTEGER,
    dev_approved_fingerprint  TEXT,
    qa_approved_by_subject    TEXT,
    qa_approved_by_name       TEXT,
    qa_approved_at            INTEGER,
    qa_approved_fingerprint   TEXT,
    channel_id                TEXT,
    chat_post_id              TEXT,
    -- Counts approval cycles so that "ready to deploy" goes out once per cycle.
    approval_cycle            INTEGER NOT NULL DEFAULT 0,
    -- Bumped by every save: a cheap change marker for caches and ETags.
    version                   INTEGER NOT NULL DEFAULT 0,
    -- Creation order. Timestamps are whole seconds, so two releases created in the same second
    -- need a tie-break that follows creation rather than the random id. Filled by the trigger
    -- below; writers are serialized (BEGIN IMMEDIATE), so MAX + 1 cannot collide.
    seq                       INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT releases_pkey PRIMARY KEY (id),
    CONSTRAINT releases_dev_sign_off_whole CHECK (
        (dev_approved_by_subject IS NULL AND dev_approved_by_name IS NULL
            AND dev_approved_at IS NULL AND dev_approved_fingerprint IS NULL)
        OR (dev_approved_by_subject IS NOT NULL AND dev_approved_by_name IS NOT NULL
            AND dev_approved_at IS NOT NULL AND dev_approved_fingerprint IS NOT NULL)),
    CONSTRAINT releases_qa_sign_off_whole CHECK (
        (qa_approved_by_subject IS NULL AND qa_approved_by_name IS NULL
            AND qa_approved_at IS NULL AND qa_approved_fingerprint IS NULL)
        OR (qa_approved_by_subject IS NOT NULL AND qa_approved_by_name IS NOT NULL
            AND qa_approved_at IS NOT NULL AND qa_approved_fingerprint IS NOT NULL))
) STRICT;

-- The release list pages newest first by (created_at, id); this index serves that order and the
-- keyset cursor without a sort.
CREATE INDEX releases_created_at_seq_idx ON releases (created_at DESC, seq DESC);

CREATE TRIGGER releases_assign_seq AFTER INSERT ON releases WHEN NEW.seq = 0
BEGIN
    UPDATE releases SET seq = (SELECT COALESCE(MAX(seq), 0) + 1 FROM releases) WHERE id = NEW.id;
END;
CREATE INDEX releases_status_idx ON releases (status);

CREATE TABLE release_repos (
    -- AUTOINCREMENT: repo ids appear in API paths and will key per-repo tracking tables (CI and
    -- deployment status), so an id must never be handed out twice, even after a row is deleted.
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    release_id        TEXT    NOT NULL
        CONSTRAINT release_repos_release_fk REFERENCES releases (id) ON DELETE CASCADE,
    repo_name         TEXT    NOT NULL,
    commit_count      INTEGER NOT NULL,
    additions         INTEGER NOT NULL,
    deletions         INTEGER NOT NULL,
    contributors      TEXT    NOT NULL DEFAULT '[]',
    summary           TEXT    NOT NULL DEFAULT '[]',
    is_breaking       INTEGER NOT NULL DEFAULT 0,
    infra_changes     TEXT    NOT NULL DEFAULT '[]',
    head_sha          TEXT    NOT NULL,
    -- The pull request from source into dest: pr_number, pr_url and pr_state are set together.
    pr_number         INTEGER,
    pr_url            TEXT,
    pr_state          TEXT,
    merge_commit_sha  TEXT,
    excluded          INTEGER NOT NULL DEFAULT 0,
    depends_on        TEXT    NOT NULL DEFAULT '[]',
    -- Also the index for "the repos of a release": release_id is its leading column.
    CONSTRAINT release_repos_release_repo_uq UNIQUE (release_id, repo_name)
) STRICT;

CREATE TABLE history (
    -- AUTOINCREMENT keeps ids growing even past deleted rows: the id is the order of history.
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    -- No ON DELETE CASCADE: history is append-only, and a release that has history is not meant
    -- to disappear; deleting one must be a deliberate act that removes its history first.
    release_id     TEXT    NOT NULL
        CONSTRAINT history_release_fk REFERENCES releases (id),
    action         TEXT    NOT NULL,
    actor_subject  TEXT    NOT NULL,
    actor_name     TEXT    NOT NULL,
    details        TEXT    NOT NULL DEFAULT '{}',
    created_at     INTEGER NOT NULL
) STRICT;

-- Reads are always "the history of one release, in order"; id is the order of insertion.
CREATE INDEX history_release_id_idx ON history (release_id, id);

-- API tokens come from the configuration; only a SHA-256 of the secret is stored.
CREATE TABLE api_tokens (
    name          TEXT    NOT NULL,
    token_sha256  TEXT    NOT NULL,
    roles         TEXT    NOT NULL DEFAULT '[]',
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    CONSTRAINT api_tokens_pkey PRIMARY KEY (name),
    CONSTRAINT api_tokens_token_sha256_uq UNIQUE (token_sha256)
) STRICT;
