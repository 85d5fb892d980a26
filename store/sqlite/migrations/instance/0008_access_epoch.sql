-- The access epoch moves on with every change of group memberships (which
-- decide notebook access but belong to no notebook). Nodes that share the
-- database read it, with the notebook's access_version, in the query that
-- opens a notebook, and use cached rights only while both are unchanged.
-- No row means epoch 0.
CREATE TABLE access_epoch (
    id    INTEGER PRIMARY KEY,
    epoch INTEGER NOT NULL
);
