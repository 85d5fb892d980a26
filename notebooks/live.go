package notebooks

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cofferhq/coffer/filter"
	"github.com/cofferhq/coffer/live"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// Subscribe starts receiving the events of committed writes to a table
// (by notebook and table id), made by any node. Whoever delivers them must
// read each record again as its reader: events carry ids only. On a
// backend shared by several nodes, the first subscription starts listening
// to the database and returns once it listens.
func (s *Service) Subscribe(ctx context.Context, notebook, table string) (*live.Subscription, error) {
	if s.notifier != nil {
		s.listenMu.Lock()
		if !s.listening {
			b := s.broker
			err := s.notifier.Listen(ctx, func(evs []live.Event) { b.Publish(evs...) },
				func() { b.DropAll("events may have been lost, subscribe again") })
			if err != nil {
				s.listenMu.Unlock()
				return nil, s.Wrap("Subscribe", err)
			}
			s.listening = true
		}
		s.listenMu.Unlock()
	}
	return s.broker.Subscribe(notebook, table), nil
}

// SeesAllRows reports whether the caller sees every row of a table (an
// owner or admin, or a grant or role with no row condition): only such a
// caller may be told about deleted records, since telling anyone else that
// a record it never saw was deleted would reveal that it existed.
// ENOTFOUND when the caller sees no row at all.
func (s *Service) SeesAllRows(ctx context.Context, notebook, table string) (bool, error) {
	nc, tp, err := s.openPlan(ctx, "SeesAllRows", notebook, table)
	if err != nil {
		return false, err
	}
	defer nc.Release()
	return tp.Decision.AllRows(), nil
}

// emit sends the events of a write: inside its transaction on a backend
// that notifies (delivered only if it commits), nothing otherwise (see
// published).
func (s *Service) emit(ctx context.Context, tx *store.WriteTx, evs []live.Event) error {
	if s.notifier == nil || len(evs) == 0 {
		return nil
	}
	return s.notifier.Notify(ctx, tx, evs)
}

// published publishes the events of a committed write in this process,
// on a backend without notifications (SQLite: one process).
func (s *Service) published(evs []live.Event) {
	if s.notifier == nil && len(evs) > 0 {
		s.broker.Publish(evs...)
	}
}

// lastPerRecord keeps one event per record: its last change in the write.
// An update keeps the columns set by every update of the record in the
// write.
func lastPerRecord(evs []live.Event) []live.Event {
	seen := make(map[string]int, len(evs))
	var out []live.Event
	for _, e := range slices.Backward(evs) {
		if i, ok := seen[e.Record]; ok {
			if last := &out[i]; last.Op == live.OpUpdate && e.Op == live.OpUpdate {
				for _, c := range e.Cols {
					if !slices.Contains(last.Cols, c) {
						last.Cols = append(last.Cols, c)
					}
				}
			}
			continue
		}
		seen[e.Record] = len(out)
		out = append(out, e)
	}
	slices.Reverse(out)
	return out
}

// Noticeable reports whether the caller can notice the update e of a
// record: false when every column it set is hidden from them in that
// record (after the change) and none of those columns is named by a
// condition of their access, so that their view of the record (before and
// after) is the same, values and visibility alike; true otherwise, and for
// events that do not say which columns they set. Whoever delivers live
// events sends nothing for an update the reader cannot notice.
func (s *Service) Noticeable(ctx context.Context, notebook, table string, e live.Event) (bool, error) {
	if e.Op != live.OpUpdate || len(e.Cols) == 0 {
		return true, nil
	}
	nc, tp, err := s.openPlan(ctx, "Noticeable", notebook, table)
	if err != nil {
		return false, err
	}
	defer nc.Release()
	tm := tp.Table
	if tp.Full() {
		return true, nil
	}
	// A column that decides which rows or cells the caller sees: its
	// change may show or hide something.
	for _, cd := range tp.Decision.Conds {
		if cd.Expr == nil {
			continue
		}
		for _, n := range filter.FieldNames(cd.Expr) {
			if cm := tm.Column(n); cm != nil && slices.Contains(e.Cols, cm.Column.ID) {
				return true, nil
			}
		}
	}
	var masks []string
	for _, id := range e.Cols {
		cm := tp.Visible(id)
		if cm == nil {
			continue // hidden in every row
		}
		m := tp.Plan.Readable(cm.Column.ID)
		if m == "" {
			return true, nil
		}
		masks = append(masks, m)
	}
	if len(masks) == 0 {
		return false, nil
	}
	args := append(append([]any(nil), tp.Args...), e.Record)
	var n int
	err = nc.DB.R.QueryRowContext(ctx, s.Rebind("SELECT count(*) FROM "+tp.From+" WHERE "+tp.Row()+" AND t.id = ? AND ("+strings.Join(masks, " OR ")+")"), args...).Scan(&n)
	if err != nil {
		return false, s.Wrap("Noticeable", err)
	}
	return n > 0, nil
}

// Service is the notebooks service.
type Service struct {
	*catalog.Catalog
	budget   readBudget   // lists' time budget and per-caller read slots
	asOfRows atomic.Int64 // bound of a table rebuilt at a past moment (asof.go); 0: coffer.MaxAsOfRows

	broker    *live.Broker   // subscribers of record events in this process
	notifier  store.Notifier // nil: events are published in process after commit
	listenMu  sync.Mutex
	listening bool

	al accessState // access records and watch rules (accesslog.go)
	fs fileState   // file storage and limits (files.go)
	bk backupState // snapshots, their sandboxes and restore jobs (snapshot.go, restore.go)
}

// New returns the notebooks service on the catalogue cat. Record events
// travel through the backend when it is a store.Notifier, in process
// otherwise.
func New(cat *catalog.Catalog) *Service {
	s := &Service{Catalog: cat, broker: live.NewBroker(0)}
	s.notifier, _ = cat.Storage.(store.Notifier)
	s.initAccessLog()
	return s
}

// openPlan opens notebook for one read call and compiles the caller's plan
// on table; the caller releases the connection. A table or notebook the
// caller may not see answers ENOTFOUND, like a missing one; op names the
// call in other errors.
func (s *Service) openPlan(ctx context.Context, op, notebook, table string) (*catalog.Conn, *catalog.TablePlan, error) {
	nc, err := s.OpenNotebook(ctx, notebook)
	if err != nil {
		return nil, nil, s.Wrap(op, err)
	}
	tm, err := nc.Schema.Table(table)
	if err != nil {
		nc.Release()
		return nil, nil, err
	}
	tp, err := s.Plan(ctx, nc, nc.DB.R, tm)
	if err != nil {
		nc.Release()
		return nil, nil, s.WrapNotFound(op, err)
	}
	return nc, tp, nil
}
