-- Agent releases (issue 10): one row per signed agent binary, its bytes in
-- release_chunks so that every replica serves it from the one database.
--
-- statement is the signed ReleaseStatement's fields (version, os, arch,
-- size, sha256) and signature the .sig file as published, kept whole so
-- that the server hands agents exactly what the release key signed.
CREATE TABLE releases (
    id          TEXT PRIMARY KEY,
    version     TEXT NOT NULL,
    os          TEXT NOT NULL,
    arch        TEXT NOT NULL,
    channel     TEXT NOT NULL,
    size        BIGINT NOT NULL,
    sha256      TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    signature   TEXT NOT NULL,
    notes       TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (version, os, arch)
);

CREATE INDEX releases_channel ON releases (channel, os, arch, created_at);

-- The bytes of a release in fixed-size chunks (the last one shorter), read
-- one chunk per range request step.
CREATE TABLE release_chunks (
    release_id TEXT NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    data       BYTEA NOT NULL,
    PRIMARY KEY (release_id, seq)
);
