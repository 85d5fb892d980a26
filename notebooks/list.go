package notebooks

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/filter"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// cursor is the decoded form of a page cursor: the sort key values of the
// last record of the previous page, and a signature of the sort they belong to.
type cursor struct {
	Sig    string `json:"s"`
	Values []any  `json:"v"`
}

func sortSignature(keys []filter.SortKey) string {
	var b strings.Builder
	for _, k := range keys {
		if k.Desc {
			b.WriteByte('-')
		}
		b.WriteString(catalog.CursorSig(k.Field))
		b.WriteString(k.Field.Name)
		b.WriteByte(',')
	}
	h := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(h[:8])
}

func encodeCursor(c cursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

var errBadCursor = coffer.Invalid("the cursor is not valid", coffer.FieldError{Field: "cursor", Message: "is not a cursor of this list: start again without a cursor"})

func decodeCursor(s string, keys []filter.SortKey) ([]any, error) {
	if len(s) > 8192 {
		return nil, errBadCursor
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, errBadCursor
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var c cursor
	if err := dec.Decode(&c); err != nil || c.Sig != sortSignature(keys) || len(c.Values) != len(keys) {
		return nil, errBadCursor
	}
	out := make([]any, len(keys))
	for i, k := range keys {
		v, ok := catalog.CursorIn(k.Field, c.Values[i])
		if !ok {
			return nil, errBadCursor
		}
		out[i] = v
	}
	return out, nil
}

// seekPredicate is SQL true for the rows after the cursor values in the
// order of keys (NULLs first in ascending order, last in descending order).
func seekPredicate(keys []filter.SortKey, vals []any) (string, []any) {
	var ors []string
	var args []any
	for i, k := range keys {
		var ands []string
		var a []any
		for j := 0; j < i; j++ {
			if vals[j] == nil {
				ands = append(ands, catalog.SortSQL(keys[j].Field)+" IS NULL")
			} else {
				ands = append(ands, catalog.SortSQL(keys[j].Field)+" = ?")
				a = append(a, vals[j])
			}
		}
		e := catalog.SortSQL(k.Field)
		switch {
		case !k.Desc && vals[i] == nil:
			ands = append(ands, e+" IS NOT NULL")
		case !k.Desc:
			ands = append(ands, e+" > ?")
			a = append(a, vals[i])
		case vals[i] == nil:
			continue // nothing comes after NULL in descending order
		default:
			ands = append(ands, "("+e+" < ? OR "+e+" IS NULL)")
			a = append(a, vals[i])
		}
		ors = append(ors, "("+strings.Join(ands, " AND ")+")")
		args = append(args, a...)
	}
	if len(ors) == 0 {
		return "1 = 0", nil
	}
	return "(" + strings.Join(ors, " OR ") + ")", args
}

// listPlan is a checked list query.
type listPlan struct {
	tp       *catalog.TablePlan
	from     string // FROM source, aliased t
	fromArgs []any
	cols     []*catalog.ColMeta
	names    []string // of cols
	where    string
	args     []any
	keys     []filter.SortKey
	limit    int
}

// planList checks a list query against the table, combining it with a view.
func (s *Service) planList(ctx context.Context, nc *catalog.Conn, rq catalog.Querier, tm *catalog.TableMeta, tp *catalog.TablePlan, q coffer.ListQuery) (*listPlan, error) {
	if _, err := store.Caller(ctx); err != nil {
		return nil, err
	}
	p := &listPlan{cols: tp.Cols, limit: q.Limit}
	filters := []string{q.Filter}
	sortSrc := q.Sort
	fields := q.Fields
	if q.View != "" {
		var err error
		if filters, sortSrc, fields, err = s.withView(ctx, rq, nc, tm, tp, q.View, filters, sortSrc, fields); err != nil {
			return nil, err
		}
	}
	var errs []coffer.FieldError
	switch {
	case p.limit == 0:
		p.limit = coffer.DefaultLimit
	case p.limit < 1 || p.limit > coffer.MaxPageSize:
		errs = append(errs, coffer.FieldError{Field: "limit", Message: fmt.Sprintf("must be between 1 and %d", coffer.MaxPageSize)})
	}
	if fields != nil {
		var ferrs []coffer.FieldError
		p.cols, ferrs = selectedColumns(tm, tp, fields)
		errs = append(errs, ferrs...)
	}
	env := nc.Rights.Subj.Env()
	// Filters and sorts see the caller's view of the table: a masked cell
	// is NULL to them, a column hidden in every row is unknown to them.
	sch := tp.Schema()
	wheres, args, ferrs, err := s.compileFilters(sch, env, filters)
	if err != nil {
		return nil, err
	}
	p.args = append(p.args, args...)
	errs = append(errs, ferrs...)
	keys, err := filter.ParseSort(sortSrc, sch)
	if err != nil {
		errs = append(errs, coffer.ErrorFields(err)...)
	}
	if err := sch.Check("filter or sort"); err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		return nil, coffer.Invalid("the list query is not valid", errs...)
	}
	idField, _ := tm.Fields["id"]
	// Ties are broken by id, in the direction of the last sort key, so an
	// index on (column, id) serves the whole ORDER BY in either direction.
	if len(keys) == 0 {
		keys = append(keys, filter.SortKey{Field: idField})
	} else if last := keys[len(keys)-1]; last.Field.SQL != "t.id" {
		keys = append(keys, filter.SortKey{Field: idField, Desc: last.Desc})
	}
	p.keys = keys
	if !tp.Full() {
		wheres = append([]string{tp.Row()}, wheres...)
	}
	if len(wheres) == 0 {
		wheres = []string{"1 = 1"}
	}
	p.where = strings.Join(wheres, " AND ")
	p.from, p.fromArgs = tp.From, tp.Args
	p.tp = tp
	p.names = tp.Names
	if fields != nil {
		p.names = catalog.ColumnNames(p.cols)
	}
	return p, nil
}

// withView combines a list query with the view it names, as the caller
// sees that view: its filter joins the query's, its sort and columns apply
// where the query gives none.
func (s *Service) withView(ctx context.Context, rq catalog.Querier, nc *catalog.Conn, tm *catalog.TableMeta, tp *catalog.TablePlan, view string, filters []string, sortSrc string, fields []string) ([]string, string, []string, error) {
	stored, err := s.LookupView(ctx, rq, nc.DB.Prefix, tm, view)
	if err != nil {
		return nil, "", nil, err
	}
	// As the caller sees it: a view that filters or sorts on a column
	// hidden from them is, to them, a view that does not exist, and
	// the hidden columns it shows are left out, unnamed.
	v, ok := s.viewAs(tp, stored)
	if !ok {
		return nil, "", nil, catalog.ErrViewNotFound
	}
	filters = append(filters, v.Filter)
	if sortSrc == "" {
		sortSrc = v.Sort
	}
	if fields == nil && len(stored.Columns) > 0 {
		fields = v.Columns
	}
	return filters, sortSrc, fields, nil
}

// selectedColumns resolves the fields a list asks for (ids or names) to
// the columns the caller sees, once each, in the order asked.
func selectedColumns(tm *catalog.TableMeta, tp *catalog.TablePlan, fields []string) (cols []*catalog.ColMeta, errs []coffer.FieldError) {
	seen := map[*catalog.ColMeta]bool{}
	visible := map[*catalog.ColMeta]bool{}
	for _, cm := range tp.Cols {
		visible[cm] = true
	}
	for _, f := range fields {
		cm := tm.Column(f)
		if cm == nil || !visible[cm] {
			errs = append(errs, coffer.FieldError{Field: "fields", Message: fmt.Sprintf("%q is not a column of this table", f)})
			continue
		}
		if !seen[cm] {
			seen[cm] = true
			cols = append(cols, cm)
		}
	}
	return cols, errs
}

// compileFilters compiles a list's filters (its own and its view's) to SQL
// conditions on the caller's view of the table. A filter over a cap is an
// error of its own; other mistakes are field errors.
func (s *Service) compileFilters(sch filter.Schema, env filter.Env, filters []string) (wheres []string, args []any, errs []coffer.FieldError, err error) {
	for _, src := range filters {
		e, err := filter.Parse(src)
		if err == nil && e != nil {
			var w string
			var a []any
			w, a, err = filter.Compile(e, sch, env, s.Dialect)
			if err == nil {
				wheres = append(wheres, "("+w+")")
				args = append(args, a...)
			}
		}
		if coffer.ErrorCode(err) == coffer.ETOOCOMPLEX {
			return nil, nil, nil, err // over a cap: its own code
		}
		if err != nil {
			errs = append(errs, coffer.ErrorFields(err)...)
		}
	}
	return wheres, args, errs, nil
}

// FindRecords lists a page of records (at a past moment when q.AsOf is set).
// It runs within the list time budget (ListTimeout), holding one of the
// caller's read slots on the notebook (see readSlot).
func (s *Service) FindRecords(ctx context.Context, notebook, table string, q coffer.ListQuery) (*coffer.RecordList, error) {
	if q.AsOf != nil {
		return s.FindRecordsAsOf(ctx, notebook, table, q) // asof.go
	}
	ctx, cancel := s.listContext(ctx)
	defer cancel()
	nc, err := s.OpenNotebook(ctx, notebook)
	if err != nil {
		return nil, s.overBudget(ctx, "FindRecords", s.Wrap("FindRecords", err))
	}
	defer nc.Release()
	release, err := s.readSlot(ctx, nc)
	if err != nil {
		return nil, s.overBudget(ctx, "FindRecords", s.Wrap("FindRecords", err))
	}
	defer release()
	if err := s.runHook(ctx, nc); err != nil {
		return nil, s.overBudget(ctx, "FindRecords", s.Wrap("FindRecords", err))
	}
	var out *coffer.RecordList
	err = s.readFresh(ctx, nc, func(sc *catalog.Schema, rq catalog.Querier) error {
		var err error
		out, err = s.findRecords(ctx, nc, sc, rq, table, q)
		if err != nil {
			return err
		}
		return openInSchema(ctx, sc, table, out.Records)
	})
	if err != nil {
		return nil, s.overBudget(ctx, "FindRecords", err)
	}
	s.noteRead(ctx, nc, table, out.Records...)
	return out, nil
}

// pageQuery builds the SELECT of one page of plan p: after the cursor's
// position when there is one, in the plan's order, one record more than
// the page to tell whether another follows.
func (s *Service) pageQuery(tp *catalog.TablePlan, p *listPlan, cursor string) (string, []any, error) {
	where, args := p.where, append(append([]any(nil), p.fromArgs...), p.args...)
	if cursor != "" {
		vals, err := decodeCursor(cursor, p.keys)
		if err != nil {
			return "", nil, err
		}
		seek, seekArgs := seekPredicate(p.keys, vals)
		where += " AND " + seek
		args = append(args, seekArgs...)
	}
	var order, extra []string
	for _, k := range p.keys {
		dir := " ASC"
		if k.Desc {
			dir = " DESC"
		}
		if k.Field.SQL == "t.id" || (k.Field.Type.Automatic() && !strings.HasPrefix(k.Field.SQL, "CASE")) {
			// A system column is never NULL: no NULLS clause, so the
			// primary key and the (created_at, id) indexes serve the order.
			order = append(order, k.Field.SQL+dir)
		} else {
			order = append(order, catalog.SortSQL(k.Field)+dir+s.Dialect.NullsOrder(k.Desc))
		}
		extra = append(extra, catalog.SortSQL(k.Field))
	}
	query := s.Rebind("SELECT " + s.SelectPlanned(tp, p.cols) + ", " + strings.Join(extra, ", ") + " FROM " + p.from + " WHERE " + where +
		" ORDER BY " + strings.Join(order, ", ") + fmt.Sprintf(" LIMIT %d", p.limit+1))
	return query, args, nil
}

// readPage runs a page's query and appends its records to out, with the
// cursor of the next page when there is one.
func readPage(ctx context.Context, q catalog.Querier, query string, args []any, tp *catalog.TablePlan, p *listPlan, out *coffer.RecordList) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	keyVals := make([]any, len(p.keys))
	dest := make([]any, len(p.keys))
	for i := range keyVals {
		dest[i] = &keyVals[i]
	}
	var last []any
	order := p.names
	for rows.Next() {
		if len(out.Records) == p.limit {
			cur := encodeCursor(cursor{Sig: sortSignature(p.keys), Values: last})
			out.NextCursor = &cur
			break
		}
		r, err := catalog.ScanPlanned(tp, rows, p.cols, order, dest...)
		if err != nil {
			return err
		}
		out.Records = append(out.Records, r)
		last = make([]any, len(keyVals))
		for i, v := range keyVals {
			last[i] = catalog.CursorOut(p.keys[i].Field, v)
		}
	}
	return rows.Err()
}

// findRecords is FindRecords on one schema.
func (s *Service) findRecords(ctx context.Context, nc *catalog.Conn, sc *catalog.Schema, rq catalog.Querier, table string, q coffer.ListQuery) (*coffer.RecordList, error) {
	tm, err := sc.Table(table)
	if err != nil {
		return nil, err
	}
	tp, err := s.Plan(ctx, nc, rq, tm)
	if err != nil {
		return nil, err
	}
	p, err := s.planList(ctx, nc, rq, tm, tp, q)
	if err != nil {
		return nil, err
	}
	query, args, err := s.pageQuery(tp, p, q.Cursor)
	if err != nil {
		return nil, err
	}

	out := &coffer.RecordList{Records: make([]*coffer.Record, 0, min(p.limit, 64))}
	run := func(q catalog.Querier) error { return readPage(ctx, q, query, args, tp, p, out) }
	if !q.Count {
		if err := run(rq); err != nil {
			return nil, s.Wrap("FindRecords", err)
		}
		return out, s.Wrap("FindRecords", s.FilterLinks(ctx, rq, tp, out.Records))
	}
	// With a total, the page and the count come from one snapshot. The
	// total may come from the notebook's count cache (store.DB.Total): the
	// count query holds the caller's access predicate and its arguments
	// the caller's values, so only the same count at the same data version
	// shares it.
	countQuery := s.Rebind("SELECT count(*) FROM " + p.from + " WHERE " + p.where)
	countArgs := append(append([]any(nil), p.fromArgs...), p.args...)
	withCount := func(tx *sql.Tx, st store.CountStamp) error {
		if err := run(tx); err != nil {
			return err
		}
		total, err := nc.DB.Total(ctx, tx, st, countQuery, countArgs)
		if err != nil {
			return err
		}
		out.Total = &total
		return s.FilterLinks(ctx, tx, tp, out.Records)
	}
	if tx, ok := rq.(*sql.Tx); ok {
		// Its snapshot may predate any stamp taken now: no cache.
		return out, s.Wrap("FindRecords", withCount(tx, store.CountStamp{}))
	}
	st := nc.DB.CountStamp() // before the transaction's first statement
	tx, err := nc.DB.R.BeginTx(ctx, &sql.TxOptions{Isolation: nc.DB.SnapshotIsolation})
	if err != nil {
		return nil, s.Wrap("FindRecords", err)
	}
	defer tx.Rollback()
	err = s.Wrap("FindRecords", withCount(tx, st))
	return out, err
}
