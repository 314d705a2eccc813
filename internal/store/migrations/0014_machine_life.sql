-- The agent's life on a machine (issue 9): an agent that was uninstalled,
-- the latest report of its watchdog, and the help requests its users sent
-- from the tray.
--
-- uninstalled_at is set once, when the agent says it is being removed; its
-- credentials are refused from then on and it is never "offline".

ALTER TABLE agents ADD COLUMN uninstalled_at BIGINT;
ALTER TABLE agents ADD COLUMN uninstall_reason TEXT NOT NULL DEFAULT '';

-- One row per agent: only the latest report matters. services holds the
-- watched services as a JSON array, read whole for the agent page.
CREATE TABLE watchdog_reports (
    agent_id     TEXT PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,
    received_at  BIGINT NOT NULL,
    reported_at  BIGINT NOT NULL,
    agent_state  TEXT NOT NULL,
    agent_reason TEXT NOT NULL,
    agent_since  BIGINT NOT NULL,
    restarts     INTEGER NOT NULL,
    services     TEXT NOT NULL
);

-- A help request is recorded once per (agent, id): the agent sends it
-- again until it is acknowledged. Its ticket is an alert (rule "help:<id>"),
-- so it is listed, resolved, audited and notified like one.
CREATE TABLE help_requests (
    agent_id    TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    os_user     TEXT NOT NULL,
    message     TEXT NOT NULL,
    asked_at    BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    alert_id    TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (agent_id, id)
);
