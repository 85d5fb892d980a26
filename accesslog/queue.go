// Package accesslog keeps a notebook's access records and delivers the
// notifications of its watch rules.
//
// Access records (who opened a notebook, read a record, downloaded a file,
// exported, used a link) are noted by the services on the request path
// into a bounded, per-process Queue and written off that path, in batches
// of one transaction per notebook, every second or every N entries. A
// full queue drops the entry and counts it (Stats, and a log line at the
// next flush): recording never blocks or fails a read.
//
// A Sender delivers watch notifications by e-mail and by webhooks signed
// as Standard Webhooks specify (HMAC-SHA256 over "id.timestamp.body",
// secrets "whsec_…"), with bounded retries and exponential backoff,
// refusing private and loopback addresses unless told otherwise.
package accesslog

import (
	"context"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cofferhq/coffer/store"
)

// Entry is one access record of a notebook, as queued.
type Entry struct {
	Notebook  string
	At        int64 // microseconds
	Kind      string
	Actor     string // user id
	APIKey    string // API key id, "" for a session
	IP        string
	UserAgent string
	Table     string   // table id, "" for the notebook
	Record    string   // record id, "" for none or several
	Records   []string // the ids of a read of several records at once (a list page)
	Detail    string
}

// Options tune a Queue; zero values take the defaults.
type Options struct {
	// Size bounds the entries waiting to be written (default 100 000).
	Size int
	// Batch is the number of waiting entries that starts a flush before
	// the interval (default 20 000). Each flush is a commit to the
	// notebook's database, and on SQLite a commit makes every reader
	// reload its page cache: fewer, larger flushes keep reads fast.
	Batch int
	// Interval is the longest an entry waits to be written (default 1 s).
	Interval time.Duration
	// Manual turns background flushing off: entries are written only by
	// Flush and Close (for tests that count transactions and overflow).
	Manual bool
	Logger *slog.Logger // default slog.Default()
	// Written, when set, is called after a notebook's entries are stored
	// (watch rules follow reads and exports from here).
	Written func(notebook string, entries []Entry)
}

// Stats counts what a Queue did since it started.
type Stats struct {
	Queued       int64 // entries accepted
	Written      int64 // entries stored
	Dropped      int64 // entries refused because the queue was full or closed
	Failed       int64 // entries lost to a failed write (e.g. the notebook was deleted)
	Transactions int64 // write transactions
}

// Queue holds access records until they are written.
type Queue struct {
	core *store.Core
	opts Options

	mu      sync.Mutex
	buf     []Entry
	closed  bool
	started bool
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	flushMu sync.Mutex // one flush at a time

	queued, written, dropped, failed, txs atomic.Int64
	reported                              int64 // drops already logged (under flushMu)
}

// NewQueue returns a queue writing to core's notebooks. Its background
// writer starts with the first entry.
func NewQueue(core *store.Core, opts Options) *Queue {
	if opts.Size <= 0 {
		opts.Size = 100_000
	}
	if opts.Batch <= 0 {
		opts.Batch = 20_000
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Queue{core: core, opts: opts, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// Add queues entries and returns at once; those that find the queue full
// (or closed) are dropped and counted. It reports how many were queued.
func (q *Queue) Add(entries ...Entry) int {
	q.mu.Lock()
	n := 0
	if !q.closed {
		n = min(len(entries), q.opts.Size-len(q.buf))
		q.buf = append(q.buf, entries[:n]...)
	}
	full := len(q.buf) >= q.opts.Batch
	start := !q.started && !q.opts.Manual && !q.closed
	q.started = q.started || start
	q.mu.Unlock()
	q.queued.Add(int64(n))
	if d := len(entries) - n; d > 0 {
		q.dropped.Add(int64(d))
	}
	if start {
		go q.run()
	}
	if full {
		select {
		case q.kick <- struct{}{}:
		default:
		}
	}
	return n
}

// Stats returns the queue's counters.
func (q *Queue) Stats() Stats {
	return Stats{Queued: q.queued.Load(), Written: q.written.Load(), Dropped: q.dropped.Load(), Failed: q.failed.Load(), Transactions: q.txs.Load()}
}

// Pending returns the number of entries waiting to be written.
func (q *Queue) Pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.buf)
}

func (q *Queue) run() {
	defer close(q.done)
	t := time.NewTicker(q.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-q.stop:
			return
		case <-t.C:
		case <-q.kick:
		}
		q.Flush()
	}
}

// Close stops taking entries, writes those waiting (until ctx ends) and
// stops the background writer.
func (q *Queue) Close(ctx context.Context) {
	q.mu.Lock()
	wasClosed, started := q.closed, q.started
	q.closed = true
	q.mu.Unlock()
	if wasClosed {
		return
	}
	close(q.stop)
	if started {
		select {
		case <-q.done:
		case <-ctx.Done():
			return
		}
	}
	q.Flush()
}

// Flush writes every waiting entry now: one transaction per notebook and
// batch.
func (q *Queue) Flush() {
	q.flushMu.Lock()
	defer q.flushMu.Unlock()
	q.mu.Lock()
	buf := q.buf
	q.buf = nil
	q.mu.Unlock()
	if d := q.dropped.Load(); d > q.reported {
		q.opts.Logger.Warn("access records dropped: the queue was full", "dropped", d-q.reported, "dropped_total", d, "queue_size", q.opts.Size)
		q.reported = d
	}
	if len(buf) == 0 {
		return
	}
	var order []string
	byNotebook := map[string][]Entry{}
	for _, e := range buf {
		if _, ok := byNotebook[e.Notebook]; !ok {
			order = append(order, e.Notebook)
		}
		byNotebook[e.Notebook] = append(byNotebook[e.Notebook], e)
	}
	for _, nb := range order {
		es := byNotebook[nb]
		for len(es) > 0 {
			n := min(len(es), q.opts.Batch)
			q.write(nb, es[:n])
			es = es[n:]
		}
	}
}

// write stores one notebook's batch in one transaction.
func (q *Queue) write(nb string, es []Entry) {
	// The batch is the process's, not the flushing caller's: no caller
	// (no read-only key) and a deadline of its own.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := func() error {
		db, release, err := q.core.Storage.Notebook(ctx, nb)
		if err != nil {
			return err
		}
		defer release()
		rows := compact(es)
		return q.core.Write(ctx, db, "accesslog.write", func(tx *store.WriteTx) error {
			return Insert(ctx, q.core, tx, db.Prefix, rows)
		})
	}()
	if err != nil {
		q.failed.Add(int64(len(es)))
		q.opts.Logger.Warn("access records not written", "notebook", nb, "entries", len(es), "error", err.Error())
		return
	}
	q.txs.Add(1)
	q.written.Add(int64(len(es)))
	if q.opts.Written != nil {
		q.opts.Written(nb, es)
	}
}

// maxRowRecords bounds the records of one stored row.
const maxRowRecords = 1000

// compact merges the entries of one batch that differ only by time and
// record (the reads of one client in one table) into one row each: its
// time the latest, its records newest first, each as its id, or its id,
// "-" and how many microseconds before the row's time it was read. An
// entry without a record stays as it is; a lone record keeps its own row
// (record_id, indexed). A page of records is read as one entry each.
func compact(es []Entry) []Entry {
	type key struct{ kind, actor, apiKey, ip, ua, table, detail string }
	type read struct {
		id string
		at int64
	}
	idx := map[key]int{}
	var out []Entry
	var reads [][]read
	for _, e := range es {
		recs := e.Records
		if e.Record != "" {
			recs = []string{e.Record}
		}
		if len(recs) == 0 {
			out, reads = append(out, e), append(reads, nil)
			continue
		}
		k := key{e.Kind, e.Actor, e.APIKey, e.IP, e.UserAgent, e.Table, e.Detail}
		i, ok := idx[k]
		if !ok || len(reads[i])+len(recs) > maxRowRecords {
			i = len(out)
			idx[k] = i
			out, reads = append(out, e), append(reads, nil)
		}
		for _, id := range recs {
			reads[i] = append(reads[i], read{id, e.At})
		}
	}
	for i, rs := range reads {
		switch len(rs) {
		case 0:
			continue
		case 1:
			out[i].At, out[i].Record, out[i].Records = rs[0].at, rs[0].id, nil
			continue
		}
		sort.SliceStable(rs, func(a, b int) bool { return rs[a].at > rs[b].at })
		recs := make([]string, len(rs))
		for j, r := range rs {
			recs[j] = r.id
			if d := rs[0].at - r.at; d > 0 {
				recs[j] += "-" + strconv.FormatInt(d, 10)
			}
		}
		out[i].At, out[i].Record, out[i].Records = rs[0].at, "", recs
	}
	return out
}

// insertRows is the number of rows of one INSERT statement: many where
// each statement is a round trip (PostgreSQL); one on SQLite, where an
// INSERT of several rows inside a transaction keeps a statement journal
// that spills to a temporary file (measured: most of a flush's cost),
// and a prepared one-row INSERT does not.
func insertRows(core *store.Core) int {
	if core.Dialect.Name() == "sqlite" {
		return 1
	}
	return 100
}

// Insert writes entries to the access records of the notebook whose
// tables prefix qualifies, in tx.
func Insert(ctx context.Context, core *store.Core, tx *store.WriteTx, prefix string, es []Entry) error {
	per := insertRows(core)
	for len(es) > 0 {
		n := min(len(es), per)
		var b strings.Builder
		b.WriteString("INSERT INTO " + prefix + "_access_log (at, kind, actor, api_key, ip, user_agent, table_id, record_id, records, detail) VALUES ")
		args := make([]any, 0, 10*n)
		for i, e := range es[:n] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
			args = append(args, e.At, e.Kind, e.Actor, e.APIKey, e.IP, Truncate(e.UserAgent, 512), e.Table, e.Record, strings.Join(e.Records, " "), Truncate(e.Detail, 200))
		}
		if _, err := tx.ExecContext(ctx, core.Rebind(b.String()), args...); err != nil {
			return err
		}
		es = es[n:]
	}
	return nil
}

// Truncate cuts s to at most n bytes, at a character boundary.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
