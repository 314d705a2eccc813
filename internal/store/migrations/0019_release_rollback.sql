-- A signed rollback instruction attached to a release (issue 10): agents
-- running a newer version may go back to it only with this.
ALTER TABLE releases ADD COLUMN rollback TEXT NOT NULL DEFAULT '';
