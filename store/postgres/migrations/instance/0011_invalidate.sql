-- Invalidations of the nodes' caches (store.Invalidations): every
-- committed change of what a node may cache (sessions, API keys, users,
-- the notebook registry with its access_version, the access epoch) sends
-- "kind:id" on the instance's invalidation channel, in the change's own
-- transaction, so it is heard if and only if the change commits, whoever
-- made it (a node, the command line, psql). Notebook schemas add a
-- statement trigger on their _schema_version (store/postgres/invalidate.go).
-- The channel is 'coffer_inv_' || md5(instance schema name).
-- (Each function body is one line: migrations split statements at ";\n".)
CREATE FUNCTION {{prefix}}coffer_invalidate_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_notify('coffer_inv_' || md5(TG_TABLE_SCHEMA), TG_ARGV[0] || ':' || COALESCE(OLD.id, NEW.id)); RETURN NULL; END
$$;

CREATE FUNCTION {{prefix}}coffer_invalidate_stmt() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_notify('coffer_inv_' || md5(TG_ARGV[1]), TG_ARGV[0]); RETURN NULL; END
$$;

CREATE TRIGGER coffer_invalidate_delete AFTER DELETE ON {{prefix}}sessions
    FOR EACH ROW EXECUTE FUNCTION {{prefix}}coffer_invalidate_row('session');
-- Recording a session's last use every minute changes nothing cached.
CREATE TRIGGER coffer_invalidate_update AFTER UPDATE ON {{prefix}}sessions
    FOR EACH ROW WHEN ((to_jsonb(OLD) - 'last_seen_at') IS DISTINCT FROM (to_jsonb(NEW) - 'last_seen_at'))
    EXECUTE FUNCTION {{prefix}}coffer_invalidate_row('session');

CREATE TRIGGER coffer_invalidate_delete AFTER DELETE ON {{prefix}}api_keys
    FOR EACH ROW EXECUTE FUNCTION {{prefix}}coffer_invalidate_row('apikey');
CREATE TRIGGER coffer_invalidate_update AFTER UPDATE ON {{prefix}}api_keys
    FOR EACH ROW WHEN ((to_jsonb(OLD) - 'last_used_at') IS DISTINCT FROM (to_jsonb(NEW) - 'last_used_at'))
    EXECUTE FUNCTION {{prefix}}coffer_invalidate_row('apikey');

CREATE TRIGGER coffer_invalidate_delete AFTER DELETE ON {{prefix}}users
    FOR EACH ROW EXECUTE FUNCTION {{prefix}}coffer_invalidate_row('user');
-- A failed sign-in counts in failed_logins, which nothing caches.
CREATE TRIGGER coffer_invalidate_update AFTER UPDATE ON {{prefix}}users
    FOR EACH ROW WHEN ((to_jsonb(OLD) - 'failed_logins') IS DISTINCT FROM (to_jsonb(NEW) - 'failed_logins'))
    EXECUTE FUNCTION {{prefix}}coffer_invalidate_row('user');

-- Members, grants and access-scoping views move access_version; renames
-- and owner changes change the row.
CREATE TRIGGER coffer_invalidate_delete AFTER DELETE ON {{prefix}}notebooks
    FOR EACH ROW EXECUTE FUNCTION {{prefix}}coffer_invalidate_row('notebook');
CREATE TRIGGER coffer_invalidate_update AFTER UPDATE ON {{prefix}}notebooks
    FOR EACH ROW EXECUTE FUNCTION {{prefix}}coffer_invalidate_row('notebook');

-- Group and organisation memberships move the access epoch.
CREATE TRIGGER coffer_invalidate_write AFTER INSERT OR UPDATE OR DELETE ON {{prefix}}access_epoch
    FOR EACH ROW EXECUTE FUNCTION {{prefix}}coffer_invalidate_row('access');
