-- GitHub webhook deliveries already applied, by their X-GitHub-Delivery id (mirrors
-- migrations/sqlite/0005). GitHub may send a delivery again (a redelivery keeps its id); a
-- remembered id is applied once. Ids are kept for a few days (GitHub lets people redeliver
-- deliveries of the last three), then forgotten.
CREATE TABLE webhook_deliveries (
    delivery_id  TEXT    NOT NULL,
    -- The X-GitHub-Event name, for people reading the table.
    event        TEXT    NOT NULL,
    received_at  BIGINT NOT NULL,
    CONSTRAINT webhook_deliveries_pk PRIMARY KEY (delivery_id)
);

-- Forgetting old ids.
CREATE INDEX webhook_deliveries_received_idx ON webhook_deliveries (received_at);
