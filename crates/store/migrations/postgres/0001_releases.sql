-- Releases, their repos, their history and API tokens (PostgreSQL).
--
-- This schema mirrors migrations/sqlite/0001_releases.sql column for column, so that the store
-- writes each query once and runs it on either backend. The conventions, shared by both:
--
-- * Timestamps are unix seconds in BIGINT, not TIMESTAMPTZ: the domain counts in seconds, and
--   SQLite has no date type to match.
-- * Lists (contributors, summary lines, infra paths, dependencies, roles) and history details are
--   JSON held in TEXT, not JSONB. They are always read and written whole, never queried inside,
--   and TEXT means the same thing on both backends.
-- * Booleans are BOOLEAN here and INTEGER 0/1 on SQLite; sqlx decodes a Rust bool from both.
-- * Every integer is BIGINT so that a Rust i64 binds without a cast.
-- * Constraints are named so the store can turn a violation into an error a person can read.
-- * Status, action and role names carry no CHECK: the domain types validate them on every read
--   and write, and SQLite could not follow a changed CHECK without rebuilding its tables.
--
-- Ids and names compared or sorted by the store use COLLATE "C": byte order, the same order
-- SQLite uses, whatever locale the database was created with (and cheaper to compare).

CREATE TABLE releases (
    id                        TEXT COLLATE "C" NOT NULL,
    org                       TEXT    NOT NULL,
    source_branch             TEXT    NOT NULL,
    dest_branch               TEXT    NOT NULL,
    status                    TEXT    NOT NULL,
    notes                     TEXT    NOT NULL DEFAULT '',
    breaking_changes          TEXT    NOT NULL DEFAULT '',
    created_by_subject        TEXT    NOT NULL,
    created_by_name           TEXT    NOT NULL,
    created_at                BIGINT  NOT NULL,
    last_refreshed_at         BIGINT  NOT NULL,
    content_fingerprint       TEXT    NOT NULL,
    -- A sign-off is four columns that are either all set or all NULL.
    dev_approved_by_subject   TEXT,
    dev_approved_by_name      TEXT,
    dev_approved_at           BIGINT,
    dev_approved_fingerprint  TEXT,
    qa_approved_by_subject    TEXT,
    qa_approved_by_name       TEXT,
    qa_approved_at            BIGINT,
    qa_approved_fingerprint   TEXT,
    channel_id                TEXT,
    chat_post_id              TEXT,
    -- Counts approval cycles so that "ready to deploy" goes out once per cycle.
    approval_cycle            BIGINT  NOT NULL DEFAULT 0,
    -- Bumped by every save: a cheap change marker for caches and ETags.
    version                   BIGINT  NOT NULL DEFAULT 0,
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
);

-- The release list pages newest first by (created_at, id); this index serves that order and the
-- keyset cursor without a sort.
CREATE INDEX releases_created_at_id_idx ON releases (created_at DESC, id DESC);
CREATE INDEX releases_status_idx ON releases (status);

CREATE TABLE release_repos (
    -- An identity, never reused: repo ids appear in API paths and will key per-repo tracking
    -- tables (CI and deployment status). ALWAYS: the database alone hands them out.
    id                BIGINT  GENERATED ALWAYS AS IDENTITY,
    release_id        TEXT COLLATE "C" NOT NULL
        CONSTRAINT release_repos_release_fk REFERENCES releases (id) ON DELETE CASCADE,
    repo_name         TEXT COLLATE "C" NOT NULL,
    commit_count      BIGINT  NOT NULL,
    additions         BIGINT  NOT NULL,
    deletions         BIGINT  NOT NULL,
    contributors      TEXT    NOT NULL DEFAULT '[]',
    summary           TEXT    NOT NULL DEFAULT '[]',
    is_breaking       BOOLEAN NOT NULL DEFAULT FALSE,
    infra_changes     TEXT    NOT NULL DEFAULT '[]',
    head_sha          TEXT    NOT NULL,
    -- The pull request from source into dest: pr_number, pr_url and pr_state are set together.
    pr_number         BIGINT,
    pr_url            TEXT,
    pr_state          TEXT,
    merge_commit_sha  TEXT,
    excluded          BOOLEAN NOT NULL DEFAULT FALSE,
    depends_on        TEXT    NOT NULL DEFAULT '[]',
    CONSTRAINT release_repos_pkey PRIMARY KEY (id),
    -- Also the index for "the repos of a release": release_id is its leading column.
    CONSTRAINT release_repos_release_repo_uq UNIQUE (release_id, repo_name)
);

CREATE TABLE history (
    id             BIGINT  GENERATED ALWAYS AS IDENTITY,
    -- No ON DELETE CASCADE: history is append-only, and a release that has history is not meant
    -- to disappear; deleting one must be a deliberate act that removes its history first.
    release_id     TEXT COLLATE "C" NOT NULL
        CONSTRAINT history_release_fk REFERENCES releases (id),
    action         TEXT    NOT NULL,
    actor_subject  TEXT    NOT NULL,
    actor_name     TEXT    NOT NULL,
    details        TEXT    NOT NULL DEFAULT '{}',
    created_at     BIGINT  NOT NULL,
    CONSTRAINT history_pkey PRIMARY KEY (id)
);

-- Reads are always "the history of one release, in order"; id is the order of insertion.
CREATE INDEX history_release_id_idx ON history (release_id, id);

-- API tokens come from the configuration; only a SHA-256 of the secret is stored.
CREATE TABLE api_tokens (
    name          TEXT    NOT NULL,
    token_sha256  TEXT    NOT NULL,
    roles         TEXT    NOT NULL DEFAULT '[]',
    created_at    BIGINT  NOT NULL,
    last_used_at  BIGINT,
    CONSTRAINT api_tokens_pkey PRIMARY KEY (name),
    CONSTRAINT api_tokens_token_sha256_uq UNIQUE (token_sha256)
);
