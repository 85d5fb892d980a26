package postgres

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer/store"
)

var _ store.Invalidator = (*Backend)(nil)

// invalidateChannel is the instance's channel of cache invalidations, as
// the triggers of migration 0011_invalidate.sql name it.
func invalidateChannel(schema string) string {
	h := md5.Sum([]byte(schema))
	return "coffer_inv_" + hex.EncodeToString(h[:])
}

// Heartbeat of the invalidation listener: the node sends itself a ping on
// the channel through the pool every pingEvery, and takes its listener as
// lost when it has heard none for silenceLimit. A connection can die
// without an error (a silent network failure, a pooler that does not carry
// LISTEN): its node would otherwise serve stale entries for SharedCacheTTL.
const (
	pingEvery    = 500 * time.Millisecond
	silenceLimit = 2 * time.Second
)

// WatchInvalidations listens for the invalidations the instance's
// triggers send (see 0011_invalidate.sql) on a connection of its own, and
// hands each to deliver. It calls up(true) once LISTEN is in place and
// up(false) as soon as the connection fails or falls silent (no heartbeat
// of its own heard for silenceLimit), then reconnects with backoff; until
// then the caches are off. It returns at once: a database unreachable now
// only keeps the caches off. The goroutines end when the backend is closed.
func (b *Backend) WatchInvalidations(deliver func(keys []string), up func(bool)) {
	ctx := b.listening(2)
	ch := invalidateChannel(b.opts.Schema)
	var token [8]byte
	rand.Read(token[:])
	ping := invalidPing + ":" + hex.EncodeToString(token[:])
	go func() {
		defer b.listeners.Done()
		b.heartbeat(ctx, ch, ping)
	}()
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
			err = b.receiveInvalidations(ctx, conn, ping, deliver)
			up(false)
			b.log("cache invalidation listener lost its connection, reconnecting", err)
			conn.Close(context.Background())
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(b.invRetry.Load()) + backoff):
			}
		}
	}()
}

// invalidPing is the kind of the heartbeat's notifications, which no
// cache subscribes to.
const invalidPing = "ping"

// heartbeat sends ping on channel ch through the pool every pingEvery
// until ctx ends.
func (b *Backend) heartbeat(ctx context.Context, ch, ping string) {
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if b.invPaused.Load() {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, silenceLimit)
		_, err := b.pool.ExecContext(pctx, "SELECT pg_notify($1, $2)", ch, ping)
		cancel()
		if err != nil && ctx.Err() == nil {
			b.log("cache invalidation heartbeat", err)
		}
	}
}

// receiveInvalidations hands the invalidations heard on conn to deliver
// until the connection fails or no ping of this node's was heard for
// silenceLimit; it then returns why.
func (b *Backend) receiveInvalidations(ctx context.Context, conn *pgx.Conn, ping string, deliver func([]string)) error {
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var heard atomic.Int64
	heard.Store(time.Now().UnixNano())
	go func() {
		t := time.NewTicker(silenceLimit / 8)
		defer t.Stop()
		for {
			select {
			case <-cctx.Done():
				return
			case <-t.C:
			}
			if time.Since(time.Unix(0, heard.Load())) > silenceLimit {
				cancel(errors.New("no heartbeat heard"))
				return
			}
		}
	}()
	for {
		n, err := conn.WaitForNotification(cctx)
		if err != nil {
			if c := context.Cause(cctx); c != nil && ctx.Err() == nil {
				return c
			}
			return err
		}
		switch {
		case n.Payload == ping:
			heard.Store(time.Now().UnixNano())
		case strings.HasPrefix(n.Payload, invalidPing+":"):
			// another node's heartbeat
		default:
			deliver([]string{n.Payload})
		}
	}
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
