-- Hardware, operating system and software inventory.
--
-- agent_inventory holds each agent's latest report (hardware and OS as
-- JSON, read whole for the agent page). Software is normalised: a title is
-- one distinct (name, version, publisher) across the fleet, so a fleet-wide
-- search scans the small titles table and follows agent_software to the
-- agents, instead of scanning every agent's list. A title's id is derived
-- from its fields (a hash), so an upload inserts titles without reading
-- them back. inventory_changes is the history the agent page shows.

CREATE TABLE agent_inventory (
    agent_id       TEXT PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,
    collected_at   BIGINT NOT NULL,
    received_at    BIGINT NOT NULL,
    reason         TEXT NOT NULL,
    hardware       TEXT NOT NULL,
    os             TEXT NOT NULL,
    errors         TEXT NOT NULL,
    software_count INTEGER NOT NULL,
    -- software_hash digests the stored software rows, so an unchanged
    -- report skips reading and diffing them.
    software_hash  TEXT NOT NULL
);

CREATE TABLE software_titles (
    id        TEXT PRIMARY KEY,
    name      TEXT NOT NULL,
    -- name_key is the name lower-cased by the server (the same on both
    -- engines), searched with LIKE '%text%'. No index serves a substring
    -- search: it scans this table, which holds each distinct program
    -- version once for the whole fleet.
    name_key  TEXT NOT NULL,
    version   TEXT NOT NULL,
    publisher TEXT NOT NULL
);

CREATE TABLE agent_software (
    agent_id     TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    title_id     TEXT NOT NULL REFERENCES software_titles (id),
    source       TEXT NOT NULL,
    install_date TEXT NOT NULL,
    PRIMARY KEY (agent_id, title_id, source)
);
CREATE INDEX agent_software_title ON agent_software (title_id, agent_id);

CREATE TABLE inventory_changes (
    id        TEXT PRIMARY KEY,
    agent_id  TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    at        BIGINT NOT NULL,
    kind      TEXT NOT NULL,
    subject   TEXT NOT NULL,
    source    TEXT NOT NULL,
    old_value TEXT NOT NULL,
    new_value TEXT NOT NULL
);
CREATE INDEX inventory_changes_agent ON inventory_changes (agent_id, at);
CREATE INDEX inventory_changes_at ON inventory_changes (at);
