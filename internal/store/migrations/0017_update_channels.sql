-- The release channel an agent updates from (issue 10), settable on the
-- agent, its site and its client; '' inherits from the level above, and
-- the default is stable.
ALTER TABLE clients ADD COLUMN update_channel TEXT NOT NULL DEFAULT '';
ALTER TABLE sites ADD COLUMN update_channel TEXT NOT NULL DEFAULT '';
ALTER TABLE agents ADD COLUMN update_channel TEXT NOT NULL DEFAULT '';
