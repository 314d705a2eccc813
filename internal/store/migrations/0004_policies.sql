-- Policies and where they are assigned. The default policy exists from
-- the start with an empty document: every field inherits the built-in
-- default until someone sets it.

CREATE TABLE policies (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    document    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX policies_name ON policies (lower(name));

-- One policy per level and target; target_id is '' at the default level.
CREATE TABLE policy_assignments (
    level       TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    policy_id   TEXT NOT NULL REFERENCES policies (id),
    assigned_by TEXT NOT NULL,
    assigned_at BIGINT NOT NULL,
    PRIMARY KEY (level, target_id)
);
CREATE INDEX policy_assignments_policy ON policy_assignments (policy_id);

INSERT INTO policies (id, name, description, document, created_at, updated_at)
VALUES ('default', 'Default', 'Applies to every agent unless a client, site or agent policy sets a field.', '{}', 0, 0);
INSERT INTO policy_assignments (level, target_id, policy_id, assigned_by, assigned_at)
VALUES ('default', '', 'default', 'system', 0);
