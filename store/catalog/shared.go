package catalog

import (
	"encoding/json"
	"strings"

	"github.com/cofferhq/coffer"
)

// cursorJSON turns a scanned sort value into its cursor form.
func cursorJSON(v any) any {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return v
}

// cursorValue converts a JSON-decoded cursor value back to the storage form
// of a field of type t.
func cursorValue(t coffer.ColumnType, v any) (any, bool) {
	if v == nil {
		return nil, true
	}
	switch t {
	case coffer.TypeNumber, coffer.TypeDateTime, coffer.TypeCreatedAt, coffer.TypeUpdatedAt:
		n, ok := v.(json.Number)
		if !ok {
			return nil, false
		}
		i, err := n.Int64()
		return i, err == nil
	case coffer.TypeBoolean:
		switch b := v.(type) {
		case bool:
			return b, true
		case json.Number:
			i, err := b.Int64()
			return i != 0, err == nil
		}
		return nil, false
	default:
		s, ok := v.(string)
		return s, ok
	}
}

// Assignment is one validated field of a write.
type Assignment struct {
	Col   *ColMeta
	Value any // storage form
}

// OpError is the failure of one operation of a write.
type OpError struct {
	Code   string
	Fields []coffer.FieldError
}

// Placeholders returns n comma-separated "?" placeholders.
func Placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// Indexable reports whether columns of type t get an index, so filters and
// sorts on them stay fast on large tables. Indexes are on (column, id):
// lists order by the sort columns and then by id, so a page of a sorted
// list walks the index and stops after the page instead of sorting.
func Indexable(t coffer.ColumnType) bool {
	switch t {
	case coffer.TypeText, coffer.TypeNumber, coffer.TypeBoolean, coffer.TypeDate, coffer.TypeDateTime,
		coffer.TypeSingleSelect, coffer.TypeEmail, coffer.TypePhone, coffer.TypeURL:
		return true
	}
	return false
}

// SQLIndex is the quoted name of the index of column colID.
func SQLIndex(prefix, colID string) string {
	return prefix + `"i_` + strings.TrimPrefix(colID, coffer.PrefixColumn) + `"`
}

// UnqualifiedIndex is SQLIndex without the schema, as CREATE INDEX wants it.
func UnqualifiedIndex(colID string) string { return SQLIndex("", colID) }
