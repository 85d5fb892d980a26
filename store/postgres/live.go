package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer/live"
	"github.com/cofferhq/coffer/store"
)

var _ store.Notifier = (*Backend)(nil)

// maxPayload keeps each notification under PostgreSQL's 8000-byte limit.
const maxPayload = 7900

// liveChannel is the notification channel of the instance: one per
// instance schema, so that instances (and tests) sharing a database do
// not hear each other.
func (b *Backend) liveChannel() string {
	h := fnv.New64a()
	h.Write([]byte(b.opts.Schema))
	return fmt.Sprintf("coffer_live_%016x", h.Sum64())
}

// Notify queues the events in the write's transaction with pg_notify:
// PostgreSQL delivers them when, and only if, the transaction commits
// (notifications of a subtransaction rolled back to its savepoint are
// discarded too). Events go in JSON arrays of fewer than 8000 bytes.
func (b *Backend) Notify(ctx context.Context, tx store.Execer, evs []live.Event) error {
	ch := b.liveChannel()
	for _, p := range live.Chunks(evs, maxPayload) {
		if _, err := tx.ExecContext(ctx, "SELECT pg_notify($1, $2)", ch, string(p)); err != nil {
			return err
		}
	}
	return nil
}

// Listen starts a goroutine that listens on a connection of its own
// (outside the pool) and hands every notification to publish. When the
// connection drops it reconnects with backoff and calls lost, since
// notifications sent meanwhile are gone. It returns once the first LISTEN
// is in place. The goroutine ends when the backend is closed.
func (b *Backend) Listen(ctx context.Context, publish func([]live.Event), lost func()) error {
	conn, err := b.listenConn(ctx)
	if err != nil {
		return fmt.Errorf("postgres: listen: %w", err)
	}
	lctx := b.listening(1)
	go func() {
		defer b.listeners.Done()
		backoff := 100 * time.Millisecond
		for {
			err := b.receive(lctx, conn, publish)
			conn.Close(context.Background())
			if lctx.Err() != nil {
				return
			}
			b.log("live-update listener lost its connection, reconnecting", err)
			for {
				select {
				case <-lctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 10*time.Second)
				if conn, err = b.listenConn(lctx); err == nil {
					break
				}
				b.log("live-update listener cannot reconnect", err)
			}
			backoff = 100 * time.Millisecond
			lost()
		}
	}()
	return nil
}

// listenConn opens a dedicated connection that listens on the instance's channel.
func (b *Backend) listenConn(ctx context.Context) (*pgx.Conn, error) {
	return b.listenConnOn(ctx, b.liveChannel())
}

// listenConnOn opens a dedicated connection that listens on channel ch.
func (b *Backend) listenConnOn(ctx context.Context, ch string) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, b.cfg.Copy())
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+quoteIdent(ch)); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

// receive hands notifications to publish until the connection fails or ctx ends.
func (b *Backend) receive(ctx context.Context, conn *pgx.Conn, publish func([]live.Event)) error {
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		evs, err := live.Decode([]byte(n.Payload))
		if err != nil {
			b.log("live-update listener: bad payload", err)
			continue
		}
		publish(evs)
	}
}

func (b *Backend) log(msg string, err error) {
	if b.opts.Logger != nil && err != nil && !errors.Is(err, context.Canceled) {
		b.opts.Logger.Warn(msg, "error", err.Error())
	}
}

// listening returns the context of the backend's listening goroutines and
// counts n more of them: Close cancels it and waits for them all.
func (b *Backend) listening(n int) context.Context {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopListen == nil {
		b.listenCtx, b.stopListen = context.WithCancel(context.Background())
	}
	b.listeners.Add(n)
	return b.listenCtx
}
