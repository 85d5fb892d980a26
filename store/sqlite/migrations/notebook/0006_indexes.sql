-- The indexes over several columns that a table's owners (and those with
-- the schema right) declare, as JSON: [{"id":"idx_…","keys":[{"column":
-- "col_…","desc":true},…],"created_at":…}]. Each names its SQL index
-- "x_<id without prefix>"; columns are named by id, so a rename changes
-- nothing; dropping a column drops the indexes that use it.
ALTER TABLE {{prefix}}_tables ADD COLUMN indexes TEXT NOT NULL DEFAULT '[]';
