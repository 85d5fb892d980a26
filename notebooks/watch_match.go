package notebooks

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
	"github.com/cofferhq/coffer/accesslog"
	"github.com/cofferhq/coffer/filter"
	"github.com/cofferhq/coffer/live"
	"github.com/cofferhq/coffer/store/catalog"
)

// watchEvent is something a watch rule may follow: reads or exports of
// records (from the access record queue) or committed changes.
type watchEvent struct {
	Notebook, Table string
	Kind            string // coffer.WatchRead, WatchExport or WatchChange
	Op              string // of a change: live.OpCreate, OpUpdate, OpDelete
	Records         []string
	Cols            []string // of an update: the ids of the columns it set
	Actor, APIKey   string
	IP, UserAgent   string
	At              int64
}

// watcher matches events against the watch rules and hands the
// notifications to the sender, off the request path.
type watcher struct {
	s         *Service
	mu        sync.Mutex
	sender    *accesslog.Sender
	log       *slog.Logger
	events    chan watchEvent
	start     sync.Once
	closeOnce sync.Once
	stop      chan struct{}
	done      chan struct{}
	dropped   atomic.Int64
	rules     ruleCache
}

func newWatcher(s *Service) *watcher {
	w := &watcher{s: s, log: slog.Default(), events: make(chan watchEvent, 4096), stop: make(chan struct{}), done: make(chan struct{})}
	w.sender = accesslog.NewSender(accesslog.SenderOptions{}, w.report)
	return w
}

// SetWatchOptions sets how watch notifications are delivered (e-mail
// function, retries, whether webhooks may reach private addresses).
// Call it before serving.
func (s *Service) SetWatchOptions(opts accesslog.SenderOptions) {
	w := s.al.watch
	if opts.Logger != nil {
		w.log = opts.Logger
	}
	snd := accesslog.NewSender(opts, w.report)
	w.mu.Lock()
	old := w.sender
	w.sender = snd
	w.mu.Unlock()
	old.Close(context.Background())
}

func (w *watcher) currentSender() *accesslog.Sender {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sender
}

// enqueue hands an event to the matching worker; a full queue drops it
// (counted and logged): watching never slows a request.
func (w *watcher) enqueue(ev watchEvent) {
	w.start.Do(func() {
		select {
		case <-w.stop: // closed before it ever started
			close(w.done)
		default:
			go w.run()
		}
	})
	select {
	case w.events <- ev:
	default:
		if n := w.dropped.Add(1); n == 1 || n%1000 == 0 {
			w.log.Warn("watch events dropped: the queue is full", "dropped_total", n)
		}
	}
}

func (w *watcher) run() {
	defer close(w.done)
	for {
		select {
		case <-w.stop:
			return
		case ev := <-w.events:
			w.handle(ev)
		}
	}
}

// close stops matching (events not yet matched are left) and waits, until
// ctx ends, for the deliveries in flight.
func (w *watcher) close(ctx context.Context) {
	w.closeOnce.Do(func() { close(w.stop) })
	w.start.Do(func() { close(w.done) }) // never started: it never will
	select {
	case <-w.done:
	case <-ctx.Done():
	}
	w.currentSender().Close(ctx)
}

// written turns stored access records into read and export events.
func (w *watcher) written(nb string, es []accesslog.Entry) {
	var ev *watchEvent
	flush := func() {
		if ev != nil {
			w.enqueue(*ev)
			ev = nil
		}
	}
	for _, e := range es {
		kind := ""
		switch e.Kind {
		case coffer.AccessRecordRead:
			kind = coffer.WatchRead
		case coffer.AccessExport:
			kind = coffer.WatchExport
		}
		if kind == "" || e.Table == "" {
			continue
		}
		// A table-wide record (an export of the whole table) is an event
		// of its own; records of records group by who read what.
		recs := e.Records
		if e.Record != "" {
			recs = []string{e.Record}
		}
		if ev != nil && (len(recs) == 0 || len(ev.Records) == 0 || ev.Table != e.Table || ev.Kind != kind || ev.Actor != e.Actor ||
			ev.APIKey != e.APIKey || ev.IP != e.IP || len(ev.Records)+len(recs) > 1000) {
			flush()
		}
		if ev == nil {
			ev = &watchEvent{Notebook: nb, Table: e.Table, Kind: kind, Actor: e.Actor, APIKey: e.APIKey, IP: e.IP, UserAgent: e.UserAgent, At: e.At}
		}
		ev.Records = append(ev.Records, recs...)
	}
	flush()
}

// wrote turns the events of a committed write into change events.
func (w *watcher) wrote(ctx context.Context, evs []live.Event) {
	c := coffer.CallerFrom(ctx)
	if c == nil || len(evs) == 0 {
		return
	}
	cl := coffer.ClientFrom(ctx)
	now := w.s.NowMicros()
	// Changes of the same kind (and columns) travel together: a batch is
	// a few events, not one per record.
	var ev *watchEvent
	for _, e := range evs {
		if ev != nil && (ev.Notebook != e.Notebook || ev.Table != e.Table || ev.Op != e.Op || !slices.Equal(ev.Cols, e.Cols) || len(ev.Records) >= 1000) {
			w.enqueue(*ev)
			ev = nil
		}
		if ev == nil {
			ev = &watchEvent{Notebook: e.Notebook, Table: e.Table, Kind: coffer.WatchChange, Op: e.Op, Cols: e.Cols,
				Actor: c.UserID, APIKey: c.APIKeyID, IP: cl.IP, UserAgent: cl.UserAgent, At: now}
		}
		ev.Records = append(ev.Records, e.Record)
	}
	w.enqueue(*ev)
}

// handle matches one event against its table's rules.
func (w *watcher) handle(ev watchEvent) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rules, err := w.rulesOf(ctx, ev.Notebook)
	// A failed read is tried again a few times before the event is given
	// up: a transient failure (a connection lost, a statement re-prepared
	// on a shared database) must not silently drop a notification.
	for wait := 250 * time.Millisecond; err != nil && wait <= 2*time.Second && coffer.ErrorCode(err) != coffer.ENOTFOUND; wait *= 2 {
		select {
		case <-w.stop:
			return
		case <-time.After(wait):
		}
		rules, err = w.rulesOf(ctx, ev.Notebook)
	}
	if err != nil {
		w.log.Warn("watch rules not read", "notebook", ev.Notebook, "error", err.Error())
		return
	}
	for _, r := range rules {
		// A rule follows what happens once it exists.
		if r.TableID != ev.Table || !strings.Contains(","+r.events+",", ","+ev.Kind+",") || ev.At < r.CreatedAt.UnixMicro() {
			continue
		}
		if err := w.evaluate(ctx, r, ev); err != nil {
			w.log.Warn("watch rule not evaluated", "notebook", ev.Notebook, "watch", r.ID, "error", err.Error())
		}
	}
}

// rulesOf returns a notebook's rules, cached briefly.
func (w *watcher) rulesOf(ctx context.Context, nb string) ([]*storedWatch, error) {
	cached, ok, epoch := w.rules.lookup(nb, time.Now())
	if ok {
		return cached, nil
	}
	db, release, err := w.s.Storage.Notebook(ctx, nb)
	if err != nil {
		return nil, err
	}
	defer release()
	rules, err := w.s.loadWatches(ctx, db.R, db.Prefix, "")
	if err != nil {
		return nil, err
	}
	w.rules.store(nb, rules, epoch, time.Now())
	return rules, nil
}

// forget drops a notebook's cached rules (after a change of its rules).
func (w *watcher) forget(nb string) { w.rules.forget(nb) }

// person is a user as the watcher needs them.
type person struct{ id, email, name string }

// user reads an active account; false when it is gone or deactivated.
func (w *watcher) user(ctx context.Context, id string) (person, bool, error) {
	p := person{id: id}
	err := w.s.Inst.R.QueryRowContext(ctx, w.s.Rebind("SELECT email, name FROM "+w.s.Inst.Prefix+"users WHERE id = ? AND deactivated_at IS NULL"), id).Scan(&p.email, &p.name)
	if errors.Is(err, sql.ErrNoRows) {
		return p, false, nil
	}
	return p, err == nil, err
}

// inGroup reports whether a user belongs to a group.
func (w *watcher) inGroup(ctx context.Context, group, user string) (bool, error) {
	var n int
	err := w.s.Inst.R.QueryRowContext(ctx, w.s.Rebind("SELECT count(*) FROM "+w.s.Inst.Prefix+"group_members WHERE group_id = ? AND user_id = ?"), group, user).Scan(&n)
	return n > 0, err
}

// authorView opens the notebook as the rule's author and compiles their
// plan on its table; nil when the author can no longer see it, or may no
// longer watch it (owner or admin, or access_log on the table).
func (w *watcher) authorView(ctx context.Context, r *storedWatch, nb string) (context.Context, *catalog.Conn, *catalog.TablePlan, error) {
	author, ok, err := w.user(ctx, r.CreatedBy)
	if err != nil || !ok {
		return nil, nil, nil, err
	}
	actx := coffer.WithCaller(ctx, &coffer.Caller{UserID: author.id, Email: author.email, Name: author.name})
	nc, err := w.s.OpenNotebook(actx, nb)
	if err != nil {
		return nil, nil, nil, notFoundIsNil(err)
	}
	tm := nc.Schema.ByID[r.TableID]
	if tm == nil {
		nc.Release()
		return nil, nil, nil, nil
	}
	tp, err := w.s.Plan(actx, nc, nc.DB.R, tm)
	if err != nil || !(nc.Rights.AtLeast(access.RoleAdmin) || tp.Decision.Can(access.CapAccessLog)) {
		nc.Release()
		return nil, nil, nil, notFoundIsNil(err)
	}
	return actx, nc, tp, nil
}

func notFoundIsNil(err error) error {
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		return nil
	}
	return err
}

// evaluate checks one rule against one event, with the author's access,
// and notifies for every record it matches.
func (w *watcher) evaluate(ctx context.Context, r *storedWatch, ev watchEvent) error {
	if r.Outside != "" {
		in, err := w.inGroup(ctx, r.Outside, ev.Actor)
		if err != nil || in {
			return err
		}
	}
	actx, nc, tp, err := w.authorView(ctx, r, ev.Notebook)
	if err != nil || nc == nil {
		return err
	}
	defer nc.Release()
	ids, err := w.matching(actx, nc, tp, r, ev)
	if err != nil {
		return err
	}
	actor, _, err := w.user(ctx, ev.Actor)
	if err != nil {
		return err
	}
	for _, id := range ids {
		n, ok, err := w.content(actx, nc, tp, ev, id)
		if err != nil {
			return err
		}
		if ok {
			w.notify(ctx, nc, r, ev, actor, n)
		}
	}
	return nil
}

// matching returns the records of the event that the rule's filter
// matches as its author sees them: [""] for a table-wide export with some
// matching record. A deleted record can no longer be evaluated: it
// matches only a rule without filter whose author sees every row.
func (w *watcher) matching(ctx context.Context, nc *catalog.Conn, tp *catalog.TablePlan, r *storedWatch, ev watchEvent) ([]string, error) {
	if ev.Op == live.OpDelete {
		if r.Filter == "" && watchesAllRows(tp) {
			return ev.Records, nil
		}
		return nil, nil
	}
	var wheres []string
	args := append([]any(nil), tp.Args...)
	if !tp.Full() {
		wheres = append(wheres, tp.Row())
	}
	if e, err := filter.Parse(r.Filter); err != nil {
		return nil, nil // no longer valid: matches nothing
	} else if e != nil {
		sch := tp.Schema()
		cond, a, err := filter.Compile(e, sch, nc.Rights.Subj.Env(), w.s.Dialect)
		if err != nil || sch.Check("watch filter") != nil {
			return nil, nil // names a column the author no longer sees
		}
		wheres = append(wheres, "("+cond+")")
		args = append(args, a...)
	}
	limit := ""
	if len(ev.Records) == 0 {
		limit = " LIMIT 1000"
	} else {
		wheres = append(wheres, "t.id IN ("+catalog.Placeholders(len(ev.Records))+")")
		for _, id := range ev.Records {
			args = append(args, id)
		}
	}
	if len(wheres) == 0 {
		wheres = []string{"1 = 1"}
	}
	ids, err := catalog.Strings(nc.DB.R.QueryContext(ctx, w.s.Rebind("SELECT t.id FROM "+tp.From+" WHERE "+strings.Join(wheres, " AND ")+limit), args...))
	if err != nil {
		return nil, err
	}
	if ids, err = w.watchable(ctx, nc, tp, ids); err != nil {
		return nil, err
	}
	if len(ev.Records) == 0 && len(ids) > 0 {
		return []string{""}, nil
	}
	return ids, nil
}

// watchesAllRows reports whether the author's access_log covers every
// row of the table.
func watchesAllRows(tp *catalog.TablePlan) bool {
	if tp.Full() {
		return true
	}
	for _, i := range tp.Decision.With(access.CapAccessLog) {
		if tp.Decision.Conds[i].Expr == nil {
			return true
		}
	}
	return false
}

// watchable keeps the records where the author has access_log: a rule
// tells its author only what the access records would show them.
func (w *watcher) watchable(ctx context.Context, nc *catalog.Conn, tp *catalog.TablePlan, ids []string) ([]string, error) {
	if len(ids) == 0 || watchesAllRows(tp) {
		return ids, nil
	}
	var conds []string
	var args []any
	for _, i := range tp.Decision.With(access.CapAccessLog) {
		c, a := tp.Plan.Cond(i)
		conds = append(conds, "("+c+")")
		args = append(args, a...)
	}
	if len(conds) == 0 {
		return nil, nil
	}
	for _, id := range ids {
		args = append(args, id)
	}
	rows, err := nc.DB.R.QueryContext(ctx, w.s.Rebind("SELECT t.id FROM "+tp.Table.SQL+" t WHERE ("+strings.Join(conds, " OR ")+") AND t.id IN ("+catalog.Placeholders(len(ids))+")"), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// notice is what a notification says about one record, as the author
// sees it.
type notice struct {
	table   string
	record  string
	fields  *coffer.Record // nil for a deleted record or a table-wide export
	changed []string       // names of the changed columns the author may read in the record
}

// content reads a matched record as the author sees it, with the changed
// columns they may read there; false when the change touched only cells
// hidden from them.
func (w *watcher) content(ctx context.Context, nc *catalog.Conn, tp *catalog.TablePlan, ev watchEvent, id string) (notice, bool, error) {
	n := notice{table: tp.Table.Table.Name, record: id}
	if id == "" || ev.Op == live.OpDelete {
		return n, true, nil
	}
	rec, err := w.s.ReadAs(ctx, nc.DB.R, tp.Table, tp, id)
	if err != nil {
		return n, false, notFoundIsNil(err)
	}
	n.fields = rec
	if ev.Op != live.OpUpdate {
		return n, true, nil
	}
	var vals []bool
	if !tp.Full() {
		found, v, err := w.s.CondsOn(ctx, nc.DB.R, tp, id)
		if err != nil || !found {
			return n, false, err
		}
		vals = v
	}
	for _, col := range ev.Cols {
		cm := tp.Visible(col)
		if cm != nil && (tp.Full() || catalog.AnyOf(vals, tp.Decision.Readers(cm.Column.ID))) {
			n.changed = append(n.changed, cm.Column.Name)
		}
	}
	return n, len(n.changed) > 0, nil
}
