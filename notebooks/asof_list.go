package notebooks

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/filter"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// pastList is a checked list query on a past state.
type pastList struct {
	cols  []*catalog.ColMeta
	names []string
	exprs []filter.Expr
	sch   filter.Schema
	keys  []filter.SortKey
	limit int
	sig   string
}

// compareSort compares two sort values: nil first, then []byte (keys),
// int64, bool and string as their types order.
func compareSort(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	switch x := a.(type) {
	case []byte:
		if y, ok := b.([]byte); ok {
			return bytes.Compare(x, y)
		}
	case int64:
		if y, ok := b.(int64); ok {
			return cmpInt(x, y)
		}
	case bool:
		if y, ok := b.(bool); ok {
			return cmpInt(boolInt(x), boolInt(y))
		}
	case string:
		if y, ok := b.(string); ok {
			return strings.Compare(x, y)
		}
	}
	return 0
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// planPast checks a list query at a past moment, as planList does for
// the present: the same view, limit, fields, filter and sort rules.
func (s *Service) planPast(ctx context.Context, nc *catalog.Conn, tx *sql.Tx, tt *timeTravel, q coffer.ListQuery) (*pastList, error) {
	tm, tp := tt.tm, tt.tp
	p := &pastList{cols: tp.Cols, names: tp.Names, limit: q.Limit}
	filters, sortSrc, fields := []string{q.Filter}, q.Sort, q.Fields
	if q.View != "" {
		var err error
		if filters, sortSrc, fields, err = s.withView(ctx, tx, nc, tm, tp, q.View, filters, sortSrc, fields); err != nil {
			return nil, err
		}
	}
	var errs []coffer.FieldError
	switch {
	case p.limit == 0:
		p.limit = coffer.DefaultLimit
	case p.limit < 1 || p.limit > coffer.MaxPageSize:
		errs = append(errs, coffer.FieldError{Field: "limit", Message: "must be between 1 and 1000"})
	}
	if fields != nil {
		var ferrs []coffer.FieldError
		p.cols, ferrs = selectedColumns(tm, tp, fields)
		p.names = catalog.ColumnNames(p.cols)
		errs = append(errs, ferrs...)
	}
	sch := tp.Schema()
	_, _, ferrs, err := s.compileFilters(sch, tt.env, filters)
	if err != nil {
		return nil, err
	}
	errs = append(errs, ferrs...)
	p.sch = pastSchema{base: sch, tm: tm, visible: func(name string) bool { return tp.Visible(name) != nil }}
	keys, err := filter.ParseSort(sortSrc, p.sch)
	if err != nil {
		errs = append(errs, coffer.ErrorFields(err)...)
	}
	if err := sch.Check("filter or sort"); err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		return nil, coffer.Invalid("the list query is not valid", errs...)
	}
	for _, src := range filters {
		if e, err := filter.Parse(src); err == nil && e != nil {
			p.exprs = append(p.exprs, e)
		}
	}
	idField, _ := p.sch.Field("id")
	if len(keys) == 0 {
		keys = append(keys, filter.SortKey{Field: idField})
	} else if last := keys[len(keys)-1]; last.Field.Name != "id" {
		keys = append(keys, filter.SortKey{Field: idField, Desc: last.Desc})
	}
	p.keys = keys
	p.sig = "asof" + strconv.FormatInt(tt.point.Seq, 10) + ":" + sortSignature(keys)
	return p, nil
}

// sortValues returns the sort key values of a past row as the caller sees
// it: text by its collation key where lists sort by key.
func (tt *timeTravel) sortValues(p *pastList, r *pastRow) []any {
	row := tt.rowFunc(r, true)
	out := make([]any, len(p.keys))
	for i, k := range p.keys {
		v := row(k.Field.Name)
		if str, ok := v.(string); ok && k.Field.Key != nil {
			v = catalog.SortKey(str)
		}
		out[i] = v
	}
	return out
}

// before reports whether sort values a come strictly before b in the
// order of keys (empty values first ascending, last descending).
func before(keys []filter.SortKey, a, b []any) bool {
	for i, k := range keys {
		c := compareSort(a[i], b[i])
		if k.Desc {
			c = -c
		}
		if c != 0 {
			return c < 0
		}
	}
	return false
}

// FindRecordsAsOf lists records as they were at q.AsOf.
func (s *Service) FindRecordsAsOf(ctx context.Context, notebook, table string, q coffer.ListQuery) (*coffer.RecordList, error) {
	ctx, cancel := s.listContext(ctx)
	defer cancel()
	var out *coffer.RecordList
	err := s.asOfRead(ctx, "FindRecordsAsOf", notebook, table, func(nc *catalog.Conn, tx *sql.Tx, sc *catalog.Schema, tm *catalog.TableMeta, tp *catalog.TablePlan) error {
		tt, err := s.newTimeTravel(ctx, tx, sc, tm, tp, q.AsOf, "as_of")
		if err != nil {
			return err
		}
		p, err := s.planPast(ctx, nc, tx, tt, q)
		if err != nil {
			return err
		}
		var after []any
		if q.Cursor != "" {
			if after, err = decodePastCursor(q.Cursor, p); err != nil {
				return err
			}
		}
		past, _, err := tt.readTableAt(ctx)
		if err != nil {
			return err
		}
		out, err = tt.page(p, past, after, q.Count)
		if err != nil {
			return err
		}
		if err := s.FilterLinks(ctx, tx, tp, out.Records); err != nil {
			return err
		}
		if err := openRecords(ctx, tm, out.Records); err != nil {
			return err
		}
		s.noteRead(ctx, nc, tm.Table.ID, out.Records...)
		return nil
	})
	return out, s.overBudget(ctx, "FindRecordsAsOf", err)
}

// page selects, sorts and cuts one page of past rows.
func (tt *timeTravel) page(p *pastList, past map[string]*pastRow, after []any, count bool) (*coffer.RecordList, error) {
	type item struct {
		r    *pastRow
		keys []any
	}
	var items []item
	for _, r := range past {
		if !tt.visible(r) {
			continue
		}
		match := true
		for _, e := range p.exprs {
			ok, err := filter.Eval(e, p.sch, tt.env, tt.rowFunc(r, true))
			if err != nil {
				return nil, err
			}
			if !ok {
				match = false
				break
			}
		}
		if match {
			items = append(items, item{r, tt.sortValues(p, r)})
		}
	}
	slices.SortFunc(items, func(a, b item) int {
		switch {
		case before(p.keys, a.keys, b.keys):
			return -1
		case before(p.keys, b.keys, a.keys):
			return 1
		}
		return 0
	})
	start := 0
	if after != nil {
		start = sort.Search(len(items), func(i int) bool { return before(p.keys, after, items[i].keys) })
	}
	out := &coffer.RecordList{Records: []*coffer.Record{}, AsOf: tt.pointOut()}
	if count {
		n := int64(len(items))
		out.Total = &n
	}
	end := min(start+p.limit, len(items))
	for _, it := range items[start:end] {
		out.Records = append(out.Records, tt.record(it.r, p.cols, p.names))
	}
	if end < len(items) {
		cur := encodePastCursor(p, items[end-1].keys)
		out.NextCursor = &cur
	}
	return out, nil
}

// pointOut is the moment an answer shows.
func (tt *timeTravel) pointOut() *coffer.HistoryPoint {
	hp := &coffer.HistoryPoint{Seq: tt.point.Seq}
	if tt.point.At != 0 {
		t := store.FromMicros(tt.point.At)
		hp.At = &t
	}
	return hp
}

// encodePastCursor encodes the sort values of the last record of a page:
// keys as base64 text, the others as JSON.
func encodePastCursor(p *pastList, vals []any) string {
	out := make([]any, len(vals))
	for i, v := range vals {
		if b, ok := v.([]byte); ok {
			out[i] = base64.RawURLEncoding.EncodeToString(b)
		} else {
			out[i] = v
		}
	}
	return encodeCursor(cursor{Sig: p.sig, Values: out})
}

// decodePastCursor reads a cursor of encodePastCursor for the list p.
func decodePastCursor(s string, p *pastList) ([]any, error) {
	if len(s) > 8192 {
		return nil, errBadCursor
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, errBadCursor
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var c cursor
	if dec.Decode(&c) != nil || c.Sig != p.sig || len(c.Values) != len(p.keys) {
		return nil, errBadCursor
	}
	out := make([]any, len(p.keys))
	for i, k := range p.keys {
		v, ok := pastCursorValue(k.Field, c.Values[i])
		if !ok {
			return nil, errBadCursor
		}
		out[i] = v
	}
	return out, nil
}

// pastCursorValue converts one decoded cursor value back to the sort
// value of field f.
func pastCursorValue(f *filter.Field, v any) (any, bool) {
	if v == nil {
		return nil, true
	}
	switch x := v.(type) {
	case string:
		if f.Key != nil {
			b, err := base64.RawURLEncoding.DecodeString(x)
			return b, err == nil
		}
		return x, true
	case json.Number:
		n, err := x.Int64()
		return n, err == nil
	case bool:
		return x, true
	}
	return nil, false
}
