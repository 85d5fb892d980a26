package notebooks

import (
	"context"
	"slices"
	"strconv"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
	"github.com/cofferhq/coffer/history"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// Bounds of the work of one page: the actions and changes it reads looking
// for entries the caller may see (past them, the page ends early with a
// cursor), and the changes a page of entries spreads over its actions.
const (
	maxHistoryScan        = 10_000
	maxHistoryScanChanges = 100_000
	historyPageChanges    = 20_000
)

// FindHistory returns a page of a notebook's history as the caller may see
// it (see coffer.HistoryService).
func (s *Service) FindHistory(ctx context.Context, notebook string, q coffer.HistoryQuery) (*coffer.HistoryPage, error) {
	nc, err := s.OpenNotebook(ctx, notebook)
	if err != nil {
		return nil, s.Wrap("FindHistory", err)
	}
	defer nc.Release()
	limit, err := historyLimit(q.Limit)
	if err != nil {
		return nil, err
	}
	var page *coffer.HistoryPage
	err = s.readFresh(ctx, nc, func(sc *catalog.Schema, rq catalog.Querier) error {
		hv, f, err := s.historyScope(ctx, nc, sc, rq, q)
		if err != nil {
			return err
		}
		if page, err = hv.page(ctx, f, limit, true); err != nil {
			return err
		}
		return openHistory(ctx, sc, page.Entries)
	})
	return page, s.WrapNotFound("FindHistory", err)
}

// historyLimit checks a page size.
func historyLimit(n int) (int, error) {
	switch {
	case n == 0:
		return coffer.DefaultHistoryLimit, nil
	case n < 1 || n > coffer.MaxHistoryLimit:
		return 0, coffer.Invalid("the history query is not valid", coffer.FieldError{Field: "limit", Message: "must be between 1 and " + strconv.Itoa(coffer.MaxHistoryLimit)})
	}
	return n, nil
}

// historyView is what one caller may see of a notebook's history.
type historyView struct {
	s    *Service
	nc   *catalog.Conn
	sc   *catalog.Schema
	q    catalog.Querier
	full bool // owners and admins: everything
	// maxChanges bounds the changes read per action (0: all).
	maxChanges int
	tables     map[string]*histTable // by table id; nil: no history there
}

// histTable is the caller's access to the history of one table.
type histTable struct {
	tm    *catalog.TableMeta
	tp    *catalog.TablePlan
	conds []int // the plan's conditions that give `history`
	whole []int // those of conds without a row condition
}

// table returns the caller's access to the history of table id; nil when
// they have none (or the table no longer exists).
func (hv *historyView) table(ctx context.Context, id string) (*histTable, error) {
	if ht, ok := hv.tables[id]; ok {
		return ht, nil
	}
	var ht *histTable
	if tm := hv.sc.ByID[id]; tm != nil {
		tp, err := hv.s.Plan(ctx, hv.nc, hv.q, tm)
		switch {
		case coffer.ErrorCode(err) == coffer.ENOTFOUND:
		case err != nil:
			return nil, err
		case hv.full:
			ht = &histTable{tm: tm, tp: tp}
		default:
			if conds := tp.Decision.With(access.CapHistory); len(conds) > 0 {
				ht = &histTable{tm: tm, tp: tp, conds: conds}
				for _, i := range conds {
					if tp.Decision.Conds[i].Expr == nil {
						ht.whole = append(ht.whole, i)
					}
				}
			}
		}
	}
	hv.tables[id] = ht
	return ht, nil
}

var errNoHistory = coffer.Errorf(coffer.EFORBIDDEN, "you may not read the history of this notebook")

// historyScope checks a history query against the caller's access and
// turns it into a storage query.
func (s *Service) historyScope(ctx context.Context, nc *catalog.Conn, sc *catalog.Schema, rq catalog.Querier, q coffer.HistoryQuery) (*historyView, history.Query, error) {
	hv := &historyView{s: s, nc: nc, sc: sc, q: rq, full: nc.Rights.AtLeast(access.RoleAdmin), tables: map[string]*histTable{}, maxChanges: coffer.MaxHistoryChanges}
	f, err := historyBounds(q)
	if err != nil {
		return nil, f, err
	}
	if q.Table == "" {
		switch {
		case q.Record != "":
			return nil, f, invalidHistory("record", "needs a table")
		case q.Column != "":
			return nil, f, invalidHistory("column", "needs a table")
		}
		if err := hv.anyTable(ctx); err != nil {
			return nil, f, err
		}
		cols, err := hv.columns(ctx)
		f.Columns = cols
		return hv, f, err
	}
	tm, err := sc.Table(q.Table)
	if err != nil {
		return nil, f, err
	}
	ht, err := hv.table(ctx, tm.Table.ID)
	if err != nil {
		return nil, f, err
	}
	if ht == nil {
		if _, err := s.Plan(ctx, nc, rq, tm); err != nil {
			return nil, f, err // a table the caller cannot see: as a missing one
		}
		return nil, f, coffer.Errorf(coffer.EFORBIDDEN, "you may not read the history of table %q", tm.Table.Name)
	}
	f.Table = tm.Table.ID
	if q.Record != "" {
		if !coffer.ValidID(coffer.PrefixRecord, q.Record) {
			return nil, f, invalidHistory("record", "is not a record id")
		}
		f.Record = q.Record
	}
	if q.Column != "" {
		cm := ht.tp.Visible(q.Column)
		if cm == nil {
			return nil, f, errColumnNotFound
		}
		f.Column = cm.Column.ID
	}
	f.Columns, err = hv.columns(ctx)
	return hv, f, err
}

func invalidHistory(field, msg string) error {
	return coffer.Invalid("the history query is not valid", coffer.FieldError{Field: field, Message: msg})
}

// historyBounds is the storage query of q's actor, times and cursor.
func historyBounds(q coffer.HistoryQuery) (history.Query, error) {
	f := history.Query{Actor: q.Actor}
	if q.Actor != "" && !coffer.ValidID(coffer.PrefixUser, q.Actor) {
		return f, invalidHistory("actor", "is not a user id")
	}
	if q.Cursor != "" {
		n, err := strconv.ParseInt(q.Cursor, 10, 64)
		if err != nil || n <= 0 {
			return f, invalidHistory("cursor", "is not a cursor of this history")
		}
		f.Before = n
	}
	if !q.Since.IsZero() {
		f.Since = q.Since.UnixMicro()
	}
	if !q.Until.IsZero() {
		f.Until = q.Until.UnixMicro()
		if f.Since != 0 && f.Until <= f.Since {
			return f, invalidHistory("until", "must be after since")
		}
	}
	return f, nil
}

// columns lists, for a caller who does not see everything, the columns
// whose changes they may see somewhere (and "", the records' existence):
// the changes of other columns are not even read.
func (hv *historyView) columns(ctx context.Context) ([]string, error) {
	if hv.full {
		return nil, nil
	}
	cols := []string{""}
	for _, tm := range hv.sc.Tables {
		ht, err := hv.table(ctx, tm.Table.ID)
		if err != nil {
			return nil, err
		}
		if ht == nil {
			continue
		}
		for _, cm := range tm.Cols {
			if slices.ContainsFunc(ht.conds, func(i int) bool {
				r := ht.tp.Decision.Conds[i].Right(cm.Column.ID)
				return r == access.Read || r == access.Write
			}) {
				cols = append(cols, cm.Column.ID)
			}
		}
	}
	return cols, nil
}

// anyTable refuses a notebook-wide query of a caller who may read the
// history of no table.
func (hv *historyView) anyTable(ctx context.Context) error {
	if hv.full || hv.nc.Rights.Role() == access.RoleEditor {
		return nil // the role gives history on every table
	}
	for _, tm := range hv.sc.Tables {
		ht, err := hv.table(ctx, tm.Table.ID)
		if err != nil || ht != nil {
			return err
		}
	}
	return errNoHistory
}

// page reads up to limit entries the caller may see, newest first; when
// bounded, it ends the page early (with a cursor) once it has read
// maxHistoryScan actions or maxHistoryScanChanges changes.
func (hv *historyView) page(ctx context.Context, f history.Query, limit int, bounded bool) (*coffer.HistoryPage, error) {
	page := &coffer.HistoryPage{Entries: []*coffer.HistoryEntry{}}
	// One more action than the page needs tells whether more follow; a
	// caller who does not see every action reads more at each round.
	chunk := limit + 1
	cursor := func(seq int64) {
		c := strconv.FormatInt(seq, 10)
		page.NextCursor = &c
	}
	for scanned, changes := 0, 0; ; {
		f.Limit, f.MaxChanges = chunk, hv.maxChanges
		if f.MaxChanges > 0 {
			// The same for every caller and round, given the page's size.
			f.MaxChanges = min(f.MaxChanges, max(20, historyPageChanges/(limit+1)))
		}
		acts, err := history.Find(ctx, hv.s.Core, hv.q, hv.nc.DB.Prefix, f)
		if err != nil {
			return nil, err
		}
		entries, err := hv.entries(ctx, acts)
		if err != nil {
			return nil, err
		}
		for i, e := range entries {
			if e == nil {
				continue
			}
			page.Entries = append(page.Entries, e)
			if len(page.Entries) == limit {
				if i < len(acts)-1 || len(acts) == chunk {
					cursor(e.Seq)
				}
				return page, nil
			}
		}
		if len(acts) < chunk {
			return page, nil
		}
		f.Before = acts[len(acts)-1].Seq
		chunk = min(chunk*2, 1000)
		for _, a := range acts {
			changes += len(a.Changes)
		}
		if scanned += len(acts); bounded && (scanned >= maxHistoryScan || changes >= maxHistoryScanChanges) {
			cursor(f.Before)
			return page, nil
		}
	}
}

// entries turns actions into the entries the caller may see: nil for an
// action none of whose changes they may see.
func (hv *historyView) entries(ctx context.Context, acts []history.Action) ([]*coffer.HistoryEntry, error) {
	rows, err := hv.rowConds(ctx, acts)
	if err != nil {
		return nil, err
	}
	links, err := hv.visibleLinks(ctx, acts)
	if err != nil {
		return nil, err
	}
	out := make([]*coffer.HistoryEntry, len(acts))
	for i, a := range acts {
		e := &coffer.HistoryEntry{Seq: a.Seq, At: store.FromMicros(a.At), Actor: a.Actor, APIKey: a.APIKey, IP: a.IP, UserAgent: a.UserAgent,
			Kind: a.Kind, Summary: a.Summary, Table: a.Table, Changes: []*coffer.HistoryChange{}, Truncated: a.Truncated}
		for _, c := range a.Changes {
			if hc := hv.change(c, rows, links); hc != nil {
				e.Changes = append(e.Changes, hc)
			}
		}
		switch {
		case hv.full:
		case len(e.Changes) == 0:
			continue
		default:
			e.Table = e.Changes[0].Table
			e.Summary = hv.summary(a.Kind, e.Changes)
		}
		out[i] = e
	}
	return out, nil
}
