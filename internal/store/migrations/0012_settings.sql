-- Server settings for email notifications, and email channels.
--
-- smtp_settings holds at most one row (id = 1): the relay the server sends
-- notification email through. The password is kept because SMTP AUTH needs
-- it in clear; the API and the dashboard never return it.
CREATE TABLE smtp_settings (
    id           INTEGER PRIMARY KEY,
    host         TEXT NOT NULL,
    port         INTEGER NOT NULL,
    security     TEXT NOT NULL,
    username     TEXT NOT NULL,
    password     TEXT NOT NULL,
    from_address TEXT NOT NULL,
    helo_name    TEXT NOT NULL,
    updated_at   BIGINT NOT NULL,
    updated_by   TEXT NOT NULL
);

-- Recipients of an email channel, as a JSON array of addresses, '[]' for
-- webhooks.
ALTER TABLE notification_channels ADD COLUMN recipients TEXT NOT NULL DEFAULT '[]';
