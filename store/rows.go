package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/value"
)

var errRecordNotFound = coffer.Errorf(coffer.ENOTFOUND, "record not found")

const systemCols = "t.id, t.version, t.created_at, t.created_by, t.updated_at, t.updated_by"

// selectList returns the SELECT list for a record with the given columns.
func (s *Catalog) selectList(cols []*colMeta) string {
	var b strings.Builder
	b.WriteString(systemCols)
	for _, cm := range cols {
		switch {
		case cm.junction != "":
			b.WriteString(", " + s.d.LinkArray(cm.junction, "t.id"))
		case cm.phys != "":
			b.WriteString(", " + cm.expr)
		}
	}
	return b.String()
}

// scanRecord reads one row produced by selectList(cols).
func scanRecord(row interface{ Scan(...any) error }, cols []*colMeta, order []string, extra ...any) (*coffer.Record, error) {
	return scanRecordAs(row, cols, order, false, extra...)
}

// scanRecordAuto reads one row produced by selectPlanned, where automatic
// columns are selected (masked) like the others.
func scanRecordAuto(row interface{ Scan(...any) error }, cols []*colMeta, order []string, extra ...any) (*coffer.Record, error) {
	return scanRecordAs(row, cols, order, true, extra...)
}

func scanRecordAs(row interface{ Scan(...any) error }, cols []*colMeta, order []string, auto bool, extra ...any) (*coffer.Record, error) {
	var r coffer.Record
	var created, updated int64
	dest := []any{&r.ID, &r.Version, &created, &r.CreatedBy, &updated, &r.UpdatedBy}
	vals := make([]any, len(cols))
	for i, cm := range cols {
		if cm.junction != "" || cm.phys != "" || auto {
			dest = append(dest, &vals[i])
		}
	}
	dest = append(dest, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	r.CreatedAt, r.UpdatedAt = fromMicros(created), fromMicros(updated)
	r.Fields = make(map[string]any, len(cols))
	r.Order = order
	for i, cm := range cols {
		var v any
		switch {
		case cm.junction != "":
			v = decodeLinks(vals[i])
		case cm.phys != "" || auto:
			v = vals[i]
		default: // automatic types read the system columns
			switch cm.c.Type {
			case coffer.TypeCreatedAt:
				v = created
			case coffer.TypeUpdatedAt:
				v = updated
			case coffer.TypeCreatedBy:
				v = r.CreatedBy
			case coffer.TypeUpdatedBy:
				v = r.UpdatedBy
			}
		}
		r.Fields[cm.c.Name] = value.ToJSON(cm.c, v)
	}
	return &r, nil
}

// columnNames lists the names of cols in order.
func columnNames(cols []*colMeta) []string {
	names := make([]string, len(cols))
	for i, cm := range cols {
		names[i] = cm.c.Name
	}
	return names
}

// decodeLinks turns the JSON array text of LinkArray into ids.
func decodeLinks(v any) any {
	var text string
	switch t := v.(type) {
	case string:
		text = t
	case []byte:
		text = string(t)
	default:
		return nil
	}
	var ids []string
	if json.Unmarshal([]byte(text), &ids) != nil || len(ids) == 0 {
		return nil
	}
	return ids
}

// readRecord reads one record by id with every column.
func (s *Catalog) readRecord(ctx context.Context, q querier, tm *tableMeta, id string) (*coffer.Record, error) {
	if !coffer.ValidID(coffer.PrefixRecord, id) {
		return nil, errRecordNotFound
	}
	r, err := scanRecord(q.QueryRowContext(ctx, tm.getSQL, id), tm.cols, tm.names)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errRecordNotFound
	}
	return r, err
}
