-- Sharing: members of notebooks (users and groups with a role) and grants
-- (narrower rules). access_version changes with every member or grant
-- change of a notebook, so caches of compiled rights are keyed by it and
-- a change takes effect at the next request on every node.
CREATE TABLE notebook_members (
    notebook_id    TEXT NOT NULL REFERENCES notebooks (id) ON DELETE CASCADE,
    principal_type TEXT NOT NULL,
    principal_id   TEXT NOT NULL,
    role           TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (notebook_id, principal_type, principal_id)
);
CREATE INDEX notebook_members_principal ON notebook_members (principal_type, principal_id);

CREATE TABLE grants (
    id             TEXT PRIMARY KEY,
    notebook_id    TEXT NOT NULL REFERENCES notebooks (id) ON DELETE CASCADE,
    principal_type TEXT NOT NULL,
    principal_id   TEXT NOT NULL,
    table_id       TEXT NOT NULL DEFAULT '',
    view_id        TEXT NOT NULL DEFAULT '',
    rows_filter    TEXT NOT NULL DEFAULT '',
    column_rights  TEXT NOT NULL,
    capabilities   TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX grants_notebook ON grants (notebook_id);
CREATE INDEX grants_principal ON grants (principal_type, principal_id);

ALTER TABLE notebooks ADD COLUMN access_version INTEGER NOT NULL DEFAULT 0;

INSERT INTO notebook_members (notebook_id, principal_type, principal_id, role, created_at)
SELECT id, 'user', owner_id, 'owner', created_at FROM notebooks;
