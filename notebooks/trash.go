package notebooks

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
	"github.com/cofferhq/coffer/filter"
	"github.com/cofferhq/coffer/history"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
	"github.com/cofferhq/coffer/value"
)

// The trash: deleted records, columns and tables, for as long as history
// keeps the actions that deleted them. Records are listed to those with
// the history right on the table, each only if one of their conditions
// with that right matches its last values (the access rules of now,
// evaluated on the record as it was), with the cells they may read.
// Restoring is an action of kind restore through the write paths.

// maxTrash bounds the deleted records one listing returns, and
// trashScan the deletions it reads to find them.
const (
	maxTrash  = 1000
	trashScan = 5000
)

// FindTrash lists the deleted records of a table, newest first.
func (s *Service) FindTrash(ctx context.Context, notebook, table string, limit int) ([]*coffer.TrashRecord, error) {
	if limit == 0 {
		limit = 100
	}
	if limit < 0 || limit > maxTrash {
		return nil, coffer.Invalid("the limit is not valid", coffer.FieldError{Field: "limit", Message: fmt.Sprintf("must be from 1 to %d", maxTrash)})
	}
	nc, tp, err := s.openPlan(ctx, "FindTrash", notebook, table)
	if err != nil {
		return nil, err
	}
	defer nc.Release()
	if !tp.Decision.Can(access.CapHistory) {
		return nil, coffer.Errorf(coffer.EFORBIDDEN, "the trash shows deleted records to those with the history right on the table (owners, admins and editors have it)")
	}
	ds, err := history.Deletions(ctx, s.Core, nc.DB.R, nc.DB.Prefix, tp.Table.Table.ID, 0, trashScan)
	if err != nil {
		return nil, s.Wrap("FindTrash", err)
	}
	out := []*coffer.TrashRecord{}
	for _, d := range ds {
		if len(out) == limit {
			break
		}
		vals, err := history.LastValues(ctx, s.Core, nc.DB.R, nc.DB.Prefix, d.Seq, tp.Table.Table.ID, d.Record)
		if err != nil {
			return nil, s.Wrap("FindTrash", err)
		}
		r, err := s.trashRecord(ctx, nc.DB.R, tp, d, vals)
		if err != nil {
			return nil, s.Wrap("FindTrash", err)
		}
		if r != nil {
			out = append(out, r)
		}
	}
	return out, nil
}

// trashRecord returns a deleted record as the caller may see it, nil when
// they may not.
func (s *Service) trashRecord(ctx context.Context, q catalog.Querier, tp *catalog.TablePlan, d history.Deletion, texts map[string]*string) (*coffer.TrashRecord, error) {
	vals := map[string]any{} // API form, by column id
	for id, text := range texts {
		v, err := decodeCell(text)
		if err != nil {
			return nil, err
		}
		vals[id] = v
	}
	readable, ok := s.trashAccess(tp, d, vals)
	if !ok {
		return nil, nil
	}
	r := &coffer.TrashRecord{ID: d.Record, DeletedAt: store.FromMicros(d.At), DeletedBy: d.Actor,
		CreatedAt: store.FromMicros(d.Meta.CreatedAt), CreatedBy: d.Meta.CreatedBy, Fields: map[string]any{}}
	for _, cm := range tp.Cols {
		if !readable(cm.Column.ID) {
			continue
		}
		switch cm.Column.Type {
		case coffer.TypeCreatedAt:
			r.Fields[cm.Column.Name] = value.ToJSON(cm.Column, d.Meta.CreatedAt)
			continue
		case coffer.TypeCreatedBy:
			r.Fields[cm.Column.Name] = d.Meta.CreatedBy
			continue
		case coffer.TypeUpdatedAt, coffer.TypeUpdatedBy:
			continue
		}
		v := vals[cm.Column.ID]
		if cm.Column.Type.Secret() && v != nil {
			// History keeps a password's hash: the trash shows what a
			// record read shows ({"set":true}, a locked sealed value).
			v = nil
			if st, err := value.FromJSON(cm.Column, vals[cm.Column.ID]); err == nil {
				v = value.ToJSON(cm.Column, st)
			}
		}
		if cm.Junction != "" && v != nil && !tp.Full() {
			links, err := s.visibleLinks(ctx, q, tp, cm, v)
			if err != nil {
				return nil, err
			}
			v = links
		}
		r.Fields[cm.Column.Name] = v
	}
	return r, nil
}

// trashAccess decides whether the caller sees a deleted record: one of
// their conditions with the history right matches its last values. It
// returns which columns they may read there.
func (s *Service) trashAccess(tp *catalog.TablePlan, d history.Deletion, vals map[string]any) (func(col string) bool, bool) {
	if tp.Full() {
		return func(string) bool { return true }, true
	}
	tm := tp.Table
	row := func(name string) any {
		if cm := tm.Column(name); cm != nil {
			v, err := value.FromJSON(cm.Column, vals[cm.Column.ID])
			if err != nil {
				return nil
			}
			return v
		}
		switch name {
		case "id":
			return d.Record
		case "created_at":
			return d.Meta.CreatedAt
		case "created_by":
			return d.Meta.CreatedBy
		}
		return nil
	}
	env := tp.Rights.Subj.Env()
	var matching []access.Cond
	history := false
	for _, c := range tp.Decision.Conds {
		if c.Expr != nil {
			if ok, err := filter.Eval(c.Expr, tm, env, row); err != nil || !ok {
				continue
			}
		}
		matching = append(matching, c)
		history = history || slices.Contains(c.Caps, access.CapHistory)
	}
	readable := func(col string) bool {
		if _, ok := tp.Fields[col]; !ok {
			return false
		}
		for _, c := range matching {
			if r := c.Right(col); r == access.Read || r == access.Write {
				return true
			}
		}
		return false
	}
	return readable, history
}

// visibleLinks keeps the targets of a link value the caller may see.
func (s *Service) visibleLinks(ctx context.Context, q catalog.Querier, tp *catalog.TablePlan, cm *catalog.ColMeta, v any) ([]any, error) {
	list, _ := v.([]any)
	var ids []string
	for _, x := range list {
		if id, ok := x.(string); ok {
			ids = append(ids, id)
		}
	}
	target := tp.Table.Schema.ByID[cm.Column.Options.Table]
	out := []any{}
	if target == nil || len(ids) == 0 {
		return out, nil
	}
	seen, err := s.VisibleIDs(ctx, q, tp.Rights, tp.Prefix, target, ids)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if seen[id] {
			out = append(out, id)
		}
	}
	return out, nil
}

// RestoreRecord brings a deleted record back from the trash, with its id,
// creation and last values, and the links other records had to it (added
// back to their links as they are now), as the caller could create it.
func (s *Service) RestoreRecord(ctx context.Context, notebook, table, record string) (*coffer.ActionDone, error) {
	pick := func(inv *inversion) (*history.StoredAction, error) {
		notFound := coffer.Errorf(coffer.ENOTFOUND, "record not found in the trash")
		tm, err := inv.sc.Table(table)
		if err != nil {
			return nil, err
		}
		if _, err := inv.s.PlanWith(inv.ctx, inv.nc.Rights, inv.nc.DB.Prefix, inv.tx, tm); err != nil {
			return nil, err
		}
		if !coffer.ValidID(coffer.PrefixRecord, record) {
			return nil, notFound
		}
		d, err := history.LastDeletion(inv.ctx, s.Core, inv.tx, inv.nc.DB.Prefix, tm.Table.ID, record)
		if err != nil || d == nil {
			if err == nil {
				err = notFound
			}
			return nil, err
		}
		a, err := history.ReadAction(inv.ctx, s.Core, inv.tx, inv.nc.DB.Prefix, d.Seq)
		if err != nil {
			return nil, err
		}
		return inv.restoreAction(tm, a, record)
	}
	return s.invertAction(ctx, notebook, "RestoreRecord", history.KindRestore, false, pick)
}

// restoreAction is the part of deletion a that concerns record: its last
// values and existence, and the links to it that other records lost,
// given as leading from their links now to the same with the record put
// back in its place.
func (inv *inversion) restoreAction(tm *catalog.TableMeta, a *history.StoredAction, record string) (*history.StoredAction, error) {
	out := &history.StoredAction{Seq: a.Seq, Kind: history.KindRecordDelete, Table: tm.Table.ID, Summary: "a record of " + tm.Table.Name + " from the trash"}
	last := map[string]*string{}
	var order []string
	var meta *string
	for _, c := range a.Changes {
		if c.Table != tm.Table.ID || c.Record != record {
			continue
		}
		if c.Column == "" {
			meta = c.Old
			continue
		}
		if _, ok := last[c.Column]; !ok {
			order = append(order, c.Column)
		}
		last[c.Column] = c.Old
	}
	for _, col := range order {
		out.Changes = append(out.Changes, history.Change{Table: tm.Table.ID, Record: record, Column: col, Old: last[col]})
	}
	out.Changes = append(out.Changes, history.Change{Table: tm.Table.ID, Record: record, Old: meta})
	for _, c := range a.Changes {
		if c.Record == record || c.Column == "" || !hasID(c.Old, record) || hasID(c.New, record) {
			continue
		}
		ch, err := inv.linkBack(c, record)
		if err != nil {
			return nil, err
		}
		if ch != nil {
			out.Changes = append(out.Changes, *ch)
		}
	}
	return out, nil
}

// linkBack is the change that puts record back into the link cell that c
// took it out of, from that cell's value now; nil when there is nothing
// to do.
func (inv *inversion) linkBack(c history.Change, record string) (*history.Change, error) {
	src := inv.sc.ByID[c.Table]
	if src == nil {
		return nil, nil
	}
	cm := src.Column(c.Column)
	if cm == nil || cm.Column.ID != c.Column || cm.Junction == "" {
		return nil, nil
	}
	cur, err := inv.s.rawRecord(inv.ctx, inv.tx, src, c.Record)
	if err != nil || cur == nil {
		return nil, err
	}
	now, _ := cur.Fields[cm.Column.Name].([]string)
	if slices.Contains(now, record) {
		return nil, nil
	}
	var old []string
	if err := json.Unmarshal([]byte(*c.Old), &old); err != nil {
		return nil, err
	}
	pos := min(slices.Index(old, record), len(now))
	back := slices.Insert(slices.Clone(now), pos, record)
	return &history.Change{Table: c.Table, Record: c.Record, Column: c.Column, Old: history.Encode(back), New: history.Encode(now)}, nil
}

// hasID reports whether a link value (JSON text) holds id.
func hasID(text *string, id string) bool {
	if text == nil {
		return false
	}
	var ids []string
	if json.Unmarshal([]byte(*text), &ids) != nil {
		return false
	}
	return slices.Contains(ids, id)
}

// mayBrowseSchemaTrash refuses the schema trash to those without the
// schema right on the whole notebook (owners and admins have it).
func mayBrowseSchemaTrash(nc *catalog.Conn) error {
	if nc.Rights.AtLeast(access.RoleAdmin) {
		return nil
	}
	for _, g := range nc.Rights.Grants {
		if g.TableID == "" && slices.Contains(g.Capabilities, access.CapSchema) {
			return nil
		}
	}
	return coffer.Errorf(coffer.EFORBIDDEN, "deleted tables and columns are shown to those with the schema right on the whole notebook (owners and admins have it)")
}

// mayReadColumn reports whether the caller's access would let them read
// column id of tm (deleted or not): owners and admins; others when one of
// their conditions on the table gives read on it.
func (s *Service) mayReadColumn(ctx context.Context, nc *catalog.Conn, tm *catalog.TableMeta, id string) bool {
	if nc.Rights.AtLeast(access.RoleAdmin) {
		return true
	}
	tp, err := s.Plan(ctx, nc, nc.DB.R, tm)
	return err == nil && tp.Decision.Filterable(id)
}

// FindSchemaTrash lists the deleted tables, and the deleted columns of
// existing tables, that can still come back.
func (s *Service) FindSchemaTrash(ctx context.Context, notebook string) (*coffer.SchemaTrash, error) {
	nc, err := s.OpenNotebook(ctx, notebook)
	if err != nil {
		return nil, s.Wrap("FindSchemaTrash", err)
	}
	defer nc.Release()
	if err := mayBrowseSchemaTrash(nc); err != nil {
		return nil, err
	}
	ds, err := history.SchemaDeletions(ctx, s.Core, nc.DB.R, nc.DB.Prefix)
	if err != nil {
		return nil, s.Wrap("FindSchemaTrash", err)
	}
	out := &coffer.SchemaTrash{Tables: []*coffer.TrashTable{}, Columns: []*coffer.TrashColumn{}}
	seen := map[string]bool{}
	for _, d := range ds {
		at := store.FromMicros(d.At)
		switch {
		case d.Column != nil && d.Column.Column != nil:
			c, tm := d.Column.Column, nc.Schema.ByID[d.Table]
			if seen[c.ID] || tm == nil || tm.Column(c.ID) != nil || !s.mayReadColumn(ctx, nc, tm, c.ID) {
				continue
			}
			seen[c.ID] = true
			out.Columns = append(out.Columns, &coffer.TrashColumn{ID: c.ID, Name: c.Name, Type: c.Type, Table: d.Table, DeletedAt: at, DeletedBy: d.Actor})
		case d.Deleted != nil && d.Deleted.Table != nil:
			t := d.Deleted.Table
			if seen[t.ID] || nc.Schema.ByID[t.ID] != nil {
				continue
			}
			seen[t.ID] = true
			out.Tables = append(out.Tables, &coffer.TrashTable{ID: t.ID, Name: t.Name, Columns: len(t.Columns), Records: d.Records, DeletedAt: at, DeletedBy: d.Actor})
		}
	}
	return out, nil
}

// RestoreColumn brings a deleted column back with its values.
func (s *Service) RestoreColumn(ctx context.Context, notebook, column string) (*coffer.ActionDone, error) {
	return s.restoreSchema(ctx, notebook, "RestoreColumn", func(sc *catalog.Schema, d *history.SchemaDeletion) bool {
		if d.Column == nil || d.Column.Column == nil || d.Column.Column.ID != column {
			return false
		}
		tm := sc.ByID[d.Table]
		return tm == nil || tm.Column(column) == nil
	})
}

// RestoreTable brings a deleted table back with its columns, records and
// views.
func (s *Service) RestoreTable(ctx context.Context, notebook, table string) (*coffer.ActionDone, error) {
	return s.restoreSchema(ctx, notebook, "RestoreTable", func(sc *catalog.Schema, d *history.SchemaDeletion) bool {
		return d.Deleted != nil && d.Deleted.Table != nil && d.Deleted.Table.ID == table && sc.ByID[table] == nil
	})
}

// restoreSchema inverts the latest deletion of a column or table that is
// matches, as an action of kind restore.
func (s *Service) restoreSchema(ctx context.Context, notebook, op string, match func(sc *catalog.Schema, d *history.SchemaDeletion) bool) (*coffer.ActionDone, error) {
	pick := func(inv *inversion) (*history.StoredAction, error) {
		ds, err := history.SchemaDeletions(inv.ctx, s.Core, inv.tx, inv.nc.DB.Prefix)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			if match(inv.sc, d) {
				a, err := history.ReadAction(inv.ctx, s.Core, inv.tx, inv.nc.DB.Prefix, d.Seq)
				if a != nil {
					a.Summary = strings.TrimPrefix(a.Summary, "deleted ") // "column … of table …", "table …"
				}
				return a, err
			}
		}
		if err := mayBrowseSchemaTrash(inv.nc); err != nil {
			return nil, err
		}
		return nil, coffer.Errorf(coffer.ENOTFOUND, "not found in the trash")
	}
	return s.invertAction(ctx, notebook, op, history.KindRestore, false, pick)
}
