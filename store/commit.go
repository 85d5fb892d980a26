package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

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

	onCommit func() // see DB.OnCommit; set before the DB is used
}

// OnCommit sets f to be called after each group of writes commits, by the
// writer that led the group, once every write of the group has its answer.
// f must return at once (signal a goroutine, say): the next group waits for
// it. It tells a backend's upkeep (WAL checkpoints) that the writer wrote.
// Set it before the DB is used; it applies to a DB with GroupCommit.
func (db *DB) OnCommit(f func()) { db.commits.onCommit = f }

type writeJob struct {
	ctx  context.Context
	fn   func(tx *WriteTx) error
	done chan error    // the job's outcome, after the group's COMMIT
	lead chan struct{} // closed when this job must lead the next group
}

// Write runs fn in a transaction on db's writer and returns once it is
// committed. With db.GroupCommit, concurrent writes share commits.
func (s *Core) Write(ctx context.Context, db *DB, op string, fn func(tx *WriteTx) error) error {
	if err := Writable(ctx, db != s.Inst); err != nil {
		return err
	}
	if ok, err := s.nested(ctx, db, fn); ok {
		return s.Wrap(op, err)
	}
	if !db.GroupCommit {
		return s.commitTx(ctx, db, op, fn)
	}
	if err := ctx.Err(); err != nil {
		return s.Wrap(op, err)
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
			return s.Wrap(op, err)
		case <-j.lead:
		}
	}
	// Lead one group, then pass the lead on.
	c.mu.Lock()
	n := min(len(c.queue), maxGroup)
	group := c.queue[:n:n]
	c.queue = append([]*writeJob(nil), c.queue[n:]...)
	c.mu.Unlock()
	s.runGroup(db, group)
	c.mu.Lock()
	if len(c.queue) > 0 {
		close(c.queue[0].lead)
	} else {
		c.busy = false
	}
	c.mu.Unlock()
	return s.Wrap(op, <-j.done)
}

// runGroup runs the jobs in one transaction, each in a savepoint, and
// reports every outcome after the commit.
func (s *Core) runGroup(db *DB, group []*writeJob) {
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
	db.resetStmtsIfFull()
	times := groupTimes{start: time.Now()}
	sqlTx, err := db.W.BeginTx(context.Background(), nil)
	if err != nil {
		fail(err)
		return
	}
	times.begun = time.Now()
	tx := &WriteTx{Tx: sqlTx, db: db}
	ctx := context.Background()
	committed := 0
	for i, j := range group {
		if err := j.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT w"); err != nil {
			tx.Rollback()
			fail(err)
			return
		}
		if err := runJob(j, tx); err != nil {
			results[i] = err
			if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO w"); rerr != nil {
				tx.Rollback()
				fail(fmt.Errorf("roll back a failed write: %w", errors.Join(err, rerr)))
				return
			}
		} else {
			committed++
		}
		if _, err := tx.ExecContext(ctx, "RELEASE w"); err != nil {
			tx.Rollback()
			fail(err)
			return
		}
	}
	times.ran = time.Now()
	if committed == 0 {
		err = tx.Rollback()
	} else {
		err = db.committing(tx.Commit)
	}
	times.committed = time.Now()
	times.report(len(group))
	db.preparePending()
	if err != nil {
		fail(err)
		return
	}
	for i, j := range group {
		j.done <- results[i]
	}
	if committed > 0 && db.commits.onCommit != nil {
		db.commits.onCommit()
	}
}

// commitTx runs fn in one transaction on db's writer (a database without
// group commit) and commits it between the moves of db's data version.
func (s *Core) commitTx(ctx context.Context, db *DB, op string, fn func(tx *WriteTx) error) error {
	tx, err := db.W.BeginTx(ctx, nil)
	if err != nil {
		return s.Wrap(op, err)
	}
	if err := fn(&WriteTx{Tx: tx, db: db}); err != nil {
		_ = tx.Rollback()
		return s.Wrap(op, err)
	}
	return s.Wrap(op, db.committing(tx.Commit))
}

// WriteTx is a write transaction. On a database with group commit (a single
// writer connection) its statements are prepared once and reused by every
// later transaction: SQLite then parses each query once instead of at
// every write.
type WriteTx struct {
	*sql.Tx
	db    *DB
	depth int // of nested writes running in it (nested.go)
}

// cacheable reports whether a query is worth keeping prepared: data
// statements, not schema changes.
func cacheable(q string) bool {
	for _, p := range []string{"INSERT", "UPDATE", "DELETE", "SELECT", "SAVEPOINT", "RELEASE", "ROLLBACK TO"} {
		if len(q) >= len(p) && q[:len(p)] == p {
			return true
		}
	}
	return false
}

// stmt returns the transaction's form of the prepared statement for q, or
// nil when q is not prepared yet. A statement is prepared on the writer
// after the transaction that first needed it (preparing needs the writer's
// only connection, which the transaction holds).
func (w *WriteTx) stmt(ctx context.Context, q string) *sql.Stmt {
	if !w.db.GroupCommit || !cacheable(q) {
		return nil
	}
	// Only the leader of a group runs statements on the writer, so the
	// maps need no lock.
	if st := w.db.wstmts[q]; st != nil {
		return w.Tx.StmtContext(ctx, st)
	}
	if w.db.wpending == nil {
		w.db.wpending = map[string]bool{}
	}
	w.db.wpending[q] = true
	return nil
}

// preparePending prepares on the writer the statements that transactions
// needed, once no transaction holds the writer's connection.
func (db *DB) preparePending() {
	for q := range db.wpending {
		if st, err := db.W.Prepare(q); err == nil {
			if db.wstmts == nil {
				db.wstmts = map[string]*sql.Stmt{}
			}
			db.wstmts[q] = st
		}
	}
	db.wpending = nil
}

// ExecContext runs a statement in the transaction, prepared once where the
// writer keeps statements.
func (w *WriteTx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := w.stmt(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return w.Tx.ExecContext(ctx, q, args...)
}

// QueryContext runs a query in the transaction, prepared once where the
// writer keeps statements.
func (w *WriteTx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := w.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return w.Tx.QueryContext(ctx, q, args...)
}

// QueryRowContext runs a one-row query in the transaction, prepared once
// where the writer keeps statements.
func (w *WriteTx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := w.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return w.Tx.QueryRowContext(ctx, q, args...)
}

// maxWriterStmts bounds the statements kept prepared on a writer.
const maxWriterStmts = 512

// resetStmtsIfFull closes the writer's prepared statements when there are
// too many (queries with variable IN lists make many). Called by the group
// leader before a transaction, when no statement is in use.
func (db *DB) resetStmtsIfFull() {
	if len(db.wstmts) < maxWriterStmts {
		return
	}
	for _, st := range db.wstmts {
		st.Close()
	}
	db.wstmts = nil
}

// runJob runs one write, turning a panic into its error: a bug in one write
// must not stop the group, or leave the committer waiting for ever.
func runJob(j *writeJob, tx *WriteTx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = coffer.Internal("write", fmt.Errorf("panic: %v\n%s", v, debug.Stack()))
		}
	}()
	return j.fn(tx)
}

// Writable refuses changes to notebook data (and notebooks themselves) by
// a read-only API key. Instance writes that come with any request (the
// last use of a key, for one) stay allowed.
func Writable(ctx context.Context, notebookData bool) error {
	if c := coffer.CallerFrom(ctx); c != nil && c.ReadOnly && notebookData {
		return coffer.Errorf(coffer.EFORBIDDEN, "this API key is read-only")
	}
	if notebookData && coffer.SnapshotReadFrom(ctx) != nil {
		return coffer.Errorf(coffer.ESNAPSHOTRO, "a snapshot is read-only")
	}
	return nil
}
