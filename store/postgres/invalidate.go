package postgres

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/cofferhq/coffer/store"
)

var _ store.Invalidator = (*Backend)(nil)

// invalidateChannel is the instance's channel of cache invalidations, as
// the triggers of migration 0011_invalidate.sql name it.
func invalidateChannel(schema string) string {
	h := md5.Sum([]byte(schema))
	return "coffer_inv_" + hex.EncodeToString(h[:])
}

// WatchInvalidations listens for the invalidations the instance's
// triggers send (see 0011_invalidate.sql) on a connection of its own, and
// hands each to deliver. It calls up(true) once LISTEN is in place and
// up(false) as soon as the connection fails, then reconnects with
// backoff; until then the caches are off. It returns at once: a database
// unreachable now only keeps the caches off. The goroutine ends when the
// backend is closed.
func (b *Backend) WatchInvalidations(deliver func(keys []string), up func(bool)) {
	b.mu.Lock()
	if b.stopListen == nil {
		b.listenCtx, b.stopListen = context.WithCancel(context.Background())
	}
	ctx := b.listenCtx
	b.listeners.Add(1)
	b.mu.Unlock()
	ch := invalidateChannel(b.opts.Schema)
	go func() {
		defer b.listeners.Done()
		backoff := 100 * time.Millisecond
		for ctx.Err() == nil {
			conn, err := b.listenConnOn(ctx, ch)
			if err != nil {
				b.log("cache invalidation listener cannot connect", err)
				select {
				case <-ctx.Done():
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 10*time.Second)
				continue
			}
			backoff = 100 * time.Millisecond
			b.invPID.Store(conn.PgConn().PID())
			up(true)
			for {
				n, err := conn.WaitForNotification(ctx)
				if err != nil {
					up(false)
					b.log("cache invalidation listener lost its connection, reconnecting", err)
					break
				}
				deliver([]string{n.Payload})
			}
			conn.Close(context.Background())
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(b.invRetry.Load()) + backoff):
			}
		}
	}()
}

// ensureInvalidateTrigger makes the notebook's schema send an invalidation
// of the notebook at every change of its _schema_version, so that nodes
// drop the schema version they cached. It is made once per notebook; two
// nodes making it at once is no error.
func (b *Backend) ensureInvalidateTrigger(ctx context.Context, schema, id string) error {
	table := quoteIdent(schema) + "._schema_version"
	var exists bool
	err := b.pool.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = $1::regclass AND tgname = 'coffer_invalidate')", table).Scan(&exists)
	if err != nil || exists {
		return err
	}
	// Identifiers and ids are [a-z0-9_] (validIdent, coffer.ValidID): safe
	// as literals.
	if strings.ContainsAny(schema+id+b.opts.Schema, "'\\") {
		return fmt.Errorf("postgres: bad name for a trigger: %q", schema)
	}
	_, err = b.pool.ExecContext(ctx, "DO $$ BEGIN CREATE TRIGGER coffer_invalidate AFTER UPDATE ON "+table+" FOR EACH STATEMENT EXECUTE FUNCTION "+
		quoteIdent(b.opts.Schema)+".coffer_invalidate_stmt('"+store.InvalidNotebook+":"+id+"', '"+b.opts.Schema+"'); "+
		"EXCEPTION WHEN duplicate_object THEN NULL; END $$")
	return err
}
