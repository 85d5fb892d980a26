-- The layout of each table: the order, widths (pixels) and hidden columns
-- that clients show to everyone who opens it, as JSON keyed by column id
-- ({"order":[…],"widths":{…},"hidden":[…]}). A presentation choice shared
-- by all, set by owners and those with the schema right; not access.
ALTER TABLE {{prefix}}_tables ADD COLUMN layout TEXT NOT NULL DEFAULT '{}';
