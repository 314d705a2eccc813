-- The version the watchdog runs (issue 10): an update is complete only when
-- the watchdog, which waits for the agent's confirmation before it moves,
-- runs the agent's version too.
ALTER TABLE watchdog_reports ADD COLUMN version TEXT NOT NULL DEFAULT '';
