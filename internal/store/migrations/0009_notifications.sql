-- Notification channels and the outbox of deliveries. An alert
-- transition writes one delivery per matching channel; a singleton job
-- sends them with retries and keeps every attempt's outcome, so a failing
-- receiver never holds up alerting and nothing is lost across restarts.

CREATE TABLE notification_channels (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    url          TEXT NOT NULL,
    secret       TEXT NOT NULL,
    min_severity TEXT NOT NULL,
    enabled      BOOLEAN NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX notification_channels_name ON notification_channels (lower(name));

CREATE TABLE notification_deliveries (
    id          TEXT PRIMARY KEY,
    channel_id  TEXT NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
    event       TEXT NOT NULL,
    payload     TEXT NOT NULL,
    state       TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     BIGINT NOT NULL,
    last_error  TEXT NOT NULL DEFAULT '',
    last_status INTEGER NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    sent_at     BIGINT
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (state, next_at);
CREATE INDEX notification_deliveries_channel ON notification_deliveries (channel_id, created_at);
