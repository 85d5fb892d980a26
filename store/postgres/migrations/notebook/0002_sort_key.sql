-- The format of the sort keys a column's key column ("k_…") holds, "" for
-- none: text-like columns sort by a Unicode collation key computed in Go.
-- Notebooks made before keys existed have none; the store adds and fills
-- them when it first loads the notebook's schema.
ALTER TABLE {{prefix}}_columns ADD COLUMN sort_key TEXT NOT NULL DEFAULT '';
