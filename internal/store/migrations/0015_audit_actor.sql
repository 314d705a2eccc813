-- The audit page filters by actor: by the actor IDs the typed name resolves
-- to, newest first, instead of a scan of every entry's name.
CREATE INDEX audit_log_actor ON audit_log (actor_id, at);
