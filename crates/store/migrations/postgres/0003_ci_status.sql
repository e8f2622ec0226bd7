-- CI tracking: one row per release repo whose merge into the destination branch is known, with
-- where its GitHub Actions run stands (PostgreSQL; mirrors migrations/sqlite/0003 column for
-- column, with the conventions of 0001).
--
-- The row is keyed by the release repo's id, an identity that is never handed out twice, so a
-- row can never be mistaken for another repo's after a delete.
--
-- The table is the trackers' whole state, so a restarted instance or another replica carries on
-- from it: next_check_at says when the row is due, lease_until which replica is polling it right
-- now, and version lets a webhook and a poll that race on the same row find out instead of
-- silently overwriting each other.
CREATE TABLE repo_ci_status (
    repo_id              BIGINT  NOT NULL
        CONSTRAINT repo_ci_status_repo_fk REFERENCES release_repos (id) ON DELETE CASCADE,
    -- Copies of the repo row's release and name (neither ever changes there), so that the
    -- statuses of a release and the rows a webhook names are found without a join.
    release_id           TEXT COLLATE "C" NOT NULL
        CONSTRAINT repo_ci_status_release_fk REFERENCES releases (id) ON DELETE CASCADE,
    repo_name            TEXT COLLATE "C" NOT NULL,
    -- The commit whose run is tracked: the merge of the pull request from source into dest.
    merge_commit_sha     TEXT    NOT NULL,
    -- Unlike the status columns of 0001, this one is CHECKed: the set of CI statuses follows
    -- GitHub's run states and is closed, and a stray name here would make a repo look built or
    -- failed. The cost: a new status needs a migration (on SQLite, a table rebuild).
    status               TEXT    NOT NULL,
    -- GitHub's own conclusion (`timed_out`, `startup_failure`, …), which `status` folds together.
    conclusion           TEXT,
    run_id               BIGINT,
    run_number           BIGINT,
    run_attempt          BIGINT,
    run_url              TEXT,
    -- The Helm chart version read from the successful run's log; NULL when none was found.
    chart_version        TEXT,
    -- When tracking began, for the poll timeout.
    tracking_started_at  BIGINT  NOT NULL,
    -- When the run started and completed, as GitHub reports them.
    started_at           BIGINT,
    completed_at         BIGINT,
    last_checked_at      BIGINT,
    -- Checks made without finding a run; after enough of them the status becomes no_workflow.
    checks               BIGINT  NOT NULL DEFAULT 0,
    -- The ETag of the last answer about the run, for conditional requests that cost no rate limit.
    etag                 TEXT,
    -- When the row is next due for a poll.
    next_check_at        BIGINT  NOT NULL,
    -- Until when a replica that claimed the row polls it; NULL or past means nobody does.
    lease_until          BIGINT,
    -- Bumped by every update, which only applies if the version it read is still current.
    version              BIGINT  NOT NULL DEFAULT 0,
    CONSTRAINT repo_ci_status_pkey PRIMARY KEY (repo_id),
    CONSTRAINT repo_ci_status_status_ck CHECK (status IN (
        'pending', 'queued', 'in_progress', 'success', 'failure', 'cancelled', 'skipped',
        'neutral', 'no_workflow', 'timeout')),
    CONSTRAINT repo_ci_status_checks_ck CHECK (checks >= 0)
);

-- "The CI statuses of a release, by repo name" and the per-release summaries; also what a
-- release's cascading delete looks rows up by (PostgreSQL indexes no foreign key by itself).
CREATE INDEX repo_ci_status_release_idx ON repo_ci_status (release_id, repo_name);

-- Due work: only rows still being tracked, oldest due first (repo_id breaks ties, so the claim's
-- ORDER BY is read straight off the index). Partial, so a finished row leaves the index and the
-- scheduler's scan stays as small as the work in flight. The claim statement repeats the IN list
-- below so the planner can prove the index applies.
CREATE INDEX repo_ci_status_due_idx ON repo_ci_status (next_check_at, repo_id)
    WHERE status IN ('pending', 'queued', 'in_progress');

-- Webhooks: a pull request merge or a push names a repo and a commit; a workflow run its id.
CREATE INDEX repo_ci_status_commit_idx ON repo_ci_status (repo_name, merge_commit_sha);
-- Rows whose run has not been found have no run id and need no entry.
CREATE INDEX repo_ci_status_run_idx ON repo_ci_status (run_id) WHERE run_id IS NOT NULL;
