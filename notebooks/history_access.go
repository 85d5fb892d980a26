package notebooks

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
	"github.com/cofferhq/coffer/history"
	"github.com/cofferhq/coffer/store/catalog"
	"github.com/cofferhq/coffer/value"
)

// rowConds resolves the tables the changes of acts are in and, for a
// caller who does not see everything, which of their table's `history`
// conditions hold now on each record the changes are about. A record
// absent from the answer no longer exists: only the conditions without a
// row condition (ht.whole) hold on it.
func (hv *historyView) rowConds(ctx context.Context, acts []history.Action) (map[string]map[string][]int, error) {
	ids := map[string][]string{}
	seen := map[string]bool{}
	for _, a := range acts {
		for _, c := range a.Changes {
			ht, err := hv.table(ctx, c.Table)
			if err != nil {
				return nil, err
			}
			if ht == nil || hv.full || seen[c.Table+"|"+c.Record] {
				continue
			}
			seen[c.Table+"|"+c.Record] = true
			ids[c.Table] = append(ids[c.Table], c.Record)
		}
	}
	out := map[string]map[string][]int{}
	for tid, list := range ids {
		m := map[string][]int{}
		for len(list) > 0 {
			n := min(len(list), 500)
			if err := hv.condsOn(ctx, hv.tables[tid], list[:n], m); err != nil {
				return nil, err
			}
			list = list[n:]
		}
		out[tid] = m
	}
	return out, nil
}

// condsOn evaluates the `history` conditions of ht on the records ids
// that exist, into m.
func (hv *historyView) condsOn(ctx context.Context, ht *histTable, ids []string, m map[string][]int) error {
	sel := []string{"t.id"}
	var args []any
	for _, i := range ht.conds {
		c, a := ht.tp.Plan.Cond(i)
		sel = append(sel, "CASE WHEN "+c+" THEN 1 ELSE 0 END")
		args = append(args, a...)
	}
	for _, id := range ids {
		args = append(args, id)
	}
	rows, err := hv.q.QueryContext(ctx, hv.s.Rebind("SELECT "+strings.Join(sel, ", ")+" FROM "+ht.tm.SQL+" t WHERE t.id IN ("+catalog.Placeholders(len(ids))+")"), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		vals := make([]int64, len(ht.conds))
		dest := []any{&id}
		for i := range vals {
			dest = append(dest, &vals[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		holds := []int{}
		for i, v := range vals {
			if v != 0 {
				holds = append(holds, ht.conds[i])
			}
		}
		m[id] = holds
	}
	return rows.Err()
}

// visibleLinks returns, for a caller who does not see everything, the
// records they may see of each table that link values of acts point to
// (no entry: they see every record of it).
func (hv *historyView) visibleLinks(ctx context.Context, acts []history.Action) (map[string]map[string]bool, error) {
	if hv.full {
		return nil, nil
	}
	ids := map[string][]string{}
	for _, a := range acts {
		for _, c := range a.Changes {
			ht := hv.tables[c.Table]
			if ht == nil || c.Column == "" {
				continue
			}
			cm := columnByID(ht.tm, c.Column)
			if cm == nil || cm.Junction == "" {
				continue
			}
			target := cm.Column.Options.Table
			ids[target] = append(append(ids[target], linkIDs(c.Old)...), linkIDs(c.New)...)
		}
	}
	out := map[string]map[string]bool{}
	for target, list := range ids {
		tm := hv.sc.ByID[target]
		if tm == nil {
			out[target] = map[string]bool{}
			continue
		}
		if tp, err := hv.s.Plan(ctx, hv.nc, hv.q, tm); err == nil && tp.Decision.AllRows() {
			continue
		}
		slices.Sort(list)
		vis, err := hv.s.VisibleIDs(ctx, hv.q, hv.nc.Rights, hv.nc.DB.Prefix, tm, slices.Compact(list))
		if err != nil {
			return nil, err
		}
		out[target] = vis
	}
	return out, nil
}

// linkIDs decodes a stored link value; none when it is empty or not a list.
func linkIDs(v *string) []string {
	if v == nil {
		return nil
	}
	var ids []string
	if json.Unmarshal([]byte(*v), &ids) != nil {
		return nil
	}
	return ids
}

// columnByID finds a column of tm by id only.
func columnByID(tm *catalog.TableMeta, id string) *catalog.ColMeta {
	for _, cm := range tm.Cols {
		if cm.Column.ID == id {
			return cm
		}
	}
	return nil
}

// change returns the change c as the caller may see it, nil when they may
// not: its table, row and cell must be visible to them now under a
// condition that gives `history`, and link values keep only the records
// they may see.
func (hv *historyView) change(c history.Change, rows map[string]map[string][]int, links map[string]map[string]bool) *coffer.HistoryChange {
	hc := &coffer.HistoryChange{Table: c.Table, Record: c.Record, ColumnID: c.Column, Old: rawJSON(c.Old), New: rawJSON(c.New)}
	ht := hv.tables[c.Table]
	if hv.full {
		if ht != nil && c.Column != "" {
			if cm := columnByID(ht.tm, c.Column); cm != nil {
				hc.Column = cm.Column.Name
			}
		}
		return hc
	}
	if ht == nil {
		return nil
	}
	holds, exists := rows[c.Table][c.Record]
	if !exists {
		holds = ht.whole
	}
	if len(holds) == 0 {
		return nil
	}
	if c.Column == "" {
		return hc
	}
	cm := columnByID(ht.tm, c.Column)
	if cm == nil || !slices.ContainsFunc(holds, func(i int) bool {
		r := ht.tp.Decision.Conds[i].Right(c.Column)
		return r == access.Read || r == access.Write
	}) {
		return nil
	}
	hc.Column = cm.Column.Name
	if vis, ok := links[cm.Column.Options.Table]; ok && cm.Junction != "" {
		old, nw := keepLinks(c.Old, vis), keepLinks(c.New, vis)
		if string(old) == string(nw) {
			return nil
		}
		hc.Old, hc.New = old, nw
	}
	return hc
}

// keepLinks is a stored link value with only the visible records.
func keepLinks(v *string, visible map[string]bool) json.RawMessage {
	var kept []string
	for _, id := range linkIDs(v) {
		if visible[id] {
			kept = append(kept, id)
		}
	}
	if len(kept) == 0 {
		return nil
	}
	b, _ := json.Marshal(kept)
	return b
}

// rawJSON is a stored history value as callers see it: a password hash
// shows only as {"set":true}.
func rawJSON(s *string) json.RawMessage {
	if s == nil {
		return nil
	}
	return json.RawMessage(value.ScrubHistory([]byte(*s)))
}

// summary describes, for a caller who does not see everything, what an
// action changed that they see: the stored summary may name columns and
// tables hidden from them.
func (hv *historyView) summary(kind string, cs []*coffer.HistoryChange) string {
	created, deleted := 0, 0
	var cols []string
	for _, c := range cs {
		switch {
		case c.ColumnID != "":
			if !slices.Contains(cols, c.Column) {
				cols = append(cols, c.Column)
			}
		case c.Old == nil:
			created++
		case c.New == nil:
			deleted++
		}
	}
	var parts []string
	if created > 0 {
		parts = append(parts, "created "+records(created))
	}
	if deleted > 0 {
		parts = append(parts, "deleted "+records(deleted))
	}
	if len(cols) > 0 {
		parts = append(parts, "changed "+listNames(cols))
	}
	s := strings.Join(parts, ", ")
	if ht := hv.tables[cs[0].Table]; ht != nil {
		s += " in " + ht.tm.Table.Name
	}
	switch kind {
	case history.KindUndo, history.KindRedo, history.KindRevert, history.KindRestore:
		s = kind + ": " + s
	}
	return s
}

func records(n int) string {
	if n == 1 {
		return "a record"
	}
	return fmt.Sprintf("%d records", n)
}
