package notebooks

import (
	"context"
	"maps"
	"slices"
	"strconv"

	"github.com/cofferhq/coffer"
)

// Comparing a snapshot with today. Both sides are read through the
// ordinary record reads (FindRecords, FindRecord), so through the access
// engine with the caller's rights of today: hidden columns and invisible
// rows stay hidden on both sides, and the comparison is of what the
// caller sees. Columns are compared by name.

// compareDefaultLimit and compareMaxLimit bound a page of differing ids.
const (
	compareDefaultLimit = 100
	compareMaxLimit     = 1000
)

// allVisible reads every record of table the caller sees under ctx (live
// or a snapshot), by id; more than the as-of bound is refused.
func (s *Service) allVisible(ctx context.Context, notebook, table string) (map[string]*coffer.Record, error) {
	out := map[string]*coffer.Record{}
	q := coffer.ListQuery{Limit: coffer.MaxPageSize}
	for {
		page, err := s.FindRecords(ctx, notebook, table, q)
		if err != nil {
			return nil, err
		}
		for _, r := range page.Records {
			out[r.ID] = r
		}
		if len(out) > s.asOfLimit() {
			return nil, coffer.Errorf(coffer.EASOFTOOLARGE, "the table has more than %d records: compare or restore chosen records", s.asOfLimit())
		}
		if page.NextCursor == nil {
			return out, nil
		}
		q.Cursor = *page.NextCursor
	}
}

// differ reports whether two views of a record differ in a field.
func differ(a, b *coffer.Record) bool {
	if len(a.Fields) != len(b.Fields) {
		return true
	}
	for k, v := range a.Fields {
		w, ok := b.Fields[k]
		if !ok || !sameJSON(v, w) {
			return true
		}
	}
	return false
}

// CompareTable compares a table now with the same table in a snapshot.
// The page holds the differing records in id order, after cursor (an id).
func (s *Service) CompareTable(ctx context.Context, notebook, table, snapshot, cursor string, limit int) (*coffer.TableCompare, error) {
	switch {
	case limit == 0:
		limit = compareDefaultLimit
	case limit < 0 || limit > compareMaxLimit:
		return nil, coffer.Invalid("the query is not valid", coffer.FieldError{Field: "limit", Message: "must be between 1 and " + strconv.Itoa(compareMaxLimit)})
	}
	if cursor != "" && !coffer.ValidID(coffer.PrefixRecord, cursor) {
		return nil, coffer.Invalid("the query is not valid", coffer.FieldError{Field: "cursor", Message: "is not a cursor of this list"})
	}
	bctx, release, err := s.BrowseSnapshot(ctx, notebook, snapshot)
	if err != nil {
		return nil, err
	}
	defer release()
	table = s.liveTableID(ctx, notebook, table)
	old, err := s.allVisible(bctx, notebook, table)
	if err != nil {
		return nil, err
	}
	now, err := s.allVisible(ctx, notebook, table)
	if err != nil {
		return nil, err
	}
	out := &coffer.TableCompare{Snapshot: snapshot, Records: []coffer.RecordDiffRef{}}
	ids := slices.Sorted(maps.Keys(old))
	for id := range now {
		if old[id] == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		o, n := old[id], now[id]
		var change string
		switch {
		case o == nil:
			out.Added++
			change = "added"
		case n == nil:
			out.Removed++
			change = "removed"
		case differ(o, n):
			out.Changed++
			change = "changed"
		default:
			continue
		}
		if id <= cursor {
			continue
		}
		if len(out.Records) == limit {
			out.Next = out.Records[limit-1].ID
			continue
		}
		out.Records = append(out.Records, coffer.RecordDiffRef{ID: id, Change: change})
	}
	return out, nil
}

// CompareRecord compares one record now with the snapshot, column by
// column of those the caller may read on either side.
func (s *Service) CompareRecord(ctx context.Context, notebook, table, record, snapshot string) (*coffer.RecordCompare, error) {
	bctx, release, err := s.BrowseSnapshot(ctx, notebook, snapshot)
	if err != nil {
		return nil, err
	}
	defer release()
	return s.compareRecord(ctx, bctx, notebook, s.liveTableID(ctx, notebook, table), record, snapshot)
}

// compareRecord is CompareRecord with the snapshot open under bctx.
func (s *Service) compareRecord(ctx, bctx context.Context, notebook, table, record, snapshot string) (*coffer.RecordCompare, error) {
	old, err := s.FindRecord(bctx, notebook, table, record)
	if err != nil && coffer.ErrorCode(err) != coffer.ENOTFOUND {
		return nil, err
	}
	now, err := s.FindRecord(ctx, notebook, table, record)
	if err != nil && coffer.ErrorCode(err) != coffer.ENOTFOUND {
		return nil, err
	}
	if old == nil && now == nil {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "record not found")
	}
	return diffRecords(snapshot, record, old, now), nil
}

// diffRecords compares two views of a record (either may be nil).
func diffRecords(snapshot, id string, old, now *coffer.Record) *coffer.RecordCompare {
	out := &coffer.RecordCompare{Snapshot: snapshot, ID: id, Columns: []coffer.ColumnChange{}}
	switch {
	case old == nil:
		out.Change = "added"
	case now == nil:
		out.Change = "removed"
	case differ(old, now):
		out.Change = "changed"
	default:
		out.Change = "same"
	}
	var names []string
	for _, r := range []*coffer.Record{old, now} {
		if r == nil {
			continue
		}
		order := r.Order
		if order == nil {
			order = slices.Sorted(maps.Keys(r.Fields))
		}
		for _, n := range order {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	for _, n := range names {
		c := coffer.ColumnChange{Column: n}
		if old != nil {
			c.Old = old.Fields[n]
		}
		if now != nil {
			c.New = now.Fields[n]
		}
		c.Changed = old == nil || now == nil || !sameJSON(c.Old, c.New)
		out.Columns = append(out.Columns, c)
	}
	return out
}
