package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/cofferhq/coffer"
)

// maxGroup bounds the writes that share one commit.
const maxGroup = 128

// committer implements group commit on a database with a single writer
// connection (SQLite): writes that arrive while a commit is in progress
// queue up and then run together in one transaction, each inside its own
// savepoint, and share one COMMIT (one fsync). A write that fails is rolled
// back to its savepoint and leaves no trace; the others still commit. No
// write is acknowledged before the COMMIT that makes it durable has
// returned, so the durability promise is unchanged: only its cost is
// shared.
//
// There is no background goroutine: the first writer to find the
// committer idle leads a group, then hands the lead to the first writer
// that queued meanwhile.
type committer struct {
	mu    sync.Mutex
	queue []*writeJob
	busy  bool
}

type writeJob struct {
	ctx  context.Context
	fn   func(tx *sql.Tx) error
	done chan error    // the job's outcome, after the group's COMMIT
	lead chan struct{} // closed when this job must lead the next group
}

// write runs fn in a transaction on db's writer and returns once it is
// committed. With db.GroupCommit, concurrent writes share commits.
func (s *Store) write(ctx context.Context, db *DB, op string, fn func(tx *sql.Tx) error) error {
	if !db.GroupCommit {
		return s.tx(ctx, db.W, op, fn)
	}
	if err := ctx.Err(); err != nil {
		return s.wrap(op, err)
	}
	c := &db.commits
	j := &writeJob{ctx: ctx, fn: fn, done: make(chan error, 1), lead: make(chan struct{})}
	c.mu.Lock()
	c.queue = append(c.queue, j)
	lead := !c.busy
	c.busy = true
	c.mu.Unlock()
	if !lead {
		select {
		case err := <-j.done:
			return s.wrap(op, err)
		case <-j.lead:
		}
	}
	// Lead one group, then pass the lead on.
	c.mu.Lock()
	n := min(len(c.queue), maxGroup)
	group := c.queue[:n:n]
	c.queue = append([]*writeJob(nil), c.queue[n:]...)
	c.mu.Unlock()
	s.runGroup(db.W, group)
	c.mu.Lock()
	if len(c.queue) > 0 {
		close(c.queue[0].lead)
	} else {
		c.busy = false
	}
	c.mu.Unlock()
	return s.wrap(op, <-j.done)
}

// runGroup runs the jobs in one transaction, each in a savepoint, and
// reports every outcome after the commit.
func (s *Store) runGroup(w *sql.DB, group []*writeJob) {
	results := make([]error, len(group))
	fail := func(err error) {
		// The group's transaction is gone (e.g. a cancelled request
		// interrupted its statement, which makes SQLite roll back the whole
		// transaction): nothing of the group was committed.
		err = &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "the write was not committed, try again", Err: err}
		for _, j := range group {
			j.done <- err
		}
	}
	// The transaction outlives any one request: cancelling a request must
	// not roll back the others' writes.
	tx, err := w.BeginTx(context.Background(), nil)
	if err != nil {
		fail(err)
		return
	}
	committed := 0
	for i, j := range group {
		if err := j.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if _, err := tx.Exec("SAVEPOINT w"); err != nil {
			tx.Rollback()
			fail(err)
			return
		}
		if err := j.fn(tx); err != nil {
			results[i] = err
			if _, rerr := tx.Exec("ROLLBACK TO w"); rerr != nil {
				tx.Rollback()
				fail(fmt.Errorf("roll back a failed write: %w", errors.Join(err, rerr)))
				return
			}
		} else {
			committed++
		}
		if _, err := tx.Exec("RELEASE w"); err != nil {
			tx.Rollback()
			fail(err)
			return
		}
	}
	if committed == 0 {
		err = tx.Rollback()
	} else {
		err = tx.Commit()
	}
	if err != nil {
		fail(err)
		return
	}
	for i, j := range group {
		j.done <- results[i]
	}
}
