package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/value"
)

// ErrRecordNotFound is the answer for a record that does not exist for the
// caller.
var ErrRecordNotFound = coffer.Errorf(coffer.ENOTFOUND, "record not found")

const systemCols = "t.id, t.version, t.created_at, t.created_by, t.updated_at, t.updated_by"

// selectList returns the SELECT list for a record with the given columns.
func (s *Catalog) selectList(cols []*ColMeta) string {
	var b strings.Builder
	b.WriteString(systemCols)
	for _, cm := range cols {
		switch {
		case cm.Junction != "":
			b.WriteString(", " + s.Dialect.LinkArray(cm.Junction, "t.id"))
		case cm.Phys != "":
			b.WriteString(", " + cm.expr)
		}
	}
	return b.String()
}

// ScanRecord reads one row produced by selectList(cols).
func ScanRecord(row interface{ Scan(...any) error }, cols []*ColMeta, order []string, extra ...any) (*coffer.Record, error) {
	return scanRecordAs(row, cols, order, false, extra...)
}

// scanRecordAuto reads one row produced by selectPlanned, where automatic
// columns are selected (masked) like the others.
func scanRecordAuto(row interface{ Scan(...any) error }, cols []*ColMeta, order []string, extra ...any) (*coffer.Record, error) {
	return scanRecordAs(row, cols, order, true, extra...)
}

func scanRecordAs(row interface{ Scan(...any) error }, cols []*ColMeta, order []string, auto bool, extra ...any) (*coffer.Record, error) {
	var r coffer.Record
	var created, updated int64
	dest := []any{&r.ID, &r.Version, &created, &r.CreatedBy, &updated, &r.UpdatedBy}
	vals := make([]any, len(cols))
	for i, cm := range cols {
		if cm.Junction != "" || cm.Phys != "" || auto {
			dest = append(dest, &vals[i])
		}
	}
	dest = append(dest, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	r.CreatedAt, r.UpdatedAt = store.FromMicros(created), store.FromMicros(updated)
	r.Fields = make(map[string]any, len(cols))
	r.Order = order
	for i, cm := range cols {
		var v any
		switch {
		case cm.Junction != "":
			v = decodeLinks(vals[i])
		case cm.Phys != "" || auto:
			v = vals[i]
		default: // automatic types read the system columns
			switch cm.Column.Type {
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
		r.Fields[cm.Column.Name] = value.ToJSON(cm.Column, v)
	}
	return &r, nil
}

// ColumnNames lists the names of cols in order.
func ColumnNames(cols []*ColMeta) []string {
	names := make([]string, len(cols))
	for i, cm := range cols {
		names[i] = cm.Column.Name
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
func (s *Catalog) readRecord(ctx context.Context, q Querier, tm *TableMeta, id string) (*coffer.Record, error) {
	if !coffer.ValidID(coffer.PrefixRecord, id) {
		return nil, ErrRecordNotFound
	}
	r, err := ScanRecord(q.QueryRowContext(ctx, tm.GetSQL, id), tm.Cols, tm.Names)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrRecordNotFound
	}
	return r, err
}

// CellsSQL is the query reading the system columns and cols of one
// record of tm by id, for ScanRecord(row, cols, …).
func (s *Catalog) CellsSQL(tm *TableMeta, cols []*ColMeta) string {
	return s.Rebind("SELECT " + s.selectList(cols) + " FROM " + tm.SQL + " t WHERE t.id = ?")
}

// Strings reads a one-column result of text into a slice and closes rows;
// err is the query's error, passed along so that a call reads
// Strings(q.QueryContext(…)).
func Strings(rows *sql.Rows, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var x string
		if err := rows.Scan(&x); err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, rows.Err()
}
