package store

import (
	"context"
	"slices"

	"github.com/cofferhq/coffer/live"
)

// Subscribe starts receiving the events of committed writes to a table
// (by notebook and table id), made by any node. Whoever delivers them must
// read each record again as its reader: events carry ids only. On a
// backend shared by several nodes, the first subscription starts listening
// to the database and returns once it listens.
func (s *Store) Subscribe(ctx context.Context, notebook, table string) (*live.Subscription, error) {
	if s.notifier != nil {
		s.listenMu.Lock()
		if !s.listening {
			b := s.broker
			err := s.notifier.Listen(ctx, func(evs []live.Event) { b.Publish(evs...) },
				func() { b.DropAll("events may have been lost, subscribe again") })
			if err != nil {
				s.listenMu.Unlock()
				return nil, s.wrap("Subscribe", err)
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
func (s *Store) SeesAllRows(ctx context.Context, notebook, table string) (bool, error) {
	nc, err := s.openNotebook(ctx, notebook)
	if err != nil {
		return false, s.wrap("SeesAllRows", err)
	}
	defer nc.release()
	tm, err := nc.schema.table(table)
	if err != nil {
		return false, err
	}
	tp, err := s.plan(ctx, nc, nc.db.R, tm)
	if err != nil {
		return false, s.wrap("SeesAllRows", err)
	}
	return tp.dec.AllRows(), nil
}

// emit sends the events of a write: inside its transaction on a backend
// that notifies (delivered only if it commits), nothing otherwise (see
// published).
func (s *Store) emit(ctx context.Context, tx *wtx, evs []live.Event) error {
	if s.notifier == nil || len(evs) == 0 {
		return nil
	}
	return s.notifier.Notify(ctx, tx, evs)
}

// published publishes the events of a committed write in this process,
// on a backend without notifications (SQLite: one process).
func (s *Store) published(evs []live.Event) {
	if s.notifier == nil && len(evs) > 0 {
		s.broker.Publish(evs...)
	}
}

// lastPerRecord keeps one event per record: its last change in the write.
func lastPerRecord(evs []live.Event) []live.Event {
	seen := make(map[string]bool, len(evs))
	var out []live.Event
	for _, e := range slices.Backward(evs) {
		if !seen[e.Record] {
			seen[e.Record] = true
			out = append(out, e)
		}
	}
	slices.Reverse(out)
	return out
}
