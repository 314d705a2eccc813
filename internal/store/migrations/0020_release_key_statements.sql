-- Release key rotation (issue 10): statements, each signed by a key
-- trusted when it was added, that add or retire a release key. The
-- server trusts its configured keys as extended by them, and hands them
-- to agents with every update offer.
CREATE TABLE release_key_statements (
    id         TEXT PRIMARY KEY,
    signer     TEXT NOT NULL,
    statement  TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
