-- The notification outbox (PostgreSQL; mirrors migrations/sqlite/0004 column for column): chat
-- posts Shipyard owes people ("Release Ready to Deploy", a failed build, a deployed release),
-- written in the same transaction as the change that causes them and sent afterwards by a
-- worker. A crash or a chat outage delays a notification; it never loses one.
--
-- idempotency_key names the occasion (e.g. `ready:<release>:<approval cycle>`), so the same
-- occasion can be enqueued by two paths, or twice, and still yields one row. Rows are kept once
-- sent (sent_at, post_id), as a record of what was said.
CREATE TABLE notification_outbox (
    id               BIGINT  GENERATED ALWAYS AS IDENTITY,
    idempotency_key  TEXT COLLATE "C" NOT NULL,
    release_id       TEXT COLLATE "C" NOT NULL
        CONSTRAINT notification_outbox_release_fk REFERENCES releases (id) ON DELETE CASCADE,
    -- What it is about (`ready`, `ci_failed`, `deployed`, …); for people reading the table.
    kind             TEXT    NOT NULL,
    channel_id       TEXT    NOT NULL,
    -- The thread to post in; NULL for a post of its own.
    root_id          TEXT,
    message          TEXT    NOT NULL,
    created_at       BIGINT  NOT NULL,
    -- Claims so far: more than one means an earlier attempt may have posted before it failed,
    -- which the sender checks before posting again.
    attempts         BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT  NOT NULL,
    -- Until when a worker that claimed the row is sending it; NULL or past means nobody is.
    lease_until      BIGINT,
    sent_at          BIGINT,
    post_id          TEXT,
    last_error       TEXT,
    CONSTRAINT notification_outbox_pkey PRIMARY KEY (id),
    CONSTRAINT notification_outbox_key_uq UNIQUE (idempotency_key),
    CONSTRAINT notification_outbox_attempts_ck CHECK (attempts >= 0)
);

-- Due work: unsent rows only, oldest due first.
CREATE INDEX notification_outbox_due_idx ON notification_outbox (next_attempt_at, id)
    WHERE sent_at IS NULL;

-- A release's notifications, in order; also what its cascading delete looks rows up by.
CREATE INDEX notification_outbox_release_idx ON notification_outbox (release_id, id);
