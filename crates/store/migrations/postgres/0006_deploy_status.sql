-- Deployment tracking: one row per release repo and Argo CD environment, from the moment CI
-- published the repo's chart (the expected version), with what Argo CD last said (postgres;
-- mirrors migrations/sqlite/0006).
--
-- Like repo_ci_status, the table is the tracker's whole state: next_check_at says when the row
-- is due (NULL once the repo runs its expected version everywhere), lease_until which instance
-- reads it right now, and version lets two writers that race find out.
CREATE TABLE repo_deploy_status (
    repo_id            BIGINT NOT NULL
        CONSTRAINT repo_deploy_status_repo_fk REFERENCES release_repos (id) ON DELETE CASCADE,
    environment        TEXT    NOT NULL,
    -- Copies of the repo row's release and name, as in repo_ci_status.
    release_id         TEXT    NOT NULL
        CONSTRAINT repo_deploy_status_release_fk REFERENCES releases (id) ON DELETE CASCADE,
    repo_name          TEXT    NOT NULL,
    -- The Argo CD application read for this repo in this environment.
    app_name           TEXT    NOT NULL,
    -- The chart version CI published; NULL until known.
    expected_version   TEXT,
    -- What Argo CD said at the last successful read (kept while an environment is unreachable).
    current_version    TEXT,
    target_version     TEXT,
    sync_status        TEXT,
    health_status      TEXT,
    operation_phase    TEXT,
    revision           TEXT,
    message            TEXT,
    rollout_replicas   BIGINT,
    rollout_ready      BIGINT,
    rollout_updated    BIGINT,
    found              BOOLEAN NOT NULL DEFAULT FALSE,
    -- Why the last read failed or found nothing readable; NULL after a clean read.
    error              TEXT,
    -- The one-word verdict, derived by the domain rules from the columns above at every write
    -- (stored so that summaries are counted by the database).
    state              TEXT    NOT NULL,
    -- A digest of the last list answer about the app: unchanged means nothing to read further.
    fingerprint        TEXT,
    last_checked_at    BIGINT,
    last_ok_at         BIGINT,
    last_changed_at    BIGINT,
    -- The expected versions deploy_started / deploy_observed / deploy_failed were recorded for.
    started_for        TEXT,
    observed_for       TEXT,
    failed_for         TEXT,
    next_check_at      BIGINT,
    lease_until        BIGINT,
    version            BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT repo_deploy_status_pkey PRIMARY KEY (repo_id, environment)
);

CREATE INDEX repo_deploy_status_release_idx ON repo_deploy_status (release_id);
CREATE INDEX repo_deploy_status_app_idx ON repo_deploy_status (app_name);
CREATE INDEX repo_deploy_status_due_idx ON repo_deploy_status (next_check_at)
    WHERE next_check_at IS NOT NULL;
