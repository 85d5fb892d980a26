-- Sharing: members of notebooks (users and groups with a role) and grants
-- (narrower rules). access_version changes with every member or grant
-- change of a notebook, so caches of compiled rights are keyed by it and
-- a change takes effect at the next request on every node.
CREATE TABLE {{prefix}}notebook_members (
    notebook_id    TEXT COLLATE "C" NOT NULL REFERENCES {{prefix}}notebooks (id) ON DELETE CASCADE,
    principal_type TEXT COLLATE "C" NOT NULL,
    principal_id   TEXT COLLATE "C" NOT NULL,
    role           TEXT COLLATE "C" NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (notebook_id, principal_type, principal_id)
);
CREATE INDEX notebook_members_principal ON {{prefix}}notebook_members (principal_type, principal_id);

CREATE TABLE {{prefix}}grants (
    id             TEXT COLLATE "C" PRIMARY KEY,
    notebook_id    TEXT COLLATE "C" NOT NULL REFERENCES {{prefix}}notebooks (id) ON DELETE CASCADE,
    principal_type TEXT COLLATE "C" NOT NULL,
    principal_id   TEXT COLLATE "C" NOT NULL,
    table_id       TEXT COLLATE "C" NOT NULL DEFAULT '',
    view_id        TEXT COLLATE "C" NOT NULL DEFAULT '',
    rows_filter    TEXT NOT NULL DEFAULT '',
    column_rights  TEXT NOT NULL,
    capabilities   TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX grants_notebook ON {{prefix}}grants (notebook_id);
CREATE INDEX grants_principal ON {{prefix}}grants (principal_type, principal_id);

ALTER TABLE {{prefix}}notebooks ADD COLUMN access_version BIGINT NOT NULL DEFAULT 0;

INSERT INTO {{prefix}}notebook_members (notebook_id, principal_type, principal_id, role, created_at)
SELECT id, 'user', owner_id, 'owner', created_at FROM {{prefix}}notebooks;
