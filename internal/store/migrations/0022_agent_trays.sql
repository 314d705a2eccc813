-- The trays of an agent (issue 10): the tray processes running in users'
-- sessions and their versions, as the agent's facts last reported them
-- (a JSON array of protocol.TrayInfo). An update is complete when they
-- run the agent's version too.
ALTER TABLE agents ADD COLUMN trays TEXT NOT NULL DEFAULT '[]';
